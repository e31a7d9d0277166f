"""One open library, as a front end sees it (no Qt here: plain Python run on worker threads; the app
(``comicdesk.qt``) is its first user).

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
from concurrent.futures import Future
from dataclasses import dataclass, field
from pathlib import Path

from comicdesk.core.pages import label_is_sure
from comicdesk.core.settings import Settings
from comicdesk.services.threads import EagerThreadPool

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
    #: what the analysis knows of it (:class:`BookSummary`); None until the grid asked for it
    summary: "BookSummary | None" = field(default=None, compare=False)

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
    #: the page's class as :func:`comicdesk.library.labels.book_labels` resolves it (person >
    #: ComicInfo > model), the model's probabilities, where the label came from, and whether
    #: ComicInfo marks the page Deleted
    label: str | None = None
    probs: dict | None = field(default=None, compare=False, hash=False)
    source: str | None = None
    hidden: bool = False

    @property
    def prob(self) -> float | None:
        """The model's probability of the shown label (None when no model ran)."""
        if self.label is None or not self.probs:
            return None
        return self.probs.get(self.label)

    @property
    def sure(self) -> bool | None:
        """Whether the label is sure enough to act on (:func:`comicdesk.core.pages.label_is_sure`:
        the person's and ComicInfo's always; the model's by probability); None without a label."""
        return label_is_sure(self.label, self.probs, self.source)


@dataclass(frozen=True)
class BookSummary:
    """What the analysis knows of a book, for the library grid: ``state`` "none" (not analysed),
    "first" (pass 1's results: classes and panels; recognised text still to come) or "done";
    ``counts`` pages per shown class (the person's > ComicInfo's > the model's), most first."""

    state: str
    counts: tuple[tuple[str, int], ...] = ()

    def count(self, label: str) -> int:
        return dict(self.counts).get(label, 0)


@dataclass(frozen=True)
class BookResults:
    """Everything the app shows of one book's analysis, read in one go on the I/O thread after a
    ``BookAnalysed`` event (:meth:`LibrarySession.book_results`): the book view's pages, the
    reader's panels and labels, the grid's summary."""

    book_id: int
    pages: list[PageItem]
    panels: dict[int, list[tuple[int, int, int, int]]]
    labels: dict[int, tuple[str | None, bool, bool | None]]
    summary: BookSummary


@dataclass(frozen=True)
class SearchHit:
    """One result of the sidebar: a panel (``panel`` set) or a page, with what the UI shows."""

    book_id: int
    book: str  # absolute path
    title: str
    page: int
    panel: int | None
    box: tuple[int, int, int, int] | None
    score: float | None  # cosine; None for a text match
    label: str | None = None
    text: str = ""  # the page's text for a text match
    copies: tuple[str, ...] = ()  # the same panel in other copies of the book (their paths)
    match: str | None = None  # a text query's: "words" or "meaning" (services.text_search)


