"""Page image features, pass 1: EfficientNet-Lite0 features (``standard-1/page_image``), the
64-bit perceptual hash and cheap image statistics (``PAGE_STATS`` → ``page_features``)."""

from __future__ import annotations

from comicdesk.pipeline.stage import IMAGE, PAGE_STATS, StageContext, StageSpec
from comicdesk.pipeline.stages.standard import PAGE_IMAGE, PROFILES, set_torch_threads

NAME = "page_image"
#: Pages per EfficientNet forward pass on a GPU (8 on the CPU); halved on out-of-memory.
GPU_BATCH = 64
VERSION = "effnet-lite0-224-squash+phash-dct64+stats-1"


def page_stats(image) -> dict:
    from comicdesk.ml.page_stats import image_stats
    from comicdesk.ml.phash import phash

    return {"phash": phash(image), "stats": image_stats(image)}


def _load(ctx: StageContext):
    import numpy as np

    from comicdesk.ml.device import plan_for_run
    from comicdesk.ml.efficientnet import EfficientNetLite0

    set_torch_threads(ctx)
    plan = plan_for_run(ctx, cpu_batch=8, gpu_batch=GPU_BATCH)
    net = EfficientNetLite0(batch_size=plan.batch, precision=plan.precision, device=plan.device)

    def run(pages):
        feats = net.features([p.image for p in pages]).astype(np.float16)
        return [{PAGE_STATS: page_stats(p.image), PAGE_IMAGE.kind: f} for p, f in zip(pages, feats)]

    return run


SPEC = StageSpec(name=NAME, pass_no=1, needs=(IMAGE,), produces=(PAGE_STATS, PAGE_IMAGE.kind), load=_load,
                 version=VERSION, level="page", batchable=True, batch_size=8, gpu_batch_size=GPU_BATCH, image_size=448,
                 vectors=(PAGE_IMAGE,), profiles=PROFILES)
