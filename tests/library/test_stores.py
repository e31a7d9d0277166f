"""Registry, lock, catalogue migrations, the person's data, identity and names."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from libhelpers import INLINE, make_cbz

from comicdesk.library import db
from comicdesk.library.catalog import MIGRATIONS, Catalog
from comicdesk.library.errors import CatalogError, LibraryBusy, LibraryError
from comicdesk.library.identity import CHUNK, content_key, library_id_for_root, page_hash
from comicdesk.library.lock import LibraryLock
from comicdesk.library.names import format_series_index, parse_name, resolve_names
from comicdesk.library.registry import LibraryRegistry
from comicdesk.library.service import ScanOptions, locate_library, scan_library
from comicdesk.library.userdata import UserData


# -- registry ------------------------------------------------------------------------------------
def test_registry_maps_roots_to_ids_and_finds_the_longest_root(tmp_path, settings):
    outer = tmp_path / "Comics"
    inner = outer / "Manga"
    make_cbz(inner / "vol1.cbz")
    make_cbz(outer / "other.cbz")
    a = locate_library(outer, settings)
    b = locate_library(inner, settings)  # inside a registered root: part of it, not a new library
    assert b.id == a.id and b.root == outer.resolve() and b.scope == inner.resolve()
    reg = LibraryRegistry(settings)
    reg.register(inner.resolve(), "manga-id", "folder")  # a nested library of its own
    assert locate_library(inner / "vol1.cbz", settings).id == "manga-id"  # the longest root wins
    assert locate_library(outer / "other.cbz", settings).id == a.id
    data = json.loads(settings.registry_path.read_text())
    assert data["version"] == 1
    assert data["libraries"][str(outer.resolve())]["id"] == library_id_for_root(outer.resolve())
    assert data["libraries"][str(outer.resolve())]["kind"] == "folder"
    assert [p.name for p in settings.registry_path.parent.iterdir() if p.name.startswith(".libraries-")] == []


def test_a_book_outside_every_library_is_a_one_book_library(tmp_path, settings):
    book = make_cbz(tmp_path / "Downloads" / "stray.cbz")
    make_cbz(tmp_path / "Downloads" / "other.cbz")
    result = scan_library(book, settings, options=INLINE)
    assert result.root == book.parent.resolve() and result.scope == book.resolve()
    assert [Path(b.path).name for b in result.books] == ["stray.cbz"]
    assert result.library_id == library_id_for_root(book.parent.resolve())
    # The folder is registered: the next command given that book finds the same library.
    assert LibraryRegistry(settings).find(book.resolve()).id == result.library_id


def test_a_damaged_registry_is_set_aside_not_trusted(tmp_path, settings):
    settings.registry_path.parent.mkdir(parents=True)
    settings.registry_path.write_text("{ not json")
    make_cbz(tmp_path / "lib" / "a.cbz")
    target = locate_library(tmp_path / "lib", settings)
    assert settings.registry_path.with_name("libraries.json.damaged").read_text() == "{ not json"
    assert json.loads(settings.registry_path.read_text())["libraries"][str(target.root)]["id"] == target.id


def test_a_missing_path_that_is_no_library_is_refused(tmp_path, settings):
    with pytest.raises(LibraryError) as err:
        locate_library(tmp_path / "nowhere", settings)
    assert err.value.reason == f"{tmp_path / 'nowhere'}: no such file or folder"
    assert not settings.registry_path.exists()


# -- one writer per library ----------------------------------------------------------------------
def test_second_writer_waits_then_gives_a_clear_error(tmp_path, settings):
    make_cbz(tmp_path / "lib" / "a.cbz")
    target = locate_library(tmp_path / "lib", settings)
    with LibraryLock(settings.library_cache_dir(target.id)):
        t0 = time.monotonic()
        with pytest.raises(LibraryBusy) as err:
            scan_library(tmp_path / "lib", settings, options=ScanOptions(executor="inline", lock_timeout=0.3))
        assert time.monotonic() - t0 >= 0.3
    assert f"pid {os.getpid()}" in err.value.reason and "\n" not in err.value.reason
    # Released: the scan runs.
    assert len(scan_library(tmp_path / "lib", settings, options=INLINE).books) == 1


def test_lock_is_exclusive_across_processes_and_released_by_exit(tmp_path):
    cache = tmp_path / "cache"
    holder = textwrap.dedent(f"""
        import sys, time
        from comicdesk.library.lock import LibraryLock
        with LibraryLock({str(cache)!r}):
            print("held", flush=True)
            time.sleep(0.8)
    """)
    proc = subprocess.Popen([sys.executable, "-c", holder], stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "held"
    with pytest.raises(LibraryBusy):
        LibraryLock(cache, timeout=0.1).acquire()
    waited = []
    lock = LibraryLock(cache, timeout=10, on_wait=waited.append)
    lock.acquire()  # waits for the other process to finish
    assert waited and "waiting for another comicdesk process" in waited[0]
    lock.release()
    proc.wait(10)


# -- catalogue migrations --------------------------------------------------------------------------
def test_catalog_is_at_the_latest_version_in_wal_mode(tmp_path):
    with Catalog.open(tmp_path) as cat:
        assert db.schema_version(cat.conn) == len(MIGRATIONS)
        assert cat.conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        tables = {r[0] for r in cat.conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        assert {"books", "pages", "ignored", "scans", "meta"} <= tables


def test_migrations_apply_in_order_and_a_failed_one_leaves_the_previous_version(tmp_path):
    conn = db.connect(tmp_path / "x.sqlite")
    steps = [lambda c: c.execute("CREATE TABLE a (x)"), lambda c: c.execute("CREATE TABLE b (x)")]
    assert db.migrate(conn, steps[:1], "test db") == 1
    def broken(c):
        c.execute("CREATE TABLE c (x)")
        raise RuntimeError("half-way")
    with pytest.raises(RuntimeError):
        db.migrate(conn, [*steps, broken], "test db")
    assert db.schema_version(conn) == 1  # b and c rolled back together: all pending steps or none
    tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master")}
    assert tables == {"a"}
    assert db.migrate(conn, steps, "test db") == 2
    assert {r[0] for r in conn.execute("SELECT name FROM sqlite_master")} == {"a", "b"}


def test_a_reader_never_sees_a_catalogue_half_way_through_its_migrations(tmp_path):
    """The first scan creates the catalogue while the app's reader may already open it: the reader
    must see version 0 (nothing yet) or the latest, never one between — that read as 'written by an
    older comicdesk' and stopped the app on a fresh machine."""
    path = tmp_path / "catalog.sqlite"
    seen = []

    def watch(conn):  # runs between every two steps of the writer's migration
        reader = db.connect(path, readonly=True)
        try:
            seen.append(db.schema_version(reader))
            with Catalog(path, readonly=True) as cat:  # opens without complaint
                seen.append(db.schema_version(cat.conn))
        finally:
            reader.close()

    steps = []
    for m in MIGRATIONS:
        steps += [m, watch]
    writer = db.connect(path)
    writer.execute("PRAGMA user_version = 0")
    db.migrate(writer, steps, "the catalogue")
    assert seen and set(seen) == {0}
    writer.execute(f"PRAGMA user_version = {len(MIGRATIONS)}")  # steps' count differs; the real one
    with Catalog(path, readonly=True) as cat:
        assert cat.count_books() == 0
    writer.close()


