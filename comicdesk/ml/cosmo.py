"""CoSMo v4 page classifier: ``BookBERTMultimodal2`` over per-page SigLIP and Qwen3 features.

The whole model is here, so it loads ``best_Multimodal_MultiToken_v4.pt`` (Hugging Face
``RichardScottOZ/cosmo-v4``) with strict key matching and gives the seed's logits for the same
features. Contract: ``shared/fixtures/checkpoints/README.md`` part (A); the forward pass is the
model card's ``BookBERTMultimodal2`` plus the optional page mask of upstream mserra0's code.

A book is one sequence: per page, a 1024-d text feature and a 1152-d visual feature, projected to
768-d, normalised by one shared LayerNorm, interleaved as ``[t0, v0, t1, v1, ...]`` and read by a
4-layer BERT over ``inputs_embeds``; each page's class comes from its *visual* token. 2L ≤ 1024
positions, so at most 512 pages go through at once: :func:`book_logits` reads a longer book in
overlapping windows that never leave the book, padded batches carry a real attention mask.

The BERT encoder is built from a local ``BertConfig``: nothing is downloaded, ever.
This module needs torch at import; nothing imports it when ``comicdesk`` is imported.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

from comicdesk.core.pages import PAGE_CLASSES
from comicdesk.ml.torch_checkpoint import (
    COSMO_V4,
    CheckpointError,
    build_loaded,
    read_state_dict,
)

__all__ = [
    "DEFAULT_OVERLAP",
    "MAX_PAGES",
    "BookBERTMultimodal2",
    "CheckpointError",
    "CosmoV4Config",
    "book_logits",
    "books_logits",
    "load_checkpoint",
    "probabilities",
    "windows",
]

#: Pages one forward pass can take: two tokens per page, 1024 BERT positions.
MAX_PAGES = 512


@dataclass(frozen=True)
class CosmoV4Config:
    """Every hyperparameter of the model; the defaults are the released checkpoint's."""

    textual_dim: int = 1024
    visual_dim: int = 1152
    bert_dim: int = 768
    classes: int = 9
    classifier_hidden: int = 512  # classifier: bert_dim -> 512 -> 256 -> 128 -> classes
    bert_layers: int = 4
    bert_heads: int = 4
    bert_intermediate: int | None = None  # None: 4 * bert_dim, as the card builds it
    max_positions: int = 1024
    vocab_size: int = 30522  # word embeddings are stored but unused (the model feeds embeddings)
    type_vocab_size: int = 2

    @property
    def max_pages(self) -> int:
        return self.max_positions // 2

    def bert_config(self) -> Any:
        from transformers import BertConfig

        # Only what the card sets, plus the defaults it relies on written out; dropout stays at
        # BertConfig's default (0.1), which eval() turns off, exactly as in the seed.
        return BertConfig(
            vocab_size=self.vocab_size,
            hidden_size=self.bert_dim,
            num_hidden_layers=self.bert_layers,
            num_attention_heads=self.bert_heads,
            intermediate_size=self.bert_intermediate or 4 * self.bert_dim,
            max_position_embeddings=self.max_positions,
            type_vocab_size=self.type_vocab_size,
            hidden_act="gelu",
            layer_norm_eps=1e-12,
        )


