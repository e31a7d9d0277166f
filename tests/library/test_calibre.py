"""Calibre libraries: metadata.db read-only through raw tables, locks, names, missing files."""

from __future__ import annotations

import sqlite3
import threading
import time
from pathlib import Path

import pytest
from helpers import tree_digest
from libhelpers import CALIBRE_UUID, CS, INLINE, make_calibre

from comicdesk.library.calibre import read_library
from comicdesk.library.errors import CalibreLocked
from comicdesk.library.service import ScanOptions, scan_library

BOOKS = [
    {"title": "Captain Science: The Beginning", "authors": ["Joe Orlando", "Wood, Wally"],
     "series": "Captain Science", "series_index": 1.0, "files": {"CBZ": f"{CS}-cix.cbz"}, "cover": True},
    {"title": "Untagged Tale", "authors": ["Somebody"], "series": "Tales", "series_index": 2.5,
     "files": {"CBR": f"{CS}-cbi.cbr", "PDF": "test_pdf.pdf"}},
    {"title": "Gone Missing", "authors": ["Nobody"], "files": {"CBZ": None}},
    {"title": "A Novel", "authors": ["Writer"], "files": {"MOBI": None}},  # not a comic: left out
    {"title": "Fallback", "authors": ["Somebody"], "files": {"CBZ": None, "CB7": f"{CS}.cb7"}},
]


@pytest.fixture
def calibre(tmp_path) -> Path:
    root = make_calibre(tmp_path / "Calibre Library", BOOKS)
    # "Untagged Tale" has no metadata of its own: its CBR without the fixture's ComicBookInfo
    # archive comment (which would name it, as ComicInfo would).
    plain_cbr(next(root.glob("Somebody/Untagged Tale (2)/*.cbr")))
    return root


def plain_cbr(path: Path) -> None:
    import rars
    from helpers import captain_science_pages

    builder = rars.RarBuilder(format="rar50", store=True)
    for page in captain_science_pages():
        builder.add_bytes(page.read_bytes(), page.name)
    path.unlink()
    builder.write(str(path))


def by_title(result) -> dict:
    """Books by their Calibre title (the name of their Calibre folder, "Title (id)")."""
    return {Path(b.path).parent.name.rsplit(" (", 1)[0]: b for b in result.books}


def test_scan_reads_calibre_and_never_writes(calibre, settings):
    before = tree_digest(calibre)
    result = scan_library(calibre, settings, options=INLINE)
    assert tree_digest(calibre) == before
    assert sorted(p.name for p in calibre.iterdir() if p.name.startswith("metadata")) == ["metadata.db"]
    assert result.kind == "calibre" and result.library_id == CALIBRE_UUID
    assert settings.library_cache_dir(CALIBRE_UUID).joinpath("catalog.sqlite").is_file()
    books = by_title(result)
    assert set(books) == {"Captain Science: The Beginning", "Untagged Tale", "Gone Missing", "Fallback"}
    # ComicInfo.xml wins over Calibre ...
    tagged = books["Captain Science: The Beginning"]
    assert tagged.title == "The Beginning; The End"
    assert (tagged.series, tagged.number, tagged.format, tagged.pages) == ("Captain Science", "1", "zip", 5)
    assert tagged.authors == ["Joe Orlando"]
    # ... Calibre fills in where there is none; the preferred comic format is used.
    untagged = books["Untagged Tale"]
    assert (untagged.title, untagged.series, untagged.number, untagged.format) == (
        "Untagged Tale", "Tales", "2.5", "rar")
    assert untagged.authors == ["Somebody"]
    assert Path(untagged.path).suffix == ".cbr" and Path(untagged.path).is_file()
    # A listed file that is missing is that book's error; the next listed format stands in.
    assert books["Gone Missing"].error.startswith("Calibre lists CBZ but the file is missing: ")
    assert books["Gone Missing"].format is None
    assert books["Fallback"].format == "7z" and books["Fallback"].error is None
    assert result.failed == 1


