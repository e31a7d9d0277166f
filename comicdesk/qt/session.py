"""One open library, as the app sees it (no Qt here: this is plain Python run on worker threads).

A :class:`LibrarySession` owns a single I/O thread. The catalogue (opened read-only: the scan in
:mod:`comicdesk.qt.jobs` is the only writer) and the person's data (``UserData``) are opened and
used on that thread only, so the main thread never touches SQLite or the disk. The UI calls
``session.io`` through :class:`comicdesk.qt.bridge.Bridge` and gets plain objects back
(:class:`BookItem`, :class:`PageItem`).
"""

from __future__ import annotations

import logging
import os
import sqlite3
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from comicdesk.core.settings import Settings

log = logging.getLogger("comicdesk.qt")


@dataclass
class BookItem:
    """One book of the grid (a catalogue row plus the person's reading position)."""

    id: int
    path: str
    title: str
    series: str | None = None
    number: str | None = None
    authors: tuple[str, ...] = ()
    pages: int | None = None
    format: str | None = None
    error: str | None = None
    content_key: str | None = None
    cover_path: str | None = None  # Calibre's cover.jpg
    cover_hash: str | None = None  # page 0's content hash, when the catalogue knows it
    added_at: float = 0.0
    calibre_id: int | None = None
    position: int | None = None  # the page the person stopped at
    read_at: float | None = None
    search_text: str = field(default="", repr=False)

    def __post_init__(self):
        if not self.search_text:
            parts = [self.title, self.series or "", self.number or "", " ".join(self.authors),
                     os.path.basename(self.path)]
            self.search_text = " ".join(parts).casefold()

    @property
    def subtitle(self) -> str:
        """"Series #1", or the authors, or the format and pages: the second line under a cover
        (never a repeat of the title)."""
        if self.series:
            line = f"{self.series} #{self.number}" if self.number else self.series
            if line.casefold() != self.title.casefold():
                return line
        if self.authors:
            return ", ".join(self.authors)
        facts = [x for x in ((self.format or "").upper(), f"{self.pages} pages" if self.pages else "") if x]
        return " · ".join(facts)


@dataclass(frozen=True)
class PageItem:
    index: int
    name: str
    width: int | None
    height: int | None
    bad: bool = False
    error: str | None = None
    content_hash: str | None = None


@dataclass
class LibraryInfo:
    """What the app knows about an opened library before the scan (from locate_library)."""

    root: Path
    id: str
    kind: str  # "folder" | "calibre"
    scope: Path | None
    problem: str | None  # why the root is offline, or None

    @property
    def name(self) -> str:
        return (self.scope or self.root).name or str(self.root)


def locate(path: str | os.PathLike, settings: Settings) -> LibraryInfo:
    """Find (and register) the library ``path`` belongs to. Runs on a worker thread."""
    from comicdesk.library.service import locate_library, root_problem

    target = locate_library(path, settings, calibre_timeout=5.0)
    return LibraryInfo(target.root, target.id, target.kind, target.scope, root_problem(target))


def natural_number_key(number: str | None) -> tuple:
    """'2' < '2.5' < '10' < '10b'; books without a number last."""
    if not number:
        return (1, 0.0, "")
    head = ""
    for ch in number:
        if ch.isdigit() or (ch == "." and "." not in head):
            head += ch
        else:
            break
    try:
        value = float(head) if head.strip(".") else 0.0
    except ValueError:
        value = 0.0
    return (0, value, number.casefold())


