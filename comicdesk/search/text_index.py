"""Exact word search over the recognised text of a library: an SQLite FTS5 index kept beside the
catalogue (``<cache dir>/index/text.sqlite``).

What is indexed: for every page with recognised text (pass 2 of the analysis), one document per
panel (the lines that fall in that panel) and one for the whole page (every line). A query's words
must all be in one document: a panel whose own text holds them is the answer, else the page
whose text holds them. Matching is FTS5's ``unicode61`` tokenizer with ``remove_diacritics 2``:
whole words (word-boundary aware: "cell" does not find "cells"), case- and accent-insensitive
("etude" finds "Étude"). Ranked by BM25.

Who writes: only the holder of the library lock (the runner's after-run hook,
``services.analysis.after_vectors`` → :func:`update_text_index`). A reader checks, per book,
whether the file is current (a stamp of the book's analysis runs); books the file lacks or has
stale are indexed again in memory for that reader (and the file is brought up to date when the
lock can be taken without waiting), so a query never waits for the writer and never misses a
book analysed since the last save.
"""

from __future__ import annotations

import logging
import re
import sqlite3
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger(__name__)

#: The file, inside the library's cache dir.
TEXT_INDEX_FILE = Path("index") / "text.sqlite"
#: Bumped when what is indexed or how changes: an older file is rebuilt.
FORMAT = "text-fts5-v1"
#: ``panel`` of a whole-page document.
PAGE_DOC = -2

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT);
CREATE TABLE IF NOT EXISTS books (book_id INTEGER PRIMARY KEY, stamp TEXT NOT NULL);
CREATE VIRTUAL TABLE IF NOT EXISTS docs USING fts5(
    text, book_id UNINDEXED, page UNINDEXED, panel UNINDEXED,
    tokenize = 'unicode61 remove_diacritics 2');
"""

_WORD = re.compile(r"\w", re.UNICODE)


@dataclass(frozen=True)
class WordHit:
    """A document holding every word of a query: ``panel`` None for a page; ``rank`` BM25 (lower
    is better, negative); ``text`` the document's text (one line)."""

    book_id: int
    page: int
    panel: int | None
    rank: float
    text: str

    @property
    def score(self) -> float:
        """The BM25 relevance mapped into 0..1 (higher is better): |bm25| / (1 + |bm25|)."""
        r = abs(self.rank)
        return r / (1.0 + r)


def fts_query(query: str) -> str | None:
    """Every word of ``query`` as an FTS5 phrase, all required; None when it has no word."""
    words = [w for w in query.split() if _WORD.search(w)]
    if not words:
        return None
    return " AND ".join('"' + w.replace('"', '""') + '"' for w in words)


def book_stamps(catalog, book_ids=None) -> dict[int, str]:
    """Per live book: a stamp that changes whenever its analysis is written again (stages,
    versions, passes and finish times of its runs; "-" before any run) or the book changes."""
    live = {b.id: b for b in catalog.all_books()}
    runs = catalog.runs(book_ids)
    out = {}
    for book_id, row in live.items():
        if book_ids is not None and book_id not in book_ids:
            continue
        mine = runs.get(book_id) or {}
        out[book_id] = f"{row.content_key}|" + (";".join(
            f"{r.stage}:{r.version}:{r.pass_no}:{r.status}:{r.finished_at:.3f}"
            for _s, r in sorted(mine.items())) or "-")
    return out


def book_docs(catalog, book_id: int) -> list[tuple[str, int, int, int]]:
    """``(text, book_id, page, panel)`` rows of one book: its panels' texts and its pages'."""
    rows = []
    for page, lines in catalog.text_lines(book_id).items():
        read = [ln for ln in lines if ln.text]
        if not read:
            continue
        panels: dict[int, list[str]] = {}
        for ln in read:
            if ln.panel >= 0:
                panels.setdefault(ln.panel, []).append(ln.text)
        for panel, texts in sorted(panels.items()):
            rows.append((" ".join(texts), book_id, page, panel))
        rows.append((" ".join(ln.text for ln in read), book_id, page, PAGE_DOC))
    return rows


def _connect(path: str) -> sqlite3.Connection:
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    conn.executescript(_SCHEMA)
    return conn


