"""The per-library catalogue: ``<cache dir>/catalog.sqlite`` (rebuildable from the library).

Schema version 1 (see :data:`MIGRATIONS`):

- ``meta(key, value)`` — library id, root, kind, the scanner version that last wrote it.
- ``books`` — one row per book *file* (two copies of one comic are two rows sharing a content
  key): content key, absolute path, sniffed format, size and mtime (skip hints), page count, title,
  series, number, authors (JSON list), error and error kind, Calibre id and cover path, the
  ComicInfo fields it had (JSON, to re-resolve names without reopening), and ``removed_at``:
  a removed book is first *tombstoned*, so a book that reappears elsewhere (moved across two scans
  of different sub-folders) keeps its id and its analysis; tombstones are purged after 30 days.
- ``pages`` — per book and page index: entry name, declared bytes, width, height, image format,
  bad flag and reason, and the page content hash (NULL until the bytes are read for a thumbnail or
  analysis).
- ``ignored`` — files that were sniffed and are not books (second RAR volumes, non-comics with
  unknown extensions), with their size/mtime, so a no-op rescan never opens them again.
- ``scans`` — one row per scan: when, scope, outcome and counts.

Schema version 2 adds the analysis (tables referencing ``pages(book_id, idx)`` with
``ON DELETE CASCADE``, so a content change or a purge drops them with the pages):

- ``panels`` — per page: panel index (= reading order), box ``x, y, w, h`` in pixels of the
  decoded page, ``reading_order``.
- ``page_outputs`` — per page and model id: model version, label, probabilities (JSON
  ``{class: p}``), ``source`` (``model``, ``user`` or ``comicinfo``).
- ``runs`` — per book and stage: the stage's version fingerprint, pass, ``done``/``failed``,
  the content key it was computed for (a run of other content does not count) and the reason.
- ``vector_arrays`` / ``vector_rows`` — the Zarr row mappings of ``vectors.zarr``: per model id
  and array the active generation and committed length, and book/page/panel → row (panel -1 is a
  page-level row). Owned by :mod:`comicdesk.cache.vectors`.

Schema version 3 adds ``page_features`` (perceptual hash, image statistics, text amount) and
``text_lines`` (detected boxes, recognised text); see :func:`_v3`.

Analysis hangs off the book row, which a move or a touch keeps, and which a content change
replaces.

One process writes a catalogue at a time (:mod:`comicdesk.library.lock`); readers open it with
``readonly=True`` and, thanks to WAL mode, never block the writer or each other.
"""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable

from comicdesk.library import db
from comicdesk.library.db import clean_text, path_from_db, path_to_db

CATALOG_FILE = "catalog.sqlite"
TOMBSTONE_DAYS = 30


def _v1(conn: sqlite3.Connection) -> None:
    db.run_script(conn, """
        CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT);
        CREATE TABLE books (
            id          INTEGER PRIMARY KEY,
            content_key TEXT,
            path        TEXT NOT NULL UNIQUE,
            format      TEXT,
            size        INTEGER,
            mtime_ns    INTEGER,
            pages       INTEGER,
            title       TEXT,
            series      TEXT,
            number      TEXT,
            authors     TEXT NOT NULL DEFAULT '[]',
            error       TEXT,
            error_kind  TEXT,
            calibre_id  INTEGER,
            cover_path  TEXT,
            comicinfo   TEXT,
            warnings    TEXT NOT NULL DEFAULT '[]',
            added_at    REAL NOT NULL,
            scanned_at  REAL NOT NULL,
            removed_at  REAL
        );
        CREATE INDEX books_content_key ON books(content_key);
        CREATE INDEX books_series ON books(series, number);
        CREATE TABLE pages (
            book_id      INTEGER NOT NULL REFERENCES books(id) ON DELETE CASCADE,
            idx          INTEGER NOT NULL,
            name         TEXT NOT NULL,
            bytes        INTEGER,
            width        INTEGER,
            height       INTEGER,
            format       TEXT,
            bad          INTEGER NOT NULL DEFAULT 0,
            error        TEXT,
            content_hash TEXT,
            PRIMARY KEY (book_id, idx)
        ) WITHOUT ROWID;
        CREATE INDEX pages_content_hash ON pages(content_hash) WHERE content_hash IS NOT NULL;
        CREATE TABLE ignored (
            path     TEXT PRIMARY KEY,
            size     INTEGER,
            mtime_ns INTEGER,
            reason   TEXT
        );
        CREATE TABLE scans (
            id        INTEGER PRIMARY KEY,
            started   REAL NOT NULL,
            finished  REAL NOT NULL,
            scope     TEXT,
            status    TEXT NOT NULL,
            added     INTEGER, changed INTEGER, moved INTEGER, removed INTEGER,
            unchanged INTEGER, failed INTEGER
        );
        """)


