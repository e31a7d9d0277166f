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

Schema version 4 makes the analysis rows small (see :func:`_v4`): ``vector_rows`` refer to
their array by an integer id, ``text_lines`` holds one packed row per page, and probabilities
over the nine page classes are stored as a list.

Analysis hangs off the book row, which a move or a touch keeps, and which a content change
replaces.

One process writes a catalogue at a time (:mod:`comicdesk.library.lock`); readers open it with
``readonly=True`` and, thanks to WAL mode, never block the writer or each other.
"""

from __future__ import annotations

import json
import sqlite3
import struct
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable

from comicdesk.core.errors import flat
from comicdesk.core.pages import PAGE_CLASSES
from comicdesk.library import db
from comicdesk.library.db import clean_text, path_from_db, path_to_db

CATALOG_FILE = "catalog.sqlite"
TOMBSTONE_DAYS = 30
#: Left beside the catalogue by whoever met a damage error in it: the next writer moves it aside.
DAMAGE_NOTE = "catalog.damaged"


def new_cache_id() -> str:
    import uuid

    return uuid.uuid4().hex


def _file_stamp(path: Path) -> str:
    try:
        st = path.stat()
    except OSError:
        return "-"
    return f"{st.st_size}:{st.st_mtime_ns}"


def _read_note(path: Path, catalogue: Path) -> str | None:
    """The reason in a damage note, or None when the note is about another file than the one
    there now (the person put back a copy): then the note is stale and dropped when we can."""
    try:
        lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError:
        return None
    if len(lines) >= 2 and lines[1].strip() != _file_stamp(catalogue):
        try:
            path.unlink()
        except OSError:
            pass
        return None
    return flat(lines[0] if lines else "")[:200] or "damaged"


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


def _v4(conn: sqlite3.Connection) -> None:
    """Smaller analysis rows (a large library stores millions of them):

    - ``vector_arrays`` gets an integer ``id``; ``vector_rows`` refers to its array by that id
      and is keyed ``(book_id, page, array_id, panel)`` — the key also serves the cascade from
      ``pages`` — with one index ``(array_id, row)``.
    - ``text_lines`` holds one row per page: ``lines`` packs every line's box, detection score,
      panel and recognition confidence (:func:`_pack_lines`), ``text`` the recognised lines joined
      by newlines (NULL until one is read), searched directly.
    - ``page_outputs.probs`` becomes a JSON list in :data:`PAGE_CLASSES` order when the model
      gives exactly those classes (a ``{class: p}`` object otherwise); ``page_features.stats`` a
      list in :data:`STATS_NAMES` order when it has exactly those statistics.
    """
    db.run_script(conn, """
        CREATE TABLE vector_arrays4 (
            id         INTEGER PRIMARY KEY,
            model_id   TEXT NOT NULL,
            array      TEXT NOT NULL,
            generation INTEGER NOT NULL DEFAULT 0,
            length     INTEGER NOT NULL DEFAULT 0,
            dims       INTEGER NOT NULL,
            dtype      TEXT NOT NULL,
            normalised INTEGER NOT NULL DEFAULT 0,
            UNIQUE (model_id, array)
        );
        INSERT INTO vector_arrays4(model_id, array, generation, length, dims, dtype, normalised)
            SELECT model_id, array, generation, length, dims, dtype, normalised FROM vector_arrays
            ORDER BY model_id, array;
        CREATE TABLE vector_rows4 (
            book_id    INTEGER NOT NULL,
            page       INTEGER NOT NULL,
            array_id   INTEGER NOT NULL,
            panel      INTEGER NOT NULL DEFAULT -1,
            row        INTEGER NOT NULL,
            generation INTEGER NOT NULL,
            PRIMARY KEY (book_id, page, array_id, panel),
            FOREIGN KEY (book_id, page) REFERENCES pages(book_id, idx) ON DELETE CASCADE
        ) WITHOUT ROWID;
        INSERT INTO vector_rows4(book_id, page, array_id, panel, row, generation)
            SELECT v.book_id, v.page, a.id, v.panel, v.row, v.generation
            FROM vector_rows v JOIN vector_arrays4 a ON a.model_id = v.model_id AND a.array = v.array;
        DROP TABLE vector_rows;
        DROP TABLE vector_arrays;
        ALTER TABLE vector_arrays4 RENAME TO vector_arrays;
        ALTER TABLE vector_rows4 RENAME TO vector_rows;
        CREATE INDEX vector_rows_row ON vector_rows(array_id, row);
        CREATE TABLE text_lines4 (
            book_id INTEGER NOT NULL,
            page    INTEGER NOT NULL,
            lines   BLOB NOT NULL,
            text    TEXT,
            PRIMARY KEY (book_id, page),
            FOREIGN KEY (book_id, page) REFERENCES pages(book_id, idx) ON DELETE CASCADE
        ) WITHOUT ROWID;
        """)
    pages: dict[tuple[int, int], list[TextLineRow]] = {}
    for b, page, i, x, y, w, h, sc, panel, text, conf in conn.execute(
            "SELECT book_id, page, idx, x, y, w, h, score, panel, text, conf FROM text_lines "
            "ORDER BY book_id, page, idx"):
        pages.setdefault((b, page), []).append(TextLineRow(i, (x, y, w, h), sc, panel, text, conf))
    conn.executemany("INSERT INTO text_lines4(book_id, page, lines, text) VALUES (?,?,?,?)",
                     [(b, page, _pack_lines(rows), _joined_text(rows)) for (b, page), rows in pages.items()])
    db.run_script(conn, """
        DROP TABLE text_lines;
        ALTER TABLE text_lines4 RENAME TO text_lines;
        """)
    conn.executemany("UPDATE page_features SET stats = ? WHERE book_id = ? AND page = ?",
                     [(_stats_to_db(json.loads(st)), b, page) for b, page, st in conn.execute(
                         "SELECT book_id, page, stats FROM page_features WHERE stats IS NOT NULL").fetchall()])
    conn.executemany("UPDATE page_outputs SET probs = ? WHERE book_id = ? AND page = ? AND model_id = ?",
                     [(_probs_to_db(json.loads(p)), b, page, m) for b, page, m, p in conn.execute(
                         "SELECT book_id, page, model_id, probs FROM page_outputs WHERE probs IS NOT NULL"
                     ).fetchall()])


#: Ordered schema migrations; index i turns version i into version i + 1. Append only.
MIGRATIONS: list[db.Migration] = [_v1, _v2, _v3, _v4]

# -- compact encodings of schema 4 -------------------------------------------------------------
# A page's text lines: one format byte, then per line x, y, w, h (uint16, or uint32 when a
# coordinate does not fit: format 2), the detection score and the recognition confidence as
# uint16 in units of 1e-4 (the stages round both to four decimals; 0xFFFF: not recognised) and
# the panel (int16, -1: none).
_LINE_FORMATS = {1: struct.Struct("<4HHHh"), 2: struct.Struct("<4IHHh")}
_NO_CONF = 0xFFFF


def _unit(value: float) -> int:
    return min(10000, max(0, round(float(value) * 10000)))


def _pack_lines(rows: list[TextLineRow]) -> bytes:
    big = any(v > 0xFFFF or v < 0 for r in rows for v in r.box)
    fmt = 2 if big else 1
    st = _LINE_FORMATS[fmt]
    out = bytearray([fmt])
    for r in rows:
        conf = _NO_CONF if r.text is None else (_unit(r.conf) if r.conf is not None else 0)
        box = [max(0, int(v)) for v in r.box]
        out += st.pack(*box, _unit(r.score), conf, max(-1, min(0x7FFF, int(r.panel))))
    return bytes(out)


def _unpack_lines(blob: bytes, text: str | None) -> list[TextLineRow]:
    if not blob:
        return []
    st = _LINE_FORMATS.get(blob[0])
    if st is None:
        raise ValueError(f"unknown text line format {blob[0]}")
    texts = text.split("\n") if text is not None else []
    out = []
    for i, (x, y, w, h, score, conf, panel) in enumerate(st.iter_unpack(blob[1:])):
        read = conf != _NO_CONF
        out.append(TextLineRow(i, (x, y, w, h), score / 10000, panel,
                               (texts[i] if i < len(texts) else "") if read else None,
                               conf / 10000 if read else None))
    return out


def _joined_text(rows: list[TextLineRow]) -> str | None:
    """The page's recognised lines joined by newlines (an unread line is an empty line); None
    when no line was read."""
    if all(r.text is None for r in rows):
        return None
    return "\n".join(clean_text((r.text or "").replace("\n", " ").replace("\r", " ")) for r in rows)


#: The standard profile's image statistics (:data:`comicdesk.ml.page_stats.NAMES`), the order
#: ``page_features.stats`` lists them in.
STATS_NAMES: tuple[str, ...] = ("mean", "std", "white", "dark", "saturation", "colourfulness", "colours",
                                "edges", "entropy", "aspect")
_STD_AT = STATS_NAMES.index("std")


def _stats_to_db(stats: dict[str, float] | None) -> str | None:
    if stats is None:
        return None
    if len(stats) == len(STATS_NAMES) and set(stats) == set(STATS_NAMES):
        return json.dumps([stats[k] for k in STATS_NAMES], separators=(",", ":"))
    return json.dumps(stats, sort_keys=True, separators=(",", ":"))


def _stats_from_db(value: str | None) -> dict[str, float] | None:
    if not value:
        return None
    data = json.loads(value)
    return dict(zip(STATS_NAMES, data)) if isinstance(data, list) else data


def _probs_to_db(probs: dict[str, float] | None) -> str | None:
    if probs is None:
        return None
    if len(probs) == len(PAGE_CLASSES) and set(probs) == set(PAGE_CLASSES):
        return json.dumps([probs[c] for c in PAGE_CLASSES], separators=(",", ":"))
    return json.dumps(probs, separators=(",", ":"))


def _probs_from_db(value: str | None) -> dict[str, float] | None:
    if not value:
        return None
    data = json.loads(value)
    return dict(zip(PAGE_CLASSES, data)) if isinstance(data, list) else data


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


def _upgrade_for_reader(path: Path) -> None:
    """Migrate an older catalogue a reader found, taking the library lock without waiting (a
    writer holding it has upgraded the catalogue already, or is an older comicdesk)."""
    from comicdesk.library.errors import CatalogBeingUpgraded, CatalogError, LibraryBusy
    from comicdesk.library.lock import LibraryLock

    try:
        with LibraryLock(path.parent, timeout=0):
            conn = db.connect(path)
            try:
                db.migrate(conn, MIGRATIONS, "the catalogue")
            finally:
                conn.close()
    except LibraryBusy:
        raise CatalogBeingUpgraded(f"the cache in {path.parent} is from an older comicdesk and another process is "
                           f"writing it; try again when it has finished") from None
    except (OSError, sqlite3.Error) as exc:
        raise CatalogError(f"the cache in {path.parent} is from an older comicdesk and cannot be updated "
                           f"here ({exc}); run comicdesk index on the library") from None


class Catalog:
    """A connection to one library's catalogue. Writers must hold the library lock. A reader that
    finds a catalogue written by an older comicdesk upgrades it first (:func:`_upgrade_for_reader`).

    Damage (``docs/library.md``, "A damaged cache"): a writer that cannot open the file, finds
    the note a reader or an earlier writer left after a damage error (:data:`DAMAGE_NOTE`), or is
    asked to ``check`` it (``PRAGMA quick_check``, during ``comicdesk index``) and finds it damaged,
    moves it aside to ``catalog.sqlite.damaged-<time>`` and starts a new one, which the scan that
    opened it fills again (the analysis is lost with it: the library is analysed again). A reader
    raises :class:`~comicdesk.library.db.DatabaseDamaged` with one line and leaves the note.

    ``cache_id`` (meta) is the identity of this catalogue, made when it is created (or, for a
    catalogue from before, by the first writer): the vector store's arrays and the search indexes
    record it, so files made for another catalogue are never taken for this one's."""

    def __init__(self, path: Path, *, readonly: bool = False, check: bool = False):
        self.path = Path(path)
        self.readonly = readonly
        if readonly:
            self._open_reader()
        else:
            self._open_writer(check)

    def _open_reader(self) -> None:
        note = self.path.with_name(DAMAGE_NOTE)
        if note.exists() and self.path.exists():
            reason = _read_note(note, self.path)
            if reason is not None:
                raise db.DatabaseDamaged(self._damage_line(reason))
        self.conn = db.connect(self.path, readonly=True, on_damage=self._on_damage)
        try:
            current = db.check_version(self.conn, MIGRATIONS, "the catalogue")
            if 0 < current < len(MIGRATIONS):
                # Written by an older comicdesk and no writer has opened it since (a writer
                # upgrades on open): bring it up to date under the library lock, then read.
                self.conn.close()
                _upgrade_for_reader(self.path)
                self.conn = db.connect(self.path, readonly=True, on_damage=self._on_damage)
                db.check_version(self.conn, MIGRATIONS, "the catalogue")
        except BaseException:
            self.conn.close()
            raise

    def _open_writer(self, check: bool) -> None:
        note = self.path.with_name(DAMAGE_NOTE)
        self.conn = None
        try:
            reason = _read_note(note, self.path) if note.exists() else None
            if reason is not None:
                raise db.DatabaseDamaged(reason)
            self.conn = db.connect(self.path, on_damage=self._on_damage)
            db.migrate(self.conn, MIGRATIONS, "the catalogue")
            if check:
                problem = db.quick_check(self.conn)
                if problem is not None:
                    raise db.DatabaseDamaged(problem)
        except db.DatabaseDamaged as exc:
            if self.conn is not None:
                self.conn.close()
            self._start_again(self._last_reason or exc.reason)
        except BaseException:
            if self.conn is not None:
                self.conn.close()
            raise
        try:
            if self.get_meta("cache_id") is None:
                with self.transaction():
                    self.conn.execute("INSERT OR IGNORE INTO meta(key, value) VALUES ('cache_id', ?)",
                                      (new_cache_id(),))
        except BaseException:
            self.conn.close()
            raise

    def _start_again(self, reason: str) -> None:
        """Move the damaged file aside and open a new, empty catalogue in its place."""
        aside = db.move_aside(self.path)
        self.path.with_name(DAMAGE_NOTE).unlink(missing_ok=True)
        self.conn = db.connect(self.path, on_damage=self._on_damage)
        try:
            db.migrate(self.conn, MIGRATIONS, "the catalogue")
        except BaseException:
            self.conn.close()
            raise
        self.rebuilt_from = aside
        db.HEALTH.warning(f"the catalogue {self.path} was damaged ({reason}): moved it aside to "
                          f"{aside.name} and started a new one; the library will be analysed again")

    #: The file a damaged catalogue was moved aside to, when this open did that.
    rebuilt_from: Path | None = None
    _last_reason: str | None = None

    def _damage_line(self, reason: str) -> str:
        return (f"the catalogue {self.path} is damaged ({reason}); run comicdesk index on the "
                f"library to rebuild it (it will be analysed again)")

    def _on_damage(self, exc: BaseException) -> str:
        """A damage error on this connection: leave a note for the next writer (which moves the
        file aside), and the one line to say."""
        reason = self._last_reason = flat(exc)[:200]
        try:
            self.path.with_name(DAMAGE_NOTE).write_text(f"{reason}\n{_file_stamp(self.path)}\n",
                                                        encoding="utf-8")
        except OSError:
            pass  # a read-only cache: the next index's check finds it
        return self._damage_line(reason)

    @classmethod
    def open(cls, cache_dir: Path, *, readonly: bool = False, check: bool = False) -> "Catalog":
        """``check``: a writer runs ``PRAGMA quick_check`` first (seconds on a large catalogue:
        ``comicdesk index`` asks for it, other opens do not) and starts again when it fails."""
        return cls(Path(cache_dir) / CATALOG_FILE, readonly=readonly, check=check)

    @property
    def cache_id(self) -> str | None:
        return self.get_meta("cache_id")

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

    def book_extras(self):
        """``(book_id, added_at, content hash of page 0)`` of every live book, one query, rows as
        they are read (the app's grid: when a book came, the key of its cover's thumbnail)."""
        return self.conn.execute(
            "SELECT b.id, b.added_at, p.content_hash FROM books b LEFT JOIN pages p "
            "ON p.book_id = b.id AND p.idx = 0 WHERE b.removed_at IS NULL")

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
            (started, finished, clean_text(scope), status, *(counts.get(k, 0) for k in
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

    def forget_runs(self, book_ids: Iterable[int], stages: Iterable[str] | None = None) -> None:
        """These books count as not analysed by these stages (all when None): their vectors were
        damaged, so the next run does that work again."""
        if stages is None:
            self.conn.executemany("DELETE FROM runs WHERE book_id = ?", [(int(b),) for b in book_ids])
            return
        self.conn.executemany("DELETE FROM runs WHERE book_id = ? AND stage = ?",
                              [(int(b), s) for b in book_ids for s in stages])

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
             _probs_to_db(probs), source, now))

    def page_outputs(self, book_id: int) -> dict[int, list[PageOutput]]:
        """``{page: [PageOutput, ...]}``, newest first."""
        out: dict[int, list[PageOutput]] = {}
        for r in self.conn.execute(
                "SELECT page, model_id, version, label, probs, source, created_at FROM page_outputs "
                "WHERE book_id = ? ORDER BY page, created_at DESC", (book_id,)):
            out.setdefault(r[0], []).append(
                PageOutput(r[1], r[2], r[3], _probs_from_db(r[4]), r[5], r[6]))
        return out

    # -- Zarr row mappings (schema 2; used by comicdesk.cache.vectors) -------------------------
    # -- page features and text (schema 3) ------------------------------------------------
    def set_page_hashes(self, book_id: int, hashes: dict[int, tuple[int | None, dict | None]]) -> None:
        """``{page: (phash as signed int64, stats)}`` (keeps the text columns)."""
        self.conn.executemany(
            "INSERT INTO page_features(book_id, page, phash, stats) VALUES (?,?,?,?) "
            "ON CONFLICT(book_id, page) DO UPDATE SET phash=excluded.phash, stats=excluded.stats",
            [(book_id, page, h, _stats_to_db(st))
             for page, (h, st) in hashes.items()])

    def page_features(self, book_id: int) -> dict[int, PageFeatures]:
        out = {}
        for page, h, st, n, cov in self.conn.execute(
                "SELECT page, phash, stats, text_count, text_coverage FROM page_features "
                "WHERE book_id = ? ORDER BY page", (book_id,)):
            out[page] = PageFeatures(h, _stats_from_db(st), n, cov)
        return out

    def all_page_hashes(self, book_ids: Iterable[int] | None = None, *,
                        min_std: float | None = None) -> list[tuple[int, int, int]]:
        """``(book_id, page, phash)`` of every hashed page of live books (or of these books); with
        ``min_std``, pages whose luminance deviation (``stats.std``) is below it are left out."""
        sql = ("SELECT f.book_id, f.page, f.phash FROM page_features f JOIN books b ON b.id = f.book_id "
               "WHERE f.phash IS NOT NULL AND b.removed_at IS NULL")
        args: list = []
        if min_std is not None:
            std = f"coalesce(json_extract(f.stats, '$.std'), json_extract(f.stats, '$[{_STD_AT}]'))"
            sql += f" AND (f.stats IS NULL OR {std} IS NULL OR {std} >= ?)"
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
        self.conn.executemany(
            "INSERT INTO text_lines(book_id, page, lines, text) VALUES (?,?,?,NULL) "
            "ON CONFLICT(book_id, page) DO UPDATE SET lines=excluded.lines, text=NULL",
            [(book_id, page, _pack_lines([TextLineRow(i, tuple(int(v) for v in b), float(sc), -1, None, None)
                                          for i, (b, sc) in enumerate(zip(bxs, scores))]))
             for page, (bxs, scores, _) in boxes.items()])
        self.conn.executemany(
            "INSERT INTO page_features(book_id, page, text_count, text_coverage) VALUES (?,?,?,?) "
            "ON CONFLICT(book_id, page) DO UPDATE SET text_count=excluded.text_count, "
            "text_coverage=excluded.text_coverage",
            [(book_id, page, len(bxs), float(cov)) for page, (bxs, _, cov) in boxes.items()])

    def set_text(self, book_id: int, lines: dict[int, list[tuple[int, str | None, float | None, int]]]) -> None:
        """Recognised text: ``{page: [(line idx, text, confidence, panel), ...]}`` (a line
        recognition skipped or dropped gets text NULL; lines not listed too)."""
        stored = self.text_lines(book_id)
        updates = []
        for page, rows in lines.items():
            old = stored.get(page)
            if old is None:
                continue
            new = {int(i): (t, c, int(panel)) for i, t, c, panel in rows}
            merged = []
            for r in old:
                t, c, panel = new.get(r.index, (None, None, r.panel))
                merged.append(TextLineRow(r.index, r.box, r.score, panel,
                                          clean_text(t) if t is not None else None, c if t is not None else None))
            updates.append((_pack_lines(merged), _joined_text(merged), book_id, page))
        self.conn.executemany("UPDATE text_lines SET lines = ?, text = ? WHERE book_id = ? AND page = ?", updates)

    def text_lines(self, book_id: int) -> dict[int, list[TextLineRow]]:
        """``{page: [TextLineRow, ...]}`` in reading order, for pages with detected text."""
        out: dict[int, list[TextLineRow]] = {}
        for page, blob, text in self.conn.execute(
                "SELECT page, lines, text FROM text_lines WHERE book_id = ? ORDER BY page", (book_id,)):
            rows = _unpack_lines(blob, text)
            if rows:
                out[page] = rows
        return out

    def search_text(self, query: str, *, limit: int = 100) -> list[tuple[int, int, str]]:
        """Pages whose recognised text contains every word of ``query`` (case-insensitive):
        ``(book_id, page, page text)``, live books only."""
        words = [w for w in query.split() if w]
        if not words:
            return []
        where = " AND ".join("instr(lower(t.text), ?) > 0" for _ in words)
        sql = ("SELECT t.book_id, t.page, t.text FROM text_lines t JOIN books b ON b.id = t.book_id "
               f"WHERE t.text IS NOT NULL AND b.removed_at IS NULL AND {where} "
               "ORDER BY t.book_id, t.page LIMIT ?")
        return [(b, page, " ".join(line for line in text.split("\n") if line))
                for b, page, text in self.conn.execute(sql, [*(w.casefold() for w in words), limit])]

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

    def _array_id(self, model_id: str, array: str) -> int | None:
        r = self.conn.execute("SELECT id FROM vector_arrays WHERE model_id = ? AND array = ?",
                              (model_id, array)).fetchone()
        return r[0] if r else None

    def map_vector_rows(self, model_id: str, array: str, generation: int,
                        rows: Iterable[tuple[int, int, int, int]]) -> None:
        """``rows``: ``(book_id, page, panel, row)``; panel -1 for a page-level row. A key mapped
        before now points at its new row (the old row becomes garbage)."""
        aid = self._array_id(model_id, array)
        if aid is None:
            raise KeyError(f"no array {model_id}/{array} in the catalogue")
        self.conn.executemany(
            "INSERT INTO vector_rows(book_id, page, array_id, panel, row, generation) "
            "VALUES (?,?,?,?,?,?) ON CONFLICT(book_id, page, array_id, panel) DO UPDATE SET "
            "row=excluded.row, generation=excluded.generation",
            [(b, p, aid, n, r, generation) for b, p, n, r in rows])

    def vector_rows(self, model_id: str, array: str, *, book_ids: Iterable[int] | None = None,
                    include_removed: bool = False) -> list[tuple[int, int, int, int]]:
        """``(book_id, page, panel, row)`` of mapped rows, in row order. Rows of removed (tombstoned)
        books are left out unless ``include_removed``."""
        aid = self._array_id(model_id, array)
        if aid is None:
            return []
        sql = ("SELECT v.book_id, v.page, v.panel, v.row FROM vector_rows v JOIN books b ON b.id = v.book_id "
               "WHERE v.array_id = ?")
        params: list = [aid]
        if not include_removed:
            sql += " AND b.removed_at IS NULL"
        if book_ids is not None:
            ids = list(book_ids)
            sql += f" AND v.book_id IN ({','.join('?' * len(ids)) or 'NULL'})"
            params.extend(ids)
        return [tuple(r) for r in self.conn.execute(sql + " ORDER BY v.row", params)]

    def vector_row_chunks(self, model_id: str, array: str, chunk_rows: int) -> list[int]:
        """The row chunks (``row // chunk_rows``) holding mapped rows (removed books' too), for
        checking that their files exist without reading every mapping into Python."""
        aid = self._array_id(model_id, array)
        if aid is None:
            return []
        return [r[0] for r in self.conn.execute(
            "SELECT DISTINCT row / ? FROM vector_rows WHERE array_id = ? ORDER BY 1", (int(chunk_rows), aid))]

    def vector_max_row(self, model_id: str, array: str) -> int | None:
        aid = self._array_id(model_id, array)
        if aid is None:
            return None
        return self.conn.execute("SELECT max(row) FROM vector_rows WHERE array_id = ?", (aid,)).fetchone()[0]

    def vector_books_in_rows(self, model_id: str, array: str, spans: Iterable[tuple[int, int]]) -> set[int]:
        """Books with a mapped row in ``[start, end)`` of any span (removed books too)."""
        aid = self._array_id(model_id, array)
        if aid is None:
            return set()
        out: set[int] = set()
        for start, end in spans:
            out.update(r[0] for r in self.conn.execute(
                "SELECT DISTINCT book_id FROM vector_rows WHERE array_id = ? AND row >= ? AND row < ?",
                (aid, int(start), int(end))))
        return out

    def count_vector_rows(self, model_id: str, array: str) -> int:
        """Mapped rows of an array (removed books' too)."""
        return self.conn.execute(
            "SELECT count(*) FROM vector_rows v JOIN vector_arrays a ON a.id = v.array_id "
            "WHERE a.model_id = ? AND a.array = ?", (model_id, array)).fetchone()[0]

    def delete_vector_rows(self, book_ids: Iterable[int], model_id: str | None = None,
                           array: str | None = None, *, pages: Iterable[int] | None = None) -> int:
        sql = "DELETE FROM vector_rows WHERE book_id = ?"
        extra: tuple = ()
        if pages is not None:
            wanted = [int(p) for p in pages]
            if not wanted:
                return 0
            sql += f" AND page IN ({','.join(map(str, wanted))})"
        if model_id is not None or array is not None:
            ids = [r[0] for r in self.conn.execute(
                "SELECT id FROM vector_arrays WHERE (? IS NULL OR model_id = ?) AND (? IS NULL OR array = ?)",
                (model_id, model_id, array, array))]
            if not ids:
                return 0
            sql += f" AND array_id IN ({','.join('?' * len(ids))})"
            extra = tuple(ids)
        n = 0
        for b in book_ids:
            n += self.conn.execute(sql, (b, *extra)).rowcount
        return n

    def remap_vector_rows(self, model_id: str, array: str, generation: int,
                          moves: Iterable[tuple[int, int]]) -> None:
        """After a compaction: every mapped row ``old`` is now row ``new`` of ``generation``."""
        aid = self._array_id(model_id, array)
        if aid is None:
            return
        self.conn.executemany(
            "UPDATE vector_rows SET row = ?, generation = ? WHERE array_id = ? AND row = ?",
            [(new, generation, aid, old) for old, new in moves])

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
