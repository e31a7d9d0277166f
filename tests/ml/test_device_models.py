"""Issue 22: every standard-profile model follows the device it is given, in the precision and the
batch its plan says, and halves its batch on a device's out-of-memory error. No GPU here: the
``meta`` device (tensors without data; mixing one with a CPU tensor raises) shows that a model's
whole forward pass runs on its device, and float16 on the CPU stands in for a GPU's precision."""

from __future__ import annotations

import numpy as np
import pytest

import torch  # a declared dependency: missing is a failure, not a skip

from helpers import one_line

from comicdesk.ml import device as dev
from comicdesk.ml.device import DeviceError, ModelPlan, plan_for_run, plan_model


def _gpu_here(monkeypatch, cuda=True, mps=False):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: cuda)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2 if cuda else 0)
    monkeypatch.setattr(dev, "_mps_available", lambda: mps)


# -- the plan ------------------------------------------------------------------------------------
def test_auto_plans_cuda_then_mps_then_the_cpu_with_their_batches_and_precision(monkeypatch):
    _gpu_here(monkeypatch, cuda=True)
    assert plan_model("auto", cpu_batch=8, gpu_batch=64) == ModelPlan("cuda", "float16", 64)
    assert plan_model("cuda:1", cpu_batch=8, gpu_batch=64) == ModelPlan("cuda:1", "float16", 64)
    assert plan_model("cuda", cpu_batch=8, gpu_batch=64, gpu_precision="fp32").precision == "float32"
    assert plan_model("cpu", cpu_batch=8, gpu_batch=64, cpu_precision="bf16") == ModelPlan("cpu", "bfloat16", 8)
    _gpu_here(monkeypatch, cuda=False, mps=True)
    assert plan_model(None, cpu_batch=4, gpu_batch=32) == ModelPlan("mps", "float16", 32)
    _gpu_here(monkeypatch, cuda=False, mps=False)
    # the CPU path as it always was: the run's CPU precision (auto: timed once), the CPU batch
    assert plan_model("auto", cpu_batch=8, gpu_batch=64) == ModelPlan("cpu", "auto", 8)
    assert plan_model("cpu", cpu_batch=16, gpu_batch=128, cpu_precision="FLOAT32") == ModelPlan("cpu", "float32", 16)


def test_a_plan_for_a_missing_device_or_a_bad_precision_is_one_line(monkeypatch):
    _gpu_here(monkeypatch, cuda=False)
    with pytest.raises(DeviceError) as e:
        plan_model("cuda", cpu_batch=8, gpu_batch=64)
    assert "cuda" in one_line(e.value)
    with pytest.raises(DeviceError) as e:
        plan_model("cpu", cpu_batch=8, gpu_batch=64, cpu_precision="float16")
    assert "float32, bfloat16 or auto" in one_line(e.value)


def test_plan_for_run_reads_the_runs_choices_not_the_environment(monkeypatch):
    class Run:
        device, cpu_precision = "cuda", "float32"

    _gpu_here(monkeypatch, cuda=True)
    monkeypatch.setenv("COMICDESK_DEVICE", "cpu")  # read at start-up only, never here
    assert plan_for_run(Run(), cpu_batch=8, gpu_batch=64) == ModelPlan("cuda", "float16", 64)
    Run.device = "cpu"
    assert plan_for_run(Run(), cpu_batch=8, gpu_batch=64) == ModelPlan("cpu", "float32", 8)


# -- the models on their device --------------------------------------------------------------------
def _images(n, seed=0):
    from PIL import Image

    rng = np.random.default_rng(seed)
    return [Image.fromarray(rng.integers(0, 255, (120 + 7 * i, 90, 3), dtype=np.uint8)) for i in range(n)]


TEXTS = ["captain science and the rocket", "buy now, only ten cents", "", "THE END", "a  b  c", "   "]


def test_efficientnet_runs_its_whole_forward_pass_on_its_device():
    from comicdesk.ml.efficientnet import EfficientNetLite0

    net = EfficientNetLite0(device="meta", precision="auto")
    assert all(p.device.type == "meta" for p in net.model.parameters())
    y = net.forward(net.preprocess(_images(3)))
    assert y.device.type == "meta" and tuple(y.shape) == (3, 1280)


def test_minilm_runs_its_whole_forward_pass_on_its_device():
    from comicdesk.ml.minilm import MiniLM

    model = MiniLM(device="meta")
    assert all(p.device.type == "meta" for p in model._model.parameters())
    ids = torch.tensor([[101, 2000, 2001, 102], [101, 2002, 102, 0]])
    mask = torch.tensor([[1, 1, 1, 1], [1, 1, 1, 0]])
    with torch.inference_mode():
        out = model.pooled(ids, mask)  # the attention bias on the CPU would raise here
    assert out.device.type == "meta" and tuple(out.shape) == (2, 384)


def _cos_rows(a, b):
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    na, nb = np.linalg.norm(a, axis=1), np.linalg.norm(b, axis=1)
    return (a * b).sum(1) / np.maximum(na * nb, 1e-12)


