"""The command line as a person uses it: real subprocesses, exact JSON shapes, one-line errors."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from helpers import REPO, comicbox_dir, tree_digest

PAGE_KEYS = ["index", "name", "width", "height", "bytes", "bad", "label", "probs", "source", "sure", "panels"]
SAMPLE_CBZ = REPO / "resources" / "sample-library" / "Captain Science" / "Captain Science #001 (1950).cbz"


def run(*args, tmp_path: Path, check_rc: int | None = 0):
    env = dict(os.environ, COMICDESK_CACHE_DIR=str(tmp_path / "cache"), COMICDESK_DATA_DIR=str(tmp_path / "data"))
    env.pop("COMICDESK_DEBUG", None)
    proc = subprocess.run([sys.executable, "-m", "comicdesk", *map(str, args)], capture_output=True,
                          text=True, env=env, timeout=120)
    if check_rc is not None:
        assert proc.returncode == check_rc, (proc.returncode, proc.stdout, proc.stderr)
    assert "Traceback" not in proc.stderr
    return proc


def test_pages_json_shape_for_the_sample_book(tmp_path):
    proc = run("pages", SAMPLE_CBZ, "--json", tmp_path=tmp_path)
    rows = [json.loads(line) for line in proc.stdout.splitlines()]
    assert len(rows) == 5
    for i, row in enumerate(rows):
        assert list(row) == PAGE_KEYS
        assert row["index"] == i and row["bad"] is False
        assert row["width"] > 100 and row["height"] == 160 and row["bytes"] > 3000
        assert row["probs"] is None and row["panels"] is None
    assert [r["name"] for r in rows] == ["001.jpg", "002.jpg", "003.jpg", "004.jpg", "005.jpg"]
    # The sample's ComicInfo marks page 0 as FrontCover: read as the label "cover".
    assert rows[0]["label"] == "cover" and rows[0]["source"] == "comicinfo"
    assert rows[1]["label"] is None and rows[1]["source"] is None
    # ComicInfo's label is always sure; a page not classified yet has no `sure` (null).
    assert rows[0]["sure"] is True and rows[1]["sure"] is None


def test_pages_human_output_and_summary(tmp_path):
    proc = run("pages", SAMPLE_CBZ, tmp_path=tmp_path)
    assert "001.jpg" in proc.stdout and "cover" in proc.stdout
    assert "5 pages (zip)" in proc.stderr


@pytest.mark.parametrize("name", ["Captain Science #001.cb7", "Captain Science #001-cix.cbt",
                                  "Captain Science #001-cbi.cbr", "Captain Science #001.cbz"])
def test_pages_on_every_container_of_the_same_issue(tmp_path, name):
    before = tree_digest(comicbox_dir())
    proc = run("pages", comicbox_dir() / name, "--json", tmp_path=tmp_path)
    rows = [json.loads(line) for line in proc.stdout.splitlines()]
    assert [r["bytes"] for r in rows] == [4542, 4065, 4081, 4157, 4108]
    assert tree_digest(comicbox_dir()) == before


def test_bad_input_gives_one_line_and_nonzero_exit(tmp_path):
    proc = run("pages", tmp_path / "missing.cbz", tmp_path=tmp_path, check_rc=1)
    assert proc.stderr.strip().count("\n") == 0 and "no such file" in proc.stderr
    (tmp_path / "zero.cbz").write_bytes(b"")
    proc = run("pages", tmp_path / "zero.cbz", tmp_path=tmp_path, check_rc=1)
    assert proc.stderr.strip() == "comicdesk: empty file (0 bytes)"
    (tmp_path / "notes.cbz").write_text("hello, not a comic")
    proc = run("pages", tmp_path / "notes.cbz", tmp_path=tmp_path, check_rc=1)
    assert proc.stderr.strip() == "comicdesk: not a comic book: unknown file format"
    assert proc.stdout == ""


def test_a_bad_page_keeps_its_slot(tmp_path):
    import zipfile

    good = (comicbox_dir() / "Captain Science 001" / "CaptainScience#1_01.jpg").read_bytes()
    with zipfile.ZipFile(tmp_path / "b.cbz", "w") as zf:
        zf.writestr("1.jpg", good)
        zf.writestr("2.jpg", good[: len(good) // 2])  # truncated
        zf.writestr("3.jpg", good)
    proc = run("pages", tmp_path / "b.cbz", "--json", tmp_path=tmp_path)
    rows = [json.loads(line) for line in proc.stdout.splitlines()]
    assert [r["bad"] for r in rows] == [False, True, False]
    assert [r["index"] for r in rows] == [0, 1, 2]
    assert "page 1 (2.jpg)" in proc.stderr and "truncated" in proc.stderr


def test_a_decompression_bomb_page_is_bad_and_the_book_still_lists(tmp_path):
    import struct
    import zipfile
    import zlib

    def chunk(kind, body):
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    bomb = (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 40000, 40000, 8, 0, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(b"\0")) + chunk(b"IEND", b""))
    good = (comicbox_dir() / "Captain Science 001" / "CaptainScience#1_01.jpg").read_bytes()
    with zipfile.ZipFile(tmp_path / "b.cbz", "w") as zf:
        zf.writestr("1.jpg", good)
        zf.writestr("2.png", bomb)
    proc = run("pages", tmp_path / "b.cbz", "--json", tmp_path=tmp_path)
    rows = [json.loads(line) for line in proc.stdout.splitlines()]
    assert [r["bad"] for r in rows] == [False, True]
    assert "too large to decode safely" in proc.stderr


def test_every_command_has_its_handler():
    import comicdesk.cli as cli
    from comicdesk.commands import duplicates, export, models, similar

    assert cli.command_handler("duplicates") is duplicates.run
    assert cli.command_handler("export") is export.run
    assert cli.command_handler("similar") is similar.run and cli.command_handler("models") is models.run
    assert cli.command_handler("pages") is cli.cmd_pages
    for name in cli.COMMANDS:  # a command listed without a handler fails here, not in a person's hands
        assert callable(cli.command_handler(name)), name
    with pytest.raises(ModuleNotFoundError):
        cli.command_handler("no-such-command")


def test_duplicates_of_a_library_not_indexed_is_one_line(tmp_path):
    proc = run("duplicates", tmp_path, tmp_path=tmp_path, check_rc=1)
    assert "not indexed yet" in proc.stderr and proc.stderr.count("\n") == 1


def test_help_imports_nothing_heavy():
    """What keeps --help quick; its time is measured by tests/bench/bench_cli_help.py."""
    code = ("import sys, comicdesk.cli as c\n"
            "try:\n    c.main(['--help'])\nexcept SystemExit:\n    pass\n"
            "heavy = [m for m in ('PIL', 'fitz', 'pymupdf', 'torch', 'py7zr', 'PySide6', 'numpy') if m in sys.modules]\n"
            "print('HEAVY', heavy)")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert "HEAVY []" in proc.stdout, proc.stdout + proc.stderr
    assert "scan" in proc.stdout and "export" in proc.stdout


def test_label_is_the_persons_and_wins_then_clears(tmp_path):
    import shutil

    lib = tmp_path / "lib"
    lib.mkdir()
    book = lib / "book.cbz"
    shutil.copyfile(SAMPLE_CBZ, book)
    before = tree_digest(lib)
    run("scan", lib, tmp_path=tmp_path)
    run("label", book, 0, "advertisement", tmp_path=tmp_path)  # overrides ComicInfo's FrontCover
    run("label", book, 3, "Credits", tmp_path=tmp_path)
    rows = [json.loads(x) for x in run("pages", book, "--json", tmp_path=tmp_path).stdout.splitlines()]
    assert [(r["label"], r["source"]) for r in rows] == [
        ("advertisement", "user"), (None, None), (None, None), ("credits", "user"), (None, None)]
    # Labels follow the book's content, not its path.
    moved = lib / "renamed.cbz"
    book.rename(moved)
    rows = [json.loads(x) for x in run("pages", moved, "--json", tmp_path=tmp_path).stdout.splitlines()]
    assert rows[3]["label"] == "credits"
    proc = run("label", moved, 0, "none", "--json", tmp_path=tmp_path)
    assert json.loads(proc.stdout) == {"book": str(moved), "page": 0, "label": None, "source": None}
    rows = [json.loads(x) for x in run("pages", moved, "--json", tmp_path=tmp_path).stdout.splitlines()]
    assert (rows[0]["label"], rows[0]["source"]) == ("cover", "comicinfo")
    moved.rename(book)
    assert tree_digest(lib) == before
    assert not any((tmp_path / "cache").rglob("user.sqlite"))  # the person's data is never in the cache


def test_pages_says_whether_each_label_is_sure(tmp_path):
    """`sure` (issue 16): the person's and ComicInfo's labels always; a model's by the
    probability of its side (story kinds or not) against comicdesk.core.pages.SURE_AT; null
    without a label. Text output shows an unsure label as a guess ("advertisement?")."""
    import shutil
    import time

    from comicdesk.core.settings import Settings
    from comicdesk.library.catalog import Catalog
    from comicdesk.library.service import locate_library

    lib = tmp_path / "lib"
    lib.mkdir()
    book = lib / "book.cbz"
    shutil.copyfile(SAMPLE_CBZ, book)
    run("scan", lib, tmp_path=tmp_path)
    run("label", book, 4, "advertisement", tmp_path=tmp_path)
    settings = Settings.resolve(tmp_path / "cache", tmp_path / "data", env={})
    sure_ad = {"advertisement": 0.97, "cover": 0.02, "story": 0.01}
    guess_ad = {"advertisement": 0.35, "art": 0.05, "story": 0.6}  # p(not story) = 0.4
    guess_story = {"story": 0.3, "textstory": 0.1, "advertisement": 0.6}  # p(story kinds) = 0.4
    outputs = {0: ("story", guess_story), 1: ("advertisement", sure_ad), 2: ("advertisement", guess_ad),
               4: ("story", {"story": 1.0})}
    with Catalog.open(settings.library_cache_dir(locate_library(lib, settings, register=False).id)) as cat:
        row = cat.book_by_path(book)
        with cat.transaction():
            for page, (label, probs) in outputs.items():
                cat.set_page_output(row.id, page, "standard-1", "t", label, probs, "model", time.time())
    rows = [json.loads(x) for x in run("pages", book, "--json", tmp_path=tmp_path).stdout.splitlines()]
    assert [list(r) for r in rows] == [PAGE_KEYS] * 5
    assert [(r["label"], r["source"], r["sure"]) for r in rows] == [
        ("cover", "comicinfo", True),  # ComicInfo's FrontCover wins over the model's unsure "story"
        ("advertisement", "model", True), ("advertisement", "model", False), (None, None, None),
        ("advertisement", "user", True)]  # the person's label is sure whatever the model says
    assert rows[0]["probs"] == guess_story
    text = run("pages", book, tmp_path=tmp_path).stdout.splitlines()
    assert "advertisement? 35%" in text[3] and "advertisement 97%" in text[2] and "?" not in text[1]


def test_label_refuses_bad_input_in_one_line(tmp_path):
    proc = run("label", SAMPLE_CBZ, 0, "splash", tmp_path=tmp_path, check_rc=1)
    assert proc.stderr.count("\n") == 1 and "unknown class 'splash'" in proc.stderr
    proc = run("label", SAMPLE_CBZ, 5, "story", tmp_path=tmp_path, check_rc=1)
    assert "page 5 is not in this book (pages 0 to 4)" in proc.stderr
