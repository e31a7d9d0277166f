"""Safety: the source and the library are never touched, an output inside a library is refused,
a full disk, an interruption or a kill leaves no partial file, a bad write is caught."""

from __future__ import annotations

import errno
import os
import signal
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from exphelpers import (
    CS,
    cbz_pages,
    copy_fixture,
    label_all,
    run_export,
    sha,
    source_pages,
)
from helpers import REPO, one_line, tree_digest

from comicdesk.export import writer
from comicdesk.export.writer import (
    MARKER,
    TEMP_SUFFIX,
    ExportError,
    OutputRefused,
    VerifyError,
)


def _lib(tmp_path) -> tuple[Path, Path]:
    lib = tmp_path / "lib"
    book = copy_fixture(f"{CS}-cix.cbz", lib / "Series" / "book.cbz")
    copy_fixture(f"{CS}.cb7", lib / "Series" / "other.cb7")
    return lib, book


def _leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.endswith(TEMP_SUFFIX)) if folder.exists() else []


def test_source_library_never_modified(tmp_path, settings):
    lib, book = _lib(tmp_path)
    label_all(settings, lib, book, p1="advertisement")
    before = tree_digest(lib)
    run_export(settings, lib, tmp_path / "out", preset="no-ads")
    run_export(settings, book, tmp_path / "one.cbz", mark_only=True)
    assert tree_digest(lib) == before
    assert not list(lib.rglob(MARKER)) and not list(lib.rglob("*" + TEMP_SUFFIX))


def test_output_inside_a_library_is_refused(tmp_path, settings):
    from comicdesk.library.service import locate_library

    lib, book = _lib(tmp_path)
    before = tree_digest(lib)
    # A book in no library is a one-book library rooted at its folder: its folder is refused.
    with pytest.raises(OutputRefused):
        run_export(settings, book, lib / "Series" / "book-clean.cbz")
    locate_library(lib, settings)  # the person's library
    for out in (lib / "clean", lib / "Series" / "book-clean.cbz", book, lib):
        with pytest.raises(OutputRefused) as err:
            run_export(settings, book, out)
        assert "inside" in one_line(err.value)
    # Any registered library, not only the source's own.
    other = tmp_path / "other-lib"
    copy_fixture(f"{CS}.cbz", other / "x.cbz")
    locate_library(other, settings)
    with pytest.raises(OutputRefused):
        run_export(settings, book, other / "deeper" / "clean.cbz")
    assert tree_digest(lib) == before
    assert not (other / "deeper").exists()


def test_cli_refusal_is_one_line(tmp_path, settings, capsys):
    from comicdesk.cli import main

    lib, book = _lib(tmp_path)
    code = main(["export", str(book), "-o", str(lib / "Series" / "x.cbz"), "--cache-dir", str(settings.cache_root),
                 "--data-dir", str(settings.data_root)])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 1
    assert len(err) == 1 and err[0].startswith("comicdesk: ") and "inside" in err[0]


def test_existing_foreign_file_is_not_overwritten(tmp_path, settings):
    lib, book = _lib(tmp_path)
    label_all(settings, lib, book)
    out = tmp_path / "mine.cbz"
    out.write_bytes(b"the person's own file")
    (res,) = run_export(settings, book, out).results
    assert res.status == "failed" and "not written by comicdesk export" in res.error
    assert out.read_bytes() == b"the person's own file"


class _FullDisk:
    """A stream that fails with ENOSPC once ``limit`` bytes were written."""

    def __init__(self, raw, limit: int):
        self.raw, self.limit, self.written = raw, limit, 0

    def write(self, data):
        if self.written + len(data) > self.limit:
            raise OSError(errno.ENOSPC, "No space left on device")
        self.written += len(data)
        return self.raw.write(data)

    def __getattr__(self, name):
        return getattr(self.raw, name)


def test_full_disk_leaves_no_partial_file(tmp_path, settings, monkeypatch):
    lib, book = _lib(tmp_path)
    label_all(settings, lib, book)
    monkeypatch.setattr(writer, "_output_stream", lambda raw: _FullDisk(raw, 9000))
    out = tmp_path / "out" / "book.cbz"
    (res,) = run_export(settings, book, out).results
    assert res.status == "failed" and res.output is None
    assert "no space left" in res.error and "nothing written" in res.error and "\n" not in res.error
    assert not out.exists()
    assert _leftovers(out.parent) == []


