"""Item models over the catalogue: the library's books and one book's pages.

Rows are plain objects (:class:`~comicdesk.services.session.BookItem`, ``PageItem``) loaded on the I/O
thread. Searching and sorting are done here in Python over precomputed keys (a 100k-book library
filters in tens of milliseconds), not in a ``QSortFilterProxyModel``, which would call ``data()``
for every comparison. Thumbnails are asked for in ``data(DecorationRole)``, which views call only
for rows they paint, so only visible rows are ever requested.
"""

from __future__ import annotations

import os
import time
from typing import Callable

from PySide6.QtCore import QAbstractListModel, QModelIndex, QPersistentModelIndex, Qt

from comicdesk.core.pages import GROUPS
from comicdesk.qt.thumbnails import ThumbLoader
from comicdesk.services.session import BookItem, PageItem, natural_number_key

ItemRole = Qt.ItemDataRole.UserRole + 1
SubtitleRole = Qt.ItemDataRole.UserRole + 2
ErrorRole = Qt.ItemDataRole.UserRole + 3
ProgressRole = Qt.ItemDataRole.UserRole + 4  # (page, pages) or None
BadgeRole = Qt.ItemDataRole.UserRole + 5  # short text drawn on the placeholder (format, page no.)
AnalysisRole = Qt.ItemDataRole.UserRole + 6  # a book's BookSummary (asked for lazily), or None

SORTS: dict[str, tuple[str, Callable[[BookItem], tuple], bool]] = {
    # key: (label, sort key, reverse)
    "series": ("Series and number",
               lambda b: ((b.series or b.title).casefold(), natural_number_key(b.number), b.title.casefold()), False),
    "title": ("Title", lambda b: (b.title.casefold(), natural_number_key(b.number)), False),
    "author": ("Author", lambda b: ((b.authors[0] if b.authors else "\uffff").casefold(),
                                    (b.series or b.title).casefold(), natural_number_key(b.number)), False),
    "added": ("Recently added", lambda b: (b.added_at, b.id), True),
    "read": ("Recently read", lambda b: (b.read_at or 0.0, b.id), True),
    "path": ("File name", lambda b: (os.path.basename(b.path).casefold(), b.path), False),
}


def item_data(index: QModelIndex, role: int):
    """``index.data(role)``, asking the Python model directly: the binding's ``QModelIndex.data``
    leaks a reference to None for every empty role (see :mod:`comicdesk.qt.compat`), and it is
    slower (a round trip through C++)."""
    if not index.isValid():
        return None
    return index.model().data(index, role)


def sort_books(books: list[BookItem], key: str) -> list[BookItem]:
    """The books in the order of sort ``key`` (any thread)."""
    _label, fn, reverse = SORTS[key]
    return sorted(books, key=fn, reverse=reverse)


def _idx(index: QModelIndex | QPersistentModelIndex) -> int:
    return index.row() if index.isValid() else -1


