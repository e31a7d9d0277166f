"""Issue 20, items 3-5: a damaged catalogue is moved aside and rebuilt; existing caches are stamped
without re-analysis; a full disk and a damaged user.sqlite are one clear line."""

from __future__ import annotations

import errno
import json
import sqlite3

import pytest
from cache_library import World


def _scribble(path, size: int = 80 * 1024) -> None:
    data = bytearray(path.read_bytes())
    start = max(4096, len(data) // 2 - size // 2)
    end = min(len(data), start + size)
    data[start:end] = bytes((i * 37 + 11) % 251 for i in range(end - start))
    path.write_bytes(bytes(data))


@pytest.fixture
def w(tmp_path, monkeypatch, capsys):
    world = World(tmp_path, monkeypatch, capsys, books=5, pages=16)
    world.index()
    from comicdesk.library.catalog import Catalog

    with Catalog.open(world.cache) as cat:  # fold the WAL in: the damage lands in the file
        cat.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    return world


def test_corrupt_catalogue_readers_say_one_line_and_index_rebuilds_it(w):
    cat = w.cache / "catalog.sqlite"
    _scribble(cat)
    for argv in (("similar", str(w.books[1]), "1", "0", "--json"), ("duplicates", str(w.root), "--json")):
        r = w.cli(*argv)
        assert "internal error" not in r.err, (argv, r.err)
        assert r.code == 1 and len(r.err.strip().splitlines()) == 1, (argv, r.err)
        assert "damaged" in r.err and "comicdesk index" in r.err, (argv, r.err)
    r = w.cli("pages", str(w.books[1]), "--json")  # goes on without the cached panels: said
    assert r.code == 0 and len(r.rows()) == 16 and all(x["panels"] is None for x in r.rows())
    assert len(r.err.strip().splitlines()) == 1 and "damaged" in r.err, r.err
    r = w.index()
    assert [x["status"] for x in r.rows()] == ["done"] * 5, r.out
    moved = sorted(p for p in w.cache.glob("catalog.sqlite.damaged-*") if not p.name.endswith(("-wal", "-shm")))
    assert len(moved) == 1
    said = [line for line in r.err.splitlines() if "damaged" in line]
    assert len(said) == 1 and moved[0].name in said[0] and "analysed again" in said[0], r.err
    r = w.similar(1, "1", "0", "-k", "100")
    assert r.code == 0 and len(r.rows()) == 79 and r.err == "", r.err
    assert [x["status"] for x in w.index().rows()] == ["skipped"] * 5


def test_catalogue_that_is_not_a_database_is_moved_aside_by_index(w):
    cat = w.cache / "catalog.sqlite"
    cat.write_bytes(b"this is not a database, a sync tool wrote it" * 100)
    r = w.index()
    assert [x["status"] for x in r.rows()] == ["done"] * 5
    assert len([p for p in w.cache.glob("catalog.sqlite.damaged-*") if not p.name.endswith(("-wal", "-shm"))]) == 1
    assert w.similar(1, "1", "0").code == 0


def test_an_existing_cache_is_stamped_without_reanalysis(w):
    """A cache from before the identity: no cache_id anywhere. The next index stamps it and
    analyses nothing again; similar keeps answering."""
    from comicdesk.library.catalog import Catalog

    with Catalog.open(w.cache) as cat, cat.transaction():
        cat.conn.execute("DELETE FROM meta WHERE key = 'cache_id'")
    for zj in (w.cache / "vectors.zarr").rglob("zarr.json"):
        meta = json.loads(zj.read_text())
        (meta.get("attributes") or {}).pop("cache_id", None)
        zj.write_text(json.dumps(meta))
    for mf in (w.cache / "index").rglob("*.manifest.json"):
        meta = json.loads(mf.read_text())
        meta.pop("cache_id", None)
        mf.write_text(json.dumps(meta))
    before = w.similar(1, "1", "0", "-k", "100")
    assert before.code == 0 and len(before.rows()) == 79
    r = w.index()
    assert [x["status"] for x in r.rows()] == ["skipped"] * 5
    with Catalog.open(w.cache, readonly=True) as cat:
        cache_id = cat.get_meta("cache_id")
    assert cache_id
    zmeta = json.loads((w.cache / "vectors.zarr" / "standard-1" / "panel_emb" / "zarr.json").read_text())
    assert zmeta["attributes"]["cache_id"] == cache_id
    after = w.similar(1, "1", "0", "-k", "100")
    assert after.rows() == before.rows()
    manifest = json.loads((w.cache / "index" / "standard-1" / "panel_emb.manifest.json").read_text())
    assert manifest["cache_id"] == cache_id


def test_full_disk_during_index_is_one_line_naming_the_folder(tmp_path, monkeypatch, capsys):
    from comicdesk.cache import vectors

    w = World(tmp_path, monkeypatch, capsys, books=5, pages=4)

    def full(*a, **k):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(vectors.VectorStore, "write", full)
    r = w.cli("index", str(w.root), "--json")
    assert r.code == 1 and "internal error" not in r.err, r.err
    line = r.err.strip().splitlines()[-1]
    assert "full" in line and str(w.cache) in line and "MB" in line, line
    monkeypatch.undo()
    World(tmp_path / "again", monkeypatch, capsys)  # the fake stages back (undo removed them)
    r = w.index()
    assert [x["status"] for x in r.rows()] == ["done"] * 5


def test_damaged_user_data_is_left_untouched_and_pages_go_on(w):
    from comicdesk.library.userdata import USER_FILE

    r = w.cli("label", str(w.books[0]), "0", "cover")
    assert r.code == 0, r.err
    user = w.data / USER_FILE
    user.write_bytes(b"\0garbage\0" * 2000)
    before = user.read_bytes()
    r = w.cli("pages", str(w.books[0]), "--json")
    assert r.code == 0 and "internal error" not in r.err, r.err
    assert len(r.rows()) == 16
    lines = r.err.strip().splitlines()
    assert len(lines) == 1 and str(user) in lines[0] and "untouched" in lines[0], r.err
    r = w.cli("label", str(w.books[0]), "1", "story")
    assert r.code == 1 and "internal error" not in r.err and str(user) in r.err
    r = w.index()
    assert "internal error" not in r.err
    assert user.read_bytes() == before  # never rebuilt or overwritten
    from comicdesk.library.labels import open_user_data  # what export reads: no labels, no error
    from comicdesk.core.settings import Settings
    from comicdesk.library.service import locate_library

    settings = Settings.resolve(w.cache_root, w.data_root, env={})
    u = open_user_data(settings, locate_library(w.root, settings, register=False).id)
    assert u is None or u.all_labels() == []


def test_read_only_cache_is_one_line_for_writers_and_readers_still_search(w, monkeypatch):
    from comicdesk.library.lock import LibraryLock

    def read_only(self, *a, **k):
        raise OSError(errno.EROFS, "Read-only file system")

    monkeypatch.setattr(LibraryLock, "acquire", read_only)
    r = w.cli("index", str(w.root), "--json")
    assert r.code == 1 and r.err.strip().splitlines() == [
        f"comicdesk: cannot use the cache folder {w.cache}: Read-only file system"], r.err
    import shutil

    shutil.rmtree(w.cache / "index")  # a reader builds it in memory and cannot save it
    r = w.similar(1, "1", "0", "-k", "100")
    assert r.code == 0 and len(r.rows()) == 79 and r.err == "", r.err


def test_a_sqlite_error_met_mid_read_is_one_line_never_an_internal_error(w, monkeypatch):
    from comicdesk.library.catalog import Catalog

    def fails(self, *a, **k):
        raise sqlite3.OperationalError("unable to open database file")

    monkeypatch.setattr(Catalog, "vector_rows", fails)
    r = w.similar(1, "1", "0")
    assert r.code == 1 and "internal error" not in r.err and len(r.err.strip().splitlines()) == 1, r.err
    assert "read-only" in r.err


def test_duplicates_over_every_library_says_the_damaged_one_and_lists_the_others(w):
    other = w.root.parent / "LIB2"
    from cache_library import make_library

    make_library(other, 2, 2)
    r = w.cli("index", str(other), "--json")
    assert r.code == 0, r.err
    _scribble(w.cache / "catalog.sqlite")
    r = w.cli("duplicates", "--json")
    assert r.code == 0 and "internal error" not in r.err, r.err
    lines = r.err.strip().splitlines()
    assert len(lines) == 1 and "damaged" in lines[0] and str(w.cache) in lines[0], r.err


def test_scan_of_a_corrupt_catalogue_moves_it_aside_and_fills_a_new_one(w):
    """Whether the damage shows on opening or mid-scan, one scan rebuilds the catalogue."""
    _scribble(w.cache / "catalog.sqlite")
    r = w.cli("scan", str(w.root), "--json")
    assert "internal error" not in r.err, r.err
    assert r.code == 0 and len(r.rows()) == 5, r.err
    said = [x for x in r.err.splitlines() if "damaged" in x]
    assert len(said) == 1 and "moved it aside" in said[0] and "analysed again" in said[0], r.err
    assert [p for p in w.cache.glob("catalog.sqlite.damaged-*") if not p.name.endswith(("-wal", "-shm"))]
    assert w.cli("scan", str(w.root), "--json").err.count("damaged") == 0


def test_a_damage_note_about_a_file_that_was_since_put_back_is_dropped(w):
    cat = w.cache / "catalog.sqlite"
    good = cat.read_bytes()
    _scribble(cat)
    assert w.similar(1, "1", "0").code == 1  # said, and noted
    assert (w.cache / "catalog.damaged").is_file()
    cat.write_bytes(good)  # the person puts their copy back
    r = w.similar(1, "1", "0", "-k", "100")
    assert r.code == 0 and len(r.rows()) == 79, r.err
    r = w.index()
    assert [x["status"] for x in r.rows()] == ["skipped"] * 5
    assert not list(w.cache.glob("catalog.sqlite.damaged-*"))


def test_damage_met_mid_scan_is_noted_and_the_same_scan_starts_again(w, monkeypatch):
    from comicdesk.library import db
    from comicdesk.library.catalog import Catalog

    real = Catalog.all_books
    calls = []

    def damaged_once(self, *a, **k):  # what the connection does with SQLITE_CORRUPT mid-read
        calls.append(1)
        if len(calls) == 1:
            raise db.DatabaseDamaged(self._on_damage(sqlite3.DatabaseError("database disk image is malformed")))
        return real(self, *a, **k)

    monkeypatch.setattr(Catalog, "all_books", damaged_once)
    r = w.cli("scan", str(w.root), "--json")
    assert r.code == 0 and len(r.rows()) == 5 and "internal error" not in r.err, r.err
    said = [x for x in r.err.splitlines() if "damaged" in x]
    assert len(said) == 1 and "moved it aside" in said[0], r.err
    assert not (w.cache / "catalog.damaged").exists()