class HitList(list):
    """Search results; ``same_as_query``: hits left out as the query itself in other copies."""

    same_as_query: int = 0
    notice: str = ""  # one line the search had to say (books left out because their vectors are damaged)


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
        self.io = EagerThreadPool(max_workers=1, thread_name_prefix="comicdesk-io")
        self.thumbs = ThumbnailCache(self.cache_dir, size=256)
        self._catalog = None
        self._user = None
        self.user_problem: str | None = None  # the person's data file is damaged: what to say
        self._notices: list[str] = []  # lines the search service had for the person
        self._cover_hash: dict[str, str] = {}  # path -> page 0 hash learnt this session
        self.closed = False
        # Similar panels/pages: their own thread (building an index must not hold up listing
        # pages), holding one SearchService (indexes stay loaded between queries).
        self.search_exec = EagerThreadPool(max_workers=1, thread_name_prefix="comicdesk-search")
        self._search = None
        self._search_user = None

    # -- on the I/O thread ---------------------------------------------------------------------
    def _cat(self):
        from comicdesk.library.catalog import CATALOG_FILE, Catalog

        if self._catalog is None:
            if not (self.cache_dir / CATALOG_FILE).is_file():
                return None
            from comicdesk.library import db

            from comicdesk.library.errors import CatalogBeingUpgraded

            try:
                cat = Catalog.open(self.cache_dir, readonly=True)
            except CatalogBeingUpgraded as exc:
                # An older comicdesk's cache that the scan (a writer) is upgrading: like a
                # catalogue the first scan is still making, nothing to list until it is done.
                log.info("catalogue not readable yet: %s", exc)
                return None
            if db.schema_version(cat.conn) == 0:  # the first scan has just created it
                cat.close()
                return None
            self._catalog = cat
        return self._catalog

    def _userdata(self):
        from comicdesk.library.userdata import UserData, UserDataDamaged

        if self._user is None:
            try:
                self._user = UserData(self.data_dir)
            except UserDataDamaged as exc:
                # The file is left as it is; the library still lists, reads and searches, and the
                # window says once what happened (labels cannot be set until it is moved away).
                self.user_problem = str(exc)
                self._user = UserData(self.data_dir, readonly=True)  # an empty stand-in in memory
        return self._user

    def load_books(self) -> list[BookItem]:
        """Every book of the library (or of the opened sub-folder), with reading positions."""
        cat = self._cat()
        if cat is None:
            return []
        rows = cat.all_books()
        extra: dict[int, tuple[float, str | None]] = {}
        try:  # added time and the cover's page hash, in one query
            for book_id, added_at, cover_hash in cat.book_extras():
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
            return {k: (p, t) for k, p, t in user.positions()}
        except sqlite3.Error as exc:
            log.warning("reading positions unavailable: %s", exc)
            return {}

    def load_pages(self, book_id: int) -> list[PageItem]:
        """The book's pages with their labels (the person's > ComicInfo's > the model's)."""
        cat = self._cat()
        if cat is None:
            return []
        return self._page_items(cat, book_id, self._labels(book_id))

    @staticmethod
    def _page_items(cat, book_id: int, labels: dict) -> list[PageItem]:
        out = []
        for p in cat.pages(book_id):
            lab = labels.get(p.index)
            out.append(PageItem(p.index, p.name, p.width, p.height, p.bad, p.error, p.content_hash,
                                lab.label if lab else None, lab.probs if lab else None,
                                lab.source if lab else None, bool(lab.hidden) if lab else False))
        return out

    def _labels(self, book_id: int) -> dict:
        from comicdesk.library.labels import book_labels

        cat = self._cat()
        row = cat.book(book_id) if cat is not None else None
        if row is None:
            return {}
        try:
            return book_labels(cat, row, self._userdata(), profile_model=_profile_model(self.settings))
        except sqlite3.Error as exc:  # a catalogue from before the analysis tables
            log.info("labels unavailable for book %s: %s", book_id, exc)
            return {}

    def page_labels(self, book_id: int) -> dict[int, tuple[str | None, bool, bool | None]]:
        """``{page: (label, hidden, sure)}`` for the reader's story-only mode (``hidden``: ComicInfo
        marks it Deleted and the person did not label it; ``sure``:
        :func:`comicdesk.core.pages.label_is_sure`, None without a label)."""
        return {p: (lab.label, bool(lab.hidden) and lab.source != "user",
                    label_is_sure(lab.label, lab.probs, lab.source))
                for p, lab in self._labels(book_id).items()}

    def book_results(self, book_id: int, *, state: str | None = None, full: bool = True) -> BookResults | None:
        """One analysed book as every view shows it (pages with labels, panels, the reader's
        labels, the grid's summary), read with one pass over its labels. ``state``: what the
        event said ("first" after pass 1, "done" after the last pass); None: from the
        catalogue's runs. ``full`` False: the summary only (no view shows the book's pages).
        None when the catalogue does not know the book."""
        cat = self._cat()
        if cat is None or cat.book(book_id) is None:
            return None
        labels = self._labels(book_id)
        summary = self._summary(book_id, labels, state)
        if not full:
            return BookResults(book_id, [], {}, {}, summary)
        pages = self._page_items(cat, book_id, labels)
        reader = {p: (lab.label, bool(lab.hidden) and lab.source != "user",
                      label_is_sure(lab.label, lab.probs, lab.source)) for p, lab in labels.items()}
        return BookResults(book_id, pages, self.load_panels(book_id), reader, summary)

    def book_summaries(self, book_ids: list[int]) -> dict[int, BookSummary]:
        """The grid's summaries of these books (those it paints), from the catalogue."""
        cat = self._cat()
        if cat is None:
            return {}
        try:
            runs = cat.runs(book_ids)
        except sqlite3.Error:
            runs = {}
        out = {}
        for b in book_ids:
            if not runs.get(b):
                out[b] = BookSummary("none")
            else:
                out[b] = self._summary(b, self._labels(b), "done")
        return out

    @staticmethod
    def _summary(book_id: int, labels: dict, state: str | None) -> BookSummary:
        counts: dict[str, int] = {}
        for lab in labels.values():
            if lab.label:
                counts[lab.label] = counts.get(lab.label, 0) + 1
        ordered = tuple(sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])))
        return BookSummary(state or ("done" if counts else "none"), ordered)

    def book_analysis(self, path: str, book_id: int | None = None) -> tuple[int | None, dict, dict]:
        """``(book id, panels, page labels)`` of a book, for the reader."""
        if book_id is None:
            book_id = self.book_id_for(path)
        if book_id is None:
            return None, {}, {}
        return book_id, self.load_panels(book_id), self.page_labels(book_id)

    def set_labels(self, content_key: str, pages: list[int], label: str | None) -> None:
        """The person's label for these pages (None clears it), in ``user.sqlite``."""
        user = self._userdata()
        if user.damaged is not None:
            from comicdesk.library.userdata import UserDataDamaged

            raise UserDataDamaged(self.user_problem or f"{user.path} is damaged")
        for page in pages:
            user.set_label(content_key, page, label)

    def book_id_for(self, path: str) -> int | None:
        cat = self._cat()
        if cat is None:
            return None
        row = cat.book_by_path(path)
        if row is None:
            try:
                row = cat.book_by_path(Path(path).resolve())
            except OSError:
                row = None
        return row.id if row is not None else None

    def load_panels(self, book_id: int) -> dict[int, list[tuple[int, int, int, int]]]:
        """``{page: [(x, y, w, h), ...]}`` in reading order (pages analysed so far), read as the
        stages read them back: through the ``panels`` declaration of
        :mod:`comicdesk.pipeline.outputs`."""
        from comicdesk.pipeline import outputs
        from comicdesk.pipeline.stage import PANELS

        cat = self._cat()
        if cat is None:
            return {}
        try:
            return outputs.load(PANELS, outputs.CacheReader(cat), book_id)
        except sqlite3.Error:
            return {}

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

    # -- on the search thread ---------------------------------------------------------------------
    def _search_service(self):
        from comicdesk.library.userdata import USER_FILE, UserData
        from comicdesk.search.service import SearchService

        if self._search is None:
            from comicdesk.services.similar import TextEncoder

            self._search = SearchService.open(self.cache_dir, profile=self.settings.profile,
                                              text_encoder=TextEncoder(self.settings),
                                              notify=self._notices.append)
        if self._search_user is None and (self.data_dir / USER_FILE).is_file():
            self._search_user = UserData(self.data_dir, readonly=True)
            self._search.user_data = self._search_user
        # Labels change when the person relabels or the analysis moves on: read them afresh.
        self._search.forget_labels()
        return self._search

    def similar(self, book_id: int, page: int, panel: int | None, *, k: int = 30,
                other_books: bool = False, classes: frozenset[str] | None = None,
                series: frozenset[str] | None = None) -> list[SearchHit]:
        """Panels like panel ``panel`` of a page (``panel`` None: pages like the page), best first."""
        from comicdesk.search.service import Filters

        svc = self._search_service()
        filters = Filters(other_books=other_books, classes=classes, series=series)
        # Ask for more: copies of one book (other formats, re-scans) are folded into one result.
        wide = k * 3
        if panel is None:
            hits = svc.similar_to_page(book_id, page, wide, filters)
        else:
            hits = svc.similar_to_panel(book_id, page, panel, wide, filters)
        groups, same = svc.group_copies(hits, query=(book_id, page, panel))
        groups = groups[:k]
        notices, self._notices[:] = list(self._notices), []
        out = HitList()
        out.same_as_query = same
        out.notice = notices[-1] if notices else ""
        about = self._hit_books(svc)
        for g in groups:
            h = g.best
            title, label = about(h)
            out.append(SearchHit(h.book_id, h.book, title, h.page, h.panel,
                                 tuple(h.box) if h.box else None, float(h.score), label,
                                 copies=tuple(c.book for c in g.copies)))
        return out

    def search_words(self, query: str, *, k: int = 30, other_books: bool = False,
                     classes: frozenset[str] | None = None, series: frozenset[str] | None = None,
                     book_id: int | None = None) -> list[SearchHit]:
        """The first part of the one text search (:mod:`comicdesk.services.text_search`): panels
        and pages whose recognised text holds the query's words, best first. ``book_id``: the
        book open in the app (``other_books`` leaves it out)."""
        from comicdesk.search.service import Filters
        from comicdesk.services.text_search import words_first

        svc = self._search_service()
        filters = Filters(other_books=other_books, classes=classes, series=series)
        return self._hit_list(svc, words_first(svc, query, k, filters, query_book=book_id))

    def search_meaning(self, query: str, words: list[SearchHit], *, k: int = 30, other_books: bool = False,
                       classes: frozenset[str] | None = None, series: frozenset[str] | None = None,
                       book_id: int | None = None) -> list[SearchHit]:
        """The second part: the panels closest in meaning that complete ``words`` to ``k``
        (loads the text encoder on the first query)."""
        from comicdesk.search.service import Filters, Hit
        from comicdesk.services.text_search import meaning_after

        svc = self._search_service()
        filters = Filters(other_books=other_books, classes=classes, series=series)
        shown = [Hit(h.book_id, h.book, h.page, h.panel, None, 0.0, h.match) for h in words]
        return self._hit_list(svc, meaning_after(svc, query, k, filters, words=shown, query_book=book_id))

    def _hit_list(self, svc, hits) -> HitList:
        out = HitList()
        notices, self._notices[:] = list(self._notices), []
        out.notice = notices[-1] if notices else ""
        about = self._hit_books(svc)
        for h in hits:
            title, label = about(h)
            out.append(SearchHit(h.book_id, h.book, title, h.page, h.panel,
                                 tuple(h.box) if h.box else None, float(h.score), label,
                                 text=h.text, match=h.match))
        return out

    def _hit_books(self, svc):
        """``about(hit) -> (book title, the hit page's label or None)``, each book's row and labels
        read once."""
        from comicdesk.library.labels import book_labels

        books: dict[int, tuple] = {}

        def about(h) -> tuple[str, str | None]:
            if h.book_id not in books:
                row = svc.catalog.book(h.book_id)
                books[h.book_id] = (row, book_labels(svc.catalog, row, self._search_user,
                                                     profile_model=_profile_model(self.settings))
                                    if row is not None else {})
            row, labels = books[h.book_id]
            lab = labels.get(h.page)
            return ((row.title if row is not None else None) or Path(h.book).stem,
                    lab.label if lab is not None else None)

        return about

    def _close_search(self) -> None:
        for obj in (self._search, self._search_user):
            if obj is not None:
                try:
                    obj.close()
                except Exception:  # noqa: BLE001
                    pass
        self._search = self._search_user = None

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
        try:
            self.search_exec.submit(self._close_search)
        except RuntimeError:
            pass
        self.io.shutdown(wait=wait, cancel_futures=False)
        self.search_exec.shutdown(wait=wait, cancel_futures=False)


def _profile_model(settings) -> str | None:
    """The model whose page classes the profile shows (newest of any model when unknown)."""
    return {"standard": "standard-1", "cosmo": "cosmo-v4"}.get(getattr(settings, "profile", None))


def content_key_for(path: str | os.PathLike) -> str:
    """The content key of one book (file or image folder), as the scanner computes it."""
    from comicdesk.library.identity import path_key

    return path_key(path)


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
    # What the UI thread is about to use (LibrarySession) is imported here, on the worker: an
    # import on the UI thread is disk and CPU time, and waits on the import lock.
    import comicdesk.library.catalog  # noqa: F401
    import comicdesk.library.thumbs  # noqa: F401
    import comicdesk.library.userdata  # noqa: F401
    from comicdesk.library.calibre import is_calibre_library
    from comicdesk.library.errors import LibraryError

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
