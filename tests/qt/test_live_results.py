"""Issue 19: each book's analysis shows the moment it is committed, not when the whole job ends.

A real background analysis (the real runner and models, in the analysis child process) of two
small books: the book view of the first shows the model's badges — and the grid its summary —
while the second book is not finished yet; the selection the person made stays. Then the reader
and the text search box: the sidebar's one text search answers words first, then meaning."""

from __future__ import annotations

import threading

from PySide6.QtCore import QItemSelectionModel
from qthelpers import WAIT_MS, make_book, new_window, open_and_wait

ANALYSIS_MS = 240_000  # the real models load in the child process: allow a slow, shared box


def test_the_first_books_badges_show_before_the_second_book_is_done(qtbot, settings, tmp_path, pages):
    from comicdesk.qt.models import AnalysisRole
    from comicdesk.qt.prefs import Prefs

    root = tmp_path / "Comics"
    make_book(root / "A first.cbz", pages[:3], title="A first")
    make_book(root / "B second.cbz", pages + pages + pages, title="B second")  # 15 pages: finishes later
    win = new_window(qtbot, settings, Prefs(analyse=True))
    try:
        finals: list[str] = []  # books whose last pass was announced, in order
        win.jobs.book_analysed.connect(lambda ev: ev.event.final and finals.append(ev.event.path))
        seen: list[tuple] = []  # (book id, labels in the book view, B final already?) per applied result
        open_and_wait(qtbot, win, root)
        first = next(b for b in win.library.model.books() if b.title == "A first")
        second = next(b for b in win.library.model.books() if b.title == "B second")
        with qtbot.waitSignal(win.book.loaded, timeout=WAIT_MS):
            win.show_book(first)
        view = win.book
        assert all(p.source is None for p in view.model.all_pages())  # nothing analysed yet
        # the person selects page 2 before any result comes
        sel = view.grid.selectionModel()
        sel.select(view.model.index(1), QItemSelectionModel.SelectionFlag.ClearAndSelect)
        win.results_applied.connect(lambda book_id: seen.append(
            (book_id, [p.source for p in view.model.all_pages()], second.path in finals)))

        qtbot.waitUntil(lambda: any(b == first.id and all(s == "model" for s in srcs) for b, srcs, _f in seen),
                        timeout=ANALYSIS_MS)
        when = next(i for i, (b, srcs, _f) in enumerate(seen) if b == first.id and all(s == "model" for s in srcs))
        assert not seen[when][2], "the first book's badges came only after the second book was done"
        assert win.analysis_job.state.active, "shown while the analysis job was still running"
        assert [p.index for p in view.selected_pages()] == [1], "the selection stayed"
        labels = {p.label for p in view.model.all_pages()}
        assert labels and None not in labels
        # the grid's cell for that book has its summary (asked for nothing: the event brought it)
        row = win.library.model.row_of(first.id)
        summary = win.library.model.data(win.library.model.index(row), AnalysisRole)
        assert summary is not None and summary.state in ("first", "done") and sum(n for _c, n in summary.counts) == 3
        # the chips count the new classes
        assert view.chips["story"].text() != "Story only (0)" or view.chips["ads"].text() != "Ads (0)" or \
            view.chips["covers"].text() != "Covers (0)"

        # pass 2 replaces pass 1; the second book's results follow, the job ends
        qtbot.waitUntil(lambda: second.path in finals and first.path in finals, timeout=ANALYSIS_MS)

        def second_summary():
            model = win.library.model
            return model.data(model.index(model.row_of(second.id)), AnalysisRole)

        # its last pass's results reach the grid (read on the I/O thread after the event)
        qtbot.waitUntil(lambda: second_summary() is not None and second_summary().state == "done", timeout=WAIT_MS)
        assert sum(n for _c, n in second_summary().counts) == 15
        assert finals.index(first.path) < finals.index(second.path)
    finally:
        win.close()
        win.shutdown()


class PanelsRunner:
    """An in-process stand-in for the runner (``MainWindow.runner_factory``): writes panels and
    ComicInfo-free model labels for one book as pass 1 would, announces it, and keeps running
    until cancelled — so whatever the reader shows came from the event, not from the job's end."""

    book: str = ""
    go = None  # threading.Event: the test says when the "analysis" may write

    def __init__(self, cache_dir, on_event=None):
        import threading

        self.cache_dir, self.on_event = cache_dir, on_event
        self.stop = threading.Event()

    def prioritise(self, book):
        pass

    def pause(self):
        pass

    def resume(self):
        pass

    def cancel(self):
        self.stop.set()

    def run(self, book_ids=None):
        import time

        from comicdesk.core.events import BookAnalysed
        from comicdesk.library.catalog import Catalog
        from comicdesk.pipeline.runner import RunResult

        PanelsRunner.go.wait(30)
        with Catalog.open(self.cache_dir) as cat, cat.transaction():
            row = cat.book_by_path(PanelsRunner.book)
            cat.replace_panels(row.id, {p.index: [(0, 0, 50, 50), (50, 0, 50, 50)] for p in cat.pages(row.id)})
            for p in cat.pages(row.id):
                cat.set_page_output(row.id, p.index, "standard-1", "1", "story", {"story": 0.95}, "model", time.time())
            cat.set_run(row.id, "panels", "1", 1, "done", None, None, time.time())
        self.on_event(BookAnalysed(str(PanelsRunner.book), row.id, "done", 1, False, 5, 10))
        self.stop.wait(60)
        return RunResult(done=1, cancelled=self.stop.is_set())


def test_the_open_readers_panels_and_the_sidebar_follow_the_event_on_the_same_page(qtbot, settings, tmp_path, pages):
    from comicdesk.qt.prefs import Prefs
    from qthelpers import wait_reader

    root = tmp_path / "Comics"
    book = make_book(root / "Reader book.cbz", pages, title="Reader book")
    PanelsRunner.book = str(book)
    PanelsRunner.go = threading.Event()
    win = new_window(qtbot, settings, Prefs(analyse=True))
    win.runner_factory = PanelsRunner
    applied: list[int] = []
    win.results_applied.connect(applied.append)
    try:
        win.open_path(book)
        wait_reader(qtbot, win)
        reader = win.reader
        reader.go_to(2)
        qtbot.waitUntil(lambda: reader.page == 2, timeout=WAIT_MS)
        win.find_similar(reader.book_id, 2, None, "Reader book")  # not indexed yet: nothing found
        qtbot.waitUntil(lambda: win.search_panel.status.text() != "Searching…", timeout=WAIT_MS)
        assert win.search_panel.hits == [] and not reader.panels and not applied
        PanelsRunner.go.set()
        # the stand-in runner announces the book once the analysis starts
        qtbot.waitUntil(lambda: bool(applied), timeout=WAIT_MS)
        assert win.analysis_job.state.active  # shown while the job still runs
        assert reader.panels.get(2) == [(0, 0, 50, 50), (50, 0, 50, 50)] and reader.page == 2
        assert reader.labels.get(2, (None,))[0] == "story"
        reader.set_guided(True)  # guided view has the panels at once
        assert reader.guided and reader.page == 2
    finally:
        win.close()
        win.shutdown()
