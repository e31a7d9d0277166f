"""Issue 20, item 2: damage to vectors.zarr is never silently wrong. A missing or unreadable chunk
is caught on read; a reader leaves the damaged books out, says so in one line and records them in
a side file in the cache; the next ``index`` (which holds the lock) re-analyses them."""

from __future__ import annotations

import json
import shutil

import pytest
from cache_library import World

PANEL_CHUNK = ("vectors.zarr", "standard-1", "panel_emb", "c", "0", "0")


def _chunk(w: World, *parts: str):
    return w.cache.joinpath(*parts)


def _healed(w: World, query: int = 1) -> None:
    """After one index run: every other panel and page found again, with healthy scores."""
    r = w.index()
    assert r.code == 0
    r = w.similar(query, "1", "0", "-k", "100")
    assert r.code == 0 and r.err == "", r.err
    rows = r.rows()
    assert {x["book"] for x in rows} == {w.resolved(i) for i in range(len(w.books))}
    assert len(rows) == sum(1 for _ in range(len(w.books) * w.pages)) - 1
    r = w.similar(query, "1", "-k", "100")
    assert r.code == 0 and r.err == "", r.err
    assert len(r.rows()) == len(w.books) * w.pages - 1 and min(x["score"] for x in r.rows()) > 0.5


@pytest.fixture
def w(tmp_path, monkeypatch, capsys):
    world = World(tmp_path, monkeypatch, capsys, books=5, pages=16)
    world.pages = 16
    world.index()
    return world


def test_missing_panel_chunk_is_said_not_silent_and_index_heals_it(w):
    _chunk(w, *PANEL_CHUNK).unlink()
    r = w.similar(1, "1", "0")
    assert not (r.code == 0 and r.out == "" and r.err == "")  # the issue: nothing, exit 0
    assert r.code == 1 and r.out == ""
    lines = r.err.strip().splitlines()
    assert len(lines) == 1 and "damaged" in lines[0] and "comicdesk index" in lines[0], r.err
    assert (w.cache / "vectors.damaged.json").is_file()  # the reader recorded it
    _healed(w)
    assert not (w.cache / "vectors.damaged.json").exists()


def test_missing_page_chunk_leaves_books_out_with_one_line_never_low_scores(w):
    rows = w.book_rows("standard-1", "page_image")
    damaged = sorted(i for i, rs in rows.items() if any(r >= 64 for r in rs))
    healthy = [i for i in range(5) if i not in damaged]
    assert damaged and healthy
    _chunk(w, "vectors.zarr", "standard-1", "page_image", "c", "1", "0").unlink()
    shutil.rmtree(w.cache / "index")  # the page index is built again, from the damaged store
    r = w.similar(healthy[0], "1", "-k", "100")
    assert r.code == 0, r.err
    scores = [x["score"] for x in r.rows()]
    assert scores and min(scores) > 0.5, scores  # never the damaged rows' 0.02
    assert {x["book"] for x in r.rows()} <= {w.resolved(i) for i in healthy}
    lines = r.err.strip().splitlines()
    assert len(lines) == 1 and "damaged" in lines[0] and "left out" in lines[0], r.err
    for i in damaged:
        assert w.books[i].name in lines[0]
    r = w.similar(damaged[-1], "1")  # the query's own vector is gone: one line, exit 1
    assert r.code == 1 and r.out == "" and len(r.err.strip().splitlines()) == 1 and "damaged" in r.err
    _healed(w, healthy[0])


@pytest.mark.parametrize("old", [False, True], ids=["checksummed", "written-before-checksums"])
def test_truncated_chunk_is_a_clear_line_not_an_internal_error(tmp_path, monkeypatch, capsys, old):
    from comicdesk.cache import vectors

    if old:  # an array made by the comicdesk before checksums: zstd chunks, no crc32c
        monkeypatch.setattr(vectors, "CHECKSUMS", False, raising=False)
    w = World(tmp_path, monkeypatch, capsys, books=5, pages=4)
    w.pages = 4
    w.index()
    meta = json.loads(_chunk(w, *PANEL_CHUNK[:-3], "zarr.json").read_text())
    names = [c["name"] for c in meta["codecs"]]
    assert ("crc32c" in names) != old, names
    chunk = _chunk(w, *PANEL_CHUNK)
    chunk.write_bytes(chunk.read_bytes()[: chunk.stat().st_size // 2])
    r = w.similar(1, "1", "0")
    assert "internal error" not in r.err and "Zstd" not in r.err, r.err
    assert r.code == 1 and len(r.err.strip().splitlines()) == 1 and "damaged" in r.err
    _healed(w)


def test_flipped_byte_in_a_checksummed_chunk_is_caught(tmp_path, monkeypatch, capsys):
    w = World(tmp_path, monkeypatch, capsys, books=5, pages=4)
    w.pages = 4
    w.index()
    chunk = _chunk(w, *PANEL_CHUNK)
    data = bytearray(chunk.read_bytes())
    data[len(data) // 2] ^= 0x40
    chunk.write_bytes(bytes(data))
    r = w.similar(1, "1", "0")
    assert r.code == 1 and "damaged" in r.err, (r.out, r.err)
    _healed(w)


def test_index_alone_finds_and_repairs_damage_no_reader_saw(w):
    _chunk(w, "vectors.zarr", "standard-1", "page_image", "c", "1", "0").unlink()
    chunk = _chunk(w, *PANEL_CHUNK)
    chunk.write_bytes(chunk.read_bytes()[:10])
    r = w.index()
    statuses = [x["status"] for x in r.rows()]
    assert statuses.count("done") == 5, r.out  # every book had rows in a damaged chunk
    assert "damaged" in r.err
    _healed(w)
    r = w.index()
    assert [x["status"] for x in r.rows()] == ["skipped"] * 5  # healed for good: nothing redone