def _projection(in_dim: int, out_dim: int) -> nn.Sequential:
    """in -> 2(in+out) -> (in+out) -> out, with LayerNorm + GELU (+ Dropout 0) between."""
    wide = (in_dim + out_dim) * 2
    return nn.Sequential(
        nn.Linear(in_dim, wide),
        nn.LayerNorm(wide),
        nn.GELU(),
        nn.Dropout(0.0),
        nn.Linear(wide, wide // 2),
        nn.LayerNorm(wide // 2),
        nn.GELU(),
        nn.Dropout(0.0),
        nn.Linear(wide // 2, out_dim),
    )


class BookBERTMultimodal2(nn.Module):
    """The CoSMo v4 page classifier.

    ``BookBERTMultimodal2()`` is the released model's shape. The card's keywords
    (``textual_dim, visual_dim, bert_dim, classes``) work as on the card; ``config=`` sets every
    hyperparameter at once (tests build tiny variants that way) and then the keywords must be left
    at their defaults.
    """

    def __init__(
        self,
        textual_dim: int = 1024,
        visual_dim: int = 1152,
        bert_dim: int = 768,
        classes: int = 9,
        *,
        config: CosmoV4Config | None = None,
    ):
        super().__init__()
        from transformers import BertModel

        card = {
            "textual_dim": textual_dim,
            "visual_dim": visual_dim,
            "bert_dim": bert_dim,
            "classes": classes,
        }
        if config is None:
            config = CosmoV4Config(**card)
        elif card != {"textual_dim": 1024, "visual_dim": 1152, "bert_dim": 768, "classes": 9}:
            raise ValueError("give either the card's keywords or config=, not both")
        self.config = config
        c = config
        h = c.classifier_hidden

        # Inherited from upstream BookBERT and stored in the checkpoint, never used by forward.
        self.projection = nn.Linear(c.visual_dim, c.bert_dim)
        self.bert_encoder = BertModel(c.bert_config())
        self.classifier = nn.Sequential(
            nn.Linear(c.bert_dim, h),
            nn.Linear(h, h // 2),
            nn.LayerNorm(h // 2),
            nn.GELU(),
            nn.Dropout(0.0),
            nn.Linear(h // 2, h // 4),
            nn.LayerNorm(h // 4),
            nn.GELU(),
            nn.Dropout(0.0),
            nn.Linear(h // 4, c.classes),
        )
        self.visual_projection = _projection(c.visual_dim, c.bert_dim)
        self.textual_projection = _projection(c.textual_dim, c.bert_dim)
        self.norm = nn.LayerNorm(c.bert_dim)  # shared by both modalities

    def forward(
        self,
        textual_features: torch.Tensor,
        visual_features: torch.Tensor,
        attention_mask: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """(B, L, textual_dim), (B, L, visual_dim) [, (B, L) page mask] -> (B, L, classes) logits.

        Without a mask every page is attended (as the card and ``classify_pages_zarr`` run it).
        A mask of 0 hides that page's two tokens from the others; its own row is still computed.
        """
        if textual_features.dim() != 3 or visual_features.dim() != 3:
            raise ValueError("features must be (batch, pages, dim)")
        b, length, _ = textual_features.shape
        if visual_features.shape[:2] != (b, length):
            raise ValueError(
                f"text features {tuple(textual_features.shape)} and visual features "
                f"{tuple(visual_features.shape)} disagree on (batch, pages)"
            )
        if 2 * length > self.config.max_positions:
            raise ValueError(
                f"{length} pages is more than {self.config.max_pages} in one pass; "
                "use book_logits(), which cuts a long book into parts"
            )
        if attention_mask is None:
            mask = torch.ones((b, length), device=textual_features.device)
        else:
            if tuple(attention_mask.shape) != (b, length):
                raise ValueError(f"attention_mask must be ({b}, {length})")
            mask = attention_mask.to(device=textual_features.device, dtype=torch.float32)

        t = self.norm(self.textual_projection(textual_features))
        v = self.norm(self.visual_projection(visual_features))
        tokens = torch.stack([t, v], dim=2).reshape(b, 2 * length, -1)  # t0, v0, t1, v1, ...
        token_mask = mask.unsqueeze(2).expand(-1, -1, 2).reshape(b, 2 * length)
        hidden = self.bert_encoder(
            inputs_embeds=tokens, attention_mask=token_mask
        ).last_hidden_state
        visual_tokens = hidden.reshape(b, length, 2, -1)[:, :, -1, :]
        return self.classifier(visual_tokens)


#: Pages shared by consecutive windows of a book longer than one pass (logits averaged there).
DEFAULT_OVERLAP = 128


def windows(length: int, max_pages: int = MAX_PAGES, overlap: int = DEFAULT_OVERLAP) -> list[tuple[int, int]]:
    """[start, stop) windows covering ``length`` pages of one book.

    A book of at most ``max_pages`` pages is one window. A longer one gets windows of exactly
    ``max_pages`` pages (every page keeps a full window of context), each starting
    ``max_pages - overlap`` after the previous one, the last aligned with the book's end (so its
    overlap may be larger). Windows never leave the book.
    """
    if max_pages < 1:
        raise ValueError("max_pages must be at least 1")
    if not 0 <= overlap < max_pages:
        raise ValueError(f"overlap must be at least 0 and less than max_pages ({max_pages})")
    if length <= 0:
        return []
    if length <= max_pages:
        return [(0, length)]
    step = max_pages - overlap
    starts = list(range(0, length - max_pages, step)) + [length - max_pages]
    return [(a, a + max_pages) for a in starts]


@torch.inference_mode()
def books_logits(
    model: BookBERTMultimodal2,
    books: Sequence[tuple[Any, ...]],
    *,
    max_pages: int | None = None,
    overlap: int = DEFAULT_OVERLAP,
    batch_size: int = 8,
    batcher: Any = None,
) -> list[torch.Tensor]:
    """Logits (L_i, classes) float32 for each book given as ``(text (L_i, textual_dim),
    visual (L_i, visual_dim)[, page_mask (L_i,)])`` (numpy arrays or tensors, any float dtype; run
    on the model's device and dtype). A page of mask 0 (a bad page, features missing) keeps its
    position but is not attended by the others; its own logits are junk, to drop.

    Every book is cut into :func:`windows` (at most ``max_pages``, default the model's 512; never
    across books); windows of all the books are run ``batch_size`` at a time, shortest first,
    zero-padded to the longest of their batch with a real attention mask (padding pages are never
    attended, so a page's logits do not depend on its batch); where windows overlap, a page's
    logits are the mean of its windows'. ``batcher`` (a :class:`comicdesk.ml.device.Batcher`)
    replaces the plain batching, e.g. to halve batches on a CUDA out-of-memory error.
    """
    param = next(model.parameters())
    device, dtype = param.device, param.dtype
    limit = min(max_pages or model.config.max_pages, model.config.max_pages)
    ov = min(overlap, limit - 1)
    feats = []
    for book in books:
        if len(book) not in (2, 3):
            raise ValueError("each book is (text, visual) or (text, visual, page_mask)")
        t = torch.as_tensor(book[0]).to(device=device, dtype=dtype)
        v = torch.as_tensor(book[1]).to(device=device, dtype=dtype)
        if t.dim() != 2 or v.dim() != 2 or t.shape[0] != v.shape[0]:
            raise ValueError("book_logits takes (pages, dim) features for one book")
        if len(book) == 3 and book[2] is not None:
            m = torch.as_tensor(book[2]).to(device=device, dtype=torch.float32)
            if tuple(m.shape) != (t.shape[0],):
                raise ValueError(f"page_mask must be ({t.shape[0]},)")
        else:
            m = torch.ones(t.shape[0], device=device, dtype=torch.float32)
        if t.shape[1] != model.config.textual_dim or v.shape[1] != model.config.visual_dim:
            raise ValueError(
                f"features of {t.shape[1]} and {v.shape[1]} dims, the model takes "
                f"{model.config.textual_dim} (text) and {model.config.visual_dim} (visual)"
            )
        feats.append((t, v, m))
    jobs = [(b, a, z) for b, (t, _, _) in enumerate(feats) for a, z in windows(t.shape[0], limit, ov)]
    jobs.sort(key=lambda j: j[2] - j[1])

    def run(chunk: Sequence[tuple[int, int, int]]) -> list[torch.Tensor]:
        width = max(z - a for _, a, z in chunk)
        n = len(chunk)
        t_in = torch.zeros((n, width, model.config.textual_dim), device=device, dtype=dtype)
        v_in = torch.zeros((n, width, model.config.visual_dim), device=device, dtype=dtype)
        mask = torch.zeros((n, width), device=device, dtype=torch.float32)
        for k, (b, a, z) in enumerate(chunk):
            t_in[k, : z - a] = feats[b][0][a:z]
            v_in[k, : z - a] = feats[b][1][a:z]
            mask[k, : z - a] = feats[b][2][a:z]
        out = model(t_in, v_in, attention_mask=mask).float()
        return [out[k, : z - a] for k, (_, a, z) in enumerate(chunk)]

    if batcher is None:
        results: list[torch.Tensor] = []
        for i in range(0, len(jobs), max(1, batch_size)):
            results.extend(run(jobs[i : i + max(1, batch_size)]))
    else:
        results = list(batcher(run, jobs))
    sums = [torch.zeros((f[0].shape[0], model.config.classes), device=device) for f in feats]
    counts = [torch.zeros((f[0].shape[0], 1), device=device) for f in feats]
    for (b, a, z), logits in zip(jobs, results):
        sums[b][a:z] += logits
        counts[b][a:z] += 1
    return [(s / c.clamp(min=1)).cpu() for s, c in zip(sums, counts)]


def book_logits(
    model: BookBERTMultimodal2,
    textual_features: Any,
    visual_features: Any,
    page_mask: Any = None,
    *,
    max_pages: int | None = None,
    overlap: int = DEFAULT_OVERLAP,
    batch_size: int = 8,
) -> torch.Tensor:
    """Logits (L, classes) float32 for one book given its pages' features (L, textual_dim),
    (L, visual_dim): :func:`books_logits` for a single book. A book of more than 512 pages is read
    in overlapping windows of 512 (``overlap`` pages shared, logits averaged there)."""
    return books_logits(model, [(textual_features, visual_features, page_mask)], max_pages=max_pages,
                        overlap=overlap, batch_size=batch_size)[0]


def probabilities(logits: Any) -> np.ndarray:
    """Softmax over the classes of (L, classes) logits, float32 numpy."""
    x = torch.as_tensor(logits).float()
    return torch.softmax(x, dim=-1).numpy()


def load_checkpoint(
    path: str | os.PathLike,
    map_location: Any = "cpu",
    *,
    config: CosmoV4Config | None = None,
) -> BookBERTMultimodal2:
    """The model with the weights of ``path`` (a raw state_dict or ``{'model_state_dict': ...}``),
    strictly matched, in eval mode. Legacy ``position_ids`` buffers are dropped.

    Raises :class:`CheckpointError` with one line for a file that is missing, not a torch file,
    truncated, of another model, or with wrong keys or shapes.
    """
    cfg = config or CosmoV4Config()
    sd = read_state_dict(path, map_location)
    model = build_loaded(lambda: BookBERTMultimodal2(config=cfg), sd, what=COSMO_V4, path=path)
    return model  # type: ignore[return-value]


#: Class names in the model's output order.
CLASSES: tuple[str, ...] = PAGE_CLASSES
