"""``comicdesk index --engine ray`` as a person runs it (child processes, the fake panel stage):
the same lines and summary as the local run; Ctrl-C and a killed driver; the errors."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from engine_util import contents
from fakes import simple_library

FAKE_CLI = Path(__file__).resolve().parents[1] / "pipeline" / "fake_cli.py"
INDEX_KEYS = ["path", "status", "pages", "panels", "error"]


def env_for(tmp_path, cache="cache", **extra):
    env = dict(os.environ, COMICDESK_CACHE_DIR=str(tmp_path / cache), COMICDESK_DATA_DIR=str(tmp_path / "data"),
               **extra)
    env.pop("COMICDESK_DEBUG", None)
    return env


def cli(*args, tmp_path, rc=0, cache="cache", **extra):
    proc = subprocess.run([sys.executable, str(FAKE_CLI), *map(str, args)], capture_output=True, text=True,
                          env=env_for(tmp_path, cache, **extra), timeout=180)
    assert "Traceback" not in proc.stderr, proc.stderr
    if rc is not None:
        assert proc.returncode == rc, (proc.returncode, proc.stdout, proc.stderr)
    return proc


def rows(text: str) -> list[dict]:
    return [json.loads(x) for x in text.splitlines() if x.strip()]


def cache_dir(tmp_path, cache="cache") -> Path:
    return next((tmp_path / cache / "libraries").iterdir())


def test_index_on_ray_prints_what_the_local_run_prints(tmp_path):
    root = tmp_path / "lib"
    simple_library(root, books=3, pages=2)
    (root / "broken.cbz").write_bytes(b"PK\x03\x04 not a zip at all")
    local = cli("index", root, "--json", tmp_path=tmp_path, cache="cache-local")
    ray = cli("index", root, "--json", "--engine", "ray", tmp_path=tmp_path)
    got = sorted(rows(ray.stdout), key=lambda r: r["path"])
    assert all(list(r) == INDEX_KEYS for r in got)
    assert got == sorted(rows(local.stdout), key=lambda r: r["path"])
    assert "4 books: 3 analysed, 0 already done, 1 failed; 6 pages, 6 panels in" in ray.stderr
    assert len(ray.stderr.strip().splitlines()) == 2, ray.stderr  # the scan's line and the summary: Ray is quiet
    again = cli("index", root, "--engine", "ray", tmp_path=tmp_path)  # nothing to do: Ray is not even started
    assert "0 analysed, 3 already done, 1 failed" in again.stderr
    assert again.stdout.count("skipped") == 3


def wait_for_done(proc, out: list[str], timeout: float = 90.0) -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        line = proc.stdout.readline()
        if not line:
            break
        out.append(line)
        if '"done"' in line:
            return
    raise AssertionError(f"no book was committed: {out}")


def consistent(cache: Path, pages: int) -> list[str]:
    """Each book is whole (runs recorded, a panel per page) or untouched; returns the whole ones."""
    whole = []
    for name, c in contents(cache).items():
        if c["runs"]:
            assert c["runs"] == {"panels": ("done", "fake-cli-1")} and len(c["panels"]) == pages, name
            whole.append(name)
        else:
            assert not c["panels"], name
    return whole


def test_ctrl_c_and_a_killed_driver_lose_nothing_committed(tmp_path):
    root = tmp_path / "lib"
    simple_library(root, books=8, pages=3)
    args = [sys.executable, str(FAKE_CLI), "index", str(root), "--json", "--engine", "ray"]
    env = env_for(tmp_path, FAKE_DELAY="0.4")
    # Ctrl-C after the first committed book: exit 130, nothing half committed.
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
                            start_new_session=True)
    try:
        out: list[str] = []
        wait_for_done(proc, out)
        os.killpg(proc.pid, signal.SIGINT)  # as a terminal does: the whole group, local Ray included
        stdout, stderr = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    assert proc.returncode == 130, stderr
    assert "Traceback" not in stderr and "cancelled:" in stderr and "run it again to carry on" in stderr
    first = consistent(cache_dir(tmp_path), 3)
    assert 1 <= len(first) < 8
    # The driver killed outright after its next commit: what it committed stays.
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
                            start_new_session=True)
    try:
        wait_for_done(proc, [])
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        try:
            os.killpg(proc.pid, signal.SIGKILL)  # the local Ray it started, orphaned
        except ProcessLookupError:
            pass
    second = consistent(cache_dir(tmp_path), 3)
    assert len(second) > len(first)
    # The next run commits what the dead one left in staging and analyses the rest.
    done = cli("index", root, "--json", "--engine", "ray", tmp_path=tmp_path)
    assert sorted(r["status"] for r in rows(done.stdout)).count("failed") == 0
    assert sorted(consistent(cache_dir(tmp_path), 3)) == [f"Book {i:02d}.cbz" for i in range(8)]
    assert not (cache_dir(tmp_path) / "ray.staging").exists()


def test_the_engine_options_errors_are_one_line(tmp_path):
    root = tmp_path / "lib"
    simple_library(root, books=1, pages=1)
    proc = cli("index", root, "--address", "127.0.0.1:6379", tmp_path=tmp_path, rc=2)
    assert proc.stderr.strip() == "comicdesk: --address is for --engine ray (the Ray cluster to join)"
    proc = cli("index", root, "--engine", "ray", "--address", "127.0.0.1:1", tmp_path=tmp_path, rc=1)
    assert proc.stderr.strip().startswith("comicdesk: no Ray cluster answers at 127.0.0.1:1")
    assert len(proc.stderr.strip().splitlines()) == 1
    proc = cli("index", root, "--engine", "ray", "--address", "nowhere", tmp_path=tmp_path, rc=1)
    assert proc.stderr.strip() == ("comicdesk: --address nowhere: give the head node as HOST:PORT "
                                   "(ray start --head prints it)")
    proc = cli("index", root, "--engine", "spark", tmp_path=tmp_path, rc=2)
    assert "invalid choice" in proc.stderr
    assert not (tmp_path / "cache").exists()  # refused before the scan
    # Without Ray installed: one line saying how to get it.
    blocker = tmp_path / "noray"
    blocker.mkdir()
    (blocker / "ray.py").write_text("raise ImportError('No module named ray')\n")
    proc = cli("index", root, "--engine", "ray", tmp_path=tmp_path, rc=1,
               PYTHONPATH=str(blocker) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    assert proc.stderr.strip() == "comicdesk: the ray engine needs Ray: pip install 'comicdesk[ray]'"
