"""The main window: welcome screen, library, book and reader views, the Jobs panel, menus,
drag-and-drop, and the flow between them.

Opening anything goes: classify the path and register its library (worker) → a
:class:`~comicdesk.services.session.LibrarySession` → the catalogue's books in the grid at once (worker)
→ a background scan (:mod:`comicdesk.qt.jobs`) whose progress refreshes the grid → when the scan
ends, the grid is reloaded and analysis starts when the pipeline's runner is available.
"""

from __future__ import annotations

import base64
import logging
import os
import time
from pathlib import Path

from PySide6.QtCore import QByteArray, Qt, QTimer, QUrl, Signal
from PySide6.QtGui import QAction, QDesktopServices, QKeySequence
from PySide6.QtWidgets import (
    QDockWidget,
    QFileDialog,
    QMainWindow,
    QMessageBox,
    QStackedWidget,
    QWidget,
)

from comicdesk.qt.book_view import BookView
from comicdesk.qt.bridge import Bridge, Tickets, one_line
from comicdesk.qt.compat import guard_immortals
from comicdesk.qt.icons import app_icon
from comicdesk.qt.jobs import (
    AnalysisJob,
    JobBookAnalysed,
    JobFinished,
    JobsController,
    JobState,
    analysis_available,
)
from comicdesk.qt.jobs_panel import JobsIndicator, JobsPanel
from comicdesk.qt.labelling import Rescorer, describe
from comicdesk.qt.library_view import LibraryView
from comicdesk.qt.models import sort_books
from comicdesk.qt.prefs import Prefs, save_prefs
from comicdesk.qt.reader import ReaderView
from comicdesk.qt.search_panel import SearchPanel
from comicdesk.qt.welcome import WelcomeView
from comicdesk.services.session import BookItem, LibrarySession, OpenTarget, classify
from comicdesk.services.threads import EagerThreadPool

log = logging.getLogger("comicdesk.qt")

COMIC_FILTER = ("Comics (*.cbz *.cbr *.cb7 *.cbt *.zip *.rar *.7z *.tar *.pdf *.epub);;"
                "All files (*)")
RELOAD_WHILE_SCANNING_S = 2.0


