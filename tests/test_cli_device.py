"""Issue 22: ``--device auto|cpu|cuda|mps`` on index, export and similar, through the settings (read
once at start-up); a device this machine lacks is one line and exit 1 before any work; the chosen
device reaches every model of an index run."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from helpers import REPO, tree_digest

from comicdesk.core.settings import Settings, device_name

SAMPLE_CBZ = REPO / "resources" / "sample-library" / "Captain Science" / "Captain Science #001 (1950).cbz"


def run(*args, tmp_path: Path, env_extra: dict | None = None):
    env = dict(os.environ, COMICDESK_CACHE_DIR=str(tmp_path / "cache"), COMICDESK_DATA_DIR=str(tmp_path / "data"))
    for k in ("COMICDESK_DEBUG", "COMICDESK_DEVICE"):
        env.pop(k, None)
    env.update(env_extra or {})
    proc = subprocess.run([sys.executable, "-m", "comicdesk", *map(str, args)], capture_output=True,
                          text=True, env=env, timeout=120)
    assert "Traceback" not in proc.stderr
    return proc


@pytest.fixture
def library(tmp_path):
    lib = tmp_path / "lib"
    lib.mkdir()
    shutil.copy(SAMPLE_CBZ, lib / SAMPLE_CBZ.name)
    return lib


def _no_cuda_here():
    import torch

    if torch.cuda.is_available():  # pragma: no cover - this test is about a machine without one
        pytest.fail("this test expects a machine without CUDA (CI's); run it on one")


def test_settings_take_the_flag_then_the_environment_then_auto(tmp_path):
    base = dict(cache_dir=tmp_path / "c", data_dir=tmp_path / "d")
    assert Settings.resolve(**base, env={}).device == "auto"
    assert Settings.resolve(**base, env={"COMICDESK_DEVICE": "CPU"}).device == "cpu"
    assert Settings.resolve(**base, env={"COMICDESK_DEVICE": "cpu"}, device="cuda:1").device == "cuda:1"
    with pytest.raises(ValueError, match=r"COMICDESK_DEVICE"):
        Settings.resolve(**base, env={"COMICDESK_DEVICE": "gpu"})
    for bad in ("gpu", "mps:1", "cuda:x", "cpu:0"):
        with pytest.raises(ValueError, match="unknown device"):
            device_name(bad)
    # the app's device setting: the same names, and the environment read at start-up wins
    s = Settings.resolve(**base, env={})
    assert s.with_device("cpu").device == "cpu" and s.with_device(None) is s
    with pytest.raises(ValueError):
        s.with_device("tpu")
    assert Settings.resolve(**base, env={"COMICDESK_DEVICE": "cuda"}).with_device("cpu").device == "cuda"


def test_index_on_a_device_this_machine_lacks_is_one_line_and_exit_1(tmp_path, library):
    _no_cuda_here()
    before = tree_digest(library)
    proc = run("index", library, "--device", "cuda", tmp_path=tmp_path)
    assert proc.returncode == 1
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "cuda" in lines[0] and "--device cpu" in lines[0], proc.stderr
    assert tree_digest(library) == before and not (tmp_path / "cache").exists()  # before any work
    # the environment as read at start-up: the same check
    proc = run("index", library, tmp_path=tmp_path, env_extra={"COMICDESK_DEVICE": "cuda"})
    assert proc.returncode == 1 and "cuda" in proc.stderr


@pytest.mark.parametrize("args", [("export", "LIB", "-o", "OUT", "--device", "cuda"),
                                  ("similar", "--text", "rocket", "--device", "cuda:0")])
def test_export_and_similar_refuse_a_missing_device_too(tmp_path, library, args):
    _no_cuda_here()
    args = [str(library) if a == "LIB" else str(tmp_path / "out") if a == "OUT" else a for a in args]
    proc = run(*args, tmp_path=tmp_path)
    assert proc.returncode == 1 and len(proc.stderr.strip().splitlines()) == 1 and "cuda" in proc.stderr
    assert not (tmp_path / "out").exists()


def test_an_unknown_device_name_is_bad_usage(tmp_path, library):
    proc = run("index", library, "--device", "gpu", tmp_path=tmp_path)
    assert proc.returncode == 2 and "unknown device 'gpu'" in proc.stderr
    proc = run("scan", library, "--device", "cpu", tmp_path=tmp_path)  # scan runs no model
    assert proc.returncode == 2


@pytest.mark.parametrize("command", ["index", "export"])
def test_the_device_flag_reaches_every_model(tmp_path, library, monkeypatch, command):
    """In process, ``--device cuda`` with the CPU standing in for the GPU (CUDA "is here"; each
    model records what it was asked for, then is built on the CPU in float32): every model the run
    (index's, or the analysis before an export) builds is told the device on the command line."""
    import torch

    from comicdesk import cli
    from comicdesk.ml import device as dev
    from comicdesk.ml import efficientnet, minilm, ocr

    seen: list[tuple[str, str, str]] = []

    def recording(cls, name):
        post = cls.__post_init__

        def post_init(self):
            seen.append((name, self.device, getattr(self, "precision", "-")))
            if name != "ocr":  # onnxruntime here has no CUDA provider: OCR falls back by itself
                self.device, self.precision = "cpu", "float32"
            post(self)

        monkeypatch.setattr(cls, "__post_init__", post_init)

    recording(efficientnet.EfficientNetLite0, "effnet")
    recording(minilm.MiniLM, "minilm")
    recording(ocr.TextOcr, "ocr")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    monkeypatch.setattr(dev, "_mps_available", lambda: False)
    monkeypatch.delenv("COMICDESK_DEVICE", raising=False)
    out = ["-o", str(tmp_path / "out")] if command == "export" else []
    rc = cli.main([command, str(library), *out, "--device", "cuda", "--cache-dir", str(tmp_path / "cache"),
                   "--data-dir", str(tmp_path / "data")])
    assert rc == 0
    assert command == "index" or any((tmp_path / "out").rglob("*.cbz"))
    assert {n for n, _, _ in seen} == {"effnet", "minilm", "ocr"}, seen
    assert {d for _, d, _ in seen} == {"cuda"}
    assert {p for n, _, p in seen if n != "ocr"} == {"float16"}
    # effnet twice (pages, panel crops) and OCR twice (detection, recognition) per worker
    assert sum(n == "effnet" for n, _, _ in seen) >= 2 and sum(n == "ocr" for n, _, _ in seen) >= 2


def test_similar_text_queries_are_embedded_on_the_settings_device(tmp_path, monkeypatch):
    """``similar --text`` with a CUDA device: the query encoder is planned for it (float16); the
    CPU stands in for the GPU (the model is built on the CPU in float16)."""
    import torch

    from comicdesk.ml import device as dev
    from comicdesk.ml import minilm
    from comicdesk.services.similar import load_encoder

    asked = []
    post = minilm.MiniLM.__post_init__

    def standing_in(self):
        asked.append((self.device, self.precision))
        self.device = "cpu"
        post(self)

    monkeypatch.setattr(minilm.MiniLM, "__post_init__", standing_in)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(dev, "_mps_available", lambda: False)
    settings = Settings.resolve(tmp_path / "c", tmp_path / "d", env={}, device="cuda")
    vec = load_encoder(settings)("the rocket lands")
    assert asked == [("cuda", "float16")] and vec.shape == (384,) and abs(float((vec * vec).sum()) - 1) < 1e-3
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    load_encoder(Settings.resolve(tmp_path / "c", tmp_path / "d", env={}))
    assert asked[-1] == ("cpu", "float32")  # auto here: the CPU, as before