class LibrarySession:
    """The open library: its I/O thread, catalogue reader, the person's data and thumbnails."""

    def __init__(self, settings: Settings, info: LibraryInfo):
        from comicdesk.library.thumbs import ThumbnailCache

        self.settings = settings
        self.info = info
        self.cache_dir = settings.library_cache_dir(info.id)
        self.data_dir = settings.library_data_dir(info.id)
        self.io = ThreadPoolExecutor(max_workers=1, thread_name_prefix="comicdesk-io")
        self.thumbs = ThumbnailCache(self.cache_dir, size=256)
        self._catalog = None
        self._user = None
        self._cover_hash: dict[str, str] = {}  # path -> page 0 hash learnt this session
        self.closed = False

    # -- on the I/O thread ---------------------------------------------------------------------
    def _cat(self):
        from comicdesk.library.catalog import CATALOG_FILE, Catalog

        if self._catalog is None:
            if not (self.cache_dir / CATALOG_FILE).is_file():
                return None
            from comicdesk.library import db

            cat = Catalog.open(self.cache_dir, readonly=True)
            if db.schema_version(cat.conn) == 0:  # the first scan has just created it
                cat.close()
                return None
            self._catalog = cat
        return self._catalog

    def _userdata(self):
        from comicdesk.library.userdata import UserData

        if self._user is None:
            self._user = UserData(self.data_dir)
        return self._user

    def load_books(self) -> list[BookItem]:
        """Every book of the library (or of the opened sub-folder), with reading positions."""
        cat = self._cat()
        if cat is None:
            return []
        rows = cat.all_books()
        extra: dict[int, tuple[float, str | None]] = {}
        try:  # added time and the cover's page hash, in one query
            for book_id, added_at, cover_hash in cat.conn.execute(
                    "SELECT b.id, b.added_at, p.content_hash FROM books b LEFT JOIN pages p "
                    "ON p.book_id = b.id AND p.idx = 0 WHERE b.removed_at IS NULL"):
                extra[book_id] = (added_at or 0.0, cover_hash)
        except sqlite3.Error as exc:
            log.warning("catalogue extras unavailable: %s", exc)
        positions = self._positions()
        scope = self.info.scope
        out = []
        for r in rows:
            if scope is not None:
                p = Path(r.path)
                if not (p == scope or p.is_relative_to(scope)):
                    continue
            added, chash = extra.get(r.id, (0.0, None))
            pos = positions.get(r.content_key) if r.content_key else None
            out.append(BookItem(
                id=r.id, path=r.path, title=r.title or Path(r.path).stem, series=r.series,
                number=r.number, authors=tuple(r.authors or ()), pages=r.pages, format=r.format,
                error=r.error, content_key=r.content_key, cover_path=r.cover_path,
                cover_hash=chash or self._cover_hash.get(r.path), added_at=added,
                calibre_id=r.calibre_id, position=pos[0] if pos else None,
                read_at=pos[1] if pos else None))
        return out

    def count_books(self) -> int:
        cat = self._cat()
        return 0 if cat is None else cat.count_books()

    def _positions(self) -> dict[str, tuple[int, float]]:
        user = self._userdata()
        try:
            return {k: (p, t) for k, p, t in
                    user.conn.execute("SELECT content_key, page, updated_at FROM positions")}
        except sqlite3.Error as exc:
            log.warning("reading positions unavailable: %s", exc)
            return {}

    def load_pages(self, book_id: int) -> list[PageItem]:
        cat = self._cat()
        if cat is None:
            return []
        return [PageItem(p.index, p.name, p.width, p.height, p.bad, p.error, p.content_hash)
                for p in cat.pages(book_id)]

    def book_by_path(self, path: str) -> BookItem | None:
        cat = self._cat()
        if cat is None:
            return None
        row = cat.book_by_path(path)
        if row is None:
            return None
        pos = self._positions().get(row.content_key) if row.content_key else None
        return BookItem(id=row.id, path=row.path, title=row.title or Path(row.path).stem,
                        series=row.series, number=row.number, authors=tuple(row.authors or ()),
                        pages=row.pages, format=row.format, error=row.error,
                        content_key=row.content_key, cover_path=row.cover_path,
                        calibre_id=row.calibre_id, position=pos[0] if pos else None,
                        read_at=pos[1] if pos else None)

    def position(self, content_key: str) -> int | None:
        return self._userdata().position(content_key)

    def set_position(self, content_key: str, page: int) -> None:
        self._userdata().set_position(content_key, page)

    def setting(self, key: str, default=None):
        return self._userdata().setting(key, default)

    def set_setting(self, key: str, value) -> None:
        self._userdata().set_setting(key, value)

    def reopen_catalog(self) -> None:
        """After a scan created or migrated the catalogue: a fresh read-only connection."""
        if self._catalog is not None:
            self._catalog.close()
            self._catalog = None

    def remember_cover_hash(self, path: str, page_hash: str) -> None:
        self._cover_hash[path] = page_hash

    def _close_connections(self) -> None:
        for conn in (self._catalog, self._user):
            if conn is not None:
                try:
                    conn.close()
                except Exception:  # noqa: BLE001
                    pass
        self._catalog = self._user = None

    # -- from any thread -----------------------------------------------------------------------
    def cover_future(self, item: BookItem) -> Future:
        known = item.cover_hash or self._cover_hash.get(item.path)
        return self.thumbs.cover(item.path, known_hash=known, cover_file=item.cover_path)

    def close(self, wait: bool = False) -> None:
        """Close connections on the I/O thread and stop it (the main thread does not wait unless
        asked: an app quitting may)."""
        if self.closed:
            return
        self.closed = True
        try:
            self.io.submit(self._close_connections)
            self.io.submit(self.thumbs.close)  # waits for thumbnails in progress, off the UI thread
        except RuntimeError:
            pass
        self.io.shutdown(wait=wait, cancel_futures=False)