class LibraryModel(QAbstractListModel):
    """The books of the open library, searched and sorted."""

    def __init__(self, loader: ThumbLoader | None = None, cover_future=None, parent=None):
        super().__init__(parent)
        self._all: list[BookItem] = []
        self._rows: list[BookItem] = []
        self._row_of: dict[int, int] = {}
        self._query = ""
        self._sort = "series"
        self.offline = False
        self.loader = loader
        self.cover_future = cover_future  # BookItem -> Future[Thumb]
        #: ``book_id -> None``: asks for a book's analysis summary (the view batches the asks and
        #: answers with :meth:`update_summaries`); only painted rows ask, once each
        self.want_summary: Callable[[int], None] | None = None
        self._asked: set[int] = set()
        self._by_id: dict[int, BookItem] = {}
        if loader is not None:
            loader.ready.connect(self._thumb_changed)
            loader.failed.connect(lambda key, _r: self._thumb_changed(key))

    # -- content -------------------------------------------------------------------------------
    def set_books(self, books: list[BookItem], sorted_by: str | None = None) -> None:
        """``sorted_by``: the books already come in that order (sorted on a worker thread), so
        a 100k-book library is not sorted again on the UI thread. Summaries already known are
        kept (a reload while scanning does not ask for them again)."""
        old = self._by_id
        for b in books:
            if b.summary is None:
                prev = old.get(b.id)
                if prev is not None and prev.summary is not None and prev.path == b.path:
                    b.summary = prev.summary
        self._all = list(books)
        self._by_id = {b.id: b for b in self._all}
        self._refresh(presorted=sorted_by == self._sort)

    def update_summaries(self, summaries: dict) -> None:
        """New analysis summaries (``book_id -> BookSummary``): the rows shown repaint in place."""
        for book_id, summary in summaries.items():
            b = self._by_id.get(book_id)
            if b is None:
                continue
            b.summary = summary
            self._asked.discard(book_id)
            row = self._row_of.get(book_id)
            if row is not None:
                ix = self.index(row)
                self.dataChanged.emit(ix, ix, [AnalysisRole, Qt.ItemDataRole.ToolTipRole])

    def forget_summaries(self) -> None:
        """Ask again for every summary shown (an analysis run ended)."""
        for b in self._all:
            b.summary = None
        self._asked.clear()
        if self._rows:
            self.dataChanged.emit(self.index(0), self.index(len(self._rows) - 1), [AnalysisRole])

    def books(self) -> list[BookItem]:
        return list(self._all)

    def set_query(self, text: str) -> None:
        text = " ".join(text.casefold().split())
        if text != self._query:
            self._query = text
            self._refresh()

    def query(self) -> str:
        return self._query

    def set_sort(self, key: str) -> None:
        if key not in SORTS:
            raise ValueError(f"unknown sort {key!r}")
        if key != self._sort:
            self._sort = key
            self._refresh()

    def sort_key(self) -> str:
        return self._sort

    def update_position(self, content_key: str, page: int) -> None:
        """The person read a book: update its row (and every copy sharing the content)."""
        now = time.time()
        for b in self._all:
            if b.content_key == content_key:
                b.position, b.read_at = page, now
                row = self._row_of.get(b.id)
                if row is not None:
                    ix = self.index(row)
                    self.dataChanged.emit(ix, ix, [ProgressRole])

    def _refresh(self, presorted: bool = False) -> None:
        words = self._query.split()
        rows = [b for b in self._all if all(w in b.search_text for w in words)] if words else list(self._all)
        if not presorted:
            rows = sort_books(rows, self._sort)
        self.beginResetModel()
        self._rows = rows
        self._row_of = {b.id: i for i, b in enumerate(rows)}
        self.endResetModel()

    def item(self, row: int) -> BookItem | None:
        return self._rows[row] if 0 <= row < len(self._rows) else None

    def row_of(self, book_id: int) -> int | None:
        return self._row_of.get(book_id)

    def total(self) -> int:
        return len(self._all)

    def recently_read(self, limit: int = 12) -> list[BookItem]:
        read = [b for b in self._all if b.position is not None and b.read_at]
        read.sort(key=lambda b: b.read_at, reverse=True)
        return read[:limit]

    # -- Qt model ------------------------------------------------------------------------------
    def rowCount(self, parent=QModelIndex()) -> int:  # noqa: N802
        return 0 if parent.isValid() else len(self._rows)

    def flags(self, index):
        if not index.isValid():
            return Qt.ItemFlag.NoItemFlags
        return Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemIsSelectable

    def data(self, index, role=Qt.ItemDataRole.DisplayRole):
        row = _idx(index)
        if not 0 <= row < len(self._rows):
            return None
        b = self._rows[row]
        if role == Qt.ItemDataRole.DisplayRole:
            return b.title
        if role == SubtitleRole:
            return b.subtitle
        if role == Qt.ItemDataRole.DecorationRole:
            if self.loader is None or self.cover_future is None or b.error:
                return None
            return self.loader.pixmap(("cover", b.id), lambda b=b: self.cover_future(b))
        if role == ErrorRole:
            if b.error:
                return b.error
            return self.loader.error(("cover", b.id)) if self.loader is not None else None
        if role == ProgressRole:
            if b.position is None or not b.pages:
                return None
            return (b.position, b.pages)
        if role == BadgeRole:
            return (b.format or "").upper()
        if role == AnalysisRole:
            if b.summary is None and self.want_summary is not None and not b.error and b.id not in self._asked:
                self._asked.add(b.id)
                self.want_summary(b.id)
            return b.summary
        if role == ItemRole:
            return b
        if role == Qt.ItemDataRole.ToolTipRole:
            return book_tooltip(b, self.offline)
        if role == Qt.ItemDataRole.AccessibleTextRole:
            return f"{b.title}, {b.subtitle}" if b.subtitle else b.title
        return None

    def _thumb_changed(self, key) -> None:
        if not (isinstance(key, tuple) and key[0] == "cover"):
            return
        row = self._row_of.get(key[1])
        if row is not None:
            ix = self.index(row)
            self.dataChanged.emit(ix, ix, [Qt.ItemDataRole.DecorationRole])