def test_calibre_details_in_the_catalogue(calibre, settings):
    from comicdesk.library.catalog import Catalog

    result = scan_library(calibre, settings, options=INLINE)
    with Catalog.open(settings.library_cache_dir(result.library_id), readonly=True) as cat:
        tagged = cat.book_by_path(by_title(result)["Captain Science: The Beginning"].path)
        assert tagged.calibre_id == 1
        assert tagged.cover_path == str(Path(tagged.path).parent / "cover.jpg")
        assert cat.book_by_path(by_title(result)["Untagged Tale"].path).cover_path is None


def test_authors_with_commas_come_back(calibre):
    lib = read_library(calibre)
    assert lib.books[0].authors == ("Joe Orlando", "Wood, Wally")
    assert lib.library_id == CALIBRE_UUID


def test_calibre_edits_are_picked_up_without_opening_books(calibre, settings, monkeypatch):
    scan_library(calibre, settings, options=INLINE)
    conn = sqlite3.connect(calibre / "metadata.db")
    conn.execute("UPDATE books SET title = 'Renamed Tale', series_index = 3 WHERE id = 2")
    conn.commit()
    conn.close()
    from comicdesk.library import scanner

    def no_reading(*a, **k):
        raise AssertionError("an edit in Calibre must not reopen the book")

    monkeypatch.setattr(scanner, "read_book", no_reading)
    result = scan_library(calibre, settings, options=ScanOptions(executor="inline"))
    renamed = [b for b in result.books if b.title == "Renamed Tale"]
    assert len(renamed) == 1 and renamed[0].number == "3"
    assert result.changed == 0 and result.added == 0


def hold_exclusive(db: Path, seconds: float, ready: threading.Event, release: threading.Event | None = None):
    conn = sqlite3.connect(db, isolation_level=None, check_same_thread=False)
    conn.execute("BEGIN EXCLUSIVE")
    ready.set()
    if release is not None:
        release.wait(30)
    else:
        time.sleep(seconds)
    conn.execute("ROLLBACK")
    conn.close()


def test_locked_for_a_moment_is_waited_for(calibre, settings):
    ready = threading.Event()
    writer = threading.Thread(target=hold_exclusive, args=(calibre / "metadata.db", 0.6, ready))
    writer.start()
    ready.wait(5)
    t0 = time.monotonic()
    try:
        result = scan_library(calibre, settings, options=ScanOptions(executor="inline", calibre_timeout=10))
    finally:
        writer.join()
    assert time.monotonic() - t0 >= 0.4  # it did wait for the writer
    assert len(result.books) == 4


def test_locked_forever_is_a_clear_error(calibre, settings):
    ready, release = threading.Event(), threading.Event()
    writer = threading.Thread(target=hold_exclusive, args=(calibre / "metadata.db", 0, ready, release))
    writer.start()
    ready.wait(5)
    try:
        with pytest.raises(CalibreLocked) as err:
            scan_library(calibre, settings, options=ScanOptions(executor="inline", calibre_timeout=0.8))
    finally:
        release.set()
        writer.join()
    assert "locked" in err.value.reason and "\n" not in err.value.reason
    assert str(calibre / "metadata.db") in err.value.reason


def test_a_damaged_metadata_db_is_a_clear_error(tmp_path, settings):
    from comicdesk.library.calibre import read_library
    from comicdesk.library.errors import CalibreError

    root = make_calibre(tmp_path / "lib", BOOKS[:1])
    conn = sqlite3.connect(root / "metadata.db")
    conn.execute("DROP TABLE data")
    conn.commit()
    conn.close()
    with pytest.raises(CalibreError) as err:
        read_library(root)
    assert "no such table: data" in err.value.reason


def test_missing_metadata_db_is_offline(calibre, settings, tmp_path):
    scan_library(calibre, settings, options=INLINE)
    (calibre / "metadata.db").rename(tmp_path / "metadata.db.away")
    result = scan_library(calibre, settings, options=INLINE)
    assert result.offline and result.known_books == 4
