"""Reading a Calibre library: ``metadata.db``, read-only, raw tables only.

- The database is opened with a ``file:...?mode=ro`` URI: SQLite itself refuses any write, and
  nothing (no journal, no WAL file) is created next to it. Nothing here ever writes.
- Calibre may be writing while we read. A "database is locked"/"busy" answer is retried (SQLite's
  busy handler plus our own loop with backoff) until ``timeout`` seconds have passed; then
  :class:`~comicdesk.library.errors.CalibreLocked` says so in one line.
- Only raw tables are queried (``books``, ``authors`` + ``books_authors_link``, ``series`` +
  ``books_series_link``, ``data``, ``library_id``): Calibre's views call SQL functions that only
  exist inside Calibre.
- All tables are read inside one read transaction, so they are a consistent snapshot.

A Calibre book may carry several formats; the scanner uses the first comic format in
:data:`FORMAT_PREFERENCE` whose file exists (a listed format whose file is missing falls through to
the next; when none of the listed comic formats exists the book is reported with an error). Books
with no comic format at all (MOBI-only novels, metadata-only entries) are not comics and are left
out. Files Calibre does not list are ignored: Calibre is the authority on its own folder.
"""

from __future__ import annotations

import sqlite3
import time
from dataclasses import dataclass, field
from pathlib import Path

from comicdesk.library.errors import CalibreError, CalibreLocked

METADATA_DB = "metadata.db"
SQLITE_MAGIC = b"SQLite format 3\x00"

#: Comic formats Calibre may list, best first; the first whose file exists is the book.
FORMAT_PREFERENCE: tuple[str, ...] = ("CBZ", "CBR", "CB7", "CBT", "ZIP", "RAR", "7Z", "TAR", "PDF", "EPUB")


@dataclass(frozen=True)
class CalibreBook:
    id: int
    title: str | None
    authors: tuple[str, ...]
    series: str | None
    series_index: float | None
    path: str  # folder relative to the library root, '/'-separated
    has_cover: bool
    formats: tuple[tuple[str, str], ...]  # (FORMAT, file name without extension), as listed

    def comic_formats(self) -> list[tuple[str, str]]:
        listed = {fmt.upper(): name for fmt, name in self.formats}
        return [(fmt, listed[fmt]) for fmt in FORMAT_PREFERENCE if fmt in listed]

    def file_path(self, root: Path, fmt: str, name: str) -> Path:
        return root.joinpath(*self.path.split("/"), f"{name}.{fmt.lower()}")

    def cover_path(self, root: Path) -> Path | None:
        return root.joinpath(*self.path.split("/"), "cover.jpg") if self.has_cover else None


@dataclass
class CalibreLibrary:
    root: Path
    library_id: str | None
    books: list[CalibreBook] = field(default_factory=list)


def is_calibre_library(root: Path) -> bool:
    """A folder holding a SQLite ``metadata.db``."""
    db = Path(root) / METADATA_DB
    try:
        with open(db, "rb") as fh:
            return fh.read(16) == SQLITE_MAGIC
    except OSError:
        return False


def _is_lock_error(exc: sqlite3.OperationalError) -> bool:
    text = str(exc).lower()
    return "locked" in text or "busy" in text


def _connect_ro(db_path: Path, busy_timeout: float) -> sqlite3.Connection:
    return sqlite3.connect(f"{db_path.absolute().as_uri()}?mode=ro", uri=True,
                           timeout=busy_timeout, isolation_level=None, check_same_thread=False)


def _with_retry(db_path: Path, timeout: float, work):
    """Run ``work(conn)`` in a read transaction, retrying while the database is locked."""
    deadline = time.monotonic() + timeout
    delay = 0.05
    while True:
        remaining = deadline - time.monotonic()
        try:
            conn = _connect_ro(db_path, busy_timeout=max(0.0, min(1.0, remaining)))
        except sqlite3.Error as exc:
            raise CalibreError(f"cannot open Calibre's database {db_path}: {exc}") from None
        try:
            conn.execute("BEGIN")
            result = work(conn)
            conn.execute("COMMIT")
            return result
        except sqlite3.OperationalError as exc:
            if not _is_lock_error(exc):
                raise CalibreError(f"cannot read Calibre's database {db_path}: {exc}") from None
            if time.monotonic() + delay >= deadline:
                raise CalibreLocked(
                    f"Calibre's database is locked by another program (is Calibre saving?); "
                    f"waited {timeout:g} s — try again when it is done: {db_path}") from None
        except sqlite3.DatabaseError as exc:
            raise CalibreError(f"cannot read Calibre's database {db_path}: {exc}") from None
        finally:
            conn.close()
        time.sleep(delay)
        delay = min(delay * 2, 0.5)


def read_library_id(root: Path, timeout: float = 30.0) -> str | None:
    """Calibre's ``library_id.uuid``, or None for an old library without the table."""
    def work(conn):
        return _library_id(conn)
    return _with_retry(Path(root) / METADATA_DB, timeout, work)


def _library_id(conn: sqlite3.Connection) -> str | None:
    try:
        row = conn.execute("SELECT uuid FROM library_id LIMIT 1").fetchone()
    except sqlite3.OperationalError as exc:
        if "no such table" in str(exc):
            return None
        raise
    return str(row[0]) if row and row[0] else None


def read_library(root: Path, timeout: float = 30.0) -> CalibreLibrary:
    """Every book of a Calibre library with its authors, series and formats."""
    root = Path(root)

    def work(conn: sqlite3.Connection) -> CalibreLibrary:
        library_id = _library_id(conn)
        authors: dict[int, list[str]] = {}
        for book, name in conn.execute(
                "SELECT l.book, a.name FROM books_authors_link l JOIN authors a ON a.id = l.author "
                "ORDER BY l.id"):
            if name:
                authors.setdefault(book, []).append(name.replace("|", ","))
        series: dict[int, str] = {}
        for book, name in conn.execute(
                "SELECT l.book, s.name FROM books_series_link l JOIN series s ON s.id = l.series"):
            series[book] = name
        formats: dict[int, list[tuple[str, str]]] = {}
        for book, fmt, name in conn.execute("SELECT book, format, name FROM data ORDER BY id"):
            if fmt and name:
                formats.setdefault(book, []).append((str(fmt).upper(), name))
        books = []
        for book_id, title, path, has_cover, series_index in conn.execute(
                "SELECT id, title, path, has_cover, series_index FROM books ORDER BY id"):
            books.append(CalibreBook(
                id=book_id, title=title, authors=tuple(authors.get(book_id, ())),
                series=series.get(book_id), series_index=series_index,
                path=str(path or "").replace("\\", "/"), has_cover=bool(has_cover),
                formats=tuple(formats.get(book_id, ()))))
        return CalibreLibrary(root, library_id, books)

    return _with_retry(root / METADATA_DB, timeout, work)
