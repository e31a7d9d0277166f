"""Issue 19: each book's analysis shows the moment it is committed, not when the whole job ends.

A real background analysis (the real runner and models, in the analysis child process) of two
small books: the book view of the first shows the model's badges — and the grid its summary —
while the second book is not finished yet; the selection the person made stays. Then the reader
and the text search box: the sidebar's one text search answers words first, then meaning."""

from __future__ import annotations

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
