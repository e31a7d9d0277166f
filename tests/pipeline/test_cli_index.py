"""``comicdesk index`` and ``comicdesk pages`` over the cache: real subprocesses, exact shapes."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from fakes import jpeg, make_cbz, simple_library
from helpers import tree_digest

FAKE_CLI = Path(__file__).with_name("fake_cli.py")
INDEX_KEYS = ["path", "status", "pages", "panels", "error"]
PAGE_KEYS = ["index", "name", "width", "height", "bytes", "bad", "label", "probs", "source", "sure", "panels"]


def env_for(tmp_path, **extra):
    env = dict(os.environ, COMICDESK_CACHE_DIR=str(tmp_path / "cache"),
               COMICDESK_DATA_DIR=str(tmp_path / "data"), **extra)
    env.pop("COMICDESK_DEBUG", None)
    return env


def cli(*args, tmp_path, rc=0, **extra):
    proc = subprocess.run([sys.executable, str(FAKE_CLI), *map(str, args)], capture_output=True, text=True,
                          env=env_for(tmp_path, **extra), timeout=120)
    assert "Traceback" not in proc.stderr, proc.stderr
    if rc is not None:
        assert proc.returncode == rc, (proc.returncode, proc.stdout, proc.stderr)
    return proc


def lines(proc) -> list[dict]:
    return [json.loads(x) for x in proc.stdout.splitlines()]


def test_index_json_lines_summary_and_pages_with_panels(tmp_path):
    root = tmp_path / "lib"
    simple_library(root, books=3, pages=2)
    good = jpeg()
    make_cbz(root / "bad-page.cbz", [good, good[:100], good])
    (root / "broken.cbz").write_bytes(b"PK\x03\x04 not a zip at all")
    before = tree_digest(root)
    proc = cli("index", root, "--json", tmp_path=tmp_path)
    rows = {Path(r["path"]).name: r for r in lines(proc)}
    assert all(list(r) == INDEX_KEYS for r in rows.values())
    assert rows["Book 00.cbz"] == {"path": str(root / "Book 00.cbz"), "status": "done", "pages": 2,
                                   "panels": 2, "error": None}
    assert rows["bad-page.cbz"]["status"] == "done" and rows["bad-page.cbz"]["panels"] == 2
    assert rows["broken.cbz"]["status"] == "failed" and rows["broken.cbz"]["panels"] is None
    assert rows["broken.cbz"]["error"] and "\n" not in rows["broken.cbz"]["error"]
    assert "bad-page.cbz: page 1 (0001.jpg):" in proc.stderr
    assert "5 books: 4 analysed, 0 already done, 1 failed; 9 pages, 8 panels" in proc.stderr
    assert tree_digest(root) == before
    # Run again: nothing to do.
    proc = cli("index", root, "--json", tmp_path=tmp_path)
    assert sorted(r["status"] for r in lines(proc)) == ["failed"] + ["skipped"] * 4
    assert "0 analysed, 4 already done, 1 failed" in proc.stderr
    # pages: panels from the cache, the page keys unchanged.
    proc = cli("pages", root / "bad-page.cbz", "--json", tmp_path=tmp_path)
    pages = lines(proc)
    assert all(list(p) == PAGE_KEYS for p in pages)
    assert [p["panels"] for p in pages] == [[[0, 0, 60, 90]], [], [[0, 0, 60, 90]]]
    assert [p["bad"] for p in pages] == [False, True, False]
    assert all(p["label"] is None and p["probs"] is None for p in pages)
    assert tree_digest(root) == before


def test_pages_of_a_book_not_analysed_has_null_panels(tmp_path):
    root = tmp_path / "lib"
    simple_library(root, books=1, pages=2)
    proc = cli("pages", root / "Book 00.cbz", "--json", tmp_path=tmp_path)
    assert [p["panels"] for p in lines(proc)] == [None, None]
    assert not (tmp_path / "data" / "libraries.json").exists()  # reading registered nothing
    cli("scan", root, tmp_path=tmp_path)
    proc = cli("pages", root / "Book 00.cbz", "--json", tmp_path=tmp_path)
    assert [p["panels"] for p in lines(proc)] == [None, None]  # scanned, not analysed
    cli("index", root, tmp_path=tmp_path)
    make_cbz(root / "Book 00.cbz", [jpeg(70, 70)])  # changed since: the cache no longer applies
    proc = cli("pages", root / "Book 00.cbz", "--json", tmp_path=tmp_path)
    assert [p["panels"] for p in lines(proc)] == [None]


def test_pages_reads_while_another_process_holds_the_writer_lock(tmp_path):
    from comicdesk.core.settings import Settings
    from comicdesk.library.lock import LibraryLock
    from comicdesk.library.service import locate_library

    root = tmp_path / "lib"
    simple_library(root, books=1, pages=1)
    cli("index", root, tmp_path=tmp_path)
    settings = Settings.resolve(tmp_path / "cache", tmp_path / "data", env={})
    cache = settings.library_cache_dir(locate_library(root, settings, register=False).id)
    with LibraryLock(cache):
        t0 = time.monotonic()
        proc = cli("pages", root / "Book 00.cbz", "--json", tmp_path=tmp_path)
        assert time.monotonic() - t0 < 10
        assert lines(proc)[0]["panels"] == [[0, 0, 60, 90]]


@pytest.mark.skipif(sys.platform == "win32", reason="SIGINT to a child")
def test_ctrl_c_cancels_cleanly_and_the_next_run_carries_on(tmp_path):
    root = tmp_path / "lib"
    simple_library(root, books=8, pages=3)
    proc = subprocess.Popen([sys.executable, str(FAKE_CLI), "index", str(root), "--json"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=env_for(tmp_path, FAKE_DELAY="0.05"))
    first = proc.stdout.readline()
    assert json.loads(first)["status"] == "done"
    proc.send_signal(signal.SIGINT)
    # Read the rest through the same buffered reader as readline(): communicate() reads the pipe
    # itself and loses lines readline() had already buffered (two workers finish books together).
    watchdog = threading.Timer(60, proc.kill)
    watchdog.start()
    try:
        out, err = proc.stdout.read(), proc.stderr.read()
        proc.wait()
    finally:
        watchdog.cancel()
    assert proc.returncode == 130, err
    assert "Traceback" not in err and "cancelled:" in err and "run it again to carry on" in err
    done_first = 1 + len(out.splitlines())
    assert done_first < 8
    proc = cli("index", root, "--json", tmp_path=tmp_path)
    statuses = [r["status"] for r in lines(proc)]
    assert statuses.count("skipped") == done_first and statuses.count("done") == 8 - done_first


def test_help_imports_neither_zarr_nor_numpy():
    code = ("import sys, comicdesk.cli as c\n"
            "try:\n    c.main(['index', '--help'])\nexcept SystemExit:\n    pass\n"
            "print('HEAVY', [m for m in ('zarr', 'numpy', 'PIL', 'cv2') if m in sys.modules])")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert "HEAVY []" in proc.stdout, proc.stdout + proc.stderr