def test_a_newer_catalogue_is_refused_clearly(tmp_path):
    conn = sqlite3.connect(tmp_path / "catalog.sqlite")
    conn.execute(f"PRAGMA user_version = {len(MIGRATIONS) + 5}")
    conn.close()
    for readonly in (False, True):
        with pytest.raises(CatalogError) as err:
            Catalog.open(tmp_path, readonly=readonly)
        assert "newer version of comicdesk" in err.value.reason


# -- the person's data -----------------------------------------------------------------------------
def test_user_data_lives_in_the_data_dir_keyed_by_content(tmp_path, settings):
    make_cbz(tmp_path / "lib" / "a.cbz")
    result = scan_library(tmp_path / "lib", settings, options=INLINE)
    key = result.books[0].content_key
    data_dir = settings.library_data_dir(result.library_id)
    with UserData(data_dir) as user:
        user.set_label(key, 2, "advertisement")
        user.set_label(key, 3, "story")
        user.set_label(key, 3, None)  # cleared
        user.set_position(key, 4)
        user.set_setting("filter", {"preset": "story-only"})
        with pytest.raises(ValueError, match="unknown page class"):
            user.set_label(key, 1, "splash")
    assert (data_dir / "user.sqlite").is_file()
    assert not list(settings.cache_root.rglob("user.sqlite"))
    with UserData(data_dir, readonly=True) as user:
        assert user.labels(key) == {2: "advertisement"}
        assert user.position(key) == 4
        assert user.setting("filter") == {"preset": "story-only"}
        assert user.setting("absent", 7) == 7


