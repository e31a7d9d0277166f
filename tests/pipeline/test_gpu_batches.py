"""Issue 22: on a GPU run the runner fills the models' large batches — it takes up to
``RunOptions.gpu_batch_size`` pages per inference batch and gives each batchable stage up to its
``StageSpec.gpu_batch_size`` of them, with the decoded-pixel budget raised to match — while a CPU
run batches exactly as before (``batch_size`` pages, each stage's ``batch_size``).

No GPU here: ``torch.cuda.is_available`` says yes (the CPU stands in, as in
tests/pipeline/test_device_stages.py). The stages are recording fakes: the first call sleeps so
that the decoders get ahead and many pages are in flight when the next batch is taken."""

from __future__ import annotations

import threading
import time

import pytest
import torch
from fakes import jpeg, make_cbz

from comicdesk.library.service import scan_library
from comicdesk.ml import device as dev
from comicdesk.pipeline.runner import RunOptions, Runner
from comicdesk.pipeline.stage import IMAGE, StageSpec

BOOKS, PAGES = 5, 24


def _library(root):
    for b in range(BOOKS):
        make_cbz(root / f"Book {b:02d}.cbz", [jpeg(60 + b, 90, (b * 40 % 256, i * 9 % 256, 90)) for i in range(PAGES)])


def _recording_stage(name: str, calls: dict, *, batch_size: int, gpu_batch_size: int | None,
                     first_delay: float = 0.4) -> StageSpec:
    """A batchable page stage that records how many pages each call got (its first call waits,
    so that the pages of every book pile up behind it)."""
    lock = threading.Lock()
    sizes = calls.setdefault(name, [])

    def load(ctx):
        def run(pages):
            with lock:
                first = not sizes
                sizes.append(len(pages))
            if first:
                time.sleep(first_delay)
            return [{f"{name}_out": p.index} for p in pages]

        return run

    return StageSpec(name, 1, (IMAGE,), (f"{name}_out",), load, f"{name}-1", batchable=True,
                     batch_size=batch_size, gpu_batch_size=gpu_batch_size)


def _stages(calls: dict) -> list[StageSpec]:
    return [_recording_stage("big", calls, batch_size=8, gpu_batch_size=64),
            _recording_stage("mid", calls, batch_size=4, gpu_batch_size=16),
            _recording_stage("own", calls, batch_size=8, gpu_batch_size=None)]  # keeps its own cap


def _cuda_here(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    monkeypatch.setattr(dev, "_mps_available", lambda: False)


def _run(tmp_path, settings, options: RunOptions):
    root = tmp_path / "lib"
    _library(root)
    cache = settings.library_cache_dir(scan_library(root, settings).library_id)
    calls: dict[str, list[int]] = {}
    runner = Runner(cache, stages=_stages(calls), options=options)
    result = runner.run()
    assert (result.done, result.failed) == (BOOKS, 0)
    for name in ("big", "mid", "own"):
        assert sum(calls[name]) == BOOKS * PAGES  # every page once, whatever the batches
    return runner, calls


def test_a_gpu_run_gives_stages_batches_larger_than_the_cpus(tmp_path, settings, monkeypatch):
    _cuda_here(monkeypatch)
    runner, calls = _run(tmp_path, settings, RunOptions(nice=0, durable=False, device="auto"))
    assert runner.on_gpu()
    assert 8 < max(calls["big"]) <= 64  # more than the CPU's 8 pages: the GPU batch fills
    assert 4 < max(calls["mid"]) <= 16
    assert max(calls["own"]) == 8  # no GPU cap declared: its batch_size, never more
    assert runner._budget.limit == RunOptions().gpu_pending_pixels


def test_the_runs_gpu_batch_bounds_every_stage(tmp_path, settings, monkeypatch):
    _cuda_here(monkeypatch)
    runner, calls = _run(tmp_path, settings, RunOptions(nice=0, durable=False, device="cuda", gpu_batch_size=12))
    assert runner.on_gpu()
    assert 8 < max(calls["big"]) <= 12
    assert 4 < max(calls["mid"]) <= 12


@pytest.mark.parametrize("device", ["cpu", "auto"])
def test_a_cpu_run_keeps_todays_batches_and_budget(tmp_path, settings, monkeypatch, device):
    """``cpu`` with CUDA standing in (an explicit CPU wins), ``auto`` with no GPU here: the
    batches never pass the CPU caps and the pixel budget is the CPU's."""
    if device == "cpu":
        _cuda_here(monkeypatch)
    else:
        monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
        monkeypatch.setattr(dev, "_mps_available", lambda: False)
    options = RunOptions(nice=0, durable=False, device=device)
    runner, calls = _run(tmp_path, settings, options)
    assert not runner.on_gpu()
    assert max(calls["big"]) <= 8 and max(calls["own"]) <= 8 and max(calls["mid"]) <= 4
    assert max(calls["big"]) > 1  # pages still batched across books, as before
    assert runner._budget.limit == options.max_pending_pixels


def test_the_device_is_resolved_once_per_run_and_a_missing_gpu_counts_as_the_cpu(tmp_path, settings, monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(dev, "_mps_available", lambda: False)
    asked = []
    real = dev.resolve_device

    def counting(preference="auto"):
        asked.append(preference)
        return real(preference)

    monkeypatch.setattr(dev, "resolve_device", counting)
    # cuda asked for on a machine without it: the models' load says so (one line); the batching
    # itself does not raise and stays the CPU's
    runner, calls = _run(tmp_path, settings, RunOptions(nice=0, durable=False, device="cuda"))
    assert not runner.on_gpu() and max(calls["big"]) <= 8
    assert asked == ["cuda"]  # once for the whole run, not per batch
    runner_cpu = Runner(runner.cache_dir, stages=[], options=RunOptions(device="cpu"))
    assert not runner_cpu.on_gpu() and asked == ["cuda"]  # an explicit CPU resolves nothing


def test_stage_gpu_batch_sizes():
    from comicdesk.pipeline import registry
    from comicdesk.pipeline.stages import page_image, panel_emb, text_embed

    assert (page_image.SPEC.gpu_batch_size, panel_emb.SPEC.gpu_batch_size, text_embed.SPEC.gpu_batch_size) == (
        page_image.GPU_BATCH, 16, 64)
    # the CPU caps are today's
    assert (page_image.SPEC.batch_size, panel_emb.SPEC.batch_size, text_embed.SPEC.batch_size) == (8, 4, 16)
    # the CoSMo stages keep their own caps on a GPU too
    assert all(s.gpu_batch_size is None for s in registry.stages("cosmo"))
    with pytest.raises(ValueError, match="gpu_batch_size"):
        StageSpec("x", 1, (IMAGE,), ("y",), lambda ctx: None, "1", batchable=True, gpu_batch_size=0)
