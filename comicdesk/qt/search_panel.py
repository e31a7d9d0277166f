"""The search sidebar: panels (or pages) like the one the person right-clicked, across the whole
library, and the one text search (``services.text_search``: panels and pages whose recognised
text holds the words first, then panels close in meaning — what ``comicdesk similar --text``
answers).

Queries run on the session's search thread (:meth:`LibrarySession.similar`,
:meth:`~LibrarySession.search_words`, :meth:`~LibrarySession.search_meaning`: a
:class:`comicdesk.search.service.SearchService` kept open there, so its indexes stay loaded).
Each result is shown as a crop of its panel (the whole page for a page result) with the book,
page and score (or "words"); the crops are cut on their own thread (:class:`CropSource`: the
books it opened stay open, a few at a time) and come back as ``QImage``. Filters: other books
only, story pages only, this series only. Activating a result emits
:attr:`SearchPanel.hit_activated` (the window opens that page, the panel highlighted).
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
    searched = Signal(int)  # results shown (a text query: once its meaning matches are in)
    words_found = Signal(int)  # a text query's word matches are shown (the meaning ones follow)

    def __init__(self, bridge, parent: QWidget | None = None):
        super().__init__(parent)
        self.bridge = bridge
        self.session = None
        self.hits: list[SearchHit] = []
        self.query: tuple | None = None  # ("similar", book_id, page, panel, title) | ("text", words)
        self._tickets = Tickets()
        self.crops = CropSource()
        self.crops_done = 0
        self.meaning_pending = False

        self.heading = QLabel("Right-click a panel in the reader → Find similar panels", self)
        self.heading.setWordWrap(True)
        f = self.heading.font()
        f.setBold(True)
        self.heading.setFont(f)
        self.context: tuple[int | None, str | None] = (None, None)  # the open book: id, series
        self.text = QLineEdit(self)
        self.text.setPlaceholderText("Search text: words first, then meaning…")
        self.text.setClearButtonEnabled(True)
        self.text.returnPressed.connect(lambda: self.search_text(self.text.text()))
        self.other_books = QCheckBox("Other books only", self)
        self.other_books.setToolTip("Leave out the book the panel comes from (and its copies)")
        self.story_only = QCheckBox("Story pages only", self)
        self.story_only.setToolTip("Only results on story pages (pages not classified yet are left out)")
        self.same_series = QCheckBox("This series only", self)
        self.same_series.setToolTip("Only results in books of the open book's series")
        self.same_series.setEnabled(False)
        self.other_books.toggled.connect(lambda _on: self.rerun())
        self.story_only.toggled.connect(lambda _on: self.rerun())
        self.same_series.toggled.connect(lambda _on: self.rerun())
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
        filters.addWidget(self.same_series)
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

    def set_context(self, book_id: int | None, series: str | None) -> None:
        """The book open in the app: a text query's *Other books only* leaves it out, and *This
        series only* keeps its series."""
        self.context = (book_id, series or None)
        self.same_series.setEnabled(bool(series))
        self.same_series.setToolTip(f"Only results in books of the series “{series}”" if series else
                                    "Open a book of a series to search only in that series")

    def _series(self) -> frozenset[str] | None:
        series = self.context[1]
        return frozenset({series}) if series and self.same_series.isChecked() else None

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
                            other_books=self.other_books.isChecked(), classes=classes, series=self._series(),
                            on_done=done, on_error=failed, owner=self)
        else:
            self._text_query(session, q[1], ticket, classes)

    def _text_query(self, session, words: str, ticket: int, classes) -> None:
        """The one text search (``services.text_search``) on the search thread, in two steps:
        the word matches are shown as soon as they are found, the meaning matches added after
        (the text encoder may take seconds to load the first time)."""
        self.heading.setText(f"Text “{words}”: words first, then meaning")
        self.status.setText("Searching…")
        opts = dict(k=RESULTS, other_books=self.other_books.isChecked(), classes=classes,
                    series=self._series(), book_id=self.context[0])

        def failed(exc: BaseException) -> None:
            if self._tickets.current(ticket):
                self._show([], one_line(exc))

        def meaning(more) -> None:
            if not self._tickets.current(ticket):
                return
            hits = self.hits + list(more)
            self._append(list(more), ticket)
            self.meaning_pending = False
            self._say_text(words, hits, getattr(more, "notice", ""))
            self.searched.emit(len(hits))

        def meaning_failed(exc: BaseException) -> None:
            if self._tickets.current(ticket):
                self.meaning_pending = False
                self._say_text(words, self.hits, f"meaning: {one_line(exc)}")
                self.searched.emit(len(self.hits))

        def found(hits) -> None:
            if not self._tickets.current(ticket):
                return
            self.meaning_pending = True
            self._show(hits, "", ticket, emit=False)
            self._say_text(words, hits, getattr(hits, "notice", ""), pending=True)
            self.words_found.emit(len(hits))
            self.bridge.run(session.search_exec, session.search_meaning, words, list(hits), **opts,
                            on_done=meaning, on_error=meaning_failed, owner=self)

        self.bridge.run(session.search_exec, session.search_words, words, **opts,
                        on_done=found, on_error=failed, owner=self)

    def _say_text(self, words: str, hits, notice: str = "", pending: bool = False) -> None:
        n_words = sum(1 for h in hits if h.match == "words")
        n_meaning = len(hits) - n_words
        if not hits and not pending:
            line = f"Nothing holds “{words}” or is close to it in meaning"
        else:
            line = f"{n_words} with the words" + (" · looking for panels close in meaning…" if pending else
                                                  f" · {n_meaning} close in meaning")
        self.status.setText(line + (f" · {notice}" if notice else ""))

    # -- showing ---------------------------------------------------------------------------------
    def _show(self, hits: list[SearchHit], status: str, ticket: int | None = None, emit: bool = True) -> None:
        self.hits = []
        self.results.clear()
        same = getattr(hits, "same_as_query", 0)
        notice = getattr(hits, "notice", "")
        self.status.setText((status or f"{len(hits)} result{'s' if len(hits) != 1 else ''}" + (
            f" · this {'panel' if self.query and self.query[0] == 'similar' and self.query[3] is not None else 'page'}"
            f" is also in {same} other {'copy' if same == 1 else 'copies'}" if same else ""))
            + (f" · {notice}" if notice else ""))
        self._append(hits, ticket)
        if emit:
            self.searched.emit(len(hits))

    def _append(self, hits: list[SearchHit], ticket: int | None) -> None:
        """Add results at the end of the list (their crops are cut on the crop thread)."""
        placeholder = QPixmap(CROP)
        placeholder.fill(QColor(70, 70, 74))
        start = len(self.hits)
        self.hits.extend(hits)
        for n, h in enumerate(hits, start):
            where = f"page {h.page + 1}" + (f", panel {h.panel + 1}" if h.panel is not None else "")
            item = QListWidgetItem(QIcon(placeholder), f"{h.title}\n{' · '.join(self._bits(h))}")
            tip = f"{h.book}\n{where}" + (f"\nscore {h.score:.3f}" if h.score is not None else "")
            if h.match:
                tip += "\nthe text holds the words" if h.match == "words" else "\nclose in meaning"
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

    def book_analysed(self, book_id: int, labels: dict) -> None:
        """A book's new analysis: its results' class names change in place; a query about that
        book that found nothing yet (it was not indexed) runs again."""
        q = self.query
        if q is not None and q[0] == "similar" and q[1] in (book_id, None) and not self.hits:
            if q[1] is None:
                return  # the window asks again with the book's id
            self.rerun()
            return
        from dataclasses import replace

        for n, h in enumerate(self.hits):
            if h.book_id != book_id:
                continue
            label = (labels.get(h.page) or (None,))[0]
            if label != h.label and n < self.results.count():
                self.hits[n] = h = replace(h, label=label)
                item = self.results.item(n)
                item.setText(f"{h.title}\n{' · '.join(self._bits(h))}")

    def _cropped(self, ticket: int, n: int, img: QImage | None) -> None:
        if img is None or not self._tickets.current(ticket) or n >= self.results.count():
            return
        self.results.item(n).setIcon(QIcon(QPixmap.fromImage(img)))
        self.crops_done += 1

    def _crop_failed(self, ticket: int, n: int, exc: BaseException) -> None:
        if self._tickets.current(ticket) and n < self.results.count():
            item = self.results.item(n)
            item.setToolTip(item.toolTip() + f"\n(no picture: {one_line(exc)})")

    @staticmethod
    def _bits(h: SearchHit) -> list[str]:
        """The second line of a result: where, how it matched (or its score), its class."""
        bits = [f"page {h.page + 1}" + (f", panel {h.panel + 1}" if h.panel is not None else "")]
        if h.match == "words":
            bits.append("words")
        elif h.score is not None:
            bits.append(f"{h.score:.2f}")
        if h.label:
            bits.append(class_name(h.label))
        if h.copies:
            bits.append(f"+{len(h.copies)} {'copy' if len(h.copies) == 1 else 'copies'}")
        return bits

    def _activate(self, item: QListWidgetItem) -> None:
        n = item.data(Qt.ItemDataRole.UserRole)
        if isinstance(n, int) and 0 <= n < len(self.hits):
            self.hit_activated.emit(self.hits[n])

    def close_panel(self) -> None:
        self.crops.close()
