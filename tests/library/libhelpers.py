"""Builders for the library tests: copies of the Captain Science fixtures in tmp folders, and a
fake Calibre library whose metadata.db has the tables and columns Calibre uses."""

from __future__ import annotations

import shutil
import sqlite3
import zipfile
from pathlib import Path

from helpers import captain_science_pages, comicbox_dir

from comicdesk.library.service import ScanOptions

CS = "Captain Science #001"
#: Small scans read in-process: quick, and monkeypatches apply.
INLINE = ScanOptions(executor="inline", lock_timeout=2.0, calibre_timeout=2.0)


def fixture_book(name: str) -> Path:
    return comicbox_dir() / name


def copy_book(name: str, dest: Path) -> Path:
    dest.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(fixture_book(name), dest)
    return dest


def image_folder(dest: Path) -> Path:
    dest.mkdir(parents=True, exist_ok=True)
    for page in captain_science_pages():
        shutil.copyfile(page, dest / page.name)
    return dest


def make_cbz(dest: Path, pages: list[Path] | None = None, extra: dict[str, bytes] | None = None) -> Path:
    dest.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(dest, "w", zipfile.ZIP_STORED) as zf:
        for page in pages if pages is not None else captain_science_pages():
            zf.write(page, page.name)
        for name, data in (extra or {}).items():
            zf.writestr(name, data)
    return dest


def build_library(root: Path) -> Path:
    """A small folder library with every container format and an image folder."""
    copy_book(f"{CS}.cbz", root / "Captain Science" / "Captain Science #001 (1950) The Beginning.cbz")
    make_cbz(root / "Captain Science" / "Captain Science #002 (1950) Second Story.cbz",
             captain_science_pages()[:3])  # no ComicInfo: names from the file name
    copy_book(f"{CS}-cbi.cbr", root / "Formats" / "rar-book.cbr")
    copy_book(f"{CS}.cb7", root / "Formats" / "sevenzip-book.cb7")
    copy_book(f"{CS}-cix.cbt", root / "Formats" / "tar-book.cbt")
    copy_book("test_pdf.pdf", root / "Formats" / "pdf-book.pdf")
    image_folder(root / "Loose" / "Captain Science 003")
    return root


# -- a fake Calibre library ------------------------------------------------------------------
CALIBRE_SCHEMA = """
CREATE TABLE books ( id INTEGER PRIMARY KEY AUTOINCREMENT, title TEXT NOT NULL DEFAULT 'Unknown' COLLATE NOCASE,
    sort TEXT COLLATE NOCASE, timestamp TIMESTAMP DEFAULT CURRENT_TIMESTAMP, pubdate TIMESTAMP DEFAULT CURRENT_TIMESTAMP,
    series_index REAL NOT NULL DEFAULT 1.0, author_sort TEXT COLLATE NOCASE, isbn TEXT DEFAULT "" COLLATE NOCASE,
    lccn TEXT DEFAULT "" COLLATE NOCASE, path TEXT NOT NULL DEFAULT "", flags INTEGER NOT NULL DEFAULT 1,
    uuid TEXT, has_cover BOOL DEFAULT 0, last_modified TIMESTAMP NOT NULL DEFAULT "2000-01-01 00:00:00+00:00");
CREATE TABLE authors ( id INTEGER PRIMARY KEY, name TEXT NOT NULL COLLATE NOCASE, sort TEXT COLLATE NOCASE,
    link TEXT NOT NULL DEFAULT "", UNIQUE(name));
CREATE TABLE books_authors_link ( id INTEGER PRIMARY KEY, book INTEGER NOT NULL, author INTEGER NOT NULL,
    UNIQUE(book, author));
CREATE TABLE series ( id INTEGER PRIMARY KEY, name TEXT NOT NULL COLLATE NOCASE, sort TEXT COLLATE NOCASE,
    link TEXT NOT NULL DEFAULT "", UNIQUE (name));
CREATE TABLE books_series_link ( id INTEGER PRIMARY KEY, book INTEGER NOT NULL, series INTEGER NOT NULL,
    UNIQUE(book));
CREATE TABLE data ( id INTEGER PRIMARY KEY, book INTEGER NOT NULL, format TEXT NOT NULL COLLATE NOCASE,
    uncompressed_size INTEGER NOT NULL, name TEXT NOT NULL, UNIQUE(book, format));
CREATE TABLE library_id ( id INTEGER PRIMARY KEY, uuid TEXT NOT NULL, UNIQUE(uuid));
"""

CALIBRE_UUID = "6b1f0c2e-57c4-4e0b-9b7e-0c1d2e3f4a5b"


def make_calibre(root: Path, books: list[dict], library_uuid: str = CALIBRE_UUID) -> Path:
    """``books``: dicts with title, authors, series, series_index, files {FORMAT: fixture name or
    None for a listed file that is absent}, cover (bool). Returns the library root."""
    root.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(root / "metadata.db")
    conn.executescript(CALIBRE_SCHEMA)
    conn.execute("INSERT INTO library_id(uuid) VALUES (?)", (library_uuid,))
    for n, b in enumerate(books, start=1):
        author = (b.get("authors") or ["Unknown"])[0]
        folder = f"{author}/{b['title']} ({n})"
        conn.execute("INSERT INTO books(id, title, sort, series_index, author_sort, path, uuid, has_cover) "
                     "VALUES (?,?,?,?,?,?,?,?)",
                     (n, b["title"], b["title"], b.get("series_index", 1.0), author, folder, f"uuid-{n}",
                      int(bool(b.get("cover")))))
        for a in b.get("authors", []):
            conn.execute("INSERT OR IGNORE INTO authors(name, sort) VALUES (?, ?)", (a.replace(",", "|"), a))
            aid = conn.execute("SELECT id FROM authors WHERE name = ?", (a.replace(",", "|"),)).fetchone()[0]
            conn.execute("INSERT INTO books_authors_link(book, author) VALUES (?, ?)", (n, aid))
        if b.get("series"):
            conn.execute("INSERT OR IGNORE INTO series(name, sort) VALUES (?, ?)", (b["series"], b["series"]))
            sid = conn.execute("SELECT id FROM series WHERE name = ?", (b["series"],)).fetchone()[0]
            conn.execute("INSERT INTO books_series_link(book, series) VALUES (?, ?)", (n, sid))
        file_name = f"{b['title']} - {author}"
        book_dir = root / author / f"{b['title']} ({n})"
        book_dir.mkdir(parents=True, exist_ok=True)
        for fmt, fixture in b.get("files", {}).items():
            conn.execute("INSERT INTO data(book, format, uncompressed_size, name) VALUES (?,?,?,?)",
                         (n, fmt, 1000, file_name))
            if fixture is not None:
                shutil.copyfile(fixture_book(fixture), book_dir / f"{file_name}.{fmt.lower()}")
        if b.get("cover"):
            shutil.copyfile(captain_science_pages()[0], book_dir / "cover.jpg")
        (book_dir / "metadata.opf").write_text("<package/>")
    conn.commit()
    conn.close()
    return root