def _v2(conn: sqlite3.Connection) -> None:
    """Analysis results (``comicdesk.pipeline``) and the Zarr row mappings (``comicdesk.cache``).

    Everything per page cascades from ``pages``: a changed book (new pages) or a purged tombstone
    drops its panels, model outputs and vector rows in the same statement. ``runs`` hangs off the
    book row and records the content key it was computed for, so a run of a changed book no longer
    counts (its book row is kept by ``replace_book``)."""
    db.run_script(conn, """
        CREATE TABLE panels (
            book_id       INTEGER NOT NULL,
            page          INTEGER NOT NULL,
            idx           INTEGER NOT NULL,
            x             INTEGER NOT NULL,
            y             INTEGER NOT NULL,
            w             INTEGER NOT NULL,
            h             INTEGER NOT NULL,
            reading_order INTEGER NOT NULL,
            PRIMARY KEY (book_id, page, idx),
            FOREIGN KEY (book_id, page) REFERENCES pages(book_id, idx) ON DELETE CASCADE
        ) WITHOUT ROWID;
        CREATE TABLE page_outputs (
            book_id    INTEGER NOT NULL,
            page       INTEGER NOT NULL,
            model_id   TEXT NOT NULL,
            version    TEXT NOT NULL,
            label      TEXT,
            probs      TEXT,
            source     TEXT NOT NULL CHECK (source IN ('model', 'user', 'comicinfo')),
            created_at REAL NOT NULL,
            PRIMARY KEY (book_id, page, model_id),
            FOREIGN KEY (book_id, page) REFERENCES pages(book_id, idx) ON DELETE CASCADE
        ) WITHOUT ROWID;
        CREATE TABLE runs (
            book_id     INTEGER NOT NULL REFERENCES books(id) ON DELETE CASCADE,
            stage       TEXT NOT NULL,
            version     TEXT NOT NULL,
            pass        INTEGER NOT NULL,
            status      TEXT NOT NULL CHECK (status IN ('done', 'failed')),
            content_key TEXT,
            error       TEXT,
            finished_at REAL NOT NULL,
            PRIMARY KEY (book_id, stage)
        ) WITHOUT ROWID;
        CREATE INDEX runs_stage ON runs(stage, status);
        CREATE TABLE vector_arrays (
            model_id   TEXT NOT NULL,
            array      TEXT NOT NULL,
            generation INTEGER NOT NULL DEFAULT 0,
            length     INTEGER NOT NULL DEFAULT 0,
            dims       INTEGER NOT NULL,
            dtype      TEXT NOT NULL,
            normalised INTEGER NOT NULL DEFAULT 0,
            PRIMARY KEY (model_id, array)
        ) WITHOUT ROWID;
        CREATE TABLE vector_rows (
            model_id   TEXT NOT NULL,
            array      TEXT NOT NULL,
            book_id    INTEGER NOT NULL,
            page       INTEGER NOT NULL,
            panel      INTEGER NOT NULL DEFAULT -1,
            row        INTEGER NOT NULL,
            generation INTEGER NOT NULL,
            PRIMARY KEY (model_id, array, book_id, page, panel),
            FOREIGN KEY (book_id, page) REFERENCES pages(book_id, idx) ON DELETE CASCADE
        ) WITHOUT ROWID;
        CREATE INDEX vector_rows_page ON vector_rows(book_id, page);
        CREATE INDEX vector_rows_row ON vector_rows(model_id, array, row);
        """)


def _v3(conn: sqlite3.Connection) -> None:
    """Page features of the standard profile (cascading from ``pages`` like the rest):

    - ``page_features`` — per page: the 64-bit perceptual hash (signed, as SQLite stores it;
      indexed, for duplicates), image statistics (JSON ``{name: value}``), and what text detection
      found (``text_count`` lines covering ``text_coverage`` of the page).
    - ``text_lines`` — per page and line (reading order): the detected box, its detection score,
      the panel it falls in (-1: none), and after recognition (pass 2) its text and confidence
      (NULL before). Searched by text.
    """
    db.run_script(conn, """
        CREATE TABLE page_features (
            book_id       INTEGER NOT NULL,
            page          INTEGER NOT NULL,
            phash         INTEGER,
            stats         TEXT,
            text_count    INTEGER,
            text_coverage REAL,
            PRIMARY KEY (book_id, page),
            FOREIGN KEY (book_id, page) REFERENCES pages(book_id, idx) ON DELETE CASCADE
        ) WITHOUT ROWID;
        CREATE INDEX page_features_phash ON page_features(phash);
        CREATE TABLE text_lines (
            book_id INTEGER NOT NULL,
            page    INTEGER NOT NULL,
            idx     INTEGER NOT NULL,
            x       INTEGER NOT NULL,
            y       INTEGER NOT NULL,
            w       INTEGER NOT NULL,
            h       INTEGER NOT NULL,
            score   REAL NOT NULL,
            panel   INTEGER NOT NULL DEFAULT -1,
            text    TEXT,
            conf    REAL,
            PRIMARY KEY (book_id, page, idx),
            FOREIGN KEY (book_id, page) REFERENCES pages(book_id, idx) ON DELETE CASCADE
        ) WITHOUT ROWID;
        """)


