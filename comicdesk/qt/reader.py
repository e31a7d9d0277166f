"""The reader: one book, page by page (single or double-page spreads, left-to-right or right-to-left)
or as one continuous vertical strip, fitted to the width, the height or the whole page, zoomable.

The book is opened and its pages decoded on the book's own thread (:class:`PageSource`: archive
readers are not thread-safe, and one thread keeps a solid archive's reads in order). Pages are
decoded and scaled to the size they are shown at there, then handed to the main thread as
``QImage``; the canvas paints what it has (a scaled stand-in while a sharper image is on its way,
a placeholder before the first) and never waits.

The reading position is saved (debounced) in the library's ``user.sqlite`` through the session's
I/O thread, keyed by the book's content key, so it survives a restart, a move or a rename.
"""

from __future__ import annotations

import logging
import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path

from PySide6.QtCore import QEvent, QPoint, QRect, QSize, Qt, QTimer, Signal
from PySide6.QtGui import (
    QAction,
    QActionGroup,
    QColor,
    QFont,
    QImage,
    QKeySequence,
    QPainter,
    QPalette,
    QPen,
)
from PySide6.QtWidgets import (
    QHBoxLayout,
    QLabel,
    QMenu,
    QScrollArea,
    QSlider,
    QToolBar,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from comicdesk.core.pages import GROUPS
from comicdesk.qt import reading
from comicdesk.qt.bridge import Bridge, Tickets, one_line
from comicdesk.services.threads import EagerThreadPool

log = logging.getLogger("comicdesk.qt")

FULL_CACHE_BYTES = 160 * 1024 * 1024  # decoded full-size pages kept on the book's thread
SHOWN_CACHE = 16  # display-size images kept on the main thread
STORY = GROUPS["story-only"]
PANEL_PEN = QColor(0, 200, 255)
HIGHLIGHT_PEN = QColor(255, 170, 0)
WHEEL_TURN = 240  # wheel delta past the edge that turns the page (two notches)


@dataclass
class BookMeta:
    path: str
    count: int
    rtl: bool  # ComicInfo says the book reads right to left
    content_key: str | None
    title: str
    format: str
    sizes: list[tuple[int, int] | None] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


class PageSource:
    """One open book on its own thread. Every method but :meth:`close` runs on ``executor``."""

    def __init__(self, path: str | Path):
        self.path = str(path)
        self.executor = EagerThreadPool(max_workers=1, thread_name_prefix="comicdesk-reader")
        self._book = None
        self._full: OrderedDict[int, QImage] = OrderedDict()
        self._full_bytes = 0
        self._wanted: set[int] | None = None  # None: everything is wanted
        self._lock = threading.Lock()

    def want(self, pages: set[int] | None) -> None:
        """(main thread) Pages still worth rendering; queued renders of others are skipped."""
        with self._lock:
            self._wanted = None if pages is None else set(pages)

    def open(self, known_key: str | None = None, with_sizes: bool = False) -> BookMeta:
        from comicdesk.services.books import open_book

        self._book = open_book(self.path)
        book = self._book
        info = book.comicinfo()
        rtl = bool(info is not None and info.manga_right_to_left)
        key = known_key
        if key is None:
            from comicdesk.services.session import content_key_for

            try:
                key = content_key_for(self.path)
            except Exception as exc:  # noqa: BLE001 - reading still works, the position is not kept
                log.warning("no content key for %s: %s", self.path, one_line(exc))
        title = (getattr(info, "title", None) or "").strip() if info is not None else ""
        meta = BookMeta(self.path, len(book), rtl, key, title or Path(self.path).stem, book.format,
                        warnings=list(book.warnings))
        if with_sizes:
            meta.sizes = self.sizes()
        return meta

    def sizes(self) -> list[tuple[int, int] | None]:
        from comicdesk.core.errors import PageError

        out: list[tuple[int, int] | None] = [None] * len(self._book)
        for i, info in self._book.page_infos():
            if not isinstance(info, PageError):
                out[i] = (info.width, info.height)
        return out

    def render(self, index: int, w: int, h: int) -> tuple[int, QImage | None, str | None]:
        """(index, image scaled to w×h, None) or (index, None, reason); (index, None, None) when
        the page is no longer wanted."""
        with self._lock:
            if self._wanted is not None and index not in self._wanted:
                return index, None, None
        try:
            full = self._decoded(index)
        except Exception as exc:  # noqa: BLE001 - shown on the page itself
            return index, None, one_line(exc)
        if full.width() == w and full.height() == h:
            return index, full, None
        mode = Qt.TransformationMode.SmoothTransformation
        return index, full.scaled(w, h, Qt.AspectRatioMode.IgnoreAspectRatio, mode), None

    def _decoded(self, index: int) -> QImage:
        img = self._full.get(index)
        if img is not None:
            self._full.move_to_end(index)
            return img
        im = self._book.image(index)  # 8-bit RGB, bounded by the book's limits
        data = im.tobytes()
        img = QImage(data, im.width, im.height, 3 * im.width, QImage.Format.Format_RGB888).copy()
        self._full[index] = img
        self._full_bytes += img.sizeInBytes()
        while self._full_bytes > FULL_CACHE_BYTES and len(self._full) > 1:
            _k, old = self._full.popitem(last=False)
            self._full_bytes -= old.sizeInBytes()
        return img

    def _close(self) -> None:
        self._full.clear()
        if self._book is not None:
            self._book.close()
            self._book = None

    def close(self) -> None:
        self.want(set())
        try:
            self.executor.submit(self._close)
        except RuntimeError:
            pass
        self.executor.shutdown(wait=False, cancel_futures=True)


class ReaderCanvas(QWidget):
    """Paints the placed pages; asks the reader for images of the pages it exposes."""

    def __init__(self, reader: "ReaderView"):
        super().__init__()
        self.reader = reader
        self.placements: list[reading.Placement] = []
        self.message = ""
        self.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.setAttribute(Qt.WidgetAttribute.WA_OpaquePaintEvent, True)
        self._press: QPoint | None = None
        self._press_scroll: tuple[int, int] | None = None
        self._dragged = False

    def paintEvent(self, event) -> None:  # noqa: N802
        p = QPainter(self)
        bg = QColor(32, 32, 34)
        p.fillRect(event.rect(), bg)
        exposed = event.rect()
        if self.message and not self.placements:
            p.setPen(QColor(230, 230, 230))
            p.drawText(self.rect().adjusted(24, 24, -24, -24),
                       Qt.AlignmentFlag.AlignCenter | Qt.TextFlag.TextWordWrap, self.message)
            return
        visible = self.reader.visible_rect()
        for pl in self.placements:
            rect = QRect(pl.x, pl.y, pl.w, pl.h)
            if not rect.intersects(exposed):
                continue
            on_screen = rect.intersects(visible)
            img, error = self.reader.image_for(pl.index, pl.w, pl.h, request=on_screen)
            if img is not None:
                exact = img.width() == round(pl.w * img.devicePixelRatio())
                p.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform, not exact)
                p.drawImage(rect, img)
            else:
                p.fillRect(rect, QColor(58, 58, 62))
                p.setPen(QColor(200, 200, 200))
                text = f"Page {pl.index + 1}"
                if error:
                    text += f"\ncannot be shown: {error}"
                p.drawText(rect.adjusted(12, 12, -12, -12),
                           Qt.AlignmentFlag.AlignCenter | Qt.TextFlag.TextWordWrap, text)
            self.reader.paint_overlay(p, pl)

    def contextMenuEvent(self, event) -> None:  # noqa: N802
        menu = self.reader.context_menu(event.pos())
        if menu is not None:
            menu.exec(event.globalPos())

    # -- mouse: click a side to turn, drag to pan ---------------------------------------------
    def mousePressEvent(self, event) -> None:  # noqa: N802
        if event.button() == Qt.MouseButton.LeftButton:
            self._press = event.globalPosition().toPoint()
            self._press_scroll = self.reader.scroll_position()
            self._dragged = False
        super().mousePressEvent(event)

    def mouseMoveEvent(self, event) -> None:  # noqa: N802
        if self._press is not None:
            delta = event.globalPosition().toPoint() - self._press
            if self._dragged or delta.manhattanLength() > 6:
                if not self._dragged:
                    self.setCursor(Qt.CursorShape.ClosedHandCursor)
                self._dragged = True
                sx, sy = self._press_scroll
                self.reader.set_scroll_position(sx - delta.x(), sy - delta.y())
        super().mouseMoveEvent(event)

    def mouseReleaseEvent(self, event) -> None:  # noqa: N802
        if event.button() == Qt.MouseButton.LeftButton and self._press is not None:
            if not self._dragged:
                self.reader.click_at(self.mapTo(self.reader.scroll.viewport(), event.position().toPoint()))
            self.unsetCursor()
            self._press = None
        super().mouseReleaseEvent(event)

    def mouseDoubleClickEvent(self, event) -> None:  # noqa: N802
        self.reader.toggle_fullscreen()


