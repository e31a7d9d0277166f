"""Issue 21, item 5: messages about the person's file, not ours, and names that survive: Pillow's
KeyError('MPO') never shows; a legal 251-character book name exports; control characters never
reach a title; a file name that is not UTF-8 comes out of JSON exactly and goes back in."""

from __future__ import annotations

import io
import json
import os
import sqlite3
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from helpers import REPO

from comicdesk.archive import images
from comicdesk.core.errors import PageError

SAMPLE_CBZ = REPO / "resources" / "sample-library" / "Captain Science" / "Captain Science #001 (1950).cbz"


def _run(argv, tmp_path, check_rc=0, text=True):
    env = dict(os.environ, COMICDESK_CACHE_DIR=str(tmp_path / "cache"), COMICDESK_DATA_DIR=str(tmp_path / "data"))
    env.pop("COMICDESK_DEBUG", None)
    proc = subprocess.run([sys.executable, "-m", "comicdesk", *argv], capture_output=True, text=text,
                          env=env, timeout=300, cwd=tmp_path)
    err = proc.stderr if text else proc.stderr.decode("utf-8", "replace")
    assert "Traceback" not in err and "internal error" not in err, err
    if check_rc is not None:
        assert proc.returncode == check_rc, (proc.returncode, proc.stdout, err)
    return proc


def _jpeg(w=120, h=180) -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", (w, h), (30, 90, 160)).save(buf, "JPEG")
    return buf.getvalue()


def labelled_cbz(path: Path, pages: int = 3) -> Path:
    """A CBZ whose ComicInfo types every page Story: it exports with --no-analyse (no models)."""
    info = "".join(f'<Page Image="{i}" Type="Story"/>' for i in range(pages))
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("ComicInfo.xml", f"<?xml version='1.0'?><ComicInfo><Pages>{info}</Pages></ComicInfo>")
        for i in range(pages):
            zf.writestr(f"{i + 1:03}.jpg", _jpeg())
    return path


# -- Pillow's KeyError('MPO') -------------------------------------------------------------------
@pytest.mark.parametrize("data", [b"this is not an image at all" * 4, b"\x00" * 300, b"GIF89a" + b"\x00" * 10])
def test_an_unreadable_page_says_why_not_mpo(data):
    for call in (images.probe, images.verify, images.decode):
        with pytest.raises(PageError) as err:
            call(data)
        assert "MPO" not in err.value.reason and "'" not in err.value.reason, err.value.reason
        assert err.value.reason.startswith(("not a readable image", "image data is truncated", "image does not decode"))


def test_an_mpo_page_still_reads():
    from PIL import Image

    frames = [Image.new("RGB", (64, 96), c) for c in ((200, 0, 0), (0, 200, 0))]
    buf = io.BytesIO()
    frames[0].save(buf, "MPO", save_all=True, append_images=frames[1:])
    info = images.verify(buf.getvalue())
    assert (info.width, info.height) == (64, 96)
    assert images.decode(buf.getvalue()).getpixel((5, 5))[0] > 150


# -- a long book name ---------------------------------------------------------------------------
def test_a_251_character_book_name_exports(tmp_path):
    lib = tmp_path / "lib"
    lib.mkdir()
    name = "B" * 247 + ".cbz"
    assert len(name) == 251
    labelled_cbz(lib / name)
    out = tmp_path / "out"
    proc = _run(["export", str(lib / name), "-o", str(out), "--no-analyse", "--json"], tmp_path)
    res = json.loads(proc.stdout)
    assert res["status"] == "written" and res["error"] is None
    written = Path(res["output"])
    assert written.parent == out and len(written.name) >= 251 and zipfile.is_zipfile(written)
    assert [p.name for p in out.iterdir() if p.name.startswith(".") and "partial" in p.name] == []


def test_the_temporary_name_fits_for_a_255_byte_name(tmp_path):
    from comicdesk.export import writer

    for output_name in ("é" * 125 + ".cbz", "x" * 251 + ".cbz"):  # 254 and 255 bytes
        prefix = writer.temp_prefix(output_name)
        assert len((prefix + "12345678" + writer.TEMP_SUFFIX).encode()) <= 255
        assert writer._TEMP_RE.match(prefix + "abcdefgh" + writer.TEMP_SUFFIX)
        (tmp_path / (prefix + "abcdefgh" + writer.TEMP_SUFFIX)).write_bytes(b"")


