"""Issue 21, item 3: FIFOs, sockets and devices are refused without being opened, given by path or
met in a scan; a scan never follows a folder link out of the library; a symlink loop is one clear
line. Every command runs in a subprocess with a timeout: a FIFO that is opened hangs forever."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from helpers import REPO, tree_digest

SAMPLE_CBZ = REPO / "resources" / "sample-library" / "Captain Science" / "Captain Science #001 (1950).cbz"


def _run(argv, tmp_path, check_rc=0):
    env = dict(os.environ, COMICDESK_CACHE_DIR=str(tmp_path / "cache"), COMICDESK_DATA_DIR=str(tmp_path / "data"))
    env.pop("COMICDESK_DEBUG", None)
    proc = subprocess.run([sys.executable, "-m", "comicdesk", *map(str, argv)], capture_output=True,
                          text=True, env=env, timeout=60, cwd=tmp_path)
    assert "Traceback" not in proc.stderr and "internal error" not in proc.stderr, proc.stderr
    if check_rc is not None:
        assert proc.returncode == check_rc, (proc.returncode, proc.stdout, proc.stderr)
    return proc


def _unblock_fifo_later(path: Path, after: float = 3.0) -> threading.Timer:
    """If the code under test opens the FIFO for reading, a writer arriving later lets it go on
    (it then reads an empty file), so a wrong implementation fails instead of hanging the suite."""
    def open_and_close():
        try:
            fd = os.open(path, os.O_WRONLY | os.O_NONBLOCK)
            os.close(fd)
        except OSError:
            pass  # nobody is reading: nothing to unblock
    timer = threading.Timer(after, open_and_close)
    timer.daemon = True
    timer.start()
    return timer


@pytest.fixture
def fifo(tmp_path) -> Path:
    path = tmp_path / "x.cbz"
    os.mkfifo(path)
    return path


@pytest.mark.parametrize("command", [["pages"], ["panels"], ["scan"], ["index"], ["label", "{p}", "0", "story"],
                                     ["export", "{p}", "-o", "{out}"]])
def test_a_fifo_given_by_path_is_refused_at_once(tmp_path, fifo, command):
    argv = [a.format(p=fifo, out=tmp_path / "out") for a in command]
    if len(argv) == 1:
        argv.append(str(fifo))
    proc = _run(argv, tmp_path, check_rc=1)
    assert proc.stderr.count("\n") == 1 and "not a regular file" in proc.stderr and "FIFO" in proc.stderr, proc.stderr


def test_detect_refuses_special_files_without_opening(tmp_path, fifo):
    from comicdesk.archive.registry import detect
    from comicdesk.core.errors import BookError

    timer = _unblock_fifo_later(fifo)
    try:
        with pytest.raises(BookError, match="not a regular file.*FIFO"):
            detect(fifo)
    finally:
        timer.cancel()
    with pytest.raises(BookError, match="not a regular file.*device"):
        detect("/dev/null")
    sock_path = tmp_path / "s.cbz"
    with socket.socket(socket.AF_UNIX) as sock:
        sock.bind(str(sock_path))
        with pytest.raises(BookError, match="not a regular file.*socket"):
            detect(sock_path)


def test_a_device_or_socket_by_path_is_one_line(tmp_path):
    proc = _run(["pages", "/dev/null"], tmp_path, check_rc=1)
    assert "not a regular file" in proc.stderr and proc.stderr.count("\n") == 1
    sock_path = tmp_path / "s.cbz"
    with socket.socket(socket.AF_UNIX) as sock:
        sock.bind(str(sock_path))
        proc = _run(["pages", sock_path], tmp_path, check_rc=1)
        assert "not a regular file" in proc.stderr and "socket" in proc.stderr


def test_special_files_in_a_scan_are_skipped(tmp_path):
    lib = tmp_path / "lib"
    lib.mkdir()
    shutil.copyfile(SAMPLE_CBZ, lib / "book.cbz")
    os.mkfifo(lib / "pipe.cbz")
    os.mkfifo(lib / "noext")
    (lib / "dev.cbz").symlink_to("/dev/zero")
    with socket.socket(socket.AF_UNIX) as sock:
        sock.bind(str(lib / "sock.cbr"))
        proc = _run(["--json", "scan", lib], tmp_path)
    rows = [json.loads(line) for line in proc.stdout.splitlines()]
    assert [(Path(r["path"]).name, r["error"]) for r in rows] == [("book.cbz", None)]


def test_a_scan_never_follows_a_folder_link_out_of_the_library(tmp_path):
    lib, outside = tmp_path / "lib", tmp_path / "outside"
    (lib / "inner").mkdir(parents=True)
    outside.mkdir()
    shutil.copyfile(SAMPLE_CBZ, lib / "inner" / "book.cbz")
    shutil.copyfile(SAMPLE_CBZ, outside / "elsewhere.cbz")
    (outside / "notes.cbr").write_text("not a comic")
    (lib / "etc").symlink_to(outside)
    (lib / "again").symlink_to(lib / "inner")  # inside the library: the same folder, read once
    before = tree_digest(outside)
    proc = _run(["--json", "scan", lib], tmp_path)
    rows = [json.loads(line) for line in proc.stdout.splitlines()]
    assert [Path(r["path"]).name for r in rows] == ["book.cbz"]
    assert "out of the library" in proc.stderr and str(lib / "etc") in proc.stderr
    assert tree_digest(outside) == before


@pytest.mark.parametrize("command", ["scan", "pages", "index", "gui"])
def test_a_symlink_loop_root_is_one_clear_line(tmp_path, command):
    loop = tmp_path / "loop"
    loop.symlink_to(loop)
    proc = _run([command, loop], tmp_path, check_rc=1)
    assert proc.stderr.count("\n") == 1 and "symlink loop" in proc.stderr and str(loop) in proc.stderr, proc.stderr


@pytest.mark.parametrize("command", ["pages", "scan", "panels", "export"])
def test_an_empty_path_is_an_error_not_the_current_folder(tmp_path, command):
    shutil.copyfile(SAMPLE_CBZ, tmp_path / "book.cbz")  # the current folder holds a book
    argv = [command, ""] + (["-o", str(tmp_path / "out")] if command == "export" else [])
    proc = _run(argv, tmp_path, check_rc=2)
    assert "empty path" in proc.stderr and proc.stdout == ""
    assert not (tmp_path / "cache").exists() and not (tmp_path / "out").exists()
