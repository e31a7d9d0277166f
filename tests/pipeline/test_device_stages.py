"""Issue 22 through the real runner: the run's device reaches every model of the standard profile
with the GPU's batches and precision, OCR asks onnxruntime for its CUDA provider, and the device is
no part of a stage's fingerprint (a cache analysed on one device is complete for the other).

No GPU here: ``torch.cuda.is_available`` says yes, and each model, after its plan is recorded, is
built on the CPU (the CPU stands in for the GPU). The stand-in computes in float32, so the vectors
of the two runs must agree closely; float16's own closeness is tests/ml/test_device_models.py's and
tests/bench/bench_device.py's."""

from __future__ import annotations

import io
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from synth_pages import story_page, text_page  # noqa: E402

from comicdesk.core.settings import Settings  # noqa: E402
from comicdesk.library.catalog import Catalog  # noqa: E402
from comicdesk.library.service import scan_library  # noqa: E402
from comicdesk.pipeline import registry  # noqa: E402
from comicdesk.pipeline.runner import RunOptions, Runner  # noqa: E402
from comicdesk.pipeline.stage import STANDARD_MODEL  # noqa: E402

W, H = 640, 960
FEATURE_STAGES = ("page_image", "panels", "text_detect", "panel_emb", "text_read", "text_assign", "text_embed")


def _jpeg(im) -> bytes:
    buf = io.BytesIO()
    im.save(buf, "JPEG", quality=88)
    return buf.getvalue()


def _library(root: Path) -> None:
    root.mkdir()
    rng = np.random.default_rng(22)
    for name in ("A", "B"):
        with zipfile.ZipFile(root / f"{name}.cbz", "w", zipfile.ZIP_STORED) as zf:
            zf.writestr("000.jpg", _jpeg(story_page(rng, W, H)))
            zf.writestr("001.jpg", _jpeg(text_page(rng, W, H)))


def _standing_in_for_cuda(monkeypatch, plans: list):
    """CUDA "is here"; every model records what it was asked for, then is built on the CPU in
    float32; OCR sessions record their providers and run on the CPU."""
    import onnxruntime as ort

    from comicdesk.ml import device as dev
    from comicdesk.ml import efficientnet, minilm, ocr

    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    monkeypatch.setattr(dev, "_mps_available", lambda: False)
    for cls, name in ((efficientnet.EfficientNetLite0, "effnet"), (minilm.MiniLM, "minilm")):
        def post_init(self, _post=cls.__post_init__, _name=name):
            size = getattr(getattr(self, "config", None), "image_size", None)
            plans.append((_name, size, self.device, self.precision, self.batch_size))
            self.device, self.precision = "cpu", "float32"
            _post(self)

        monkeypatch.setattr(cls, "__post_init__", post_init)
    real_session = ort.InferenceSession

    def session(path, sess_options=None, providers=None):
        plans.append(("ocr", Path(path).name, providers))
        return real_session(path, sess_options=sess_options, providers=[ocr.CPU_PROVIDER])

    monkeypatch.setattr(ort, "InferenceSession", session)
    monkeypatch.setattr(ort, "get_available_providers", lambda: [ocr.CUDA_PROVIDER, ocr.CPU_PROVIDER])


