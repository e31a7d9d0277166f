"""Thumbnails off the caller's thread, and ``comicdesk scan`` end to end."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from helpers import REPO, captain_science_pages, tree_digest
from libhelpers import build_library, make_cbz

from comicdesk.library.identity import page_hash
from comicdesk.library.thumbs import ThumbnailCache


# -- thumbnails ------------------------------------------------------------------------------------
def test_page_thumbnail_is_made_off_thread_and_keyed_by_page_hash(tmp_path):
    book = make_cbz(tmp_path / "lib" / "a.cbz")
    before = tree_digest(tmp_path / "lib")
    seen_threads = []
    with ThumbnailCache(tmp_path / "cache", size=128) as thumbs:
        real = thumbs._make_page
        thumbs._make_page = lambda *a: seen_threads.append(threading.current_thread().name) or real(*a)
        thumb = thumbs.page(book, 2).result(timeout=30)
    assert seen_threads and seen_threads[0].startswith("comicdesk-thumbs")
    expected = page_hash(captain_science_pages()[2].read_bytes())
    assert thumb.page_hash == expected
    assert thumb.path == tmp_path / "cache" / "thumbs" / expected[:2] / f"{expected}-128.jpg"
    from PIL import Image

    with Image.open(thumb.path) as im:
        assert im.format == "JPEG" and max(im.size) <= 128
    assert tree_digest(tmp_path / "lib") == before
    assert not [p for p in thumb.path.parent.iterdir() if p.name.startswith(".thumb-")]


def test_known_hash_skips_the_book_and_same_page_elsewhere_shares_the_file(tmp_path, monkeypatch):
    a = make_cbz(tmp_path / "lib" / "a.cbz")
    b = make_cbz(tmp_path / "lib" / "b.cbz", captain_science_pages()[2:3])  # page 2 of a is page 0 here
    with ThumbnailCache(tmp_path / "cache", fmt="webp") as thumbs:
        first = thumbs.page(a, 2).result(timeout=30)
        second = thumbs.cover(b).result(timeout=30)
        assert second.path == first.path and first.path.suffix == ".webp"
        import comicdesk.archive as archive

        monkeypatch.setattr(archive, "open_book", lambda *a, **k: pytest.fail("opened the book"))
        again = thumbs.page(a, 2, known_hash=first.page_hash)
        assert again.done() and again.result().path == first.path


def test_calibre_cover_file_is_used_and_errors_come_through_the_future(tmp_path):
    from comicdesk.core.errors import BookError

    book = make_cbz(tmp_path / "lib" / "a.cbz")
    cover = captain_science_pages()[4]
    with ThumbnailCache(tmp_path / "cache") as thumbs:
        thumb = thumbs.cover(book, cover_file=cover).result(timeout=30)
        assert thumb.page_hash == page_hash(cover.read_bytes())
        (tmp_path / "lib" / "broken.cbz").write_bytes(b"PK\x03\x04 broken")
        with pytest.raises(BookError):
            thumbs.page(tmp_path / "lib" / "broken.cbz", 0).result(timeout=30)


# -- the command line ------------------------------------------------------------------------------
def run_cli(*args, cwd=REPO):
    env = {k: v for k, v in os.environ.items() if not k.startswith("COMICDESK_")}
    env["COMICDESK_FIXTURES"] = os.environ.get("COMICDESK_FIXTURES", str(REPO.parent / "shared" / "fixtures"))
    return subprocess.run([sys.executable, "-m", "comicdesk", *map(str, args)], capture_output=True,
                          text=True, cwd=cwd, env=env, timeout=120)


def test_cli_scan_json_lines_exit_code_and_summary(tmp_path):
    root = build_library(tmp_path / "lib")
    (root / "broken.cbz").write_bytes(b"")
    dirs = ("--cache-dir", tmp_path / "cache", "--data-dir", tmp_path / "data")
    before = tree_digest(root)
    proc = run_cli("scan", root, "--json", *dirs)
    assert proc.returncode == 0, proc.stderr
    assert tree_digest(root) == before
    rows = [json.loads(line) for line in proc.stdout.splitlines()]
    assert len(rows) == 8
    for row in rows:
        assert list(row) == ["path", "format", "pages", "title", "series", "number", "error"]
        assert Path(row["path"]).is_absolute()
        assert row["format"] in {"zip", "rar", "7z", "tar", "pdf", "epub", "folder", None}
        assert row["number"] is None or isinstance(row["number"], str)
        assert row["error"] is None or (isinstance(row["error"], str) and "\n" not in row["error"])
    broken = next(r for r in rows if r["path"].endswith("broken.cbz"))
    assert broken["error"] == "empty file (0 bytes)" and broken["pages"] is None
    first = next(r for r in rows if r["path"].endswith("The Beginning.cbz"))
    assert (first["format"], first["pages"], first["series"], first["number"]) == ("zip", 5, "Captain Science", "1")
    assert "Traceback" not in proc.stderr
    assert proc.stderr.strip().splitlines()[-1].startswith(f"8 books in {root.resolve()}: 8 added, 0 changed, "
                                                           f"0 moved, 0 removed, 0 unchanged, 1 failed")
    assert (tmp_path / "data" / "libraries.json").is_file()
    assert list((tmp_path / "cache" / "libraries").iterdir())

    again = run_cli("scan", root, *dirs)  # plain text this time
    assert again.returncode == 0 and "8 unchanged" in again.stderr
    assert len(again.stdout.splitlines()) == 8 and "ERROR empty file (0 bytes)" in again.stdout


def test_cli_offline_and_missing_paths(tmp_path):
    root = tmp_path / "lib"
    make_cbz(root / "a.cbz")
    dirs = ("--cache-dir", tmp_path / "cache", "--data-dir", tmp_path / "data")
    assert run_cli("scan", root, "--json", *dirs).returncode == 0
    os.rename(root, tmp_path / "unplugged")
    offline = run_cli("scan", root, "--json", *dirs)
    assert offline.returncode == 0 and offline.stdout == ""
    assert offline.stderr.strip() == (f"offline: {root} is missing (disk not mounted or NAS offline?); "
                                      f"nothing removed, the catalogue keeps its 1 book")
    nowhere = run_cli("scan", tmp_path / "never-was", *dirs)
    assert nowhere.returncode == 1 and nowhere.stdout == ""
    assert nowhere.stderr.strip() == f"comicdesk: {tmp_path / 'never-was'}: no such file or folder"


def test_cli_survives_a_file_name_that_is_not_utf8(tmp_path):
    root = tmp_path / "lib"
    make_cbz(root / "plain.cbz")
    odd = os.fsencode(str(root)) + b"/caf\xe9.cbz"
    with open(odd, "wb") as fh:
        fh.write((root / "plain.cbz").read_bytes())
    proc = run_cli("scan", root, "--json", "--cache-dir", tmp_path / "cache", "--data-dir", tmp_path / "data")
    assert proc.returncode == 0, proc.stderr
    names = sorted(Path(json.loads(line)["path"]).name for line in proc.stdout.splitlines())
    # JSON keeps the undecodable byte as a surrogate escape (\udce9): the exact name comes back.
    assert names == ["caf\udce9.cbz", "plain.cbz"] and "caf\\udce9.cbz" in proc.stdout
    assert os.fsencode(str(root / names[0])) == odd
    again = run_cli("scan", root, "--json", "--cache-dir", tmp_path / "cache", "--data-dir", tmp_path / "data")
    assert "2 unchanged" in again.stderr
