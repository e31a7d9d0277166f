"""The search sidebar: panels (or pages) like the one the person right-clicked, across the whole
library, and pages whose text holds some words.

Queries run on the session's search thread (:meth:`LibrarySession.similar`, a
:class:`comicdesk.search.service.SearchService` kept open there, so its indexes stay loaded) or its
I/O thread (:meth:`LibrarySession.search_text`, the catalogue's page text). Each result is shown as
a crop of its panel (the whole page for a page result) with the book, page and score; the crops
are cut on their own thread (:class:`CropSource`: the books it opened stay open, a few at a time)
and come back as ``QImage``. Filters: other books only, story pages only. Activating a result
emits :attr:`SearchPanel.hit_activated` (the window opens that page, the panel highlighted).
"""

from __future__ import annotations

import logging
import threading
from collections import OrderedDict

from PySide6.QtCore import QSize, Qt, Signal
from PySide6.QtGui import QColor, QIcon, QImage, QPixmap
from PySide6.QtWidgets import (
    QCheckBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListView,
    QListWidget,
    QListWidgetItem,
    QVBoxLayout,
    QWidget,
)

from comicdesk.core.pages import GROUPS
from comicdesk.core.threads import lower_thread_priority
from comicdesk.qt.bridge import Tickets, one_line
from comicdesk.qt.models import class_name
from comicdesk.services.session import SearchHit
from comicdesk.services.threads import EagerThreadPool

log = logging.getLogger("comicdesk.qt")

CROP = QSize(112, 112)
RESULTS = 30  # results asked for per query
OPEN_BOOKS = 3  # books the crop thread keeps open


class CropSource:
    """Cuts result crops on one thread (archive readers are not thread-safe), keeping the last
    few books open: results come in runs from the same books."""

    def __init__(self):
        self.executor = EagerThreadPool(max_workers=1, thread_name_prefix="comicdesk-crops",
                                           initializer=lower_thread_priority, initargs=(5,))
        self._books: OrderedDict[str, object] = OrderedDict()
        self._wanted = 0
        self._lock = threading.Lock()

    def want(self, ticket: int) -> None:
        """(main thread) Crops asked for under an older ticket are skipped."""
        with self._lock:
            self._wanted = ticket

    def crop(self, ticket: int, path: str, page: int, box, size: QSize) -> QImage | None:
        with self._lock:
            if ticket != self._wanted:
                return None
        book = self._books.get(path)
        if book is None:
            from comicdesk.services.books import open_book

            book = open_book(path)
            self._books[path] = book
            while len(self._books) > OPEN_BOOKS:
                _p, old = self._books.popitem(last=False)
                old.close()
        self._books.move_to_end(path)
        im = book.image(page)
        if box:
            x, y, w, h = (int(v) for v in box)
            x0, y0 = max(0, x), max(0, y)
            x1, y1 = min(im.width, x + w), min(im.height, y + h)
            if x1 > x0 and y1 > y0:
                im = im.crop((x0, y0, x1, y1))
        im = im.convert("RGB")
        im.thumbnail((size.width(), size.height()))
        data = im.tobytes()
        return QImage(data, im.width, im.height, 3 * im.width, QImage.Format.Format_RGB888).copy()

    def _close_all(self) -> None:
        for book in self._books.values():
            try:
                book.close()
            except Exception:  # noqa: BLE001
                pass
        self._books.clear()

    def close(self) -> None:
        self.want(-1)
        try:
            self.executor.submit(self._close_all)
        except RuntimeError:
            pass
        self.executor.shutdown(wait=False, cancel_futures=False)