#: Ordered schema migrations; index i turns version i into version i + 1. Append only.
MIGRATIONS: list[db.Migration] = [_v1, _v2, _v3]


@dataclass(frozen=True)
class PageRow:
    index: int
    name: str
    bytes: int | None
    width: int | None
    height: int | None
    format: str | None = None
    bad: bool = False
    error: str | None = None
    content_hash: str | None = None


@dataclass
class BookRow:
    """A catalogued book, as stored."""

    id: int | None
    path: str
    content_key: str | None
    format: str | None
    size: int | None
    mtime_ns: int | None
    pages: int | None
    title: str | None
    series: str | None
    number: str | None
    authors: list[str] = field(default_factory=list)
    error: str | None = None
    error_kind: str | None = None
    calibre_id: int | None = None
    cover_path: str | None = None
    comicinfo: dict | None = None
    warnings: list[str] = field(default_factory=list)
    removed_at: float | None = None


@dataclass(frozen=True)
class RunRow:
    """One stage's outcome for one book (schema 2)."""

    stage: str
    version: str
    pass_no: int
    status: str  # "done" | "failed"
    content_key: str | None
    error: str | None
    finished_at: float


@dataclass(frozen=True)
class PageOutput:
    """A model's (or another source's) verdict on one page (schema 2)."""

    model_id: str
    version: str
    label: str | None
    probs: dict[str, float] | None
    source: str
    created_at: float


@dataclass(frozen=True)
class VectorArrayRow:
    """One Zarr array of ``vectors.zarr`` as the catalogue knows it (schema 2)."""

    model_id: str
    array: str
    generation: int
    length: int  # committed rows: rows at or past it were never mapped
    dims: int
    dtype: str
    normalised: bool


@dataclass(frozen=True)
class PageFeatures:
    """A page's stored features (schema 3); None where not computed yet."""

    phash: int | None  # signed int64 (comicdesk.ml.phash.from_int64 gives the 64-bit value)
    stats: dict[str, float] | None
    text_count: int | None
    text_coverage: float | None


@dataclass(frozen=True)
class TextLineRow:
    """One detected text line (schema 3); ``text`` is None until recognised."""

    index: int
    box: tuple[int, int, int, int]
    score: float
    panel: int
    text: str | None
    conf: float | None


_BOOK_COLUMNS = ("id, path, content_key, format, size, mtime_ns, pages, title, series, number, "
                 "authors, error, error_kind, calibre_id, cover_path, comicinfo, warnings, removed_at")


def _row_to_book(r: tuple) -> BookRow:
    return BookRow(
        id=r[0], path=path_from_db(r[1]), content_key=r[2], format=r[3], size=r[4], mtime_ns=r[5],
        pages=r[6], title=r[7], series=r[8], number=r[9], authors=json.loads(r[10] or "[]"),
        error=r[11], error_kind=r[12], calibre_id=r[13],
        cover_path=path_from_db(r[14]) if r[14] is not None else None,
        comicinfo=json.loads(r[15]) if r[15] else None, warnings=json.loads(r[16] or "[]"),
        removed_at=r[17],
    )