def test_full_disk_keeps_the_previous_export(tmp_path, settings, monkeypatch):
    lib, book = _lib(tmp_path)
    label_all(settings, lib, book)
    out = tmp_path / "book.cbz"
    run_export(settings, book, out)
    previous = out.read_bytes()
    label_all(settings, lib, book, p2="advertisement")  # the next export differs
    monkeypatch.setattr(writer, "_output_stream", lambda raw: _FullDisk(raw, 5000))
    (res,) = run_export(settings, book, out).results
    assert res.status == "failed"
    assert out.read_bytes() == previous
    assert _leftovers(tmp_path) == []


def test_interrupt_mid_write_leaves_nothing(tmp_path, settings, monkeypatch):
    lib, book = _lib(tmp_path)
    label_all(settings, lib, book)

    class Interrupting(_FullDisk):
        def write(self, data):
            if self.written > 6000:
                raise KeyboardInterrupt
            return super().write(data)

    monkeypatch.setattr(writer, "_output_stream", lambda raw: Interrupting(raw, 1 << 30))
    out = tmp_path / "o" / "book.cbz"
    with pytest.raises(KeyboardInterrupt):
        run_export(settings, book, out)
    assert not out.exists() and _leftovers(out.parent) == []


KILL_CHILD = r"""
import sys, time
from pathlib import Path
sys.path[:0] = [sys.argv[4], sys.argv[5]]
from comicdesk.core.settings import Settings
from comicdesk.export import writer
from exphelpers import run_export

class Slow:
    def __init__(self, raw): self.raw, self.n = raw, 0
    def write(self, data):
        self.n += len(data)
        if self.n > 8000:
            print("writing", flush=True)
            time.sleep(60)
        return self.raw.write(data)
    def __getattr__(self, name): return getattr(self.raw, name)

writer._output_stream = Slow
settings = Settings.resolve(sys.argv[3] + "/cache", sys.argv[3] + "/data", env={})
run_export(settings, Path(sys.argv[1]), Path(sys.argv[2]))
"""


def test_kill_mid_write_leaves_no_file_at_the_output(tmp_path, settings):
    lib, book = _lib(tmp_path)
    label_all(settings, lib, book)
    out = tmp_path / "out" / "book.cbz"
    out.parent.mkdir()
    script = tmp_path / "child.py"
    script.write_text(KILL_CHILD)
    env = dict(os.environ, PYTHONPATH=str(REPO))
    proc = subprocess.Popen([sys.executable, str(script), str(book), str(out), str(tmp_path),
                             str(REPO / "tests"), str(REPO / "tests" / "export")],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, text=True)
    try:
        line = proc.stdout.readline()
        assert line.strip() == "writing", proc.stderr.read()
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert not out.exists()
    stale = _leftovers(out.parent)
    assert len(stale) == 1 and stale[0].startswith(".book.cbz.")  # hidden: never a book
    # The next export into that folder clears what the killed one left.
    (res,) = run_export(settings, book, out).results
    assert res.status == "written"
    assert _leftovers(out.parent) == []
    assert [sha(d) for _, d in cbz_pages(out)] == [sha(d) for d in source_pages(book)]


def test_verification_failure_is_caught(tmp_path, settings, monkeypatch):
    lib, book = _lib(tmp_path)
    label_all(settings, lib, book)

    def damage(path: Path) -> None:
        with zipfile.ZipFile(path) as zf:
            info = zf.getinfo("002.jpg")
        with open(path, "r+b") as fh:  # flip one byte inside a stored page
            fh.seek(info.header_offset + 30 + len(info.filename) + 100)
            b = fh.read(1)
            fh.seek(-1, 1)
            fh.write(bytes([b[0] ^ 0xFF]))

    monkeypatch.setattr(writer, "_before_verify", damage)
    out = tmp_path / "book.cbz"
    (res,) = run_export(settings, book, out).results
    assert res.status == "failed"
    assert "did not read back correctly" in res.error and "002.jpg" in res.error
    assert not out.exists() and _leftovers(tmp_path) == []


def test_verify_cbz_detects_missing_and_extra_entries(tmp_path):
    path = tmp_path / "x.cbz"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("001.jpg", b"abc")
    import zlib

    with pytest.raises(VerifyError):
        writer.verify_cbz(path, {"001.jpg": (zlib.crc32(b"abc"), 3), "002.jpg": (0, 1)}, 2)
    with pytest.raises(VerifyError) as err:
        writer.verify_cbz(path, {"001.jpg": (zlib.crc32(b"abd"), 3)}, 1)
    one_line(err.value)