def book_tooltip(b: BookItem, offline: bool = False) -> str:
    lines = [b.title]
    if b.series:
        lines.append(b.subtitle)
    if b.authors:
        lines.append("by " + ", ".join(b.authors))
    facts = []
    if b.format:
        facts.append(b.format.upper())
    if b.pages:
        facts.append(f"{b.pages} pages")
    if b.position is not None and b.pages:
        facts.append(f"read to page {b.position + 1}")
    if b.calibre_id is not None:
        facts.append(f"Calibre #{b.calibre_id}")
    if facts:
        lines.append(" · ".join(facts))
    if b.error:
        lines.append(f"Cannot be read: {b.error}")
    elif b.summary is not None:
        lines.append(summary_line(b.summary))
    if offline:
        lines.append("Offline: the library's disk is not available")
    lines.append(b.path)
    return "\n".join(lines)


def summary_line(summary) -> str:
    """"Analysed: 30 story, 2 ad, 1 cover" (the grid's tooltip)."""
    if summary.state == "none":
        return "Not analysed yet"
    counts = ", ".join(f"{n} {class_name(c)}" for c, n in summary.counts)
    head = "Analysed" if summary.state == "done" else "Analysed (first pass; text still to come)"
    return f"{head}: {counts}" if counts else head


#: Page classes as the person sees them: short name and badge colour (opaque, readable on white text).
CLASS_LOOK: dict[str, tuple[str, str]] = {
    "advertisement": ("ad", "#c62828"),
    "cover": ("cover", "#1565c0"),
    "story": ("story", "#2e7d32"),
    "textstory": ("text story", "#00796b"),
    "first-page": ("first page", "#558b2f"),
    "credits": ("credits", "#6a1b9a"),
    "art": ("art", "#ef6c00"),
    "text": ("text", "#546e7a"),
    "back_cover": ("back cover", "#283593"),
}

#: The book view's filter chips: key -> (label, classes shown; None: every page).
PAGE_FILTERS: dict[str, tuple[str, frozenset[str] | None]] = {
    "all": ("All", None),
    "story": ("Story only", GROUPS["story-only"]),
    "covers": ("Covers", frozenset({"cover", "back_cover"})),
    "ads": ("Ads", frozenset({"advertisement"})),
}


def class_name(label: str | None) -> str:
    return CLASS_LOOK.get(label, (label or "", ""))[0] if label else ""


def filter_classes(key: str) -> frozenset[str] | None:
    """The classes a filter key shows: a chip's, or ``class:<name>`` for one class."""
    if key.startswith("class:"):
        return frozenset({key[6:]})
    return PAGE_FILTERS[key][1]


def page_passes(p: PageItem, key: str) -> bool:
    """Whether filter ``key`` shows page ``p``. "Story only" keeps pages without a label yet (we
    never hide what we know nothing about, as the export does) and pages whose non-story label is
    not sure (:attr:`PageItem.sure`: an "ad?" stays, as the export keeps it), and drops pages
    ComicInfo marks Deleted unless the person labelled them; a class chip shows only pages with
    that label (sure or a guess)."""
    if key == "all":
        return True
    classes = filter_classes(key)
    if key == "story":
        if p.hidden and p.source != "user":
            return False
        return p.label is None or p.label in classes or not p.sure
    return p.label in classes


def page_tooltip(p: PageItem) -> str:
    size = f"{p.width}×{p.height}" if p.width else "size unknown"
    lines = [f"Page {p.index + 1} · {size}", p.name]
    if p.label:
        whose = {"user": "your label", "comicinfo": "from ComicInfo.xml", "model": "from the model"}.get(
            p.source or "", p.source or "")
        prob = p.prob
        lines.append(f"{class_name(p.label)} — {whose}" + (f" ({prob * 100:.0f} %)" if prob is not None else ""))
        if not p.sure:
            lines.append("a guess: not sure enough to skip or drop this page")
        if p.probs:
            top = sorted(p.probs.items(), key=lambda kv: -kv[1])[:3]
            lines.append("model: " + ", ".join(f"{class_name(c)} {v * 100:.0f} %" for c, v in top))
    else:
        lines.append("not classified yet")
    if p.hidden:
        lines.append("ComicInfo marks this page Deleted")
    if p.bad:
        lines.append(f"Bad page: {p.error}")
    return "\n".join(lines)