class ReaderView(QWidget):
    """A book being read. Public state for tests: ``page``, ``count``, ``shown()``, ``rtl``,
    ``double``, ``continuous``, ``fit``, ``zoom``."""

    page_changed = Signal(int)
    similar_requested = Signal(str, object, int, object)  # book path, book id, page, panel (None: pages)
    analysis_loaded = Signal()
    position_saved = Signal(str, int)  # content key, page
    back_requested = Signal()
    opened = Signal(object)  # BookMeta
    failed = Signal(str)
    message = Signal(str)  # one line for the status bar

    def __init__(self, bridge: Bridge, parent: QWidget | None = None, *, fit: str = "page",
                 double: bool = False, continuous: bool = False):
        super().__init__(parent)
        self.bridge = bridge
        self.session = None
        self.source: PageSource | None = None
        self.meta: BookMeta | None = None
        self.count = 0
        self.page = 0
        self.sizes: list[tuple[int, int] | None] = []
        self.rtl = False
        self.double = double
        self.shift = False
        self.continuous = continuous
        self.fit = fit if fit in reading.FITS else "page"
        self.zoom = 1.0
        self.groups: list[tuple[int, ...]] = []
        self._tickets = Tickets()
        self._ticket = 0
        self._shown: OrderedDict[int, QImage] = OrderedDict()
        self._errors: dict[int, str] = {}
        self._inflight: dict[int, tuple[int, int]] = {}
        self._wheel = 0
        self._saved_page: int | None = None
        # from the analysis (the session's I/O thread): panels per page, labels per page
        self.book_id: int | None = None
        self.panels: dict[int, list[tuple[int, int, int, int]]] = {}
        self.labels: dict[int, tuple[str | None, bool, bool | None]] = {}  # (label, hidden, sure)
        self.show_panels = False
        self.story_only = False
        self.guided = False
        self.panel = 0  # guided view: the panel shown, in reading order
        self.highlight: tuple[int, tuple[int, int, int, int]] | None = None  # (page, box)
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)

        self.toolbar = QToolBar("Reader", self)
        self.toolbar.setIconSize(QSize(18, 18))
        self.toolbar.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextOnly)
        self.toolbar.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.scroll = QScrollArea(self)
        self.scroll.setWidgetResizable(False)
        self.scroll.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.scroll.setFrameShape(QScrollArea.Shape.NoFrame)
        self.scroll.setAlignment(Qt.AlignmentFlag.AlignCenter)
        pal = self.scroll.palette()
        pal.setColor(QPalette.ColorRole.Window, QColor(32, 32, 34))
        self.scroll.setPalette(pal)
        self.scroll.setBackgroundRole(QPalette.ColorRole.Window)
        self.canvas = ReaderCanvas(self)
        self.scroll.setWidget(self.canvas)
        self.scroll.viewport().installEventFilter(self)
        self.scroll.verticalScrollBar().valueChanged.connect(self._scrolled)
        self.slider = QSlider(Qt.Orientation.Horizontal, self)
        self.slider.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.slider.setMinimum(1)
        self.slider.valueChanged.connect(self._slider_moved)
        self.book_title = QLabel(self)
        self.book_title.setMaximumWidth(420)
        self.where = QLabel(self)
        self.where.setMinimumWidth(110)
        self.where.setAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)

        bottom = QHBoxLayout()
        bottom.setContentsMargins(8, 2, 8, 4)
        bottom.addWidget(self.book_title)
        bottom.addWidget(self.slider, 1)
        bottom.addWidget(self.where)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.setSpacing(0)
        lay.addWidget(self.toolbar)
        lay.addWidget(self.scroll, 1)
        lay.addLayout(bottom)
        self._build_actions()

        self._save_timer = QTimer(self)
        self._save_timer.setSingleShot(True)
        self._save_timer.setInterval(400)
        self._save_timer.timeout.connect(self.save_position)
        self._layout_timer = QTimer(self)
        self._layout_timer.setSingleShot(True)
        self._layout_timer.setInterval(30)
        self._layout_timer.timeout.connect(self._relayout)

    # -- actions ---------------------------------------------------------------------------------
    def _act(self, text: str, shortcut, slot, *, checkable=False, tip: str = "") -> QAction:
        a = QAction(text, self)
        if shortcut:
            a.setShortcuts([QKeySequence(s) for s in (shortcut if isinstance(shortcut, (list, tuple)) else [shortcut])])
            a.setShortcutContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)
        a.setCheckable(checkable)
        if tip or shortcut:
            keys = shortcut if isinstance(shortcut, str) else (shortcut[0] if shortcut else "")
            a.setToolTip(f"{tip or text} ({keys})" if keys else (tip or text))
        if checkable:
            a.toggled.connect(slot)
        else:
            a.triggered.connect(slot)
        self.addAction(a)
        return a

    def _build_actions(self) -> None:
        tb = self.toolbar
        self.act_back = self._act("← Library", None, self.back_requested.emit, tip="Back (Esc)")
        tb.addAction(self.act_back)
        tb.addSeparator()
        self.act_prev = self._act("‹ Previous", None, self.previous, tip="Previous page (←, PgUp)")
        self.act_next = self._act("Next ›", None, self.next, tip="Next page (→, Space, PgDn)")
        tb.addAction(self.act_prev)
        tb.addAction(self.act_next)
        tb.addSeparator()
        fits = QActionGroup(self)
        self.fit_actions = {}
        for key, label, sc in (("page", "Fit page", "P"), ("width", "Fit width", "W"),
                               ("height", "Fit height", "H"), ("original", "1:1", "1")):
            a = self._act(label, sc, lambda checked, k=key: checked and self.set_fit(k), checkable=True)
            fits.addAction(a)
            tb.addAction(a)
            self.fit_actions[key] = a
        self.fit_actions[self.fit].setChecked(True)
        tb.addSeparator()
        self.act_zoom_out = self._act("−", ["-", "Ctrl+-"], self.zoom_out, tip="Zoom out")
        self.act_zoom_in = self._act("+", ["+", "=", "Ctrl++", "Ctrl+="], self.zoom_in, tip="Zoom in")
        self.act_zoom_reset = self._act("100%", ["0", "Ctrl+0"], self.zoom_reset, tip="Reset zoom")
        for a in (self.act_zoom_out, self.act_zoom_reset, self.act_zoom_in):
            tb.addAction(a)
        tb.addSeparator()
        self.act_double = self._act("Two pages", "D", self.set_double, checkable=True,
                                    tip="Double-page spreads")
        self.act_shift = self._act("Shift", "O", self.set_shift, checkable=True,
                                   tip="Pair the cover with page 2 (fixes spreads one page off)")
        self.act_rtl = self._act("Right to left", "R", self.set_rtl, checkable=True,
                                 tip="Manga: read right to left")
        self.act_continuous = self._act("Scroll", "C", self.set_continuous, checkable=True,
                                        tip="Continuous vertical scroll")
        self.act_fullscreen = self._act("Full screen", ["F11", "F"], self.toggle_fullscreen)
        for a in (self.act_double, self.act_shift, self.act_rtl, self.act_continuous, self.act_fullscreen):
            tb.addAction(a)
        tb.addSeparator()
        self.act_panels = self._act("Panels", "B", self.set_show_panels, checkable=True,
                                    tip="Show the panels, numbered in reading order")
        self.act_guided = self._act("Guided", "G", self.set_guided, checkable=True,
                                    tip="Guided view: panel by panel, in reading order")
        self.act_story = self._act("Story only", "S", self.set_story_only, checkable=True,
                                   tip="Skip pages that are not story (covers, ads, ...)")
        for a in (self.act_panels, self.act_guided, self.act_story):
            tb.addAction(a)
        self.act_double.setChecked(self.double)
        self.act_continuous.setChecked(self.continuous)
        for a in tb.actions():
            w = tb.widgetForAction(a)
            if isinstance(w, QToolButton):
                w.setFocusPolicy(Qt.FocusPolicy.NoFocus)

    # -- opening ---------------------------------------------------------------------------------
    def open_book(self, path: str | Path, session=None, *, start: int | None = None,
                  content_key: str | None = None, sizes: list | None = None,
                  title: str | None = None) -> None:
        """Open ``path`` (off the main thread); ``start`` overrides the remembered position."""
        self.close_book()
        self.session = session
        self._ticket = ticket = self._tickets.next()
        self.source = source = PageSource(path)
        self.canvas.placements = []
        self.canvas.message = f"Opening {Path(path).name}…"
        self.canvas.update()
        self.where.setText("")
        known_sizes = sizes if sizes and any(sizes) else None

        def opened(meta: BookMeta) -> None:
            if ticket != self._ticket:
                return
            if known_sizes:
                meta.sizes = list(known_sizes)
            if title:
                meta.title = title
            if session is not None and meta.content_key and not session.closed:
                self.bridge.run(session.io, _book_state, session, meta.content_key,
                                on_done=lambda st: ticket == self._ticket and self._start(meta, st, start),
                                on_error=lambda _e: ticket == self._ticket and self._start(meta, (None, {}), start),
                                owner=self)
            else:
                self._start(meta, (None, {}), start)

        def failed(exc: BaseException) -> None:
            if ticket != self._ticket:
                return
            reason = one_line(exc)
            self.canvas.message = f"{Path(path).name} cannot be opened: {reason}"
            self.canvas.update()
            self.failed.emit(reason)
            self.message.emit(f"Cannot open {Path(path).name}: {reason}")

        self.bridge.run(source.executor, source.open, content_key, on_done=opened, on_error=failed, owner=self)

    def _start(self, meta: BookMeta, state: tuple, start: int | None) -> None:
        position, book_settings = state
        self.meta = meta
        self.count = meta.count
        self.sizes = list(meta.sizes) or [None] * meta.count
        rtl = book_settings.get("rtl") if isinstance(book_settings, dict) else None
        self.rtl = meta.rtl if rtl is None else bool(rtl)
        self.act_rtl.blockSignals(True)
        self.act_rtl.setChecked(self.rtl)
        self.act_rtl.blockSignals(False)
        page = start if start is not None else (position or 0)
        self.page = max(0, min(page, self.count - 1))
        self._saved_page = position
        self.slider.blockSignals(True)
        self.slider.setMaximum(max(1, self.count))
        self.slider.blockSignals(False)
        self.canvas.message = ""
        fm = self.book_title.fontMetrics()
        self.book_title.setText(fm.elidedText(meta.title, Qt.TextElideMode.ElideMiddle, 400))
        self.book_title.setToolTip(meta.path)
        self._regroup()
        self._relayout(scroll_to_page=True)
        self.opened.emit(meta)
        self.page_changed.emit(self.page)
        self.refresh_analysis()
        if meta.warnings:
            self.message.emit(f"{Path(meta.path).name}: {meta.warnings[0]}")
        if not any(self.sizes) and self.source is not None:
            ticket = self._ticket
            source = self.source
            self.bridge.run(source.executor, source.sizes,
                            on_done=lambda s: ticket == self._ticket and self._sizes_known(s), owner=self)

    def _sizes_known(self, sizes: list) -> None:
        self.sizes = list(sizes)
        self._regroup()
        self._relayout(scroll_to_page=self.continuous)

    def close_book(self) -> None:
        """Save the position and let the book go (its thread closes it)."""
        if self.source is None:
            return
        self._save_timer.stop()
        self.save_position()
        self.source.close()
        self.source = None
        self.meta = None
        self.count = 0
        self._shown.clear()
        self._errors.clear()
        self._inflight.clear()
        self._ticket = self._tickets.next()
        self.book_id = None
        self.panels, self.labels = {}, {}
        self.highlight = None
        self.panel = 0

    # -- state -----------------------------------------------------------------------------------
    def shown(self) -> tuple[int, ...]:
        """Pages on screen, left to right (paged modes), or the current page (continuous)."""
        if not self.count:
            return ()
        if self.continuous:
            return (self.page,)
        g = self.groups[reading.group_index(self.groups, self.page)]
        return reading.display_order(g, self.rtl)

    def visible_pages(self) -> list[int]:
        """The pages shown: every page, or in story-only mode the story pages (and pages not
        classified yet, and pages whose non-story label is not sure: nothing is skipped that we
        are not sure of)."""
        if not self.story_only or not self.labels:
            return list(range(self.count))
        keep = [i for i in range(self.count) if self._is_story(i)]
        return keep or list(range(self.count))

    def _is_story(self, i: int) -> bool:
        """Whether story-only mode shows page ``i``: it is skipped only when ComicInfo hides it or
        its label is a sure non-story one (:func:`comicdesk.core.pages.label_is_sure`)."""
        label, hidden, sure = self.labels.get(i, (None, False, None))
        return not hidden and (label is None or label in STORY or not sure)

    def unsure_kept(self) -> list[int]:
        """Pages story-only mode shows although their label is not story: the model is not sure."""
        return [i for i, (label, hidden, sure) in sorted(self.labels.items())
                if label is not None and label not in STORY and not hidden and not sure and i < self.count]

    def _regroup(self) -> None:
        double = self.double and not self.guided
        if self.story_only and self.labels:
            self.groups = reading.spreads_of(self.visible_pages(), self.sizes, double=double, shift=self.shift)
        else:
            self.groups = reading.spreads(self.count, self.sizes, double=double, shift=self.shift)
        if self.groups and not self.continuous:
            self.page = self.groups[reading.group_index(self.groups, self.page)][0]

    def visible_rect(self) -> QRect:
        vp = self.scroll.viewport()
        return QRect(self.canvas.mapFrom(vp, QPoint(0, 0)), vp.size())

    def scroll_position(self) -> tuple[int, int]:
        return self.scroll.horizontalScrollBar().value(), self.scroll.verticalScrollBar().value()

    def set_scroll_position(self, x: int, y: int) -> None:
        self.scroll.horizontalScrollBar().setValue(x)
        self.scroll.verticalScrollBar().setValue(y)

    # -- navigation -----------------------------------------------------------------------------
    def go_to(self, page: int, panel: int = 0) -> None:
        """Show ``page`` (in story-only mode, the next story page from it); in the guided view,
        its panel ``panel`` (-1: the last)."""
        if not self.count:
            return
        page = max(0, min(page, self.count - 1))
        if self.continuous:
            shown = self.visible_pages()
            page = next((i for i in shown if i >= page), shown[-1])
            self.page = page
            self._scroll_to_page(page)
        else:
            g = self.groups[reading.group_index(self.groups, page)]
            if g[0] == self.page and page in g and self.canvas.placements:
                if self.guided and panel != self.panel:
                    self.panel = panel
                    self._relayout(scroll_to_page=True)
                return
            self.page = g[0]
            self.panel = panel
            self._relayout(scroll_to_page=True)
        self._page_moved()

    def next(self) -> None:
        if not self.count:
            return
        if self._guided_step(+1):
            return
        if self.continuous:
            shown = self.visible_pages()
            later = [i for i in shown if i > self.page]
            if later:
                self.go_to(later[0])
            else:
                self.message.emit("Last page")
            return
        gi = reading.group_index(self.groups, self.page)
        if gi + 1 < len(self.groups):
            self.go_to(self.groups[gi + 1][0])
        else:
            self.message.emit("Last page")

    def previous(self) -> None:
        if not self.count:
            return
        if self._guided_step(-1):
            return
        if self.continuous:
            earlier = [i for i in self.visible_pages() if i < self.page]
            if earlier:
                self.go_to(earlier[-1])
            else:
                self.message.emit("First page")
            return
        gi = reading.group_index(self.groups, self.page)
        if gi > 0:
            self.go_to(self.groups[gi - 1][0], panel=-1)
        else:
            self.message.emit("First page")

    def _guided_step(self, step: int) -> bool:
        """Guided view: the next/previous panel of this page; False at the page's edge."""
        if not self.guided or self.continuous:
            return False
        boxes = self.panels.get(self.page) or []
        current = self._panel_number(len(boxes))
        if boxes and 0 <= current + step < len(boxes):
            self.panel = current + step
            self._relayout()
            self._update_where()
            return True
        return False

    def _panel_number(self, n: int) -> int:
        if n <= 0:
            return 0
        return n - 1 if self.panel < 0 else min(self.panel, n - 1)

    def _guided_box(self) -> tuple[int, tuple[int, int, int, int]] | None:
        if not self.guided or self.continuous or not self.count:
            return None
        boxes = self.panels.get(self.page) or []
        if not boxes:
            return None
        return self.page, tuple(boxes[self._panel_number(len(boxes))])

    def left(self) -> None:
        self.next() if self.rtl else self.previous()

    def right(self) -> None:
        self.previous() if self.rtl else self.next()

    def click_at(self, pos: QPoint) -> None:
        w = self.scroll.viewport().width()
        if pos.x() < w / 3:
            self.left()
        elif pos.x() > 2 * w / 3:
            self.right()

    def _page_moved(self) -> None:
        self._update_where()
        self.page_changed.emit(self.page)
        self._save_timer.start()

    def _update_where(self) -> None:
        if not self.count:
            self.where.setText("")
            return
        shown = sorted(self.shown())
        label = f"{shown[0] + 1}" if len(shown) == 1 else f"{shown[0] + 1}–{shown[-1] + 1}"
        guided = self._guided_box()
        if guided is not None:
            n = len(self.panels.get(self.page) or [])
            label += f" · panel {self._panel_number(n) + 1}/{n}"
        self.where.setText(f"{label} / {self.count}")
        self.slider.blockSignals(True)
        self.slider.setValue(self.page + 1)
        self.slider.blockSignals(False)

    def _slider_moved(self, value: int) -> None:
        self.go_to(value - 1)

    # -- modes -----------------------------------------------------------------------------------
    def set_fit(self, fit: str) -> None:
        if fit not in reading.FITS:
            return
        self.fit = fit
        self.zoom = 1.0
        if not self.fit_actions[fit].isChecked():
            self.fit_actions[fit].setChecked(True)
        self._relayout(scroll_to_page=True)

    def set_zoom(self, zoom: float) -> None:
        self.zoom = reading.clamp_zoom(zoom)
        self._relayout(scroll_to_page=self.continuous)
        self.message.emit(f"Zoom {self.zoom * 100:.0f}%")

    def zoom_in(self) -> None:
        self.set_zoom(self.zoom * 1.25)

    def zoom_out(self) -> None:
        self.set_zoom(self.zoom / 1.25)

    def zoom_reset(self) -> None:
        self.set_zoom(1.0)

    def set_double(self, on: bool) -> None:
        self.double = bool(on)
        if self.act_double.isChecked() != self.double:
            self.act_double.setChecked(self.double)
        self._regroup()
        self._relayout(scroll_to_page=True)
        self._update_where()

    def set_shift(self, on: bool) -> None:
        self.shift = bool(on)
        if self.act_shift.isChecked() != self.shift:
            self.act_shift.setChecked(self.shift)
        self._regroup()
        self._relayout(scroll_to_page=True)
        self._update_where()

    def set_rtl(self, on: bool) -> None:
        on = bool(on)
        changed = on != self.rtl
        self.rtl = on
        if self.act_rtl.isChecked() != on:
            self.act_rtl.setChecked(on)
        self._relayout()
        if changed and self.session is not None and self.meta is not None and self.meta.content_key \
                and not self.session.closed:
            key = self.meta.content_key
            self.bridge.run(self.session.io, _set_book_setting, self.session, key, "rtl", on)

    def set_continuous(self, on: bool) -> None:
        if on and self.guided:
            self.set_guided(False)
        self.continuous = bool(on)
        if self.act_continuous.isChecked() != self.continuous:
            self.act_continuous.setChecked(self.continuous)
        self._regroup()
        self._relayout(scroll_to_page=True)
        self._update_where()

    # -- the analysis: panels, story-only, guided view ---------------------------------------------
    def refresh_analysis(self) -> None:
        """Read the open book's panels and labels (after opening it, a relabel, more analysis)."""
        session, meta, ticket = self.session, self.meta, self._ticket
        if session is None or meta is None or session.closed:
            return

        def done(result) -> None:
            if ticket == self._ticket:
                self.apply_analysis(*result)

        self.bridge.run(session.io, session.book_analysis, meta.path, self.book_id, on_done=done,
                        on_error=lambda e: log.info("no analysis for %s: %s", meta.path, one_line(e)),
                        owner=self)

    def apply_analysis(self, book_id, panels: dict, labels: dict) -> None:
        """The open book's panels and labels (read on the I/O thread): the overlay, the guided
        view and story-only mode follow at once, on the same page. The layout is redone only
        when what it depends on changed (story-only's labels, guided's panels of shown pages)."""
        if self.meta is None:
            return
        self.book_id = book_id
        changed_labels = labels != self.labels
        changed_panels = any((panels.get(i) or []) != (self.panels.get(i) or []) for i in self.shown())
        self.panels, self.labels = panels, labels
        if changed_labels and self.story_only:
            self._regroup()
            self._relayout(scroll_to_page=True)
        elif self.guided and changed_panels:
            self._relayout(scroll_to_page=True)
        self._update_where()
        self.canvas.update()
        self.analysis_loaded.emit()

    def set_show_panels(self, on: bool) -> None:
        self.show_panels = bool(on)
        if self.act_panels.isChecked() != self.show_panels:
            self.act_panels.setChecked(self.show_panels)
        if on and self.meta is not None and not self.panels:
            self.message.emit("No panels found for this book yet (it is analysed in the background)")
        self.canvas.update()

    def set_guided(self, on: bool) -> None:
        on = bool(on)
        if self.act_guided.isChecked() != on:
            self.act_guided.setChecked(on)
        if on == self.guided:
            return
        self.guided = on
        if on and self.continuous:
            self.set_continuous(False)
        self.panel = 0
        self._regroup()
        self._relayout(scroll_to_page=True)
        self._update_where()
        if on and self.meta is not None and not self.panels:
            self.message.emit("No panels found for this book yet: the guided view shows whole pages")

    def set_story_only(self, on: bool) -> None:
        on = bool(on)
        if self.act_story.isChecked() != on:
            self.act_story.setChecked(on)
        if on == self.story_only:
            return
        self.story_only = on
        self._regroup()
        self._relayout(scroll_to_page=True)
        self._update_where()
        if on and self.meta is not None:
            if not self.labels or not any(lab for lab, _h, _s in self.labels.values()):
                self.message.emit("This book's pages are not classified yet: every page is shown")
            else:
                skipped = self.count - len(self.visible_pages())
                unsure = len(self.unsure_kept())
                self.message.emit(f"Story only: {skipped} page{'s' if skipped != 1 else ''} skipped"
                                  + (f", {unsure} shown that may not be story (not sure)" if unsure else ""))

    def set_highlight(self, page: int, box) -> None:
        """Mark one panel (a search result) on its page."""
        self.highlight = (page, tuple(int(v) for v in box)) if box else None
        self.canvas.update()

    def show_hit(self, page: int, box) -> None:
        """A search result: go to its page (leaving story-only mode if that would skip it) and
        highlight its panel (``box`` None: a page result, nothing highlighted)."""
        if self.story_only and self.labels and not self._is_story(page):
            self.set_story_only(False)
        self.set_highlight(page, box)
        if self.count:
            self.go_to(page)

    def _page_scale(self, pl: reading.Placement) -> tuple[float, float]:
        w, h = reading.page_size(self.sizes, pl.index)
        return pl.w / max(1, w), pl.h / max(1, h)

    def paint_overlay(self, p: QPainter, pl: reading.Placement) -> None:
        """The panels of a placed page (numbered in reading order) and the highlighted panel."""
        hl = self.highlight if self.highlight is not None and self.highlight[0] == pl.index else None
        boxes = (self.panels.get(pl.index) or []) if self.show_panels else []
        if not boxes and hl is None:
            return
        sx, sy = self._page_scale(pl)
        p.save()
        p.setRenderHint(QPainter.RenderHint.Antialiasing, True)
        f = QFont(self.font())
        f.setBold(True)
        p.setFont(f)
        fm = p.fontMetrics()
        for n, (x, y, w, h) in enumerate(boxes):
            r = QRect(pl.x + round(x * sx), pl.y + round(y * sy), max(1, round(w * sx)), max(1, round(h * sy)))
            p.setPen(QPen(PANEL_PEN, 2))
            p.setBrush(Qt.BrushStyle.NoBrush)
            p.drawRect(r.adjusted(1, 1, -1, -1))
            tag = QRect(r.left() + 4, r.top() + 4, fm.horizontalAdvance(str(n + 1)) + 10, fm.height() + 2)
            p.setPen(Qt.PenStyle.NoPen)
            p.setBrush(PANEL_PEN)
            p.drawRoundedRect(tag, 4, 4)
            p.setPen(QColor(0, 0, 0))
            p.drawText(tag, Qt.AlignmentFlag.AlignCenter, str(n + 1))
        if hl is not None:
            x, y, w, h = hl[1]
            r = QRect(pl.x + round(x * sx), pl.y + round(y * sy), max(1, round(w * sx)), max(1, round(h * sy)))
            p.setPen(QPen(HIGHLIGHT_PEN, 4))
            p.setBrush(Qt.BrushStyle.NoBrush)
            p.drawRect(r.adjusted(2, 2, -2, -2))
        p.restore()

    def panel_at(self, pos: QPoint) -> tuple[int, int | None] | None:
        """(page, panel) under a point of the canvas (panel None: on the page, in no panel)."""
        for pl in self.canvas.placements:
            if not QRect(pl.x, pl.y, pl.w, pl.h).contains(pos):
                continue
            sx, sy = self._page_scale(pl)
            px, py = (pos.x() - pl.x) / sx, (pos.y() - pl.y) / sy
            hits = [(w * h, n) for n, (x, y, w, h) in enumerate(self.panels.get(pl.index) or [])
                    if x <= px < x + w and y <= py < y + h]
            return pl.index, (min(hits)[1] if hits else None)
        return None

    def panel_point(self, page: int, panel: int) -> QPoint | None:
        """The centre of a panel on the canvas (None when the page or panel is not shown)."""
        boxes = self.panels.get(page) or []
        for pl in self.canvas.placements:
            if pl.index == page and 0 <= panel < len(boxes):
                sx, sy = self._page_scale(pl)
                x, y, w, h = boxes[panel]
                return QPoint(pl.x + round((x + w / 2) * sx), pl.y + round((y + h / 2) * sy))
        return None

    def context_menu(self, pos: QPoint) -> QMenu | None:
        """The right-click menu at a canvas point: "Find similar panels" on a panel, "Find
        similar pages" on a page, and the reading modes."""
        if self.meta is None:
            return None
        hit = self.panel_at(pos)
        menu = QMenu(self)
        path = self.meta.path
        if hit is not None:
            page, panel = hit
            if panel is not None:
                a = menu.addAction(f"Find similar panels (panel {panel + 1} of page {page + 1})")
                a.setObjectName("similar-panels")
                a.triggered.connect(lambda: self.similar_requested.emit(path, self.book_id, page, panel))
            a = menu.addAction(f"Find similar pages (page {page + 1})")
            a.setObjectName("similar-pages")
            a.triggered.connect(lambda: self.similar_requested.emit(path, self.book_id, page, None))
            menu.addSeparator()
        for a in (self.act_panels, self.act_guided, self.act_story):
            menu.addAction(a)
        return menu

    def toggle_fullscreen(self) -> None:
        win = self.window()
        if win.isFullScreen():
            win.showNormal()
        else:
            win.showFullScreen()

    # -- layout and images ----------------------------------------------------------------------
    def _relayout(self, scroll_to_page: bool = False) -> None:
        vp = self.scroll.viewport().size()
        vw, vh = max(1, vp.width()), max(1, vp.height())
        if not self.count:
            self.canvas.placements = []
            self.canvas.resize(vw, vh)
            self.canvas.update()
            return
        guided = self._guided_box()
        if guided is not None:
            page, box = guided
            size = reading.page_size(self.sizes, page)
            s, cw, ch, sx, sy = reading.panel_view(size, box, vw, vh)
            w, h = int(round(size[0] * s)), int(round(size[1] * s))
            self.canvas.placements = [reading.Placement(page, (cw - w) // 2, (ch - h) // 2, w, h)]
            self.canvas.resize(cw, ch)
            self.set_scroll_position(sx, sy)
            self._update_where()
            self._want_pages()
            self.canvas.update()
            return
        if self.continuous:
            old_top = self._page_top_fraction()
            shown = self.visible_pages()
            places, cw, ch = reading.place_strip(len(shown), [reading.page_size(self.sizes, i) for i in shown],
                                                 vw, vh, fit=self.fit, zoom=self.zoom)
            places = [reading.Placement(shown[pl.index], pl.x, pl.y, pl.w, pl.h) for pl in places]
        else:
            g = self.groups[reading.group_index(self.groups, self.page)]
            places, cw, ch = reading.place_group(g, self.sizes, vw, vh, fit=self.fit, zoom=self.zoom, rtl=self.rtl)
        self.canvas.placements = places
        self.canvas.resize(cw, ch)
        if self.continuous:
            if scroll_to_page:
                self._scroll_to_page(self.page)
            elif old_top is not None:
                self._scroll_to_page(*old_top)
        elif scroll_to_page:
            self.scroll.verticalScrollBar().setValue(0)
            bar = self.scroll.horizontalScrollBar()
            bar.setValue(bar.maximum() if self.rtl else 0)
        self._update_where()
        self._want_pages()
        self.canvas.update()

    def _page_top_fraction(self) -> tuple[int, float] | None:
        if not self.canvas.placements:
            return None
        y = self.scroll.verticalScrollBar().value()
        for pl in self.canvas.placements:
            if pl.y + pl.h > y:
                return pl.index, max(0.0, (y - pl.y) / max(1, pl.h))
        return None

    def _scroll_to_page(self, page: int, fraction: float = 0.0) -> None:
        for pl in self.canvas.placements:
            if pl.index == page:
                self.scroll.verticalScrollBar().setValue(int(pl.y + fraction * pl.h) - reading.GAP)
                return

    def _scrolled(self, _value: int) -> None:
        if not self.continuous or not self.canvas.placements:
            return
        vis = self.visible_rect()
        probe = vis.top() + vis.height() // 3
        for pl in self.canvas.placements:
            if pl.y <= probe < pl.y + pl.h + reading.GAP:
                if pl.index != self.page:
                    self.page = pl.index
                    self._page_moved()
                break
        self._want_pages()

    def _want_pages(self) -> None:
        """Tell the book's thread which pages are still worth decoding: the ones on screen and
        their neighbours."""
        if self.source is None or not self.count:
            return
        if self.continuous:
            vis = self.visible_rect()
            on = [pl.index for pl in self.canvas.placements if QRect(pl.x, pl.y, pl.w, pl.h).intersects(vis)]
            lo, hi = (min(on), max(on)) if on else (self.page, self.page)
            wanted = set(range(max(0, lo - 2), min(self.count, hi + 3)))
        else:
            gi = reading.group_index(self.groups, self.page)
            wanted = set()
            for g in self.groups[max(0, gi - 1): gi + 3]:
                wanted.update(g)
        self.source.want(wanted)
        for i in list(self._inflight):
            if i not in wanted:
                del self._inflight[i]
        self._prefetch(wanted)

    def _prefetch(self, wanted: set[int]) -> None:
        """Decode the next view's pages at the size they will have (after the visible ones)."""
        if self.continuous or not self.canvas.placements:
            return
        vp = self.scroll.viewport().size()
        gi = reading.group_index(self.groups, self.page)
        for g in self.groups[gi + 1: gi + 2] + self.groups[max(0, gi - 1): gi]:
            places, _w, _h = reading.place_group(g, self.sizes, vp.width(), vp.height(), fit=self.fit,
                                                 zoom=self.zoom, rtl=self.rtl)
            for pl in places:
                if pl.index in wanted:
                    self.image_for(pl.index, pl.w, pl.h, request=True)

    def image_for(self, index: int, w: int, h: int, *, request: bool = True) -> tuple[QImage | None, str | None]:
        """The best image we have for page ``index`` shown at w×h (logical pixels); asks for a
        sharper one when it is missing or the wrong size."""
        if index in self._errors:
            return None, self._errors[index]
        img = self._shown.get(index)
        if img is not None:
            self._shown.move_to_end(index)
        dpr = self.devicePixelRatioF()
        want = (max(1, round(w * dpr)), max(1, round(h * dpr)))
        good = img is not None and abs(img.width() - want[0]) <= 1 and abs(img.height() - want[1]) <= 1
        if request and not good and self._inflight.get(index) != want and self.source is not None:
            self._inflight[index] = want
            source, ticket = self.source, self._ticket
            self.bridge.run(source.executor, source.render, index, *want,
                            on_done=lambda r, t=ticket, wz=want: self._rendered(t, wz, *r), owner=self)
        return img, None

    def _rendered(self, ticket: int, want: tuple[int, int], index: int, img: QImage | None,
                  error: str | None) -> None:
        if ticket != self._ticket:
            return
        if self._inflight.get(index) == want:
            del self._inflight[index]
        if img is None:
            if error:
                self._errors[index] = error
                self.canvas.update()
            return
        img.setDevicePixelRatio(self.devicePixelRatioF())
        self._shown[index] = img
        self._shown.move_to_end(index)
        while len(self._shown) > SHOWN_CACHE:
            self._shown.popitem(last=False)
        self.canvas.update()

    def has_image(self, index: int) -> bool:
        return index in self._shown

    # -- position --------------------------------------------------------------------------------
    def save_position(self) -> None:
        if self.session is None or self.meta is None or not self.meta.content_key or not self.count:
            return
        if self.session.closed or self._saved_page == self.page:
            return
        key, page, session = self.meta.content_key, self.page, self.session
        self._saved_page = page
        self.bridge.run(session.io, session.set_position, key, page,
                        on_done=lambda _r: self.position_saved.emit(key, page),
                        on_error=lambda e: self.message.emit(f"Could not save the reading position: {one_line(e)}"),
                        owner=self)

    # -- events ----------------------------------------------------------------------------------
    def resizeEvent(self, event) -> None:  # noqa: N802
        super().resizeEvent(event)
        self._layout_timer.start()

    def keyPressEvent(self, event) -> None:  # noqa: N802
        key = event.key()
        mods = event.modifiers()
        shift = bool(mods & Qt.KeyboardModifier.ShiftModifier)
        if key == Qt.Key.Key_Right:
            self.right()
        elif key == Qt.Key.Key_Left:
            self.left()
        elif key in (Qt.Key.Key_Space, Qt.Key.Key_PageDown) and not (key == Qt.Key.Key_Space and shift):
            self._page_down()
        elif key in (Qt.Key.Key_Backspace, Qt.Key.Key_PageUp) or (key == Qt.Key.Key_Space and shift):
            self._page_up()
        elif key == Qt.Key.Key_Down:
            self._step(+1)
        elif key == Qt.Key.Key_Up:
            self._step(-1)
        elif key == Qt.Key.Key_Home:
            self.go_to(0)
        elif key == Qt.Key.Key_End:
            self.go_to(self.count - 1)
        elif key == Qt.Key.Key_Escape:
            if self.window().isFullScreen():
                self.window().showNormal()
            else:
                self.back_requested.emit()
        else:
            super().keyPressEvent(event)
            return
        event.accept()

    def _page_down(self) -> None:
        bar = self.scroll.verticalScrollBar()
        if bar.value() < bar.maximum():
            bar.setValue(bar.value() + int(self.scroll.viewport().height() * 0.9))
        elif not self.continuous:
            self.next()

    def _page_up(self) -> None:
        bar = self.scroll.verticalScrollBar()
        if bar.value() > bar.minimum():
            bar.setValue(bar.value() - int(self.scroll.viewport().height() * 0.9))
        elif not self.continuous:
            self.previous()

    def _step(self, direction: int) -> None:
        bar = self.scroll.verticalScrollBar()
        at_edge = bar.value() >= bar.maximum() if direction > 0 else bar.value() <= bar.minimum()
        if self.continuous or not at_edge:
            bar.setValue(bar.value() + direction * max(40, self.scroll.viewport().height() // 8))
        else:
            self.next() if direction > 0 else self.previous()

    def eventFilter(self, obj, event) -> bool:  # noqa: N802
        if obj is self.scroll.viewport() and event.type() == QEvent.Type.Wheel:
            return self._wheel_event(event)
        if obj is self.scroll.viewport() and event.type() == QEvent.Type.Resize:
            self._layout_timer.start()
        return super().eventFilter(obj, event)

    def _wheel_event(self, event) -> bool:
        dy = event.angleDelta().y()
        if event.modifiers() & Qt.KeyboardModifier.ControlModifier:
            if dy:
                self.set_zoom(self.zoom * (1.1 if dy > 0 else 1 / 1.1))
            return True
        if self.continuous or not dy:
            return False
        bar = self.scroll.verticalScrollBar()
        at_edge = bar.value() >= bar.maximum() if dy < 0 else bar.value() <= bar.minimum()
        if not at_edge:
            self._wheel = 0
            return False
        if (self._wheel > 0) != (dy > 0):
            self._wheel = 0
        self._wheel += dy
        if abs(self._wheel) >= WHEEL_TURN:
            self._wheel = 0
            self.next() if dy < 0 else self.previous()
        return True


def _book_state(session, key: str) -> tuple[int | None, dict]:
    """(position, per-book settings) for a book, on the session's I/O thread."""
    settings = session.setting(f"book:{key}", {}) or {}
    return session.position(key), settings if isinstance(settings, dict) else {}


def _set_book_setting(session, key: str, name: str, value) -> None:
    current = session.setting(f"book:{key}", {}) or {}
    if not isinstance(current, dict):
        current = {}
    current[name] = value
    session.set_setting(f"book:{key}", current)


__all__ = ["BookMeta", "PageSource", "ReaderView"]