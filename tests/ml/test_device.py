"""Device, precision and batch-size choices, and the batch that halves on CUDA out-of-memory
(simulated: a fake function raises ``torch.cuda.OutOfMemoryError``)."""

from __future__ import annotations

import numpy as np
import pytest

import torch  # a declared dependency: missing is a failure, not a skip

from helpers import one_line

from comicdesk.ml import device as dev
from comicdesk.ml.device import (
    Batcher,
    DeviceError,
    choose_batch_size,
    choose_dtype,
    is_out_of_memory,
    resolve_device,
    run_batched,
)


def _no_gpu(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(dev, "_mps_available", lambda: False)


def test_auto_picks_cuda_then_mps_then_cpu(monkeypatch):
    _no_gpu(monkeypatch)
    assert resolve_device("auto") == "cpu" and resolve_device(None) == "cpu" and resolve_device("") == "cpu"
    monkeypatch.setattr(dev, "_mps_available", lambda: True)
    assert resolve_device("auto") == "mps"
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert resolve_device("AUTO") == "cuda"
    assert resolve_device("cpu") == "cpu"  # asked for: kept even with a GPU


def test_a_device_that_is_not_here_is_one_line(monkeypatch):
    _no_gpu(monkeypatch)
    for pref, word in (("cuda", "cuda"), ("mps", "Metal"), ("tpu", "unknown device")):
        with pytest.raises(DeviceError) as e:
            resolve_device(pref)
        assert word in one_line(e.value)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    assert resolve_device("cuda:1") == "cuda:1"
    with pytest.raises(DeviceError, match="no GPU 3"):
        resolve_device("cuda:3")
    with pytest.raises(DeviceError):
        resolve_device("cuda:x")


def test_dtype_choices(monkeypatch):
    assert choose_dtype("cuda") == torch.float16 and choose_dtype("cuda:0") == torch.float16
    assert choose_dtype("mps") == torch.float16
    assert choose_dtype("cpu") == torch.float32
    assert choose_dtype("cuda", "fp32") == torch.float32
    assert choose_dtype("cuda", "bfloat16") == torch.bfloat16
    monkeypatch.setattr(dev, "cpu_has_bf16", lambda: True)
    assert choose_dtype("cpu", "bf16") == torch.bfloat16
    monkeypatch.setattr(dev, "cpu_has_bf16", lambda: False)
    with pytest.raises(DeviceError, match="bfloat16"):
        choose_dtype("cpu", "bf16")
    with pytest.raises(DeviceError, match="GPUs"):
        choose_dtype("cpu", "fp16")
    with pytest.raises(DeviceError, match="unknown precision"):
        choose_dtype("cpu", "int8")


def test_batch_size_choices():
    assert choose_batch_size("cpu") == dev.DEFAULT_BATCH["cpu"]
    assert choose_batch_size("cuda") == dev.DEFAULT_BATCH["cuda"]
    assert choose_batch_size("cuda", cpu=2, gpu=128) == 128
    assert choose_batch_size("cpu", cpu=2, gpu=128) == 2
    assert choose_batch_size("cuda", 5) == 5
    with pytest.raises(DeviceError):
        choose_batch_size("cpu", 0)


def test_out_of_memory_is_recognised():
    assert is_out_of_memory(torch.cuda.OutOfMemoryError("CUDA out of memory"))
    assert is_out_of_memory(RuntimeError("MPS backend out of memory (MPS allocated: 1 GB)"))
    assert not is_out_of_memory(RuntimeError("shape mismatch"))
    assert not is_out_of_memory(MemoryError())  # host RAM: not something a smaller batch fixes here


class FakeModel:
    """Fails with CUDA's out-of-memory error on batches larger than ``fits``."""

    def __init__(self, fits: int):
        self.fits = fits
        self.calls: list[int] = []

    def __call__(self, chunk):
        self.calls.append(len(chunk))
        if len(chunk) > self.fits:
            raise torch.cuda.OutOfMemoryError(f"CUDA out of memory. Tried to allocate {len(chunk)} GiB")
        return np.asarray(chunk, dtype=np.float32) * 2


def test_out_of_memory_halves_the_batch_and_retries_the_same_items():
    fake = FakeModel(fits=3)
    shrinks = []
    batcher = Batcher(16, on_shrink=lambda old, new: shrinks.append((old, new)))
    out = batcher(fake, list(range(10)))
    assert out.tolist() == [2.0 * i for i in range(10)]  # every item once, in order
    assert fake.calls[:3] == [10, 8, 4] and set(fake.calls[3:]) <= {2}
    assert sum(c for c in fake.calls if c <= 3) == 10
    assert shrinks == [(16, 8), (8, 4), (4, 2)] and batcher.size == 2
    # the size is kept for the next call: no out-of-memory again
    fake.calls.clear()
    assert batcher(fake, list(range(5))).tolist() == [0, 2, 4, 6, 8]
    assert fake.calls == [2, 2, 1]


def test_a_batch_of_one_that_does_not_fit_is_one_line():
    with pytest.raises(DeviceError) as e:
        run_batched(FakeModel(fits=0), [1, 2, 3], 4)
    assert "memory" in one_line(e.value)


def test_other_errors_pass_through_and_results_are_checked():
    def broken(chunk):
        raise ValueError("not memory")

    with pytest.raises(ValueError, match="not memory"):
        run_batched(broken, [1, 2], 2)
    with pytest.raises(ValueError, match="gave 1 results"):
        run_batched(lambda chunk: [0], [1, 2], 2)
    # lists and tensors are joined as well as arrays
    assert run_batched(lambda c: [x + 1 for x in c], [1, 2, 3], 2) == [2, 3, 4]
    assert run_batched(lambda c: torch.tensor(c), [1, 2, 3], 2).tolist() == [1, 2, 3]
    assert run_batched(lambda c: c, [], 2) == []


def test_cosmo_windows_go_through_the_batcher_on_out_of_memory():
    from cosmo_helpers import tiny_cosmo_config

    from comicdesk.ml.cosmo import BookBERTMultimodal2, books_logits

    cfg = tiny_cosmo_config()
    model = BookBERTMultimodal2(config=cfg).eval()
    real = model.forward
    sizes = []

    def forward(t, v, attention_mask=None):
        sizes.append(t.shape[0])
        if t.shape[0] > 1:
            raise torch.cuda.OutOfMemoryError("CUDA out of memory")
        return real(t, v, attention_mask)

    books = [(np.random.rand(n, cfg.textual_dim), np.random.rand(n, cfg.visual_dim)) for n in (5, 40, 9)]
    want = books_logits(model, books)
    model.forward = forward
    got = books_logits(model, books, batcher=Batcher(8))
    assert sizes[0] > 1 and sizes[-1] == 1
    for a, b in zip(got, want):
        assert torch.allclose(a, b, atol=1e-5)


def test_cpu_precision_is_bfloat16_only_when_native_and_clearly_faster(monkeypatch):
    import torch

    from comicdesk.ml import device as dev

    calls = []

    def run_with(times):
        def run(dtype):
            calls.append(dtype)
            import time
            # burn thread CPU time in proportion to the pretended cost
            end = time.thread_time() + times[dtype]
            while time.thread_time() < end:
                pass
        return run

    monkeypatch.delenv(dev.CPU_PRECISION_ENV, raising=False)
    monkeypatch.setattr(dev, "_picked", {})
    monkeypatch.setattr(dev, "cpu_has_bf16", lambda: False)
    assert dev.pick_cpu_dtype(run_with({}), key="a") == torch.float32 and calls == []  # never timed
    monkeypatch.setattr(dev, "cpu_has_bf16", lambda: True)
    fast = {torch.float32: 0.02, torch.bfloat16: 0.005}
    assert dev.pick_cpu_dtype(run_with(fast), key="b") == torch.bfloat16
    assert dev.pick_cpu_dtype(run_with({}), key="b") == torch.bfloat16  # kept for the process
    close = {torch.float32: 0.02, torch.bfloat16: 0.018}
    assert dev.pick_cpu_dtype(run_with(close), key="c") == torch.float32  # not worth it
    def broken(dtype):
        if dtype == torch.bfloat16:
            raise RuntimeError("no bf16 kernel for this operator")

    assert dev.pick_cpu_dtype(broken, key="f") == torch.float32  # bf16 failing is not an error
    # The run's preference wins over "auto"; the environment is never read here (the settings
    # read $COMICDESK_CPU_PRECISION at start-up).
    assert dev.pick_cpu_dtype(run_with(fast), key="d", preference="float32") == torch.float32
    assert dev.pick_cpu_dtype(run_with(fast), key="d", preference="bfloat16") == torch.bfloat16
    monkeypatch.setenv(dev.CPU_PRECISION_ENV, "float32")
    assert dev.pick_cpu_dtype(run_with(fast), key="d") == torch.bfloat16  # "auto": timed above
    with pytest.raises(dev.DeviceError, match="unknown CPU precision"):
        dev.pick_cpu_dtype(run_with(fast), key="e", preference="fp8")


def test_cpu_precision_timings_are_remembered_per_machine_and_timed_once(monkeypatch, tmp_path):
    """The timing costs ~1.5 s of CPU a process; the answer is kept in a file so the next process
    (the app's next analysis, the next `comicdesk index`) does not pay it, and two inference workers
    loading together time once."""
    import json
    import threading

    import torch

    from comicdesk.ml import device as dev

    monkeypatch.delenv(dev.CPU_PRECISION_ENV, raising=False)
    monkeypatch.setattr(dev, "_picked", {})
    monkeypatch.setattr(dev, "_choices_file", [None])
    monkeypatch.setattr(dev, "_choices_writer", [None])
    monkeypatch.setattr(dev, "cpu_has_bf16", lambda: True)
    calls = []

    def run(dtype):
        calls.append(dtype)
        import time
        end = time.thread_time() + (0.02 if dtype == torch.float32 else 0.004)
        while time.thread_time() < end:
            pass

    from comicdesk.library.atomic import write_text

    store = tmp_path / "cache" / "cpu-precision.json"
    dev.remember_cpu_choices(store, write_text)  # the runner's writer: the project's atomic write
    # Two workers asking at once: one timing (4 runs per dtype), both get its answer.
    got = []
    threads = torch.get_num_threads()

    def worker():
        # The thread count is part of the machine key, and a new thread may start with another
        # one than this thread has (OpenMP's setting is per thread): the workers use this one's.
        torch.set_num_threads(threads)
        got.append(dev.pick_cpu_dtype(run, key="m"))

    workers = [threading.Thread(target=worker) for _ in range(2)]
    for t in workers:
        t.start()
    for t in workers:
        t.join()
    assert got == [torch.bfloat16, torch.bfloat16] and len(calls) == 8
    saved = json.loads(store.read_text())
    (entry,) = saved
    assert entry.startswith("m|") and f"torch {torch.__version__}" in entry and saved[entry] == "bfloat16"
    # A new process (the per-process memory cleared): read from the file, not timed.
    monkeypatch.setattr(dev, "_picked", {})
    calls.clear()
    assert dev.pick_cpu_dtype(run, key="m") == torch.bfloat16 and calls == []
    # Another thread count is another measurement.
    monkeypatch.setattr(dev, "_picked", {})
    torch.set_num_threads(threads + 1)
    try:
        assert dev.pick_cpu_dtype(run, key="m") == torch.bfloat16 and len(calls) == 8
    finally:
        torch.set_num_threads(threads)
    assert len(json.loads(store.read_text())) == 2
    # A damaged file is timed again and rewritten; a folder that cannot be written only costs time.
    store.write_text("{not json")
    monkeypatch.setattr(dev, "_picked", {})
    calls.clear()
    assert dev.pick_cpu_dtype(run, key="m") == torch.bfloat16 and len(calls) == 8
    assert len(json.loads(store.read_text())) == 1
    blocked = tmp_path / "file"
    blocked.write_text("")
    dev.remember_cpu_choices(blocked / "cpu-precision.json", write_text)
    monkeypatch.setattr(dev, "_picked", {})
    assert dev.pick_cpu_dtype(run, key="m") == torch.bfloat16
    # Where a run keeps it: the settings' cache root (passed in, not guessed from the library's
    # cache dir), shared by the machine's libraries.
    from comicdesk.core.settings import Settings
    from comicdesk.pipeline.runner import cpu_choices_file, library_dirs

    root = tmp_path / "cache"
    assert cpu_choices_file(root) == root / "cpu-precision.json"
    settings = Settings.resolve(root, tmp_path / "data", env={})
    assert library_dirs(settings, "abc")["cpu_choices_file"] == str(root / "cpu-precision.json")