# -- identity --------------------------------------------------------------------------------------
def test_content_key_reads_only_head_and_tail(tmp_path):
    big = tmp_path / "big.bin"
    data = bytearray(os.urandom(5 * CHUNK))
    big.write_bytes(data)
    key = content_key(big)
    assert key.startswith(f"{len(data)}:")
    data[2 * CHUNK] ^= 0xFF  # a change in the middle is not seen (size, head and tail are)
    big.write_bytes(data)
    assert content_key(big) == key
    data[-1] ^= 0xFF
    big.write_bytes(data)
    assert content_key(big) != key
    small = tmp_path / "small.bin"
    small.write_bytes(b"abc")
    assert content_key(small) != content_key(big) and content_key(small).startswith("3:")
    assert page_hash(b"abc") == page_hash(b"abc") != page_hash(b"abd")


# -- names -----------------------------------------------------------------------------------------
@pytest.mark.parametrize("stem, series, number, title, year", [
    ("Captain Science #001 (1950) The Beginning", "Captain Science", "001", "The Beginning", 1950),
    ("Captain Science #001", "Captain Science", "001", None, None),
    ("Saga 054 (2018) (Digital) (Zone-Empire)", "Saga", "054", None, 2018),
    ("X-Men 097 - Fight for 2 Worlds", "X-Men", "097", "Fight for 2 Worlds", None),
    ("Batman 1989 001", "Batman 1989", "001", None, None),
    ("100 Bullets 001", "100 Bullets", "001", None, None),
    ("Captain_Science_001", "Captain Science", "001", None, None),
    ("Saga Vol. 1", "Saga", "1", None, None),
    ("Captain Science 001 of 007", "Captain Science", "001", None, None),
    ("Captain Science #001-cix", "Captain Science", "001", "cix", None),
    ("Watchmen", None, None, "Watchmen", None),
])
def test_file_name_rule(stem, series, number, title, year):
    parsed = parse_name(stem)
    assert (parsed.series, parsed.number, parsed.title, parsed.year) == (series, number, title, year)


def test_each_field_from_the_first_source_that_has_it():
    ci = {"title": "From ComicInfo", "series": None, "number": None, "authors": []}
    cal = {"title": "From Calibre", "series": "Calibre Series", "number": "4", "authors": ["A"]}
    n = resolve_names("Name Series #9 Name Title", ci, cal)
    assert (n.title, n.series, n.number, n.authors) == ("From ComicInfo", "Calibre Series", "4", ["A"])
    n = resolve_names("Name Series #9 Name Title", None, None)
    assert (n.title, n.series, n.number) == ("Name Title", "Name Series", "9")
    # A number only goes with its own series.
    n = resolve_names("Other #9", {"series": "Tagged"}, None)
    assert (n.series, n.number) == ("Tagged", None)
    assert [format_series_index(v) for v in (1.0, 2.5, None)] == ["1", "2.5", None]


def test_the_library_lock_at_once_never_waits(tmp_path):
    """A reader that may save what it computed takes the lock only when it is free: a held lock
    gives None at once (no wait), a free one is taken and keeps a writer out until released."""
    writer = LibraryLock(tmp_path, timeout=0)
    writer.acquire()
    started = time.monotonic()
    assert LibraryLock.at_once(tmp_path) is None
    assert time.monotonic() - started < 1.0
    writer.release()
    reader = LibraryLock.at_once(tmp_path)
    assert reader is not None
    with pytest.raises(LibraryBusy):
        LibraryLock(tmp_path, timeout=0).acquire()
    reader.release()
    again = LibraryLock.at_once(tmp_path)
    assert again is not None
    again.release()