class Catalog:
    """A connection to one library's catalogue. Writers must hold the library lock."""

    def __init__(self, path: Path, *, readonly: bool = False):
        self.path = Path(path)
        self.readonly = readonly
        self.conn = db.connect(self.path, readonly=readonly)
        try:
            if readonly:
                db.check_version(self.conn, MIGRATIONS, "the catalogue")
            else:
                db.migrate(self.conn, MIGRATIONS, "the catalogue")
        except BaseException:
            self.conn.close()
            raise

    @classmethod
    def open(cls, cache_dir: Path, *, readonly: bool = False) -> "Catalog":
        return cls(Path(cache_dir) / CATALOG_FILE, readonly=readonly)

    def close(self) -> None:
        self.conn.close()

    def __enter__(self) -> "Catalog":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def transaction(self):
        return db.transaction(self.conn)

    # -- meta -------------------------------------------------------------------------------
    def get_meta(self, key: str, default: str | None = None) -> str | None:
        row = self.conn.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return default if row is None else row[0]

    def set_meta(self, key: str, value: str) -> None:
        self.conn.execute("INSERT INTO meta(key, value) VALUES (?, ?) "
                          "ON CONFLICT(key) DO UPDATE SET value = excluded.value", (key, value))

    # -- reading ----------------------------------------------------------------------------
    def all_books(self, *, include_removed: bool = False) -> list[BookRow]:
        sql = f"SELECT {_BOOK_COLUMNS} FROM books"
        if not include_removed:
            sql += " WHERE removed_at IS NULL"
        return [_row_to_book(r) for r in self.conn.execute(sql)]

    def book(self, book_id: int) -> BookRow | None:
        r = self.conn.execute(f"SELECT {_BOOK_COLUMNS} FROM books WHERE id = ?", (book_id,)).fetchone()
        return _row_to_book(r) if r else None

    def book_by_path(self, path: str | Path) -> BookRow | None:
        r = self.conn.execute(f"SELECT {_BOOK_COLUMNS} FROM books WHERE path = ? AND removed_at IS NULL",
                              (path_to_db(path),)).fetchone()
        return _row_to_book(r) if r else None

    def books_by_key(self, content_key: str) -> list[BookRow]:
        rows = self.conn.execute(f"SELECT {_BOOK_COLUMNS} FROM books WHERE content_key = ? "
                                 "AND removed_at IS NULL", (content_key,))
        return [_row_to_book(r) for r in rows]

    def pages(self, book_id: int) -> list[PageRow]:
        rows = self.conn.execute(
            "SELECT idx, name, bytes, width, height, format, bad, error, content_hash FROM pages "
            "WHERE book_id = ? ORDER BY idx", (book_id,))
        return [PageRow(r[0], r[1], r[2], r[3], r[4], r[5], bool(r[6]), r[7], r[8]) for r in rows]

    def count_books(self) -> int:
        return self.conn.execute("SELECT count(*) FROM books WHERE removed_at IS NULL").fetchone()[0]

    def ignored(self) -> dict[str, tuple[int, int, str]]:
        return {path_from_db(p): (s, m, r) for p, s, m, r in
                self.conn.execute("SELECT path, size, mtime_ns, reason FROM ignored")}

    # -- writing (inside a transaction, by the lock holder) ----------------------------------
    def insert_book(self, row: BookRow, pages: Iterable[PageRow] | None, now: float) -> int:
        # A tombstone left at this path by an earlier removal gives way to the new book.
        self.conn.execute("DELETE FROM books WHERE path = ? AND removed_at IS NOT NULL",
                          (path_to_db(row.path),))
        cur = self.conn.execute(
            "INSERT INTO books(path, content_key, format, size, mtime_ns, pages, title, series, "
            "number, authors, error, error_kind, calibre_id, cover_path, comicinfo, warnings, "
            "added_at, scanned_at) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
            (*self._book_values(row), now, now))
        book_id = cur.lastrowid
        self._insert_pages(book_id, pages)
        return book_id

    def replace_book(self, book_id: int, row: BookRow, pages: Iterable[PageRow] | None, now: float) -> None:
        """New content at a known path: every column and all pages (and with them, later, the
        analysis hanging off them) are replaced."""
        self.conn.execute(
            "UPDATE books SET path=?, content_key=?, format=?, size=?, mtime_ns=?, pages=?, title=?, "
            "series=?, number=?, authors=?, error=?, error_kind=?, calibre_id=?, cover_path=?, "
            "comicinfo=?, warnings=?, scanned_at=?, removed_at=NULL WHERE id=?",
            (*self._book_values(row), now, book_id))
        self.conn.execute("DELETE FROM pages WHERE book_id = ?", (book_id,))
        self._insert_pages(book_id, pages)

    def relocate_book(self, book_id: int, *, path: str, size: int | None, mtime_ns: int | None,
                      title: str | None, series: str | None, number: str | None,
                      authors: list[str], calibre_id: int | None, cover_path: str | None,
                      now: float) -> None:
        """Same content, new hints or names: a move, a touch, a Calibre metadata edit. Pages and
        analysis are kept; a tombstoned row comes back to life."""
        self.conn.execute("DELETE FROM books WHERE path = ? AND removed_at IS NOT NULL AND id != ?",
                          (path_to_db(path), book_id))
        self.conn.execute(
            "UPDATE books SET path=?, size=?, mtime_ns=?, title=?, series=?, number=?, authors=?, "
            "calibre_id=?, cover_path=?, scanned_at=?, removed_at=NULL WHERE id=?",
            (path_to_db(path), size, mtime_ns, clean_text(title), clean_text(series),
             clean_text(number), _json_list(authors), calibre_id,
             path_to_db(cover_path) if cover_path else None, now, book_id))

    def tombstone(self, book_ids: Iterable[int], now: float) -> None:
        self.conn.executemany("UPDATE books SET removed_at = ? WHERE id = ?",
                              [(now, i) for i in book_ids])

    def purge_tombstones(self, now: float, days: float = TOMBSTONE_DAYS) -> int:
        cur = self.conn.execute("DELETE FROM books WHERE removed_at IS NOT NULL AND removed_at < ?",
                                (now - days * 86400,))
        return cur.rowcount

    def set_ignored(self, path: str, size: int | None, mtime_ns: int | None, reason: str) -> None:
        self.conn.execute("INSERT INTO ignored(path, size, mtime_ns, reason) VALUES (?,?,?,?) "
                          "ON CONFLICT(path) DO UPDATE SET size=excluded.size, "
                          "mtime_ns=excluded.mtime_ns, reason=excluded.reason",
                          (path_to_db(path), size, mtime_ns, reason))

    def drop_ignored(self, paths: Iterable[str]) -> None:
        self.conn.executemany("DELETE FROM ignored WHERE path = ?", [(path_to_db(p),) for p in paths])

    def set_page_hash(self, book_id: int, index: int, content_hash: str) -> None:
        self.conn.execute("UPDATE pages SET content_hash = ? WHERE book_id = ? AND idx = ?",
                          (content_hash, book_id, index))

    def record_scan(self, started: float, finished: float, scope: str, status: str,
                    counts: dict[str, int]) -> None:
        self.conn.execute(
            "INSERT INTO scans(started, finished, scope, status, added, changed, moved, removed, "
            "unchanged, failed) VALUES (?,?,?,?,?,?,?,?,?,?)",
            (started, finished, scope, status, *(counts.get(k, 0) for k in
                                                 ("added", "changed", "moved", "removed", "unchanged", "failed"))))

    # -- analysis (schema 2): runs, panels, model outputs ---------------------------------------
    def runs(self, book_ids: Iterable[int] | None = None) -> dict[int, dict[str, RunRow]]:
        """``{book_id: {stage: RunRow}}`` for the given books (all books when None)."""
        sql = "SELECT book_id, stage, version, pass, status, content_key, error, finished_at FROM runs"
        if book_ids is None:
            rows = self.conn.execute(sql)
        else:
            ids = list(book_ids)
            rows = []
            for i in range(0, len(ids), 500):
                part = ids[i:i + 500]
                rows.extend(self.conn.execute(
                    f"{sql} WHERE book_id IN ({','.join('?' * len(part))})", part))
        out: dict[int, dict[str, RunRow]] = {}
        for r in rows:
            out.setdefault(r[0], {})[r[1]] = RunRow(r[1], r[2], r[3], r[4], r[5], r[6], r[7])
        return out

    def set_run(self, book_id: int, stage: str, version: str, pass_no: int, status: str,
                content_key: str | None, error: str | None, now: float) -> None:
        self.conn.execute(
            "INSERT INTO runs(book_id, stage, version, pass, status, content_key, error, finished_at) "
            "VALUES (?,?,?,?,?,?,?,?) ON CONFLICT(book_id, stage) DO UPDATE SET "
            "version=excluded.version, pass=excluded.pass, status=excluded.status, "
            "content_key=excluded.content_key, error=excluded.error, finished_at=excluded.finished_at",
            (book_id, stage, version, pass_no, status, content_key, clean_text(error), now))

    def update_decoded_page(self, book_id: int, index: int, *, width: int | None, height: int | None,
                            bad: bool, error: str | None, content_hash: str | None) -> None:
        """What decoding the whole page found out (the scan only read its header)."""
        self.conn.execute(
            "UPDATE pages SET width = coalesce(?, width), height = coalesce(?, height), bad = ?, "
            "error = ?, content_hash = coalesce(?, content_hash) WHERE book_id = ? AND idx = ?",
            (width, height, int(bad), clean_text(error), content_hash, book_id, index))

    def replace_panels(self, book_id: int, panels: dict[int, list[tuple[int, int, int, int]]]) -> None:
        """The panels of the given pages, in reading order (replacing earlier ones). Panel-level
        vector rows of those pages refer to the old panels: they are unmapped too."""
        pages = list(panels)
        self.conn.executemany("DELETE FROM panels WHERE book_id = ? AND page = ?",
                              [(book_id, p) for p in pages])
        self.conn.executemany("DELETE FROM vector_rows WHERE book_id = ? AND page = ? AND panel >= 0",
                              [(book_id, p) for p in pages])
        self.conn.executemany(
            "INSERT INTO panels(book_id, page, idx, x, y, w, h, reading_order) VALUES (?,?,?,?,?,?,?,?)",
            [(book_id, page, i, int(b[0]), int(b[1]), int(b[2]), int(b[3]), i)
             for page, boxes in panels.items() for i, b in enumerate(boxes)])

    def panels(self, book_id: int) -> dict[int, list[tuple[int, int, int, int]]]:
        """``{page: [(x, y, w, h), ...]}`` in reading order, for pages that have panels."""
        out: dict[int, list[tuple[int, int, int, int]]] = {}
        for page, x, y, w, h in self.conn.execute(
                "SELECT page, x, y, w, h FROM panels WHERE book_id = ? ORDER BY page, reading_order",
                (book_id,)):
            out.setdefault(page, []).append((x, y, w, h))
        return out

    def count_panels(self, book_id: int) -> int:
        return self.conn.execute("SELECT count(*) FROM panels WHERE book_id = ?", (book_id,)).fetchone()[0]

    def set_page_output(self, book_id: int, page: int, model_id: str, version: str,
                        label: str | None, probs: dict[str, float] | None, source: str,
                        now: float) -> None:
        self.conn.execute(
            "INSERT INTO page_outputs(book_id, page, model_id, version, label, probs, source, created_at) "
            "VALUES (?,?,?,?,?,?,?,?) ON CONFLICT(book_id, page, model_id) DO UPDATE SET "
            "version=excluded.version, label=excluded.label, probs=excluded.probs, "
            "source=excluded.source, created_at=excluded.created_at",
            (book_id, page, model_id, version, label,
             json.dumps(probs) if probs is not None else None, source, now))

    def page_outputs(self, book_id: int) -> dict[int, list[PageOutput]]:
        """``{page: [PageOutput, ...]}``, newest first."""
        out: dict[int, list[PageOutput]] = {}
        for r in self.conn.execute(
                "SELECT page, model_id, version, label, probs, source, created_at FROM page_outputs "
                "WHERE book_id = ? ORDER BY page, created_at DESC", (book_id,)):
            out.setdefault(r[0], []).append(
                PageOutput(r[1], r[2], r[3], json.loads(r[4]) if r[4] else None, r[5], r[6]))
        return out

    # -- Zarr row mappings (schema 2; used by comicdesk.cache.vectors) -------------------------
    # -- page features and text (schema 3) ------------------------------------------------
    def set_page_hashes(self, book_id: int, hashes: dict[int, tuple[int | None, dict | None]]) -> None:
        """``{page: (phash as signed int64, stats)}`` (keeps the text columns)."""
        self.conn.executemany(
            "INSERT INTO page_features(book_id, page, phash, stats) VALUES (?,?,?,?) "
            "ON CONFLICT(book_id, page) DO UPDATE SET phash=excluded.phash, stats=excluded.stats",
            [(book_id, page, h, json.dumps(st, sort_keys=True) if st is not None else None)
             for page, (h, st) in hashes.items()])

    def page_features(self, book_id: int) -> dict[int, PageFeatures]:
        out = {}
        for page, h, st, n, cov in self.conn.execute(
                "SELECT page, phash, stats, text_count, text_coverage FROM page_features "
                "WHERE book_id = ? ORDER BY page", (book_id,)):
            out[page] = PageFeatures(h, json.loads(st) if st else None, n, cov)
        return out

    def all_page_hashes(self, book_ids: Iterable[int] | None = None, *,
                        min_std: float | None = None) -> list[tuple[int, int, int]]:
        """``(book_id, page, phash)`` of every hashed page of live books (or of these books); with
        ``min_std``, pages whose luminance deviation (``stats.std``) is below it are left out."""
        sql = ("SELECT f.book_id, f.page, f.phash FROM page_features f JOIN books b ON b.id = f.book_id "
               "WHERE f.phash IS NOT NULL AND b.removed_at IS NULL")
        args: list = []
        if min_std is not None:
            sql += (" AND (f.stats IS NULL OR json_extract(f.stats, '$.std') IS NULL"
                    " OR json_extract(f.stats, '$.std') >= ?)")
            args.append(float(min_std))
        if book_ids is None:
            return list(self.conn.execute(sql + " ORDER BY f.book_id, f.page", args))
        ids = list(book_ids)
        out = []
        for i in range(0, len(ids), 500):
            part = ids[i:i + 500]
            out += self.conn.execute(sql + f" AND f.book_id IN ({','.join('?' * len(part))}) "
                                     "ORDER BY f.book_id, f.page", [*args, *part]).fetchall()
        return out

    def replace_text_boxes(self, book_id: int, boxes: dict[int, tuple[list, list[float], float]]) -> None:
        """What text detection found: ``{page: (boxes [(x, y, w, h)] in reading order, scores,
        coverage)}``; drops the pages' earlier lines (and their text)."""
        pages = list(boxes)
        self.conn.executemany("DELETE FROM text_lines WHERE book_id = ? AND page = ?",
                              [(book_id, p) for p in pages])
        self.conn.executemany(
            "INSERT INTO text_lines(book_id, page, idx, x, y, w, h, score) VALUES (?,?,?,?,?,?,?,?)",
            [(book_id, page, i, int(b[0]), int(b[1]), int(b[2]), int(b[3]), float(sc))
             for page, (bxs, scores, _) in boxes.items() for i, (b, sc) in enumerate(zip(bxs, scores))])
        self.conn.executemany(
            "INSERT INTO page_features(book_id, page, text_count, text_coverage) VALUES (?,?,?,?) "
            "ON CONFLICT(book_id, page) DO UPDATE SET text_count=excluded.text_count, "
            "text_coverage=excluded.text_coverage",
            [(book_id, page, len(bxs), float(cov)) for page, (bxs, _, cov) in boxes.items()])

    def set_text(self, book_id: int, lines: dict[int, list[tuple[int, str | None, float | None, int]]]) -> None:
        """Recognised text: ``{page: [(line idx, text, confidence, panel), ...]}`` (a line
        recognition skipped or dropped gets text NULL)."""
        self.conn.executemany(
            "UPDATE text_lines SET text = NULL, conf = NULL WHERE book_id = ? AND page = ?",
            [(book_id, p) for p in lines])
        self.conn.executemany(
            "UPDATE text_lines SET text = ?, conf = ?, panel = ? WHERE book_id = ? AND page = ? AND idx = ?",
            [(clean_text(t), c, int(panel), book_id, page, int(i))
             for page, rows in lines.items() for i, t, c, panel in rows])

    def text_lines(self, book_id: int) -> dict[int, list[TextLineRow]]:
        """``{page: [TextLineRow, ...]}`` in reading order, for pages with detected text."""
        out: dict[int, list[TextLineRow]] = {}
        for page, i, x, y, w, h, sc, panel, text, conf in self.conn.execute(
                "SELECT page, idx, x, y, w, h, score, panel, text, conf FROM text_lines "
                "WHERE book_id = ? ORDER BY page, idx", (book_id,)):
            out.setdefault(page, []).append(TextLineRow(i, (x, y, w, h), sc, panel, text, conf))
        return out

    def search_text(self, query: str, *, limit: int = 100) -> list[tuple[int, int, str]]:
        """Pages whose recognised text contains every word of ``query`` (case-insensitive):
        ``(book_id, page, page text)``, live books only."""
        words = [w for w in query.split() if w]
        if not words:
            return []
        having = " AND ".join("instr(lower(t), ?) > 0" for _ in words)
        sql = ("SELECT l.book_id, l.page, group_concat(l.text, ' ') AS t FROM "
               "(SELECT book_id, page, text FROM text_lines WHERE text IS NOT NULL ORDER BY book_id, page, idx) l "
               "JOIN books b ON b.id = l.book_id WHERE b.removed_at IS NULL "
               f"GROUP BY l.book_id, l.page HAVING {having} LIMIT ?")
        return list(self.conn.execute(sql, [*(w.casefold() for w in words), limit]))

    def vector_arrays(self) -> dict[tuple[str, str], VectorArrayRow]:
        return {(r[0], r[1]): VectorArrayRow(r[0], r[1], r[2], r[3], r[4], r[5], bool(r[6]))
                for r in self.conn.execute("SELECT model_id, array, generation, length, dims, dtype, "
                                           "normalised FROM vector_arrays")}

    def vector_array(self, model_id: str, array: str) -> VectorArrayRow | None:
        r = self.conn.execute(
            "SELECT model_id, array, generation, length, dims, dtype, normalised FROM vector_arrays "
            "WHERE model_id = ? AND array = ?", (model_id, array)).fetchone()
        return VectorArrayRow(r[0], r[1], r[2], r[3], r[4], r[5], bool(r[6])) if r else None

    def add_vector_array(self, model_id: str, array: str, dims: int, dtype: str, normalised: bool) -> None:
        self.conn.execute(
            "INSERT OR IGNORE INTO vector_arrays(model_id, array, generation, length, dims, dtype, "
            "normalised) VALUES (?,?,0,0,?,?,?)", (model_id, array, dims, dtype, int(normalised)))

    def set_vector_array(self, model_id: str, array: str, *, generation: int, length: int) -> None:
        self.conn.execute("UPDATE vector_arrays SET generation = ?, length = ? "
                          "WHERE model_id = ? AND array = ?", (generation, length, model_id, array))

    def extend_vector_array(self, model_id: str, array: str, length: int) -> None:
        """Rows below ``length`` are committed (mapped or garbage); later writes start past them."""
        self.conn.execute("UPDATE vector_arrays SET length = max(length, ?) WHERE model_id = ? AND array = ?",
                          (length, model_id, array))

    def map_vector_rows(self, model_id: str, array: str, generation: int,
                        rows: Iterable[tuple[int, int, int, int]]) -> None:
        """``rows``: ``(book_id, page, panel, row)``; panel -1 for a page-level row. A key mapped
        before now points at its new row (the old row becomes garbage)."""
        self.conn.executemany(
            "INSERT INTO vector_rows(model_id, array, book_id, page, panel, row, generation) "
            "VALUES (?,?,?,?,?,?,?) ON CONFLICT(model_id, array, book_id, page, panel) DO UPDATE SET "
            "row=excluded.row, generation=excluded.generation",
            [(model_id, array, b, p, n, r, generation) for b, p, n, r in rows])

    def vector_rows(self, model_id: str, array: str, *, book_ids: Iterable[int] | None = None,
                    include_removed: bool = False) -> list[tuple[int, int, int, int]]:
        """``(book_id, page, panel, row)`` of mapped rows, in row order. Rows of removed (tombstoned)
        books are left out unless ``include_removed``."""
        sql = ("SELECT v.book_id, v.page, v.panel, v.row FROM vector_rows v JOIN books b ON b.id = v.book_id "
               "WHERE v.model_id = ? AND v.array = ?")
        params: list = [model_id, array]
        if not include_removed:
            sql += " AND b.removed_at IS NULL"
        if book_ids is not None:
            ids = list(book_ids)
            sql += f" AND v.book_id IN ({','.join('?' * len(ids)) or 'NULL'})"
            params.extend(ids)
        return [tuple(r) for r in self.conn.execute(sql + " ORDER BY v.row", params)]

    def delete_vector_rows(self, book_ids: Iterable[int], model_id: str | None = None,
                           array: str | None = None) -> int:
        sql = "DELETE FROM vector_rows WHERE book_id = ?"
        extra: tuple = ()
        if model_id is not None:
            sql += " AND model_id = ?"
            extra += (model_id,)
        if array is not None:
            sql += " AND array = ?"
            extra += (array,)
        n = 0
        for b in book_ids:
            n += self.conn.execute(sql, (b, *extra)).rowcount
        return n

    def remap_vector_rows(self, model_id: str, array: str, generation: int,
                          moves: Iterable[tuple[int, int]]) -> None:
        """After a compaction: every mapped row ``old`` is now row ``new`` of ``generation``."""
        self.conn.executemany(
            "UPDATE vector_rows SET row = ?, generation = ? WHERE model_id = ? AND array = ? AND row = ?",
            [(new, generation, model_id, array, old) for old, new in moves])

    # -- helpers ----------------------------------------------------------------------------
    @staticmethod
    def _book_values(row: BookRow) -> tuple:
        return (path_to_db(row.path), row.content_key, row.format, row.size, row.mtime_ns, row.pages,
                clean_text(row.title), clean_text(row.series), clean_text(row.number),
                _json_list(row.authors), clean_text(row.error), row.error_kind, row.calibre_id,
                path_to_db(row.cover_path) if row.cover_path else None,
                json.dumps(row.comicinfo) if row.comicinfo else None, _json_list(row.warnings))

    def _insert_pages(self, book_id: int, pages: Iterable[PageRow] | None) -> None:
        if not pages:
            return
        self.conn.executemany(
            "INSERT INTO pages(book_id, idx, name, bytes, width, height, format, bad, error) "
            "VALUES (?,?,?,?,?,?,?,?,?)",
            [(book_id, p.index, clean_text(p.name), p.bytes, p.width, p.height, p.format, int(p.bad),
              clean_text(p.error)) for p in pages])


def _json_list(items: list[str]) -> str:
    return json.dumps([clean_text(i) for i in items], ensure_ascii=False)
