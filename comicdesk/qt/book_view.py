"""The book view: a book's details and a grid of its page thumbnails, each with its class as a
badge; filter chips (All / Story only / Covers / Ads / any class); relabelling one or many pages
from the context menu (the person's labels, kept in the data dir). Activating a page opens the
reader there."""

from __future__ import annotations

from dataclasses import replace

from PySide6.QtCore import QModelIndex, QSize, Qt, Signal
from PySide6.QtGui import QAction, QActionGroup
from PySide6.QtWidgets import (QAbstractItemView, QButtonGroup, QHBoxLayout, QLabel, QMenu, QPushButton,
                               QToolButton, QVBoxLayout, QWidget)

from comicdesk.core.pages import PAGE_CLASSES
from comicdesk.qt.bridge import Tickets, one_line
from comicdesk.qt.delegates import PageDelegate
from comicdesk.qt.library_view import make_grid, reselect
from comicdesk.qt.models import PAGE_FILTERS, ItemRole, PageModel, class_name, item_data
from comicdesk.qt.thumbnails import ThumbLoader
from comicdesk.services.session import BookItem, PageItem

PAGE = QSize(120, 180)


class BookView(QWidget):
    read_requested = Signal(object, object)  # BookItem, start page (None: the remembered one)
    back_requested = Signal()
    loaded = Signal(int)  # number of pages listed
    message = Signal(str)
    labels_saved = Signal(object)  # BookItem: the person's labels of this book were written
    similar_requested = Signal(object, int, object)  # BookItem, page, panel (None: similar pages)
    export_requested = Signal(object)  # [BookItem]

    def __init__(self, bridge, parent: QWidget | None = None):
        super().__init__(parent)
        self.bridge = bridge
        self.session = None
        self.book: BookItem | None = None
        self._tickets = Tickets()
        self.loader = ThumbLoader(bridge, PAGE, capacity=400, parent=self)
        self.model = PageModel(self.loader, self._page_future, self)

        self.back = QPushButton("← Library", self)
        self.back.setFlat(True)
        self.back.clicked.connect(self.back_requested.emit)
        self.title = QLabel(self)
        f = self.title.font()
        f.setPointSizeF(f.pointSizeF() * 1.35)
        f.setBold(True)
        self.title.setFont(f)
        self.title.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.details = QLabel(self)
        self.details.setWordWrap(True)
        self.details.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.details.setStyleSheet("color: palette(placeholder-text);")
        self.read = QPushButton("Read", self)
        self.read.setDefault(True)
        self.read.clicked.connect(lambda: self.book and self.read_requested.emit(self.book, None))
        self.from_start = QPushButton("From the start", self)
        self.from_start.clicked.connect(lambda: self.book and self.read_requested.emit(self.book, 0))

        head = QHBoxLayout()
        head.addWidget(self.back, 0, Qt.AlignmentFlag.AlignTop)
        text = QVBoxLayout()
        text.addWidget(self.title)
        text.addWidget(self.details)
        head.addLayout(text, 1)
        head.addWidget(self.from_start, 0, Qt.AlignmentFlag.AlignTop)
        head.addWidget(self.read, 0, Qt.AlignmentFlag.AlignTop)

        self.export = QPushButton("Export…", self)
        self.export.setToolTip("Write a cleaned copy (CBZ) of this book")
        self.export.clicked.connect(lambda: self.book and self.export_requested.emit([self.book]))
        head.insertWidget(head.count() - 2, self.export, 0, Qt.AlignmentFlag.AlignTop)

        # Filter chips: one of All / Story only / Covers / Ads, or one class from "More".
        self.chips: dict[str, QToolButton] = {}
        self.chip_group = QButtonGroup(self)
        self.chip_group.setExclusive(True)
        chips = QHBoxLayout()
        chips.setSpacing(4)
        for key, (label, _classes) in PAGE_FILTERS.items():
            b = QToolButton(self)
            b.setText(label)
            b.setCheckable(True)
            b.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextOnly)
            b.clicked.connect(lambda _c=False, k=key: self.set_filter(k))
            self.chip_group.addButton(b)
            self.chips[key] = b
            chips.addWidget(b)
        self.more = QToolButton(self)
        self.more.setText("Class ▾")
        self.more.setCheckable(True)
        self.more.setPopupMode(QToolButton.ToolButtonPopupMode.InstantPopup)
        self.chip_group.addButton(self.more)
        menu = QMenu(self.more)
        self.class_actions: dict[str, QAction] = {}
        for c in PAGE_CLASSES:
            a = menu.addAction(class_name(c))
            a.triggered.connect(lambda _c=False, c=c: self.set_filter(f"class:{c}"))
            self.class_actions[c] = a
        self.more.setMenu(menu)
        chips.addWidget(self.more)
        chips.addStretch(1)
        self.shown_label = QLabel(self)
        self.shown_label.setStyleSheet("color: palette(placeholder-text);")
        chips.addWidget(self.shown_label)
        self.chips["all"].setChecked(True)

        self.delegate = PageDelegate(PAGE, lines=2, parent=self)
        self.grid = make_grid(self.model, self.delegate, self)
        self.grid.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        self.grid.activated.connect(self._activate)
        self.grid.doubleClicked.connect(self._activate)
        self.grid.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self.grid.customContextMenuRequested.connect(self._show_context_menu)
        self.note = QLabel(self)
        self.note.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.note.setWordWrap(True)
        self.note.hide()

        lay = QVBoxLayout(self)
        lay.setContentsMargins(12, 10, 12, 6)
        lay.addLayout(head)
        lay.addLayout(chips)
        lay.addWidget(self.grid, 1)
        lay.addWidget(self.note, 1)

    def set_session(self, session) -> None:
        self.session = session
        self.book = None
        self.loader.clear()
        self.model.set_pages(None, [])

    def show_book(self, book: BookItem) -> None:
        self.book = book
        ticket = self._tickets.next()
        self.loader.forget()
        self.model.set_pages(book.path, [], book.position)
        self.title.setText(book.title)
        self._describe(book)
        self.read.setText(f"Continue at page {book.position + 1}" if book.position is not None else "Read")
        self.from_start.setVisible(book.position is not None)
        if book.error:
            self._note(f"This book cannot be read: {book.error}")
            self.read.setEnabled(False)
            return
        self.read.setEnabled(True)
        self._note("")
        if self.session is None:
            return
        self.bridge.run(self.session.io, self.session.load_pages, book.id,
                        on_done=lambda pages: self._tickets.current(ticket) and self._pages(book, pages),
                        on_error=lambda e: self._tickets.current(ticket) and self._note(
                            f"The pages cannot be listed: {one_line(e)}"),
                        owner=self)

    def _pages(self, book: BookItem, pages: list[PageItem]) -> None:
        self.model.set_pages(book.path, pages, book.position)
        self._update_chips()
        if not pages:
            self._note("No pages are catalogued for this book yet.")
        row = self.model.row_of(book.position) if book.position is not None else None
        if row is not None:
            ix = self.model.index(row)
            self.grid.setCurrentIndex(ix)
            self.grid.scrollTo(ix)
        bad = sum(p.bad for p in pages)
        if bad:
            self.message.emit(f"{bad} page{'s' if bad != 1 else ''} of this book cannot be decoded")
        self.loaded.emit(len(pages))

    # -- filter --------------------------------------------------------------------------------
    def set_filter(self, key: str) -> None:
        """Show only the pages of a chip (``all``, ``story``, ``covers``, ``ads``) or of one class
        (``class:<name>``)."""
        self.model.set_filter(key)
        button = self.chips.get(key, self.more)
        if not button.isChecked():
            button.setChecked(True)
        self.more.setText(f"{class_name(key[6:])} ▾" if key.startswith("class:") else "Class ▾")
        self._update_chips()

    def _update_chips(self) -> None:
        counts = self.model.counts()
        for key, b in self.chips.items():
            label = PAGE_FILTERS[key][0]
            b.setText(label if key == "all" else f"{label} ({counts.get(key, 0)})")
        for c, a in self.class_actions.items():
            a.setText(f"{class_name(c)} ({counts.get(f'class:{c}', 0)})")
        total = len(self.model.all_pages())
        shown = self.model.rowCount()
        self.shown_label.setText(f"{shown} of {total} pages" if shown != total else
                                 f"{total} page{'s' if total != 1 else ''}")

    # -- labels ----------------------------------------------------------------------------------
    def selected_pages(self) -> list[PageItem]:
        rows = sorted(ix.row() for ix in self.grid.selectionModel().selectedIndexes())
        return [p for p in (self.model.page(r) for r in rows) if p is not None]

    def relabel(self, pages: list[int], label: str | None) -> None:
        """The person's label for these pages (None: clear theirs). Shown at once; written to the
        data dir on the I/O thread; then ``labels_saved`` (the library re-scores the rest)."""
        book, session = self.book, self.session
        if book is None or session is None or not pages:
            return
        if not book.content_key:
            self.message.emit("This book has no content key yet (still being scanned); try again in a moment")
            return
        if label is not None and label not in PAGE_CLASSES:
            raise ValueError(f"unknown page class {label!r}")
        by_index = {p.index: p for p in self.model.all_pages()}
        changed = {}
        for i in pages:
            p = by_index.get(i)
            if p is None:
                continue
            if label is not None:
                changed[i] = replace(p, label=label, source="user")
            elif p.source == "user":  # what shows instead comes back from the I/O thread
                changed[i] = replace(p, label=None, source=None)
        self.model.update_labels(changed)
        self._update_chips()
        n = len(pages)
        what = f"{n} page{'s' if n != 1 else ''}"

        def saved(_r) -> None:
            self.labels_saved.emit(book)
            self.message.emit(f"{what} labelled {class_name(label)}" if label else f"Your label cleared on {what}")
            self.reload_labels()

        def failed(exc) -> None:
            self.message.emit(f"Could not save the label: {one_line(exc)}")
            self.reload_labels()

        self.bridge.run(session.io, session.set_labels, book.content_key, list(pages), label,
                        on_done=saved, on_error=failed, owner=self)

    def reload_labels(self) -> None:
        """Read the shown book's labels again (after a relabel, a re-score or more analysis);
        rows are updated in place, the selection and scroll position stay."""
        book, session = self.book, self.session
        if book is None or session is None or session.closed:
            return
        ticket = self._tickets.next()

        def done(pages: list[PageItem]) -> None:
            if self._tickets.current(ticket) and self.book is book:
                self.apply_pages(pages)

        self.bridge.run(session.io, session.load_pages, book.id, on_done=done, owner=self)

    def apply_pages(self, pages: list[PageItem]) -> int:
        """New labels for the shown book's pages (more analysis, a re-score): only the rows that
        changed repaint; the selection, the current page and the scroll position stay, also when
        a filter chip now shows other pages. Returns how many pages changed."""
        book = self.book
        if book is None:
            return 0
        if len(pages) != len(self.model.all_pages()):
            self._pages(book, pages)
            return len(pages)
        old = {p.index: p for p in self.model.all_pages()}
        changed = {p.index: p for p in pages if old.get(p.index) is None or
                   (old[p.index].label, old[p.index].source, old[p.index].probs, old[p.index].hidden)
                   != (p.label, p.source, p.probs, p.hidden)}
        if not changed:
            return 0
        chosen = [p.index for p in self.selected_pages()]
        cur = item_data(self.grid.currentIndex(), ItemRole) if self.grid.currentIndex().isValid() else None
        bar = self.grid.verticalScrollBar()
        keep = bar.value()
        shown = self.model.shown_indexes()
        self.model.update_labels(changed)
        if self.model.shown_indexes() != shown:  # the filter's rows changed: the model was reset
            reselect(self.grid, chosen, cur.index if cur is not None else None)
            bar.setValue(keep)
        self._update_chips()
        return len(changed)

    def context_menu(self, index: QModelIndex) -> QMenu | None:
        """The menu for a right click on ``index`` (the selection when it is in it)."""
        page = item_data(index, ItemRole) if index.isValid() else None
        if page is None or self.book is None:
            return None
        sel = self.selected_pages()
        if page.index not in {p.index for p in sel}:
            self.grid.setCurrentIndex(index)
            sel = [page]
        targets = [p.index for p in sel]
        n = len(targets)
        menu = QMenu(self)
        a_read = menu.addAction(f"Read from page {page.index + 1}")
        a_read.triggered.connect(lambda: self.read_requested.emit(self.book, page.index))
        a_sim = menu.addAction("Find similar pages")
        a_sim.triggered.connect(lambda: self.similar_requested.emit(self.book, page.index, None))
        menu.addSeparator()
        sub = menu.addMenu(f"Label {'page' if n == 1 else f'{n} pages'} as")
        group = QActionGroup(sub)
        current = {p.label for p in sel if p.source == "user"}
        for c in PAGE_CLASSES:
            a = sub.addAction(class_name(c))
            a.setObjectName(f"label:{c}")
            a.setCheckable(True)
            a.setChecked(current == {c} and all(p.source == "user" for p in sel))
            group.addAction(a)
            a.triggered.connect(lambda _c=False, c=c: self.relabel(targets, c))
        a_clear = menu.addAction("Clear my label")
        a_clear.setObjectName("label:none")
        a_clear.setEnabled(any(p.source == "user" for p in sel))
        a_clear.triggered.connect(lambda: self.relabel(targets, None))
        return menu

    def _show_context_menu(self, pos) -> None:
        menu = self.context_menu(self.grid.indexAt(pos))
        if menu is not None:
            menu.exec(self.grid.viewport().mapToGlobal(pos))

    def update_position(self, content_key: str, page: int) -> None:
        if self.book is not None and self.book.content_key == content_key:
            self.book.position = page
            self.model.position = page
            self.read.setText(f"Continue at page {page + 1}")
            self.from_start.setVisible(True)
            self.grid.viewport().update()

    def _describe(self, b: BookItem) -> None:
        bits = []
        facts = [x for x in ((b.format or "").upper(), f"{b.pages} pages" if b.pages else "") if x]
        if b.series and b.subtitle not in (" · ".join(facts), ", ".join(b.authors)):
            bits.append(b.subtitle)  # "Series #1" (not when it says what the title says)
        if b.authors:
            bits.append("by " + ", ".join(b.authors))
        if b.position is not None and b.pages:
            facts.append(f"read to page {b.position + 1}")
        if facts:
            bits.append(" · ".join(facts))
        bits.append(b.path)
        self.details.setText("\n".join(bits))

    def _note(self, text: str) -> None:
        self.note.setText(text)
        self.note.setVisible(bool(text))
        self.grid.setVisible(not text)

    def _page_future(self, book_path: str, page: PageItem):
        return self.session.thumbs.page(book_path, page.index, known_hash=page.content_hash)

    def _activate(self, index: QModelIndex) -> None:
        page = item_data(index, ItemRole)
        if page is not None and self.book is not None:
            self.read_requested.emit(self.book, page.index)

    def keyPressEvent(self, event) -> None:  # noqa: N802
        if event.key() in (Qt.Key.Key_Escape, Qt.Key.Key_Backspace):
            self.back_requested.emit()
            event.accept()
            return
        super().keyPressEvent(event)
