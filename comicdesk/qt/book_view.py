"""The book view: a book's details and a grid of its page thumbnails. Activating a page opens the
reader there. (Page classes as badges come with analysis.)"""

from __future__ import annotations

from PySide6.QtCore import QModelIndex, QSize, Qt, Signal
from PySide6.QtWidgets import QHBoxLayout, QLabel, QPushButton, QVBoxLayout, QWidget

from comicdesk.qt.bridge import Tickets, one_line
from comicdesk.qt.delegates import CoverDelegate
from comicdesk.qt.library_view import make_grid
from comicdesk.qt.models import ItemRole, PageModel, item_data
from comicdesk.qt.session import BookItem, PageItem
from comicdesk.qt.thumbnails import ThumbLoader

PAGE = QSize(120, 180)


class BookView(QWidget):
    read_requested = Signal(object, object)  # BookItem, start page (None: the remembered one)
    back_requested = Signal()
    loaded = Signal(int)  # number of pages listed
    message = Signal(str)

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

        self.delegate = CoverDelegate(PAGE, lines=2, parent=self)
        self.grid = make_grid(self.model, self.delegate, self)
        self.grid.activated.connect(self._activate)
        self.grid.doubleClicked.connect(self._activate)
        self.note = QLabel(self)
        self.note.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.note.setWordWrap(True)
        self.note.hide()

        lay = QVBoxLayout(self)
        lay.setContentsMargins(12, 10, 12, 6)
        lay.addLayout(head)
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
        if not pages:
            self._note("No pages are catalogued for this book yet.")
        if book.position is not None and 0 <= book.position < len(pages):
            ix = self.model.index(book.position)
            self.grid.setCurrentIndex(ix)
            self.grid.scrollTo(ix)
        bad = sum(p.bad for p in pages)
        if bad:
            self.message.emit(f"{bad} page{'s' if bad != 1 else ''} of this book cannot be decoded")
        self.loaded.emit(len(pages))

    def update_position(self, content_key: str, page: int) -> None:
        if self.book is not None and self.book.content_key == content_key:
            self.book.position = page
            self.model.position = page
            self.read.setText(f"Continue at page {page + 1}")
            self.from_start.setVisible(True)
            self.grid.viewport().update()

    def _describe(self, b: BookItem) -> None:
        bits = []
        if b.series:
            bits.append(b.subtitle)
        if b.authors:
            bits.append("by " + ", ".join(b.authors))
        facts = [x for x in ((b.format or "").upper(), f"{b.pages} pages" if b.pages else "") if x]
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