def test_efficientnet_in_float16_with_a_gpu_batch_matches_float32():
    """float16 weights and a GPU-sized batch (the CPU standing in for CUDA): the same features."""
    from comicdesk.ml.efficientnet import EfficientNetLite0, LiteConfig

    small = LiteConfig(image_size=96)  # float16 convolutions are slow on a CPU: small inputs
    ref = EfficientNetLite0(config=small, precision="float32", batch_size=8)
    half = EfficientNetLite0(config=small, precision="float16", batch_size=64)
    assert half.dtype == torch.float16 and half.batcher.size == 64 and ref.dtype == torch.float32
    images = _images(4)
    a, b = ref.features(images), half.features(images)
    assert b.dtype == np.float32 and b.shape == (4, 1280)
    assert _cos_rows(a, b).min() >= 0.999


def test_minilm_in_float16_with_a_gpu_batch_matches_float32():
    from comicdesk.ml.minilm import MiniLM

    ref, half = MiniLM(), MiniLM(precision="float16", batch_size=256)
    assert half.dtype == torch.float16 and half.batcher.size == 256
    a, b = ref.encode(TEXTS), half.encode(TEXTS)
    live = [i for i, t in enumerate(TEXTS) if t.strip()]
    assert _cos_rows(a[live], b[live]).min() >= 0.999
    assert not b[[2, 5]].any()  # empty text: still the zero row


def _oom_above(limit, seen):
    def check(n):
        seen.append(n)
        if n > limit:
            raise torch.cuda.OutOfMemoryError(f"CUDA out of memory. Tried to allocate {n} GiB")
    return check


def test_efficientnet_halves_its_batch_on_out_of_memory_and_keeps_every_row():
    from comicdesk.ml.efficientnet import EfficientNetLite0, LiteConfig

    net = EfficientNetLite0(config=LiteConfig(image_size=96), precision="float32", batch_size=16)
    images = _images(10, seed=3)
    want = net.features(images)
    seen: list[int] = []
    check = _oom_above(3, seen)
    features = net.model.features

    def tight(x):
        check(x.shape[0])
        return features(x)

    net.model.features = tight
    got = net.features(images)
    assert seen[:4] == [10, 8, 4, 2] and net.batcher.size == 2 and net.batcher.shrinks == 3
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4)
    seen.clear()
    net.features(images[:4])  # the smaller batch is kept for later calls
    assert seen == [2, 2]


def test_minilm_halves_its_batch_on_out_of_memory_and_keeps_every_row():
    from comicdesk.ml.minilm import MiniLM

    model = MiniLM(batch_size=8)
    texts = [f"panel {i}: the rocket lands on planet {i}" for i in range(7)] + [""]
    want = model.encode(texts)
    seen: list[int] = []
    check = _oom_above(2, seen)
    inner = model._model.forward

    def tight(ids, mask):
        check(ids.shape[0])
        return inner(ids, mask)

    model._model.forward = tight
    got = model.encode(texts)
    assert seen[:3] == [7, 4, 2] and model.batcher.size == 2
    np.testing.assert_allclose(got, want, atol=1e-5)
    assert not got[7].any()


def test_a_batch_of_one_that_does_not_fit_is_one_line():
    from comicdesk.ml.efficientnet import EfficientNetLite0

    net = EfficientNetLite0(precision="float32", batch_size=2)

    def never(x):
        raise torch.cuda.OutOfMemoryError("CUDA out of memory")

    net.model.features = never
    with pytest.raises(DeviceError) as e:
        net.features(_images(2))
    assert "--device cpu" in one_line(e.value)


# -- OCR: onnxruntime's CUDA provider when it is there ---------------------------------------------
def test_ocr_uses_the_cuda_provider_only_on_cuda_and_only_when_onnxruntime_has_it(monkeypatch):
    import onnxruntime as ort

    from comicdesk.ml.ocr import CPU_PROVIDER, CUDA_PROVIDER, ocr_providers

    monkeypatch.setattr(ort, "get_available_providers", lambda: [CUDA_PROVIDER, CPU_PROVIDER])
    assert ocr_providers("cuda") == [(CUDA_PROVIDER, {"device_id": 0}), CPU_PROVIDER]
    assert ocr_providers("cuda:1") == [(CUDA_PROVIDER, {"device_id": 1}), CPU_PROVIDER]
    assert ocr_providers("cpu") == [CPU_PROVIDER] and ocr_providers("mps") == [CPU_PROVIDER]
    monkeypatch.setattr(ort, "get_available_providers", lambda: ["AzureExecutionProvider", CPU_PROVIDER])
    assert ocr_providers("cuda") == [CPU_PROVIDER]  # the CPU wheel: silently the CPU


def test_ocr_sessions_are_made_with_the_devices_providers(monkeypatch):
    import onnxruntime as ort

    from comicdesk.ml.ocr import CPU_PROVIDER, CUDA_PROVIDER, DET_MODEL, TextOcr

    made = []
    real = ort.InferenceSession

    def recording(path, sess_options=None, providers=None):
        made.append(providers)
        return real(path, sess_options=sess_options, providers=[CPU_PROVIDER])  # the CPU stands in

    monkeypatch.setattr(ort, "InferenceSession", recording)
    monkeypatch.setattr(ort, "get_available_providers", lambda: [CUDA_PROVIDER, CPU_PROVIDER])
    ocr = TextOcr(device="cuda")
    det = ocr.detect(np.full((200, 300, 3), 255, np.uint8))
    assert det.count == 0 and made == [[(CUDA_PROVIDER, {"device_id": 0}), CPU_PROVIDER]]
    assert DET_MODEL
    TextOcr(device="cpu").det_session
    assert made[-1] == [CPU_PROVIDER]
