"""CoSMo v4 page classifier: ``BookBERTMultimodal2`` over per-page SigLIP and Qwen3 features.

The whole model is here, so it loads ``best_Multimodal_MultiToken_v4.pt`` (Hugging Face
``RichardScottOZ/cosmo-v4``) with strict key matching and gives the seed's logits for the same
features. Contract: ``shared/fixtures/checkpoints/README.md`` part (A); the forward pass is the
model card's ``BookBERTMultimodal2`` plus the optional page mask of upstream mserra0's code.

A book is one sequence: per page, a 1024-d text feature and a 1152-d visual feature, projected to
768-d, normalised by one shared LayerNorm, interleaved as ``[t0, v0, t1, v1, ...]`` and read by a
4-layer BERT over ``inputs_embeds``; each page's class comes from its *visual* token. 2L ≤ 1024
positions, so at most 512 pages go through at once (:func:`book_logits` cuts longer books).

The BERT encoder is built from a local ``BertConfig``: nothing is downloaded, ever.
This module needs torch at import; nothing imports it when ``comicdesk`` is imported.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from typing import Any

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
    "MAX_PAGES",
    "BookBERTMultimodal2",
    "CheckpointError",
    "CosmoV4Config",
    "book_logits",
    "load_checkpoint",
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


def _parts(length: int, max_pages: int) -> list[tuple[int, int]]:
    """[start, stop) ranges cutting ``length`` pages into the fewest parts of ≤ max_pages, with
    sizes as equal as possible (so no part is a short tail with little context)."""
    if length <= 0:
        return []
    n = math.ceil(length / max_pages)
    bounds = [round(i * length / n) for i in range(n + 1)]
    return [(bounds[i], bounds[i + 1]) for i in range(n)]


@torch.inference_mode()
def book_logits(
    model: BookBERTMultimodal2,
    textual_features: Any,
    visual_features: Any,
    *,
    max_pages: int | None = None,
) -> torch.Tensor:
    """Logits (L, classes) for one book given its pages' features (L, textual_dim), (L, visual_dim)
    (numpy arrays or tensors, any float dtype; run on the model's device and dtype).

    A book of more than 512 pages is cut into the fewest consecutive parts of near-equal size,
    each classified as its own sequence (the seed cut its store into blocks of 512 pages).
    """
    param = next(model.parameters())
    t = torch.as_tensor(textual_features).to(device=param.device, dtype=param.dtype)
    v = torch.as_tensor(visual_features).to(device=param.device, dtype=param.dtype)
    if t.dim() != 2 or v.dim() != 2 or t.shape[0] != v.shape[0]:
        raise ValueError("book_logits takes (pages, dim) features for one book")
    limit = min(max_pages or model.config.max_pages, model.config.max_pages)
    out = [model(t[None, a:z], v[None, a:z])[0] for a, z in _parts(t.shape[0], limit)]
    if not out:
        return torch.zeros((0, model.config.classes), dtype=torch.float32)
    return torch.cat(out).float()


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