def _vectors(cache: Path) -> dict:
    from comicdesk.cache.vectors import VectorStore

    out = {}
    with Catalog.open(cache, readonly=True) as cat, VectorStore.open(cache, catalog=cat, readonly=True) as store:
        names = {b.id: Path(b.path).name for b in cat.all_books()}  # book ids differ between caches
        for array in ("page_image", "panel_emb", "page_text", "panel_text"):
            keys, rows = store.load(STANDARD_MODEL, array)
            out[array] = {(names[b], p, n): r for (b, p, n), r in zip(keys.tolist(), np.asarray(rows, np.float32))}
    return out


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    mp = pytest.MonkeyPatch()
    tmp = tmp_path_factory.mktemp("device")
    lib = tmp / "lib"
    _library(lib)
    stages = [s for s in registry.stages("standard") if s.name in FEATURE_STAGES]
    caches = {}
    for name in ("cpu", "gpu"):
        settings = Settings.resolve(tmp / f"cache-{name}", tmp / f"data-{name}", "standard", env={})
        caches[name] = settings.library_cache_dir(scan_library(lib, settings).library_id)
    try:
        cpu = Runner(caches["cpu"], stages=stages, options=RunOptions(nice=0, device="cpu", cpu_precision="float32")).run()
        plans: list = []
        _standing_in_for_cuda(mp, plans)
        gpu = Runner(caches["gpu"], stages=stages, options=RunOptions(nice=0, device="auto")).run()
    finally:
        mp.undo()
    # the other way round: the cache the "GPU" filled, run again on the CPU: nothing to do
    again = Runner(caches["gpu"], stages=stages, options=RunOptions(nice=0, device="cpu")).run()
    return {"cpu": cpu, "gpu": gpu, "again": again, "plans": plans, "caches": caches, "stages": stages}


def test_both_runs_analyse_every_book(runs):
    assert (runs["cpu"].done, runs["cpu"].failed) == (2, 0)
    assert (runs["gpu"].done, runs["gpu"].failed) == (2, 0)


def test_every_model_is_planned_for_the_gpu_with_its_batch_and_float16(runs):
    from comicdesk.ml.ocr import CPU_PROVIDER, CUDA_PROVIDER
    from comicdesk.pipeline.stages import page_image, panel_emb, text_embed

    models = {p[:2]: p[2:] for p in runs["plans"] if p[0] != "ocr"}
    assert models == {
        ("effnet", 224): ("cuda", "float16", page_image.GPU_BATCH),
        ("effnet", panel_emb.CROP_SIZE): ("cuda", "float16", panel_emb.GPU_BATCH),
        ("minilm", None): ("cuda", "float16", text_embed.GPU_BATCH),
    }
    assert (page_image.GPU_BATCH, panel_emb.GPU_BATCH, text_embed.GPU_BATCH) == (64, 128, 256)
    sessions = {p[1]: p[2] for p in runs["plans"] if p[0] == "ocr"}
    cuda = [(CUDA_PROVIDER, {"device_id": 0}), CPU_PROVIDER]
    assert len(sessions) == 2 and all(v == cuda for v in sessions.values())  # detector and recogniser


def test_the_device_is_no_part_of_a_stages_fingerprint(runs):
    """The GPU-filled cache is complete for a CPU run (every book skipped, nothing re-run), and every
    stage's fingerprint is the same whatever the run's device."""
    assert (runs["again"].done, runs["again"].skipped, runs["again"].failed) == (0, 2, 0)
    cache = runs["caches"]["cpu"]
    for profile in ("standard", "cosmo"):
        stages = list(registry.stages(profile))
        prints = [{s.name: r._fingerprint(s) for s in stages} for r in (
            Runner(cache, stages=stages, options=RunOptions(profile=profile, device="cpu")),
            Runner(cache, stages=stages, options=RunOptions(profile=profile, device="cuda", dtype="fp16",
                                                           model_batch=64, cpu_precision="bfloat16")))]
        assert prints[0] == prints[1] and len(prints[0]) >= 5
        assert not any(word in fp for fp in prints[0].values() for word in ("cuda", "mps", "float16"))


def test_the_vectors_of_the_two_runs_agree(runs):
    a, b = _vectors(runs["caches"]["cpu"]), _vectors(runs["caches"]["gpu"])
    for array in ("page_image", "panel_emb", "page_text", "panel_text"):
        assert set(a[array]) == set(b[array]) and a[array], array
        for k, row in a[array].items():
            other = b[array][k]
            cos = float(row @ other / max(np.linalg.norm(row) * np.linalg.norm(other), 1e-12))
            assert cos >= 0.999, (array, k, cos)