class PageModel(QAbstractListModel):
    """One book's pages, with lazily loaded thumbnails, class labels and a class filter."""

    def __init__(self, loader: ThumbLoader | None = None, page_future=None, parent=None):
        super().__init__(parent)
        self._all: list[PageItem] = []
        self._pages: list[PageItem] = []  # the rows shown (filtered)
        self._row_of: dict[int, int] = {}  # page index -> row
        self.filter_key = "all"
        self.book_path: str | None = None
        self.loader = loader
        self.page_future = page_future  # (book_path, PageItem) -> Future[Thumb]
        self.position: int | None = None
        if loader is not None:
            loader.ready.connect(self._thumb_changed)
            loader.failed.connect(lambda key, _r: self._thumb_changed(key))

    def set_pages(self, book_path: str | None, pages: list[PageItem], position: int | None = None) -> None:
        self.book_path = book_path
        self._all = list(pages)
        self.position = position
        self._refresh()

    def set_filter(self, key: str) -> None:
        if key != "all" and not key.startswith("class:") and key not in PAGE_FILTERS:
            raise ValueError(f"unknown page filter {key!r}")
        if key != self.filter_key:
            self.filter_key = key
            self._refresh()

    def counts(self) -> dict[str, int]:
        """How many pages each chip would show, and each class (``class:<name>``)."""
        out = {key: sum(1 for p in self._all if page_passes(p, key)) for key in PAGE_FILTERS}
        for p in self._all:
            if p.label:
                out[f"class:{p.label}"] = out.get(f"class:{p.label}", 0) + 1
        return out

    def update_labels(self, changed: dict[int, PageItem]) -> None:
        """Replace some pages (new labels); rows that no longer pass the filter go."""
        if not changed:
            return
        self._all = [changed.get(p.index, p) for p in self._all]
        if all(page_passes(p, self.filter_key) == (p.index in self._row_of) for p in changed.values()):
            for idx, p in changed.items():
                row = self._row_of.get(idx)
                if row is not None:
                    self._pages[row] = p
                    ix = self.index(row)
                    self.dataChanged.emit(ix, ix, [Qt.ItemDataRole.ToolTipRole, ItemRole])
        else:
            self._refresh()

    def _refresh(self) -> None:
        self.beginResetModel()
        self._pages = [p for p in self._all if page_passes(p, self.filter_key)]
        self._row_of = {p.index: r for r, p in enumerate(self._pages)}
        self.endResetModel()

    def page(self, row: int) -> PageItem | None:
        return self._pages[row] if 0 <= row < len(self._pages) else None

    def all_pages(self) -> list[PageItem]:
        return list(self._all)

    def row_of(self, page_index: int) -> int | None:
        return self._row_of.get(page_index)

    def shown_indexes(self) -> list[int]:
        return [p.index for p in self._pages]

    def rowCount(self, parent=QModelIndex()) -> int:  # noqa: N802
        return 0 if parent.isValid() else len(self._pages)

    def flags(self, index):
        if not index.isValid():
            return Qt.ItemFlag.NoItemFlags
        return Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemIsSelectable

    def data(self, index, role=Qt.ItemDataRole.DisplayRole):
        row = _idx(index)
        if not 0 <= row < len(self._pages):
            return None
        p = self._pages[row]
        if role == Qt.ItemDataRole.DisplayRole:
            return f"{p.index + 1}"
        if role == SubtitleRole:
            return "you stopped here" if self.position == p.index else ""
        if role == Qt.ItemDataRole.DecorationRole:
            if self.loader is None or self.page_future is None or p.bad or self.book_path is None:
                return None
            path = self.book_path
            return self.loader.pixmap(("page", path, p.index), lambda p=p: self.page_future(path, p))
        if role == ErrorRole:
            if p.bad:
                return p.error or "this page does not decode"
            return self.loader.error(("page", self.book_path, p.index)) if self.loader is not None else None
        if role == BadgeRole:
            return f"{p.index + 1}"
        if role == ItemRole:
            return p
        if role == Qt.ItemDataRole.ToolTipRole:
            return page_tooltip(p)
        if role == Qt.ItemDataRole.AccessibleTextRole:
            return f"Page {p.index + 1}" + (f", {class_name(p.label)}" if p.label else "")
        return None

    def _thumb_changed(self, key) -> None:
        if not (isinstance(key, tuple) and key[0] == "page" and key[1] == self.book_path):
            return
        row = self._row_of.get(key[2])
        if row is not None:
            ix = self.index(row)
            self.dataChanged.emit(ix, ix, [Qt.ItemDataRole.DecorationRole])
