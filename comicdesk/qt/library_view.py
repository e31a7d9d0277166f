"""The library view: a virtualised grid of covers (title, series and number under each), a search
box, sorting, a "Continue reading" shelf, and a banner when the library's disk is offline."""

from __future__ import annotations

import os

from PySide6.QtCore import QItemSelection, QItemSelectionModel, QModelIndex, QSize, Qt, QTimer, QUrl, Signal
from PySide6.QtGui import QAction, QColor, QDesktopServices, QGuiApplication
from PySide6.QtWidgets import (QAbstractItemView, QComboBox, QHBoxLayout, QLabel, QLineEdit,
                               QListView, QMenu, QVBoxLayout, QWidget)

from comicdesk.qt.bridge import one_line
from comicdesk.qt.delegates import CoverDelegate, draw_pill
from comicdesk.qt.models import SORTS, AnalysisRole, ItemRole, LibraryModel, SubtitleRole, item_data
from comicdesk.qt.thumbnails import ThumbLoader
from comicdesk.services.session import BookItem

COVER = QSize(150, 225)
SHELF_COVER = QSize(92, 138)


class ShelfModel(LibraryModel):
    """Books in a fixed order (most recently read first), no search."""

    def data(self, index, role=Qt.ItemDataRole.DisplayRole):
        if role == SubtitleRole:
            b = self.item(index.row())
            if b is not None and b.position is not None:
                return f"page {b.position + 1} of {b.pages}" if b.pages else f"page {b.position + 1}"
        return super().data(index, role)

    def _refresh(self, presorted: bool = False) -> None:
        self.beginResetModel()
        self._rows = list(self._all)
        self._row_of = {b.id: i for i, b in enumerate(self._rows)}
        self.endResetModel()


#: How long the grid gathers the summaries its painted rows ask for before one request.
SUMMARY_BATCH_MS = 60
DONE_GREEN = QColor("#2e7d32")
FIRST_GREY = QColor(110, 110, 110)
AD_RED = QColor("#c62828")


class AnalysedCoverDelegate(CoverDelegate):
    """A cover with what the analysis knows of the book, drawn at the top left of the picture:
    a green ✓ once analysed (grey … after the first pass, while the text is still being read),
    and how many pages are ads when there are any ("✓ 2 ads"). The full counts are in the
    tooltip."""

    def paint_over(self, painter, option, index, art) -> None:
        summary = item_data(index, AnalysisRole)
        if summary is None or summary.state == "none":
            return
        ads = summary.count("advertisement")
        text = ("✓" if summary.state == "done" else "…") + (f" {ads} ad{'s' if ads != 1 else ''}" if ads else "")
        draw_pill(painter, option.font, art, text,
                  AD_RED if ads else (DONE_GREEN if summary.state == "done" else FIRST_GREY))


def reselect(grid: QListView, keys, current=None, *, clear: bool = True) -> None:
    """Select again, after the grid's model was reset, the items whose keys (the model's
    ``row_of`` keys: book ids, page indexes) were selected, and make ``current`` current without
    selecting it; keys no longer shown are skipped. ``clear``: replace the selection (else leave it
    as the reset left it)."""
    model, sel = grid.model(), grid.selectionModel()
    if clear:
        picked = QItemSelection()
        for key in keys:
            row = model.row_of(key)
            if row is not None:
                picked.select(model.index(row), model.index(row))
        sel.select(picked, QItemSelectionModel.SelectionFlag.ClearAndSelect)
    row = model.row_of(current) if current is not None else None
    if row is not None:
        sel.setCurrentIndex(model.index(row), QItemSelectionModel.SelectionFlag.NoUpdate)