def content_key_for(path: str | os.PathLike) -> str:
    """The content key of one book (file or image folder), as the scanner computes it."""
    from comicdesk.library import identity

    p = Path(path)
    if not p.is_dir():
        return identity.content_key(p)
    from comicdesk.archive import open_book

    with open_book(p) as book:
        return identity.open_folder_key(book)


@dataclass
class OpenTarget:
    """What a path given to the app is: a library (or part of one) or a book in a library."""

    kind: str  # "library" | "book"
    info: LibraryInfo  # the library to browse (scope None for a book: its whole library)
    scan_path: Path  # what to scan: the library, the sub-folder, or just the book
    book: Path | None = None


def is_image_folder(path: Path) -> bool:
    """A folder that directly holds page images and no sub-folder or comic file: a folder book."""
    from comicdesk.archive.images import IMAGE_EXTENSIONS
    from comicdesk.library.scanner import CONTAINER_EXTENSIONS

    images = False
    try:
        with os.scandir(path) as it:
            for e in it:
                if e.name.startswith("."):
                    continue
                if e.is_dir():
                    return False
                ext = os.path.splitext(e.name)[1].casefold()
                if ext in CONTAINER_EXTENSIONS:
                    return False
                images = images or ext in IMAGE_EXTENSIONS
    except OSError:
        return False
    return images


def classify(path: str | os.PathLike, settings: Settings, *, calibre: bool = False) -> OpenTarget:
    """Decide how to open ``path`` (runs on a worker thread; registers new libraries).
    Raises :class:`~comicdesk.core.errors.ComicdeskError` with one clear line."""
    from comicdesk.library.calibre import is_calibre_library
    from comicdesk.library.errors import LibraryError

    # What the UI thread is about to use (LibrarySession) is imported here, on the worker: an
    # import on the UI thread is disk and CPU time, and waits on the import lock.
    import comicdesk.library.catalog  # noqa: F401
    import comicdesk.library.thumbs  # noqa: F401
    import comicdesk.library.userdata  # noqa: F401

    p = Path(path).expanduser().absolute()
    if calibre and not (p.is_dir() and is_calibre_library(p)):
        raise LibraryError(f"{p} is not a Calibre library (it has no metadata.db)")
    if not p.exists():
        info = locate(p, settings)  # a registered library that is offline, else "no such file"
        info.scope = None if info.scope == info.root else info.scope
        return OpenTarget("library", info, p)
    if p.is_file() or (p.is_dir() and not is_calibre_library(p) and is_image_folder(p)):
        info = locate(p, settings)
        whole = LibraryInfo(info.root, info.id, info.kind, None, info.problem)
        return OpenTarget("book", whole, p, p)
    return OpenTarget("library", locate(p, settings), p)
