"""Item models over the catalogue: the library's books and one book's pages.

Rows are plain objects (:class:`~comicdesk.qt.session.BookItem`, ``PageItem``) loaded on the I/O
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

from comicdesk.qt.session import BookItem, PageItem, natural_number_key
from comicdesk.qt.thumbnails import ThumbLoader

ItemRole = Qt.ItemDataRole.UserRole + 1
SubtitleRole = Qt.ItemDataRole.UserRole + 2
ErrorRole = Qt.ItemDataRole.UserRole + 3
ProgressRole = Qt.ItemDataRole.UserRole + 4  # (page, pages) or None
BadgeRole = Qt.ItemDataRole.UserRole + 5  # short text drawn on the placeholder (format, page no.)

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
        if loader is not None:
            loader.ready.connect(self._thumb_changed)
            loader.failed.connect(lambda key, _r: self._thumb_changed(key))

    # -- content -------------------------------------------------------------------------------
    def set_books(self, books: list[BookItem], sorted_by: str | None = None) -> None:
        """``sorted_by``: the books already come in that order (sorted on a worker thread), so
        a 100k-book library is not sorted again on the UI thread."""
        self._all = list(books)
        self._refresh(presorted=sorted_by == self._sort)

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
    if offline:
        lines.append("Offline: the library's disk is not available")
    lines.append(b.path)
    return "\n".join(lines)


class PageModel(QAbstractListModel):
    """One book's pages, with lazily loaded thumbnails."""

    def __init__(self, loader: ThumbLoader | None = None, page_future=None, parent=None):
        super().__init__(parent)
        self._pages: list[PageItem] = []
        self.book_path: str | None = None
        self.loader = loader
        self.page_future = page_future  # (book_path, PageItem) -> Future[Thumb]
        self.position: int | None = None
        if loader is not None:
            loader.ready.connect(self._thumb_changed)
            loader.failed.connect(lambda key, _r: self._thumb_changed(key))

    def set_pages(self, book_path: str | None, pages: list[PageItem], position: int | None = None) -> None:
        self.beginResetModel()
        self.book_path = book_path
        self._pages = list(pages)
        self.position = position
        self.endResetModel()

    def page(self, row: int) -> PageItem | None:
        return self._pages[row] if 0 <= row < len(self._pages) else None

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
            size = f"{p.width}×{p.height}" if p.width else "size unknown"
            bad = f"\nBad page: {p.error}" if p.bad else ""
            return f"Page {p.index + 1} · {size}\n{p.name}{bad}"
        return None

    def _thumb_changed(self, key) -> None:
        if not (isinstance(key, tuple) and key[0] == "page" and key[1] == self.book_path):
            return
        row = key[2]
        if 0 <= row < len(self._pages):
            ix = self.index(row)
            self.dataChanged.emit(ix, ix, [Qt.ItemDataRole.DecorationRole])