# -- control characters in titles ---------------------------------------------------------------
def test_control_characters_never_reach_a_title():
    from comicdesk.library.names import resolve_names

    names = resolve_names("Plain 001", {"title": "Bad\x00Title\x1b[31m", "series": "Se\x07ries\tOne"},
                          {"authors": ["Au\x00thor"]})
    assert names.title == "BadTitle[31m" and names.series == "Series One"
    names = resolve_names("Plain 001", None, {"title": "Cal\x00ibre\u009b Title", "authors": ["A\x01B"]})
    assert names.title == "Calibre Title" and names.authors == ["AB"]
    names = resolve_names("Name\x01With\x7fControls 002", None, None)
    assert "\x01" not in names.series + names.title and "\x7f" not in names.series


def test_a_calibre_title_with_a_nul_is_shown_and_exported_without_it(tmp_path):
    sys.path.insert(0, str(REPO / "tests" / "library"))
    from libhelpers import CS, make_calibre

    root = make_calibre(tmp_path / "Calibre", [{"title": "Nul Title", "authors": ["Someone"],
                                               "files": {"CBZ": f"{CS}.cbz"}}])
    book = next(root.rglob("*.cbz"))
    labelled_cbz(book)  # its ComicInfo has no title: Calibre's title is the title
    conn = sqlite3.connect(root / "metadata.db")
    conn.execute("UPDATE books SET title = ?", ("Nul\x00 Title\x1b",))
    conn.commit()
    conn.close()
    proc = _run(["--json", "scan", str(root)], tmp_path)
    rows = [json.loads(x) for x in proc.stdout.splitlines()]
    assert [r["title"] for r in rows] == ["Nul Title"]
    out = tmp_path / "out"
    proc = _run(["export", str(root), "-o", str(out), "--no-analyse", "--json"], tmp_path)
    written = next(out.rglob("*.cbz"))
    with zipfile.ZipFile(written) as zf:
        xml = zf.read("ComicInfo.xml").decode("utf-8")
    assert "<Title>Nul Title</Title>" in xml and "\x00" not in written.name


# -- file names that are not UTF-8 ----------------------------------------------------------------
def test_a_non_utf8_name_round_trips_through_json(tmp_path):
    lib = tmp_path / "lib"
    lib.mkdir()
    raw = os.fsencode(lib) + b"/bad\xff\xfeutf8.cbz"
    labelled_cbz(Path(os.fsdecode(raw)), pages=5)
    proc = _run(["--json", "scan", str(lib)], tmp_path, text=False)
    assert b"\\udcff\\udcfe" in proc.stdout  # JSON escapes: valid UTF-8 text, the bytes recoverable
    row = json.loads(proc.stdout.decode("utf-8"))
    path = row["path"]
    assert os.fsencode(path) == raw and row["pages"] == 5
    # Every command takes the path back (argv carries the original bytes).
    pages = _run(["pages", "--json", path], tmp_path, text=False)
    assert len(pages.stdout.splitlines()) == 5
    label = _run(["label", "--json", path, "1", "story"], tmp_path, text=False)
    assert os.fsencode(json.loads(label.stdout)["book"]) == raw
    index = _run(["index", "--json", path], tmp_path, text=False)
    assert os.fsencode(json.loads(index.stdout.splitlines()[-1])["path"]) == raw
    export = _run(["export", "--json", path, "-o", str(tmp_path / "out"), "--no-analyse"], tmp_path, text=False)
    res = json.loads(export.stdout)
    assert os.fsencode(res["book"]) == raw and res["status"] == "written"
    assert os.path.exists(os.fsencode(res["output"]))
    # Text output stays printable: the undecodable bytes show as U+FFFD.
    text = _run(["scan", str(lib)], tmp_path, text=False)
    assert "bad\ufffd\ufffdutf8.cbz" in text.stdout.decode("utf-8")


def test_emit_json_escapes_lone_surrogates_only():
    from comicdesk.cli import emit_json

    buf = io.StringIO()
    emit_json({"path": "caf\u00e9/\udcff.cbz", "title": "漫画"}, buf)
    line = buf.getvalue()
    assert line == '{"path": "café/\\udcff.cbz", "title": "漫画"}\n'
    assert json.loads(line)["path"] == "caf\u00e9/\udcff.cbz"


def test_text_output_of_a_non_utf8_name_never_crashes(tmp_path):
    """Any command's text output (similar, duplicates, ...) may print a path that is not UTF-8:
    its undecodable bytes show as U+FFFD instead of failing with UnicodeEncodeError."""
    code = ("import sys, comicdesk.cli as c\n"
            "c.HANDLERS['pages'] = lambda args, settings: print('caf\\udce9.cbz') or 0\n"
            "sys.exit(c.main(['pages', 'anything.cbz']))\n")
    env = dict(os.environ, COMICDESK_CACHE_DIR=str(tmp_path / "c"), COMICDESK_DATA_DIR=str(tmp_path / "d"),
               PYTHONIOENCODING="utf-8")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, env=env, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.decode("utf-8") == "caf\ufffd.cbz\n"