def make_grid(model, delegate: CoverDelegate, parent=None) -> QListView:
    """A QListView in icon mode where every cell has one size: the view lays out any number of
    rows without asking the model, and paints (so asks thumbnails for) visible rows only."""
    v = QListView(parent)
    v.setViewMode(QListView.ViewMode.IconMode)
    v.setMovement(QListView.Movement.Static)
    v.setResizeMode(QListView.ResizeMode.Adjust)
    v.setUniformItemSizes(True)
    v.setLayoutMode(QListView.LayoutMode.Batched)
    v.setBatchSize(2000)
    v.setWrapping(True)
    v.setSpacing(4)
    v.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
    v.setVerticalScrollMode(QAbstractItemView.ScrollMode.ScrollPerPixel)
    v.setMouseTracking(True)
    v.setFrameShape(QListView.Shape.NoFrame)
    v.setItemDelegate(delegate)
    v.setModel(model)
    v.verticalScrollBar().setSingleStep(24)
    return v


class LibraryView(QWidget):
    book_activated = Signal(object)  # BookItem: show the book
    read_requested = Signal(object)  # BookItem: open it in the reader (at its position)
    export_requested = Signal(object)  # [BookItem]
    message = Signal(str)

    def __init__(self, bridge, parent: QWidget | None = None):
        super().__init__(parent)
        self.bridge = bridge
        self.session = None
        self.loader = ThumbLoader(bridge, COVER, capacity=600, parent=self)
        self.loader.thumb.connect(self._thumb_made)
        self.model = LibraryModel(self.loader, self._cover_future, self)
        self.shelf_model = ShelfModel(self.loader, self._cover_future, self)

        self.title = QLabel("", self)
        f = self.title.font()
        f.setPointSizeF(f.pointSizeF() * 1.35)
        f.setBold(True)
        self.title.setFont(f)
        self.count = QLabel("", self)
        self.count.setStyleSheet("color: palette(placeholder-text);")
        self.search = QLineEdit(self)
        self.search.setPlaceholderText("Search title, series, author…")
        self.search.setClearButtonEnabled(True)
        self.search.setMinimumWidth(240)
        self._search_timer = QTimer(self)
        self._search_timer.setSingleShot(True)
        self._search_timer.setInterval(150)
        self._search_timer.timeout.connect(lambda: self._apply_query())
        self.search.textChanged.connect(lambda _t: self._search_timer.start())
        self.sort = QComboBox(self)
        for key, (label, _k, _r) in SORTS.items():
            self.sort.addItem(label, key)
        self.sort.currentIndexChanged.connect(lambda _i: self.set_sort(self.sort.currentData()))

        top = QHBoxLayout()
        top.addWidget(self.title)
        top.addWidget(self.count)
        top.addStretch(1)
        top.addWidget(self.search)
        top.addWidget(QLabel("Sort:", self))
        top.addWidget(self.sort)

        self.banner = QLabel(self)
        self.banner.setWordWrap(True)
        self.banner.setStyleSheet("QLabel { background: #6b4e16; color: white; padding: 6px 10px; border-radius: 4px; }")
        self.banner.hide()

        self.shelf_label = QLabel("Continue reading", self)
        fb = self.shelf_label.font()
        fb.setBold(True)
        self.shelf_label.setFont(fb)
        self.shelf_delegate = CoverDelegate(SHELF_COVER, lines=2, parent=self)
        self.shelf = QListView(self)
        self.shelf.setViewMode(QListView.ViewMode.IconMode)
        self.shelf.setFlow(QListView.Flow.LeftToRight)
        self.shelf.setWrapping(False)
        self.shelf.setMovement(QListView.Movement.Static)
        self.shelf.setUniformItemSizes(True)
        self.shelf.setHorizontalScrollMode(QAbstractItemView.ScrollMode.ScrollPerPixel)
        self.shelf.setItemDelegate(self.shelf_delegate)
        self.shelf.setModel(self.shelf_model)
        self.shelf.setMouseTracking(True)
        self.shelf.setFrameShape(QListView.Shape.NoFrame)
        self.shelf.setStyleSheet("QListView { background: transparent; }")
        self.shelf.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAsNeeded)
        cell = self.shelf_delegate.cell_size(self.shelf.fontMetrics())
        self.shelf.setFixedHeight(cell.height() + self.shelf.horizontalScrollBar().sizeHint().height() + 8)
        self.shelf.activated.connect(lambda ix: self._read(ix))
        self.shelf.clicked.connect(lambda ix: self._read(ix))
        self.shelf_label.hide()
        self.shelf.hide()

        self.delegate = AnalysedCoverDelegate(COVER, lines=2, parent=self)
        self.grid = make_grid(self.model, self.delegate, self)
        # Analysis summaries: asked for by painted rows, gathered, read on the I/O thread.
        self._wanted: set[int] = set()
        self._summary_timer = QTimer(self)
        self._summary_timer.setSingleShot(True)
        self._summary_timer.setInterval(SUMMARY_BATCH_MS)
        self._summary_timer.timeout.connect(self._load_summaries)
        self.model.want_summary = self._want_summary
        self.grid.activated.connect(self._activate)
        self.grid.doubleClicked.connect(self._activate)
        self.grid.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        self.grid.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self.grid.customContextMenuRequested.connect(self._context_menu)

        self.empty = QLabel("", self)
        self.empty.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.empty.setWordWrap(True)
        self.empty.setStyleSheet("color: palette(placeholder-text); font-size: 14pt;")
        self.empty.hide()

        lay = QVBoxLayout(self)
        lay.setContentsMargins(12, 10, 12, 6)
        lay.addLayout(top)
        lay.addWidget(self.banner)
        lay.addWidget(self.shelf_label)
        lay.addWidget(self.shelf)
        lay.addWidget(self.grid, 1)
        lay.addWidget(self.empty, 1)

    # -- content -------------------------------------------------------------------------------
    def set_session(self, session) -> None:
        self.session = session
        self._wanted.clear()
        self.loader.clear()
        self.model.set_books([])
        self.shelf_model.set_books([])
        self.search.clear()
        self.title.setText(session.info.name if session else "")
        self.set_offline(session.info.problem if session else None)
        self._update_count()

    def set_books(self, books: list[BookItem], *, loading: bool = False, sorted_by: str | None = None) -> None:
        bar = self.grid.verticalScrollBar()
        keep = bar.value()
        current = self.model.item(self.grid.currentIndex().row()) if self.grid.currentIndex().isValid() else None
        chosen = [b.id for b in self.selected_books()]
        self.model.set_books(books, sorted_by=sorted_by)
        self.refresh_shelf()
        # A reload (the scan found a book, the analysis ended) keeps what the person selected and
        # where they were; it never selects anything they did not.
        reselect(self.grid, chosen, current.id if current is not None else None, clear=bool(chosen))
        QTimer.singleShot(0, lambda: bar.setValue(keep))
        self._update_count(loading)

    def _want_summary(self, book_id: int) -> None:
        self._wanted.add(book_id)
        if not self._summary_timer.isActive():
            self._summary_timer.start()

    def _load_summaries(self) -> None:
        session, ids = self.session, sorted(self._wanted)
        self._wanted.clear()
        if session is None or session.closed or not ids:
            return
        self.bridge.run(session.io, session.book_summaries, ids,
                        on_done=lambda found: session is self.session and self.model.update_summaries(found),
                        on_error=lambda e: self.message.emit(f"Cannot read the analysis: {one_line(e)}"),
                        owner=self)

    def update_summary(self, book_id: int, summary) -> None:
        """One book's analysis came in: its cell repaints in place."""
        self.model.update_summaries({book_id: summary})

    def refresh_shelf(self) -> None:
        recent = self.model.recently_read(12)
        self.shelf_model.set_books(recent)
        show = bool(recent) and not self.model.query()
        self.shelf_label.setVisible(show)
        self.shelf.setVisible(show)

    def set_offline(self, problem: str | None) -> None:
        self.model.offline = bool(problem)
        self.delegate.dim = bool(problem)
        if problem:
            self.banner.setText(f"<b>Offline</b> — {problem}. Showing the books catalogued before; "
                                f"they open again when the disk is back.")
            self.banner.show()
        else:
            self.banner.hide()
        self.grid.viewport().update()

    def update_position(self, content_key: str, page: int) -> None:
        self.model.update_position(content_key, page)
        self.refresh_shelf()

    def _update_count(self, loading: bool = False) -> None:
        total = self.model.total()
        shown = self.model.rowCount()
        if self.model.query():
            text = f"{shown} of {total} books"
        else:
            text = f"{total} book{'s' if total != 1 else ''}"
        if loading:
            text += " · scanning…"
        self.count.setText(text)
        if shown == 0:
            if self.model.query():
                self.empty.setText(f"No books match “{self.search.text().strip()}”.")
            elif loading:
                self.empty.setText("Looking for books…")
            elif self.session is not None and self.session.info.problem:
                self.empty.setText("This library is offline and nothing was catalogued before.")
            else:
                self.empty.setText("No books found here.\nComic files (CBZ, CBR, CB7, CBT, PDF, EPUB) "
                                   "and folders of images are books.")
            self.empty.show()
            self.grid.hide()
        else:
            self.empty.hide()
            self.grid.show()

    def _apply_query(self) -> None:
        self.model.set_query(self.search.text())
        self.refresh_shelf()
        self._update_count()

    def set_sort(self, key: str) -> None:
        self.model.set_sort(key)
        i = self.sort.findData(key)
        if i >= 0 and self.sort.currentIndex() != i:
            self.sort.setCurrentIndex(i)

    def _cover_future(self, item: BookItem):
        return self.session.cover_future(item)

    def _thumb_made(self, key, thumb) -> None:
        if self.session is None or key[0] != "cover":
            return
        row = self.model.row_of(key[1])
        item = self.model.item(row) if row is not None else None
        if item is not None and item.cover_hash is None and not item.cover_path:
            item.cover_hash = thumb.page_hash
            self.session.remember_cover_hash(item.path, thumb.page_hash)

    # -- activation --------------------------------------------------------------------------------
    def _activate(self, index: QModelIndex) -> None:
        item = item_data(index, ItemRole)
        if item is not None:
            self.book_activated.emit(item)

    def _read(self, index: QModelIndex) -> None:
        item = item_data(index, ItemRole)
        if item is not None:
            self.read_requested.emit(item)

    def selected_books(self) -> list[BookItem]:
        rows = sorted(ix.row() for ix in self.grid.selectionModel().selectedIndexes())
        return [b for b in (self.model.item(r) for r in rows) if b is not None]

    def _context_menu(self, pos) -> None:
        index = self.grid.indexAt(pos)
        item = item_data(index, ItemRole) if index.isValid() else None
        if item is None:
            return
        chosen = self.selected_books()
        if item.id not in {b.id for b in chosen}:
            self.grid.setCurrentIndex(index)
            chosen = [item]
        chosen = [b for b in chosen if not b.error]
        menu = QMenu(self)
        a_open = QAction("Show pages", menu)
        a_open.triggered.connect(lambda: self.book_activated.emit(item))
        a_read = QAction(f"Continue reading (page {item.position + 1})" if item.position is not None
                         else "Read", menu)
        a_read.triggered.connect(lambda: self.read_requested.emit(item))
        a_folder = QAction("Show in folder", menu)
        a_folder.triggered.connect(lambda: QDesktopServices.openUrl(
            QUrl.fromLocalFile(os.path.dirname(item.path))))
        a_copy = QAction("Copy path", menu)
        a_copy.triggered.connect(lambda: QGuiApplication.clipboard().setText(item.path))
        a_export = QAction(f"Export {len(chosen)} books…" if len(chosen) > 1 else "Export…", menu)
        a_export.triggered.connect(lambda: self.export_requested.emit(chosen))
        a_export.setEnabled(bool(chosen))
        for a in (a_read, a_open, a_folder, a_copy, a_export):
            menu.addAction(a)
        if item.error:
            a_read.setEnabled(False)
            a_open.setEnabled(False)
        menu.exec(self.grid.viewport().mapToGlobal(pos))