class MainWindow(QMainWindow):
    #: the first screen is complete (library: scanned, listed, visible covers loaded; reader: the
    #: shown pages decoded; welcome: at once) — what ``--screenshot`` waits for
    first_screen_ready = Signal()
    books_loaded = Signal(int)  # the grid was (re)filled with this many books
    results_applied = Signal(int)  # a book's new analysis results are shown (book id)
    open_failed = Signal(str)  # one line

    def __init__(self, settings, prefs: Prefs | None = None, *, log_file: Path | None = None,
                 persist_prefs: bool = True, parent: QWidget | None = None):
        guard_immortals()  # before any Qt call can return None (see comicdesk.qt.compat)
        super().__init__(parent)
        self.settings = settings
        self.prefs = prefs or Prefs()
        self.persist_prefs = persist_prefs
        self.log_file = log_file
        self.bridge = Bridge(self)
        self.io = EagerThreadPool(max_workers=1, thread_name_prefix="comicdesk-app")
        self.jobs = JobsController(self.bridge, self)
        self.session: LibrarySession | None = None
        self._problem_said_for: LibrarySession | None = None  # a damaged user.sqlite, told once
        self.target: OpenTarget | None = None
        self.scan_job = None
        self.analysis_job = None
        self._analysis_token = None
        self.runner_factory = None  # tests: a stand-in for comicdesk.pipeline.runner.Runner
        self.last_error = ""
        self._opening = Tickets()
        self._last_reload = 0.0
        self._scan_done = False
        self._loaded_after_scan = False
        self._reader_from = "library"
        self._ready_sent = False
        self._closed = False
        self.results_events = 0  # BookAnalysed events received (tests, the bench)

        self.setWindowTitle("comicdesk")
        self.setWindowIcon(app_icon())
        self.setAcceptDrops(True)

        self.welcome = WelcomeView(app_icon(), self)
        self.library = LibraryView(self.bridge, self)
        self.book = BookView(self.bridge, self)
        self.reader = ReaderView(self.bridge, self, fit=self.prefs.reader_fit,
                                 double=self.prefs.reader_double, continuous=self.prefs.reader_continuous)
        self.stack = QStackedWidget(self)
        for w in (self.welcome, self.library, self.book, self.reader):
            self.stack.addWidget(w)
        self.setCentralWidget(self.stack)

        self.jobs_panel = JobsPanel(self.jobs, self)
        self.jobs_dock = QDockWidget("Jobs", self)
        self.jobs_dock.setObjectName("jobs")
        self.jobs_dock.setWidget(self.jobs_panel)
        self.addDockWidget(Qt.DockWidgetArea.BottomDockWidgetArea, self.jobs_dock)
        self.jobs_dock.hide()
        self.search_panel = SearchPanel(self.bridge, self)
        self.search_dock = QDockWidget("Search", self)
        self.search_dock.setObjectName("search")
        self.search_dock.setWidget(self.search_panel)
        self.addDockWidget(Qt.DockWidgetArea.RightDockWidgetArea, self.search_dock)
        self.search_dock.hide()
        self.rescorer = Rescorer(self.bridge, self)
        self.export_dialog = None
        self.indicator = JobsIndicator(self.jobs, self)
        self.indicator.clicked.connect(self.toggle_jobs)
        self.statusBar().addPermanentWidget(self.indicator)

        self._build_menus()
        self._wire()
        self._prefs_timer = QTimer(self)
        self._prefs_timer.setSingleShot(True)
        self._prefs_timer.setInterval(500)
        self._prefs_timer.timeout.connect(self.save_prefs)
        self._ready_timer = QTimer(self)
        self._ready_timer.setInterval(50)
        self._ready_timer.timeout.connect(self._check_first_screen)

        if self.prefs.geometry:
            try:
                self.restoreGeometry(QByteArray(base64.b64decode(self.prefs.geometry)))
            except Exception:  # noqa: BLE001 - a bad geometry only costs the size
                self.resize(1200, 820)
        else:
            self.resize(1200, 820)
        self.welcome.set_recent(self.prefs.recent)

    # -- building ----------------------------------------------------------------------------------
    def _action(self, menu, text, slot, shortcut=None) -> QAction:
        a = QAction(text, self)
        if shortcut:
            a.setShortcut(QKeySequence(shortcut))
        a.triggered.connect(slot)
        menu.addAction(a)
        return a

    def _build_menus(self) -> None:
        m = self.menuBar().addMenu("&File")
        self._action(m, "Open &Folder…", self.choose_folder, "Ctrl+O")
        self._action(m, "Open &Calibre Library…", self.choose_calibre)
        self._action(m, "Open &Book…", self.choose_book, "Ctrl+Shift+O")
        self.recent_menu = m.addMenu("Open &Recent")
        self.recent_menu.aboutToShow.connect(self._fill_recent_menu)
        m.addSeparator()
        self.act_rescan = self._action(m, "&Rescan Library", self.rescan, "F5")
        self.act_export = self._action(m, "&Export…", self.export_current, "Ctrl+E")
        m.addSeparator()
        self._action(m, "&Models for the Cosmo Profile…", self.open_models)
        self._action(m, "&Settings…", self.open_settings, "Ctrl+,")
        m.addSeparator()
        self._action(m, "&Quit", self.close, "Ctrl+Q")
        v = self.menuBar().addMenu("&View")
        self._action(v, "&Library", self.show_library, "Ctrl+L")
        self._action(v, "&Search", self._focus_search, "Ctrl+F")
        a = self.jobs_dock.toggleViewAction()
        a.setText("&Jobs")
        a.setShortcut(QKeySequence("Ctrl+J"))
        v.addAction(a)
        a = self.search_dock.toggleViewAction()
        a.setText("Search &Results")
        a.setShortcut(QKeySequence("Ctrl+Shift+S"))
        v.addAction(a)
        self._action(v, "Search Page &Text…", self.focus_text_search, "Ctrl+Shift+F")
        h = self.menuBar().addMenu("&Help")
        self._action(h, "Open the &Log Folder", self._open_log_folder)
        self._action(h, "&About comicdesk", self._about)

    def _wire(self) -> None:
        self.welcome.open_folder.connect(self.choose_folder)
        self.welcome.open_calibre.connect(self.choose_calibre)
        self.welcome.open_book.connect(self.choose_book)
        self.welcome.open_recent.connect(self.open_path)
        self.library.book_activated.connect(self.show_book)
        self.library.read_requested.connect(lambda item: self.read(item, None))
        self.library.message.connect(self.say)
        self.book.read_requested.connect(self.read)
        self.book.back_requested.connect(self.show_library)
        self.book.message.connect(self.say)
        self.book.loaded.connect(lambda _n: self._ready_timer.start())
        self.book.labels_saved.connect(self._labels_saved)
        self.book.similar_requested.connect(lambda b, page, panel: self.find_similar(b.id, page, panel, b.title))
        self.book.export_requested.connect(self.open_export)
        self.library.export_requested.connect(self.open_export)
        self.reader.similar_requested.connect(self._reader_similar)
        self.search_panel.hit_activated.connect(self.open_hit)
        self.rescorer.finished.connect(self._rescored)
        self.rescorer.failed.connect(lambda s, why: s is self.session and self.say(
            f"Your labels are saved; re-scoring the other pages failed: {why}"))
        self.reader.back_requested.connect(self._reader_back)
        self.reader.position_saved.connect(self._position_saved)
        self.reader.message.connect(self.say)
        self.reader.opened.connect(self._reader_opened)
        self.reader.act_double.toggled.connect(lambda on: self._reader_pref("reader_double", on))
        self.reader.act_continuous.toggled.connect(lambda on: self._reader_pref("reader_continuous", on))
        for key, a in self.reader.fit_actions.items():
            a.toggled.connect(lambda on, k=key: on and self._reader_pref("reader_fit", k))
        self.jobs.changed.connect(self._job_changed)
        self.jobs.finished.connect(self._job_finished)
        self.jobs.finished.connect(self._analysis_finished)
        self.jobs.book_analysed.connect(self._book_analysed)
        self.jobs.book_failed.connect(lambda ev: log.info("cannot read %s: %s", ev.event.path, ev.event.reason))

    # -- messages ----------------------------------------------------------------------------------
    def say(self, text: str, ms: int = 8000) -> None:
        self.statusBar().showMessage(text, ms)

    def fail(self, text: str) -> None:
        self.last_error = text
        log.warning("%s", text)
        self.say(text, 15000)
        self.open_failed.emit(text)

    # -- opening -----------------------------------------------------------------------------------
    def start(self, path: str | None = None) -> None:
        """What ``comicdesk [PATH]`` does once the window shows: PATH, else the last library or
        book (if it is still known), else the welcome screen."""
        if path:
            self.open_path(path)
            return
        last = self.prefs.last
        if last:
            def decided(ok: bool) -> None:
                if ok:
                    self.open_path(last)
                else:
                    self.show_welcome()
            self.bridge.run(self.io, _reopenable, last, self.settings, on_done=decided,
                            on_error=lambda _e: self.show_welcome(), owner=self)
        else:
            self.show_welcome()

    def open_path(self, path: str | os.PathLike, *, calibre: bool = False) -> None:
        ticket = self._opening.next()
        shown = str(path)
        self.say(f"Opening {shown}…", 0)

        def done(target: OpenTarget) -> None:
            if self._opening.current(ticket):
                self._opened(target, shown)

        def failed(exc: BaseException) -> None:
            if self._opening.current(ticket):
                self.fail(f"Cannot open {shown}: {one_line(exc)}")
                if self.session is None:
                    self.show_welcome()

        self.bridge.run(self.io, classify, path, self.settings, calibre=calibre,
                        on_done=done, on_error=failed, owner=self)

    def _opened(self, target: OpenTarget, shown: str) -> None:
        info = target.info
        log.info("opened %s (a %s; library %s, %s, id %s)%s", shown, target.kind, info.root, info.kind,
                 info.id, f"; offline: {info.problem}" if info.problem else "")
        same = (self.session is not None and not self.session.closed and self.session.info.id == info.id
                and self.session.info.scope == info.scope)
        if not same:
            self._close_session()
            self.session = LibrarySession(self.settings, info)
            self.library.set_session(self.session)
            self.book.set_session(self.session)
            self.search_panel.set_session(self.session)
        else:
            self.session.info.problem = info.problem
            self.library.set_offline(info.problem)
        self.target = target
        self.setWindowTitle(f"{info.name} — comicdesk")
        self._ready_sent = False
        self._scan_done = False
        self._loaded_after_scan = False
        self.load_books()
        self._start_scan(target)
        if target.kind == "book":
            self._reader_from = "library"
            self.read_path(target.book)
        else:
            self.show_library()
        self.say(f"Opened {shown}")
        self.prefs.add_recent(str(Path(shown).expanduser().absolute()))
        self.welcome.set_recent(self.prefs.recent)
        self.save_prefs_soon()
        self._ready_timer.start()

    def _start_scan(self, target: OpenTarget) -> None:
        self._analysis_token = None  # an analysis waiting to start belongs to the previous scan
        for job in self.jobs.active():  # a new scan supersedes the old scan and analysis
            job.cancel()
        name = target.scan_path.name or str(target.scan_path)
        self.scan_job = self.jobs.scan(target.scan_path, self.settings, title=f"Scanning {name}")

    def rescan(self) -> None:
        if self.target is None:
            return
        self._scan_done = False
        self._start_scan(self.target)

    def load_books(self) -> None:
        session = self.session
        if session is None:
            return
        scanning = not self._scan_done
        order = self.library.model.sort_key()

        def load():
            return sort_books(session.load_books(), order)  # sorted here, not on the UI thread

        def done(books) -> None:
            if session is not self.session:
                return
            self.library.set_books(books, loading=scanning and not self._scan_done, sorted_by=order)
            if session.user_problem and self._problem_said_for is not session:
                self._problem_said_for = session  # said once per opened library
                self.say(session.user_problem, 30000)
            if self._scan_done:
                self._loaded_after_scan = True
            self.books_loaded.emit(len(books))
            self._ready_timer.start()

        self.bridge.run(session.io, load, on_done=done,
                        on_error=lambda e: self.fail(f"Cannot read the catalogue: {one_line(e)}"), owner=self)

    def _close_session(self) -> None:
        self.reader.close_book()
        if self.session is not None:
            self.session.close()
        self.session = None

    # -- jobs --------------------------------------------------------------------------------------
    def _job_changed(self, state: JobState) -> None:
        if self.scan_job is None or state.id != self.scan_job.id or state.status != "running":
            return
        now = time.monotonic()
        if now - self._last_reload >= RELOAD_WHILE_SCANNING_S:
            self._last_reload = now
            self.load_books()

    def _job_finished(self, ev: JobFinished) -> None:
        log.info("%s: %s — %s", ev.state.title, ev.state.status, ev.state.message)
        if self.scan_job is None or ev.job_id != self.scan_job.id or self._closed:
            return
        session = self.session
        self._scan_done = True
        state = ev.state
        result = ev.result
        if state.status == "offline" and session is not None:
            session.info.problem = state.message
            self.library.set_offline(state.message)
        elif state.status == "done" and session is not None and session.info.problem:
            session.info.problem = None
            self.library.set_offline(None)
        if state.status == "failed":
            self.fail(f"Scan failed: {state.message}")
        elif state.status == "done":
            failed = getattr(result, "failed", 0)
            if failed:
                self.say(f"{failed} book{'s' if failed != 1 else ''} could not be read — see Jobs (Ctrl+J)", 15000)
            else:
                self.say(f"Library up to date: {state.message}")
        if session is not None:
            self.bridge.run(session.io, session.reopen_catalog)
        self.load_books()
        if state.status == "done":
            self._start_analysis_soon()

    def _analysis_finished(self, ev: JobFinished) -> None:
        """Analysis ended: show what it learnt (labels, panels) in the open book."""
        if self.analysis_job is None or ev.job_id != self.analysis_job.id or self._closed:
            return
        self.book.reload_labels()
        self.reader.refresh_analysis()

    def _book_analysed(self, ev: JobBookAnalysed) -> None:
        """One book's analysis is in the cache (pass 1: classes and panels; the last pass: the
        recognised text and refined classes, replacing them). Its results are read once on the
        session's I/O thread and applied in place to every view that shows the book — the book
        view, the reader, the grid's cell, the sidebar's results; a view that does not show it
        reads it when it does (the grid: when the cell is painted)."""
        if self.analysis_job is None or ev.job_id != self.analysis_job.id or self._closed:
            return
        session, e = self.session, ev.event
        if session is None or session.closed:
            return
        self.results_events += 1
        state = "done" if e.final else "first"
        # Pages, panels and labels only for a book a view shows; the grid's summary for any.
        full = ((self.book.book is not None and self.book.book.id == e.book_id)
                or (self.reader.meta is not None and (self.reader.book_id == e.book_id or self.reader.meta.path == e.path))
                or any(h.book_id == e.book_id for h in self.search_panel.hits))

        def done(results) -> None:
            if results is None or session is not self.session:
                return
            self._apply_results(e.path, results, full)

        self.bridge.run(session.io, session.book_results, e.book_id, state=state, full=full, on_done=done,
                        on_error=lambda exc: log.info("cannot read the results of %s: %s", e.path, one_line(exc)),
                        owner=self)

    def _apply_results(self, path: str, results, full: bool = True) -> None:
        self.library.update_summary(results.book_id, results.summary)
        if not full:  # a view that opens the book meanwhile reads it itself
            self.results_applied.emit(results.book_id)
            return
        if self.book.book is not None and self.book.book.id == results.book_id:
            self.book.apply_pages(results.pages)
        meta = self.reader.meta
        if meta is not None and (self.reader.book_id == results.book_id or meta.path == path):
            self.reader.apply_analysis(results.book_id, results.panels, results.labels)
        self.search_panel.book_analysed(results.book_id, results.labels)
        self.results_applied.emit(results.book_id)

    def _start_analysis_soon(self) -> None:
        """Analysis starts once the first screen is complete (its covers loaded), so opening a
        library is not slowed down by it; at the latest a few seconds after the scan."""
        token = object()
        self._analysis_token = token

        def go() -> None:
            if self._analysis_token is token:
                self._analysis_token = None
                self._start_analysis()

        if self._ready_sent:
            go()
            return
        self.first_screen_ready.connect(go, Qt.ConnectionType.SingleShotConnection)
        QTimer.singleShot(3000, go)

    def _start_analysis(self) -> None:
        """Analyse the library in the background (``comicdesk.pipeline.runner``), the book open
        in the reader first. Books already analysed are skipped by the runner."""
        if self.session is None or not self.prefs.analyse or self._closed:
            return
        if self.runner_factory is None and not analysis_available():
            return
        first = None
        if self.stack.currentWidget() is self.reader and self.reader.source is not None:
            first = self.reader.source.path
        elif self.stack.currentWidget() is self.book and self.book.book is not None:
            first = self.book.book.path  # the book the person is looking at: its results first
        job = AnalysisJob(self.session.cache_dir, self.settings, self.bridge.post,
                          title=f"Analysing {self.session.info.name}", first=first,
                          threads=self.prefs.threads, device=self.prefs.device,
                          runner_factory=self.runner_factory)
        self.analysis_job = self.jobs.start(job)

    def _prioritise_open_book(self, path: str) -> None:
        job = self.analysis_job
        if job is not None and job.state.active:
            job.prioritise(path)

    def toggle_jobs(self) -> None:
        self.jobs_dock.setVisible(not self.jobs_dock.isVisible())

    # -- navigation --------------------------------------------------------------------------------
    def show_welcome(self) -> None:
        self.stack.setCurrentWidget(self.welcome)
        self.setWindowTitle("comicdesk")
        recent = list(self.prefs.recent)
        self.bridge.run(self.io, lambda: {p for p in recent if not os.path.exists(p)},
                        on_done=lambda missing: self.welcome.set_recent(recent, missing), owner=self)
        self._ready_timer.start()

    def show_library(self) -> None:
        if self.session is None:
            self.show_welcome()
            return
        if self.stack.currentWidget() is self.reader:
            self.reader.close_book()
        self.stack.setCurrentWidget(self.library)
        self.library.grid.setFocus()

    def show_book(self, item: BookItem) -> None:
        if self.stack.currentWidget() is self.reader:
            self.reader.close_book()
        self.book.show_book(item)
        self.search_panel.set_context(item.id, item.series)
        self._prioritise_open_book(item.path)  # its results first, as for the reader's book
        self.stack.setCurrentWidget(self.book)
        self.book.grid.setFocus()

    def read(self, item: BookItem, start: int | None = None) -> None:
        if item.error:
            self.fail(f"{item.title} cannot be read: {item.error}")
            return
        self._reader_from = "book" if self.stack.currentWidget() is self.book else "library"
        sizes = None
        if self.book.book is not None and self.book.book.id == item.id and self.book.model.rowCount():
            pages = [self.book.model.page(i) for i in range(self.book.model.rowCount())]
            sizes = [(p.width, p.height) if p.width and p.height else None for p in pages]
        self.reader.open_book(item.path, self.session, start=start, content_key=item.content_key,
                              sizes=sizes, title=item.title)
        self.search_panel.set_context(item.id, item.series)
        self.stack.setCurrentWidget(self.reader)
        self.reader.setFocus()

    def read_path(self, path: Path) -> None:
        self.reader.open_book(path, self.session)
        self.stack.setCurrentWidget(self.reader)
        self.reader.setFocus()

    def _reader_back(self) -> None:
        self.reader.close_book()
        if self._reader_from == "book" and self.book.book is not None:
            self.stack.setCurrentWidget(self.book)
            self.book.grid.setFocus()
        else:
            self.show_library()

    def _reader_opened(self, meta) -> None:
        self.setWindowTitle(f"{meta.title} — comicdesk")
        self._prioritise_open_book(meta.path)
        self._ready_timer.start()

    def _position_saved(self, key: str, page: int) -> None:
        self.library.update_position(key, page)
        self.book.update_position(key, page)

    # -- labels, similar panels, export --------------------------------------------------------------
    def _labels_saved(self, book) -> None:
        if self.reader.meta is not None and self.reader.meta.path == book.path:
            self.reader.refresh_analysis()
        self.rescorer.request(self.session)

    def _rescored(self, session, result) -> None:
        if session is not self.session:
            return
        self.say(describe(result))
        self.book.reload_labels()
        self.reader.refresh_analysis()

    def find_similar(self, book_id, page: int, panel, title: str = "") -> None:
        """Open the search sidebar on panels (or pages, ``panel`` None) like this one."""
        self.search_dock.show()
        self.search_dock.raise_()
        self.search_panel.find_similar(book_id, page, panel, title)

    def _reader_similar(self, path: str, book_id, page: int, panel) -> None:
        title = self.reader.meta.title if self.reader.meta is not None else ""
        self.find_similar(book_id, page, panel, title)

    def focus_text_search(self) -> None:
        self.search_dock.show()
        self.search_dock.raise_()
        self.search_panel.text.setFocus()
        self.search_panel.text.selectAll()

    def open_hit(self, hit) -> None:
        """A search result: its page in the reader, the panel highlighted."""
        if self.session is None:
            return
        if self.reader.meta is not None and self.reader.meta.path == hit.book and \
                self.stack.currentWidget() is self.reader:
            self.reader.show_hit(hit.page, hit.box if hit.panel is not None else None)
            return
        item = next((b for b in self.library.model.books() if b.id == hit.book_id), None)
        if item is not None:
            self._open_hit_item(item, hit)
            return
        session = self.session
        self.bridge.run(session.io, session.book_by_path, hit.book,
                        on_done=lambda b: b is not None and session is self.session and self._open_hit_item(b, hit),
                        owner=self)

    def _open_hit_item(self, item: BookItem, hit) -> None:
        self.read(item, hit.page)
        self.reader.show_hit(hit.page, hit.box if hit.panel is not None else None)

    def export_current(self) -> None:
        """Export what is in front of the person: the reader's or book view's book, or the books
        selected in the library."""
        page = self.stack.currentWidget()
        books = []
        if page is self.book and self.book.book is not None:
            books = [self.book.book]
        elif page is self.reader and self.reader.meta is not None:
            path = self.reader.meta.path
            books = [b for b in self.library.model.books() if b.path == path][:1]
        elif page is self.library:
            books = self.library.selected_books()
        if not books:
            self.say("Choose a book to export (select books in the library, or open one)")
            return
        self.open_export(books)

    def open_export(self, books):
        from comicdesk.qt.export_dialog import ExportDialog

        if self.export_dialog is not None and self.export_dialog.running:
            self.export_dialog.raise_()
            self.say("An export is running")
            return self.export_dialog
        dlg = ExportDialog(list(books), self.settings, self.bridge, self, start_dir=self.prefs.export_dir or None)
        dlg.finished_export.connect(lambda results: self._exported(dlg, results))
        self.export_dialog = dlg
        dlg.setModal(False)
        dlg.show()
        return dlg

    def _exported(self, dlg, results) -> None:
        written = [r for r in results if r.status in ("written", "up-to-date") and r.output]
        if written:
            folder = str(Path(written[0].output).parent)
            if folder != self.prefs.export_dir:
                self.prefs.export_dir = folder
                self.save_prefs_soon()
        self.say(f"Export: {dlg.status.text()}")

    def open_models(self):
        from comicdesk.qt.models_dialog import ModelsDialog

        dlg = ModelsDialog(self.settings, self.bridge, self)
        dlg.setModal(False)
        dlg.show()
        return dlg

    def _focus_search(self) -> None:
        if self.session is not None:
            self.show_library()
            self.library.search.setFocus()
            self.library.search.selectAll()

    # -- choosing ----------------------------------------------------------------------------------
    def choose_folder(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Open a folder of comics", self._dialog_start())
        if folder:
            self.open_path(folder)

    def choose_calibre(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Open a Calibre library", self._dialog_start())
        if folder:
            self.open_path(folder, calibre=True)

    def choose_book(self) -> None:
        path, _f = QFileDialog.getOpenFileName(self, "Open a book", self._dialog_start(), COMIC_FILTER)
        if path:
            self.open_path(path)

    def _dialog_start(self) -> str:
        if self.target is not None:
            return str(self.target.info.root)
        return str(Path.home())

    def _fill_recent_menu(self) -> None:
        self.recent_menu.clear()
        for p in self.prefs.recent:
            a = self.recent_menu.addAction(p)
            a.triggered.connect(lambda _c=False, p=p: self.open_path(p))
        if not self.prefs.recent:
            a = self.recent_menu.addAction("(nothing yet)")
            a.setEnabled(False)

    # -- drag and drop -----------------------------------------------------------------------------
    def dragEnterEvent(self, event) -> None:  # noqa: N802
        urls = event.mimeData().urls()
        if urls and all(u.isLocalFile() for u in urls):
            event.acceptProposedAction()

    def dropEvent(self, event) -> None:  # noqa: N802
        urls = [u for u in event.mimeData().urls() if u.isLocalFile()]
        if urls:
            event.acceptProposedAction()
            self.open_path(urls[0].toLocalFile())

    # -- settings ----------------------------------------------------------------------------------
    def open_settings(self) -> None:
        from comicdesk.qt.settings_dialog import SettingsDialog

        dlg = SettingsDialog(self.prefs, self.settings, self.bridge, self.io, self.log_file,
                             before_clear=self._before_cache_clear, parent=self)
        dlg.cache_cleared.connect(self._cache_cleared)
        if dlg.exec() == SettingsDialog.DialogCode.Accepted and dlg.apply(self.prefs):
            self.save_prefs_soon()
            self.say("Settings saved")

    def _before_cache_clear(self) -> None:
        self.jobs.cancel_all()
        self.library.loader.clear()
        self.book.loader.clear()

    def _cache_cleared(self, result) -> None:
        from comicdesk.qt.settings_dialog import human_size

        self.say(f"Cache cleared: {human_size(result.freed)} freed")
        if self.target is not None:  # the catalogue is gone: scan again, keep reading positions
            if self.session is not None:
                self.bridge.run(self.session.io, self.session.reopen_catalog)
            self.rescan()

    def _reader_pref(self, name: str, value) -> None:
        setattr(self.prefs, name, value)
        self.save_prefs_soon()

    def save_prefs_soon(self) -> None:
        self._prefs_timer.start()

    def save_prefs(self) -> None:
        self._prefs_timer.stop()
        if not self.persist_prefs or self._closed:
            return
        snapshot = Prefs(**vars(self.prefs))
        snapshot.recent = list(self.prefs.recent)
        self.bridge.run(self.io, save_prefs, self.settings.data_root, snapshot,
                        on_error=lambda e: self.say(f"Could not save settings: {one_line(e)}"), owner=self)

    def _open_log_folder(self) -> None:
        if self.log_file is not None:
            QDesktopServices.openUrl(QUrl.fromLocalFile(str(self.log_file.parent)))
        else:
            self.say("Logging to a file is off")

    def _about(self) -> None:
        from comicdesk import __version__

        QMessageBox.about(self, "About comicdesk",
                          f"<b>comicdesk {__version__}</b><br>A desktop comic library browser.<br>"
                          f"It never modifies your library.<br><br>Log file: {self.log_file or '(none)'}")

    # -- the first screen (for --screenshot) --------------------------------------------------------
    def first_screen_done(self) -> bool:
        page = self.stack.currentWidget()
        if page is self.welcome:
            return True
        if page is self.reader:
            shown = self.reader.shown()
            return bool(shown) and all(self.reader.has_image(i) or i in self.reader._errors for i in shown)
        if page is self.book:
            return self.book.model.rowCount() > 0 and visible_thumbs_ready(self.book.grid, self.book.loader)
        if page is self.library:
            if not (self._scan_done and self._loaded_after_scan):
                return False
            return (visible_thumbs_ready(self.library.grid, self.library.loader) and
                    (not self.library.shelf.isVisible() or
                     visible_thumbs_ready(self.library.shelf, self.library.loader)))
        return False

    def _check_first_screen(self) -> None:
        if self._ready_sent:
            self._ready_timer.stop()
            return
        if self.first_screen_done():
            self._ready_sent = True
            self._ready_timer.stop()
            self.first_screen_ready.emit()

    # -- closing -----------------------------------------------------------------------------------
    def closeEvent(self, event) -> None:  # noqa: N802
        self.prefs.geometry = base64.b64encode(bytes(self.saveGeometry())).decode("ascii")
        self.save_prefs()
        self.reader.close_book()
        self.jobs.cancel_all()
        super().closeEvent(event)

    def shutdown(self) -> None:
        """After the event loop: let pending writes (reading position, settings) finish, stop
        the background threads. Waiting is fine here: the window is gone."""
        if self._closed:
            return
        self.reader.close_book()
        if self._prefs_timer.isActive():
            self.save_prefs()
        self._closed = True
        self._ready_timer.stop()
        self.library.loader.close()
        self.book.loader.close()
        self.search_panel.close_panel()
        self.rescorer.close(wait=True)
        self.jobs.shutdown(wait=True)
        if self.session is not None:
            self.session.close(wait=True)
        self.io.shutdown(wait=True)


def visible_thumbs_ready(view, loader) -> bool:
    """Every cell painted in ``view`` has its thumbnail (or a reason it has none)."""
    from comicdesk.qt.models import ErrorRole, item_data

    model = view.model()
    vp = view.viewport().rect()
    for row in range(model.rowCount()):
        ix = model.index(row)
        r = view.visualRect(ix)
        if not r.isValid():
            return False
        if not r.intersects(vp):
            if r.top() > vp.bottom():
                break
            continue
        if item_data(ix, ErrorRole):
            continue
        if item_data(ix, Qt.ItemDataRole.DecorationRole) is None:
            return False
    return True


def _reopenable(path: str, settings) -> bool:
    """The last library or book is worth reopening: it exists, or it is a registered library
    (then it shows as offline)."""
    if os.path.exists(path):
        return True
    from comicdesk.services.library import LibraryRegistry

    return LibraryRegistry(settings).find(Path(path).absolute().resolve()) is not None