class SearchPanel(QWidget):
    """The sidebar. Public state for tests: ``hits``, ``results`` (the list), ``status``."""

    hit_activated = Signal(object)  # SearchHit
    searched = Signal(int)  # results shown

    def __init__(self, bridge, parent: QWidget | None = None):
        super().__init__(parent)
        self.bridge = bridge
        self.session = None
        self.hits: list[SearchHit] = []
        self.query: tuple | None = None  # ("similar", book_id, page, panel, title) | ("text", words)
        self._tickets = Tickets()
        self.crops = CropSource()
        self.crops_done = 0

        self.heading = QLabel("Right-click a panel in the reader → Find similar panels", self)
        self.heading.setWordWrap(True)
        f = self.heading.font()
        f.setBold(True)
        self.heading.setFont(f)
        self.text = QLineEdit(self)
        self.text.setPlaceholderText("Search page text…")
        self.text.setClearButtonEnabled(True)
        self.text.returnPressed.connect(lambda: self.search_text(self.text.text()))
        self.other_books = QCheckBox("Other books only", self)
        self.other_books.setToolTip("Leave out the book the panel comes from (and its copies)")
        self.story_only = QCheckBox("Story pages only", self)
        self.story_only.setToolTip("Only results on story pages (pages not classified yet are left out)")
        self.other_books.toggled.connect(lambda _on: self.rerun())
        self.story_only.toggled.connect(lambda _on: self.rerun())
        self.status = QLabel("", self)
        self.status.setWordWrap(True)
        self.status.setStyleSheet("color: palette(placeholder-text);")
        self.results = QListWidget(self)
        self.results.setViewMode(QListView.ViewMode.ListMode)
        self.results.setIconSize(CROP)  # after the view mode, which resets it
        self.results.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.results.setTextElideMode(Qt.TextElideMode.ElideRight)
        self.results.setUniformItemSizes(True)
        self.results.setSpacing(2)
        self.results.setWordWrap(True)
        self.results.itemActivated.connect(self._activate)
        self.results.itemClicked.connect(self._activate)

        filters = QHBoxLayout()
        filters.addWidget(self.other_books)
        filters.addWidget(self.story_only)
        filters.addStretch(1)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(8, 6, 8, 6)
        lay.addWidget(self.text)
        lay.addWidget(self.heading)
        lay.addLayout(filters)
        lay.addWidget(self.status)
        lay.addWidget(self.results, 1)
        self.setMinimumWidth(300)

    # -- queries ---------------------------------------------------------------------------------
    def set_session(self, session) -> None:
        self.session = session
        self.query = None
        self._show([], "")
        self.heading.setText("Right-click a panel in the reader → Find similar panels")

    def find_similar(self, book_id: int | None, page: int, panel: int | None, title: str = "") -> None:
        """Panels like panel ``panel`` of ``page`` (None: pages like the page)."""
        self.query = ("similar", book_id, page, panel, title)
        self.rerun()

    def search_text(self, words: str) -> None:
        words = " ".join(words.split())
        if not words:
            return
        if self.text.text().strip() != words:
            self.text.setText(words)
        self.query = ("text", words)
        self.rerun()

    def rerun(self) -> None:
        """Run the current query again (a filter changed)."""
        q, session = self.query, self.session
        if q is None:
            return
        ticket = self._tickets.next()
        self.crops.want(ticket)
        if session is None or session.closed:
            self._show([], "Open a library first")
            return

        def done(hits: list[SearchHit]) -> None:
            if self._tickets.current(ticket):
                self._show(hits, "" if hits else ("No similar panels found" if q[0] == "similar" and q[3] is not None
                                                  else "No similar pages found" if q[0] == "similar"
                                                  else f"No page text holds “{q[1]}”"), ticket)

        def failed(exc: BaseException) -> None:
            if self._tickets.current(ticket):
                self._show([], one_line(exc))

        classes = GROUPS["story-only"] if self.story_only.isChecked() else None
        if q[0] == "similar":
            _kind, book_id, page, panel, title = q
            what = f"panel {panel + 1} of page {page + 1}" if panel is not None else f"page {page + 1}"
            self.heading.setText(f"Similar {'panels' if panel is not None else 'pages'} to {what}"
                                 + (f" — {title}" if title else ""))
            if book_id is None:
                self._show([], "This book is not indexed yet: it is analysed in the background")
                return
            self.status.setText("Searching…")
            self.bridge.run(session.search_exec, session.similar, book_id, page, panel, k=RESULTS,
                            other_books=self.other_books.isChecked(), classes=classes,
                            on_done=done, on_error=failed, owner=self)
        else:
            self.heading.setText(f"Pages with “{q[1]}”")
            self.status.setText("Searching…")

            def text_hits():
                hits = session.search_text(q[1], limit=RESULTS * 4)
                if classes is not None:
                    labels: dict[int, dict] = {}
                    kept = []
                    for h in hits:
                        if h.book_id not in labels:
                            labels[h.book_id] = session.page_labels(h.book_id)
                        lab = labels[h.book_id].get(h.page, (None, False))[0]
                        if lab in classes:
                            kept.append(h)
                    hits = kept
                return hits[:RESULTS]

            self.bridge.run(session.io, text_hits, on_done=done, on_error=failed, owner=self)

    # -- showing ---------------------------------------------------------------------------------
    def _show(self, hits: list[SearchHit], status: str, ticket: int | None = None) -> None:
        self.hits = list(hits)
        self.results.clear()
        same = getattr(hits, "same_as_query", 0)
        notice = getattr(hits, "notice", "")
        self.status.setText((status or f"{len(hits)} result{'s' if len(hits) != 1 else ''}" + (
            f" · this {'panel' if self.query and self.query[0] == 'similar' and self.query[3] is not None else 'page'}"
            f" is also in {same} other {'copy' if same == 1 else 'copies'}" if same else ""))
            + (f" · {notice}" if notice else ""))
        placeholder = QPixmap(CROP)
        placeholder.fill(QColor(70, 70, 74))
        for n, h in enumerate(hits):
            where = f"page {h.page + 1}" + (f", panel {h.panel + 1}" if h.panel is not None else "")
            bits = [where]
            if h.score is not None:
                bits.append(f"{h.score:.2f}")
            if h.label:
                bits.append(class_name(h.label))
            if h.copies:
                bits.append(f"+{len(h.copies)} {'copy' if len(h.copies) == 1 else 'copies'}")
            item = QListWidgetItem(QIcon(placeholder), f"{h.title}\n{' · '.join(bits)}")
            tip = f"{h.book}\n{where}" + (f"\nscore {h.score:.3f}" if h.score is not None else "")
            if h.copies:
                tip += "\nalso in:\n" + "\n".join(h.copies)
            if h.text:
                tip += f"\n“{h.text[:300]}”"
            item.setToolTip(tip)
            item.setData(Qt.ItemDataRole.UserRole, n)
            item.setSizeHint(QSize(CROP.width() + 160, CROP.height() + 8))
            self.results.addItem(item)
            if ticket is not None:
                self.bridge.run(self.crops.executor, self.crops.crop, ticket, h.book, h.page, h.box, CROP,
                                on_done=lambda img, n=n, t=ticket: self._cropped(t, n, img),
                                on_error=lambda e, n=n, t=ticket: self._crop_failed(t, n, e), owner=self)
        self.searched.emit(len(hits))

    def _cropped(self, ticket: int, n: int, img: QImage | None) -> None:
        if img is None or not self._tickets.current(ticket) or n >= self.results.count():
            return
        self.results.item(n).setIcon(QIcon(QPixmap.fromImage(img)))
        self.crops_done += 1

    def _crop_failed(self, ticket: int, n: int, exc: BaseException) -> None:
        if self._tickets.current(ticket) and n < self.results.count():
            item = self.results.item(n)
            item.setToolTip(item.toolTip() + f"\n(no picture: {one_line(exc)})")

    def _activate(self, item: QListWidgetItem) -> None:
        n = item.data(Qt.ItemDataRole.UserRole)
        if isinstance(n, int) and 0 <= n < len(self.hits):
            self.hit_activated.emit(self.hits[n])

    def close_panel(self) -> None:
        self.crops.close()
