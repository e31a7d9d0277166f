"""``comicdesk models [list|download NAME [--yes]|path NAME]`` as a person uses it: real subprocesses
(exact JSON shape, one-line refusals), downloads only from a local http.server."""

from __future__ import annotations

import argparse
import functools
import http.server
import io
import json
import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest

COSMO_FILE = "best_Multimodal_MultiToken_v4.pt"


def _env(tmp_path: Path, **extra) -> dict:
    env = dict(os.environ, COMICDESK_CACHE_DIR=str(tmp_path / "cache"), COMICDESK_DATA_DIR=str(tmp_path / "data"),
               HF_HUB_CACHE=str(tmp_path / "hf"), COMICDESK_MODELS_DIR=str(tmp_path / "models"))
    for k in ("COMICDESK_DEBUG", "HF_HUB_OFFLINE", "COMICDESK_OFFLINE", "HF_ENDPOINT", "HF_HOME"):
        env.pop(k, None)
    env.update(extra)
    return env


def run(*args, tmp_path: Path, rc: int = 0, **extra):
    proc = subprocess.run([sys.executable, "-m", "comicdesk", "models", *map(str, args)], check=False, capture_output=True,
                          text=True, env=_env(tmp_path, **extra), timeout=120, stdin=subprocess.DEVNULL)
    assert proc.returncode == rc, (proc.returncode, proc.stdout, proc.stderr)
    assert "Traceback" not in proc.stderr
    return proc


@pytest.fixture
def hub(tmp_path):
    """A local server whose files sit at ``<root>/<repo>/resolve/main/<file>``."""
    root = tmp_path / "srv"
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(root))
    handler.log_message = lambda *a: None
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    data = os.urandom(70_000)
    f = root / "RichardScottOZ" / "cosmo-v4" / "resolve" / "main" / COSMO_FILE
    f.parent.mkdir(parents=True)
    f.write_bytes(data)
    yield f"http://127.0.0.1:{server.server_address[1]}", data
    server.shutdown()
    server.server_close()


def test_list_json_one_object_per_model(tmp_path):
    rows = [json.loads(line) for line in run("list", "--json", tmp_path=tmp_path).stdout.splitlines()]
    assert [r["name"] for r in rows] == ["cosmo-v4", "siglip-so400m", "qwen3-embedding-0.6b", "panel-encoder-v1"]
    for r in rows:
        assert list(r) == ["name", "found", "path", "size"]
        assert r["found"] is False and r["path"] is None and r["size"] > 10_000_000  # the download size
    mine = tmp_path / "models" / "cosmo-v4"
    mine.mkdir(parents=True)
    (mine / COSMO_FILE).write_bytes(b"12345")
    rows = [json.loads(line) for line in run("--json", tmp_path=tmp_path).stdout.splitlines()]  # list by default
    assert rows[0] == {"name": "cosmo-v4", "found": True, "path": str(mine / COSMO_FILE), "size": 5}
    assert not any(r["found"] for r in rows[1:])


def test_list_for_people_says_what_each_is_and_where(tmp_path):
    proc = run("list", tmp_path=tmp_path)
    lines = proc.stdout.splitlines()
    assert len(lines) == 5
    assert "cosmo-v4" in lines[1] and "page classifier" in lines[1] and "not found" in lines[1]
    assert "~318 MB" in lines[1] and "~3.5 GB" in lines[2]
    assert "comicdesk models download NAME" in proc.stderr


def test_path_found_and_not_found(tmp_path):
    proc = run("path", "cosmo-v4", tmp_path=tmp_path, rc=1)
    err = proc.stderr.strip()
    assert err.count("\n") == 0 and err.startswith("comicdesk: ")
    assert "comicdesk models download cosmo-v4" in err and str(tmp_path / "models" / "cosmo-v4") in err
    given = tmp_path / "mine.pt"
    given.write_bytes(b"x")
    proc = run("path", "cosmo-v4", tmp_path=tmp_path, COMICDESK_MODEL_COSMO_V4=str(given))
    assert proc.stdout.strip() == str(given)
    for args in (("path",), ("path", "gpt-5"), ("download", "nope", "--yes"), ("list", "cosmo-v4")):
        err = run(*args, tmp_path=tmp_path, rc=1).stderr.strip()
        assert err.startswith("comicdesk: ") and "\n" not in err


def test_download_without_yes_and_no_terminal_refuses(tmp_path, hub):
    url, _ = hub
    proc = run("download", "cosmo-v4", tmp_path=tmp_path, rc=1, HF_ENDPOINT=url)
    err = proc.stderr.strip()
    assert "\n" not in err and "--yes" in err and "consent" in err
    assert not (tmp_path / "models").exists()


def test_download_yes_fetches_then_says_it_is_there(tmp_path, hub):
    url, data = hub
    proc = run("download", "cosmo-v4", "--yes", "--json", tmp_path=tmp_path, HF_ENDPOINT=url)
    row = json.loads(proc.stdout)
    dest = tmp_path / "models" / "cosmo-v4" / COSMO_FILE
    assert row == {"name": "cosmo-v4", "found": True, "path": str(dest), "size": len(data)}
    assert dest.read_bytes() == data
    proc = run("download", "cosmo-v4", tmp_path=tmp_path, HF_ENDPOINT=url)  # no --yes needed now
    assert "already here" in proc.stderr
    assert run("path", "cosmo-v4", tmp_path=tmp_path).stdout.strip() == str(dest)


def test_offline_download_is_one_line_with_what_to_fetch(tmp_path, hub):
    url, _ = hub
    err = run("download", "siglip-so400m", "--yes", tmp_path=tmp_path, rc=1, HF_ENDPOINT=url,
              HF_HUB_OFFLINE="1").stderr.strip()
    assert "\n" not in err and "offline" in err and "google/siglip-so400m-patch14-384" in err
    assert str(tmp_path / "models" / "siglip-so400m") in err


class _Tty(io.StringIO):
    def isatty(self):
        return True


@pytest.mark.parametrize("answer,rc", [("n\n", 1), ("y\n", 0)])
def test_download_asks_on_a_terminal(tmp_path, hub, monkeypatch, capsys, answer, rc):
    from comicdesk.commands import models
    from comicdesk.core.settings import Settings

    url, data = hub
    monkeypatch.setenv("HF_ENDPOINT", url)
    monkeypatch.setenv("COMICDESK_MODELS_DIR", str(tmp_path / "models"))
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hf"))
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.setattr(sys, "stdin", _Tty(answer))
    settings = Settings.resolve(tmp_path / "cache", tmp_path / "data", env=os.environ)  # read at start-up
    args = argparse.Namespace(action="download", name="cosmo-v4", yes=False, json=False)
    assert models.run(args, settings) == rc
    err = capsys.readouterr().err
    assert "Download CoSMo v4" in err and "[y/N]" in err
    dest = tmp_path / "models" / "cosmo-v4" / COSMO_FILE
    assert dest.exists() == (rc == 0)
    if rc == 0:
        assert dest.read_bytes() == data