def test_unreadable_page_fails_the_book_cleanly(tmp_path, settings, monkeypatch):
    lib, book = _lib(tmp_path)
    label_all(settings, lib, book)
    from comicdesk.archive.book import Book
    from comicdesk.core.errors import PageError

    real = Book.iter_page_bytes

    def broken(self, indexes=None):
        for i, data in real(self, indexes):
            yield i, (PageError("CRC error in the archive") if i == 3 else data)

    monkeypatch.setattr(Book, "iter_page_bytes", broken)
    out = tmp_path / "o.cbz"
    (res,) = run_export(settings, book, out).results
    assert res.status == "failed" and "page 3" in res.error and "CRC error" in res.error
    assert not out.exists() and _leftovers(tmp_path) == []


def test_marker_in_created_folders_and_scanner_skips_them(tmp_path, settings):
    from exphelpers import INLINE

    from comicdesk.library import scanner
    from comicdesk.library.service import scan_library

    assert MARKER == scanner.EXPORT_MARKER
    lib, book = _lib(tmp_path)
    label_all(settings, lib, book)
    home = tmp_path / "home"
    run_export(settings, lib, home / "exports")
    assert (home / "exports" / MARKER).is_file()
    assert (home / "exports" / "Series" / MARKER).is_file()
    assert not (home / MARKER).exists()  # created on the way, but not an export folder
    (home / "mine.cbz").write_bytes((lib / "Series" / "book.cbz").read_bytes())
    scan = scan_library(home, settings, options=INLINE)
    assert [Path(b.path).name for b in scan.books] == ["mine.cbz"]


def test_single_book_into_an_existing_folder_adds_no_marker(tmp_path, settings):
    lib, book = _lib(tmp_path)
    label_all(settings, lib, book)
    mine = tmp_path / "Desktop"
    mine.mkdir()
    (res,) = run_export(settings, book, mine).results
    assert res.output == str(mine / "book.cbz")
    assert not (mine / MARKER).exists()


def test_batch_output_cannot_be_a_file(tmp_path, settings):
    lib, _ = _lib(tmp_path)
    f = tmp_path / "file.cbz"
    f.write_bytes(b"x")
    with pytest.raises(ExportError) as err:
        run_export(settings, lib, f)
    assert "folder" in one_line(err.value)


def test_full_disk_on_the_kernel_copy_path(tmp_path, settings, monkeypatch):
    from comicdesk.export import zipwrite

    lib, book = _lib(tmp_path)
    label_all(settings, lib, book)
    calls = []

    def full(src_fd, dst_fd, count, offset):
        calls.append(count)
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(zipwrite, "copy_range", full)
    stored = tmp_path / "lib2" / "stored.cbz"  # stored entries: copied by the kernel
    stored.parent.mkdir()
    with zipfile.ZipFile(stored, "w", zipfile.ZIP_STORED) as zf:
        for i, data in enumerate(source_pages(book)):
            zf.writestr(f"{i:03d}.jpg", data)
    label_all(settings, stored.parent, stored)
    out = tmp_path / "k.cbz"
    (res,) = run_export(settings, stored, out).results
    assert calls and res.status == "failed" and "no space left" in res.error
    assert not out.exists() and _leftovers(tmp_path) == []


def test_zip64_records_read_back(tmp_path, settings, monkeypatch):
    from comicdesk.export import zipwrite

    monkeypatch.setattr(zipwrite, "ZIP64_LIMIT", 5000)  # every offset past 5 kB is "large"
    lib, book = _lib(tmp_path)
    label_all(settings, lib, book)
    out = tmp_path / "z.cbz"
    (res,) = run_export(settings, book, out).results
    assert res.status == "written", res.error
    with open(out, "rb") as fh:
        assert b"PK\x06\x06" in fh.read()  # the ZIP64 end record
    assert [sha(d) for _, d in cbz_pages(out)] == [sha(d) for d in source_pages(book)]


def test_crc_check_on_two_threads_finds_the_one_bad_page():
    import zlib as _zlib
    from types import SimpleNamespace

    from comicdesk.export.writer import _crc_mismatches

    blob = bytearray(os.urandom(12 << 20))  # over the two-thread threshold
    spans, at = [], 0
    for n, size in enumerate([3 << 20, 1 << 20, 4 << 20, 2 << 20, 2 << 20]):
        info = SimpleNamespace(filename=f"{n:03d}.jpg", CRC=_zlib.crc32(blob[at:at + size]))
        spans.append((info, at, at + size))
        at += size
    view = memoryview(bytes(blob))
    assert _crc_mismatches(view, spans) == []
    blob[(3 << 20) + 5] ^= 0xFF  # one byte of the second page
    bad = _crc_mismatches(memoryview(bytes(blob)), spans)
    assert [i.filename for i in bad] == ["001.jpg"]
    assert [i.filename for i in _crc_mismatches(memoryview(bytes(blob)), spans, threads=1)] == ["001.jpg"]