class TextIndex:
    """The word index of one library, for readers: the saved file plus, in memory, the books it
    lacks. ``catalog``: an open catalogue (read-only is fine)."""

    def __init__(self, cache_dir: Path, catalog):
        self.cache_dir = Path(cache_dir)
        self.catalog = catalog
        self.path = self.cache_dir / TEXT_INDEX_FILE
        self._file: sqlite3.Connection | None = None
        self._mem: sqlite3.Connection | None = None
        self._mem_stamps: dict[int, str] = {}
        self._stale: set[int] = set()  # books whose rows in the file are not to be trusted

    def close(self) -> None:
        for conn in (self._file, self._mem):
            if conn is not None:
                conn.close()
        self._file = self._mem = None

    # -- keeping current
    def refresh(self) -> None:
        """Compare the file with the catalogue; write it when the lock can be taken at once,
        else index the books it lacks in memory."""
        stamps = book_stamps(self.catalog)
        saved = self._saved_stamps()
        if saved is None or any(saved.get(b) != s for b, s in stamps.items()) or set(saved) - set(stamps):
            if try_update_file(self.cache_dir, self.catalog):
                saved = self._saved_stamps(reopen=True)
        saved = saved or {}
        self._stale = {b for b, s in saved.items() if stamps.get(b) != s}
        missing = {b: s for b, s in stamps.items() if saved.get(b) != s}
        if missing != self._mem_stamps:
            self._index_in_memory(missing)

    def _saved_stamps(self, reopen: bool = False) -> dict[int, str] | None:
        if reopen and self._file is not None:
            self._file.close()
            self._file = None
        if self._file is None:
            if not self.path.is_file():
                return None
            try:
                conn = sqlite3.connect(f"file:{self.path}?mode=ro", uri=True, check_same_thread=False)
                meta = dict(conn.execute("SELECT key, value FROM meta"))
                if meta.get("format") != FORMAT or meta.get("cache_id") != (self.catalog.cache_id or ""):
                    conn.close()
                    return None
                self._file = conn
            except sqlite3.Error as exc:
                log.info("the text index %s is unreadable (%s): indexing in memory", self.path, exc)
                return None
        try:
            return dict(self._file.execute("SELECT book_id, stamp FROM books"))
        except sqlite3.Error:
            return None

    def _index_in_memory(self, books: dict[int, str]) -> None:
        if self._mem is not None:
            self._mem.close()
        self._mem = _connect(":memory:")
        rows = [r for b in books for r in book_docs(self.catalog, b)]
        self._mem.executemany("INSERT INTO docs(text, book_id, page, panel) VALUES (?,?,?,?)", rows)
        self._mem_stamps = dict(books)

    def has_any(self) -> bool:
        """Some page has recognised text (after :meth:`refresh`)."""
        for conn, skip in ((self._file, self._stale | set(self._mem_stamps)), (self._mem, set())):
            if conn is None:
                continue
            for (book_id,) in conn.execute("SELECT DISTINCT book_id FROM docs"):
                if book_id not in skip:
                    return True
        return False

    # -- queries
    def search(self, query: str, limit: int = 100, books: set[int] | None = None) -> list[WordHit]:
        """Panels, else pages, whose text holds every word of ``query``, best first (at most one
        result per panel; a page is a result only when none of its panels holds the words).
        ``books``: only these books (None: all)."""
        match = fts_query(query)
        if match is None:
            return []
        found: list[tuple[float, int, int, int, str]] = []
        for conn, skip in ((self._file, self._stale | set(self._mem_stamps)), (self._mem, set())):
            if conn is None:
                continue
            try:
                rows = conn.execute("SELECT bm25(docs), book_id, page, panel, text FROM docs "
                                    "WHERE docs MATCH ? ORDER BY bm25(docs)", (match,)).fetchall()
            except sqlite3.Error as exc:
                log.info("text query %r failed: %s", query, exc)
                continue
            found += [r for r in rows if r[1] not in skip and (books is None or r[1] in books)]
        found.sort(key=lambda r: r[0])
        with_panel = {(b, p) for _r, b, p, n, _t in found if n != PAGE_DOC}
        out = []
        for rank, b, p, n, text in found:
            if n == PAGE_DOC and (b, p) in with_panel:
                continue
            out.append(WordHit(int(b), int(p), None if n == PAGE_DOC else int(n), float(rank),
                               " ".join(text.split())))
            if len(out) >= limit:
                break
        return out


def write_text_index(cache_dir: Path, catalog) -> int:
    """Bring the saved file up to date with the catalogue (the caller holds the library lock):
    books whose stamp changed are indexed again, removed books dropped. Returns the number of
    books (re)indexed. A file of another format or catalogue is started again."""
    path = Path(cache_dir) / TEXT_INDEX_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    stamps = book_stamps(catalog)
    try:
        conn = _connect(str(path))
        meta = dict(conn.execute("SELECT key, value FROM meta"))
    except sqlite3.DatabaseError:  # not a database any more: start again
        path.unlink(missing_ok=True)
        conn = _connect(str(path))
        meta = {}
    try:
        conn.execute("BEGIN")
        if meta.get("format") != FORMAT or meta.get("cache_id") != (catalog.cache_id or ""):
            conn.execute("DELETE FROM docs")
            conn.execute("DELETE FROM books")
            conn.executemany("INSERT OR REPLACE INTO meta(key, value) VALUES (?,?)",
                             [("format", FORMAT), ("cache_id", catalog.cache_id or "")])
        saved = dict(conn.execute("SELECT book_id, stamp FROM books"))
        gone = [b for b in saved if b not in stamps]
        redo = [b for b, s in stamps.items() if saved.get(b) != s]
        for b in gone + redo:
            conn.execute("DELETE FROM docs WHERE book_id = ?", (b,))
            conn.execute("DELETE FROM books WHERE book_id = ?", (b,))
        for b in redo:
            conn.executemany("INSERT INTO docs(text, book_id, page, panel) VALUES (?,?,?,?)",
                             book_docs(catalog, b))
            conn.execute("INSERT INTO books(book_id, stamp) VALUES (?,?)", (b, stamps[b]))
        conn.execute("COMMIT")
        return len(redo)
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise
    finally:
        conn.close()


def update_text_index(cache_dir: Path, catalog) -> int | None:
    """The after-run update (the runner holds the lock). Never raises: the index is rebuildable,
    and a reader indexes in memory what the file lacks. None when it failed."""
    try:
        return write_text_index(cache_dir, catalog)
    except Exception as exc:  # noqa: BLE001 - a run never fails for its word index
        log.warning("the text index was not updated: %s", exc)
        return None


def try_update_file(cache_dir: Path, catalog) -> bool:
    """Update the saved file when the library lock can be taken without waiting (a reader)."""
    from comicdesk.library.lock import LibraryLock

    lock = LibraryLock.at_once(cache_dir)
    if lock is None:
        return False
    try:
        write_text_index(cache_dir, catalog)
        return True
    except (OSError, sqlite3.Error) as exc:
        log.info("could not save the text index: %s", exc)
        return False
    finally:
        lock.release()


__all__ = ["PAGE_DOC", "TEXT_INDEX_FILE", "TextIndex", "WordHit", "fts_query", "update_text_index",
           "write_text_index"]
