"""Panel embeddings, pass 1: one ``standard-1/panel_emb`` row per panel from the panel crop's
EfficientNet-Lite0 features and its composition (:mod:`comicdesk.ml.panel_embed`), without text;
pass 2 (``text_embed``) adds the panel's text to the stored rows."""

from __future__ import annotations

from comicdesk.pipeline.stage import IMAGE, PANELS, StageContext, StageSpec
from comicdesk.pipeline.stages.standard import PANEL_EMB, PROFILES, set_torch_threads, to_image_box

NAME = "panel_emb"
#: Crops go through EfficientNet-Lite0 at this size (the page at 224). Measured with
#: tests/bench/bench_features.py's retrieval set (58 re-scanned panels among 256, real OCR text):
#: top-1 1.000 at both 224 and 192, mean margin 0.218 at 224 and 0.228 at 192, and 18 ms a crop
#: instead of 36 ms (one thread).
CROP_SIZE = 192
#: Panel crops per EfficientNet forward pass on a GPU (16 on the CPU); halved on out-of-memory.
GPU_BATCH = 128


def _version() -> str:
    from comicdesk.ml.panel_embed import VERSION

    return f"{VERSION}-crops{CROP_SIZE}"


def _load(ctx: StageContext):
    import numpy as np

    from comicdesk.ml.device import plan_for_run
    from comicdesk.ml.efficientnet import EfficientNetLite0, LiteConfig, crop_boxes
    from comicdesk.ml.panel_embed import composition_features, embed_panels

    set_torch_threads(ctx)
    plan = plan_for_run(ctx, cpu_batch=16, gpu_batch=GPU_BATCH)
    net = EfficientNetLite0(config=LiteConfig(image_size=CROP_SIZE), batch_size=plan.batch, precision=plan.precision,
                            device=plan.device)

    def run(pages):
        crops, counts = [], []
        for p in pages:
            boxes = [getattr(b, "box", b) for b in (p.outputs.get(PANELS) or [])]
            counts.append(len(boxes))
            crops += crop_boxes(p.image, [to_image_box(b, p) for b in boxes])
        feats = net.features(crops) if crops else np.zeros((0, 1280), np.float32)
        out, at = [], 0
        for p, n in zip(pages, counts):
            boxes = [getattr(b, "box", b) for b in (p.outputs.get(PANELS) or [])]
            comp = np.stack([composition_features(b, (p.width, p.height)) for b in boxes]) if n else \
                np.zeros((0, 7), np.float32)
            out.append({PANEL_EMB.kind: embed_panels(feats[at:at + n], None, comp)})
            at += n
        return out

    return run


SPEC = StageSpec(name=NAME, pass_no=1, needs=(IMAGE, PANELS), produces=(PANEL_EMB.kind,), load=_load,
                 version=_version, level="page", batchable=True, batch_size=4, gpu_batch_size=16, image_size=1000,
                 vectors=(PANEL_EMB,), profiles=PROFILES)
