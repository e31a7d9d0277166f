"""The background analysis as a front end drives it, without Qt
(:class:`comicdesk.services.analysis_job.BackgroundAnalysis`, which the app's ``AnalysisJob`` wraps):
a real runner in this process on a tiny library, controls before and during the run, and the
relaying of the controls to a child's command queue."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest
from fakes import simple_library, whole_page_stage

from comicdesk.core.errors import ComicdeskError
from comicdesk.core.events import AnalysisProgress, BookAnalysed
from comicdesk.library.catalog import Catalog
from comicdesk.library.service import ScanOptions, scan_library
from comicdesk.pipeline.runner import RunOptions
from comicdesk.services.analysis import make_runner
from comicdesk.services.analysis_job import AnalysisCancelled, BackgroundAnalysis

OPTS = RunOptions(durable=False, lock_timeout=2.0, decode_workers=1, books_ahead=0, nice=0)


def _library(tmp_path, settings, books=6, pages=3):
    root = tmp_path / "lib"
    paths = simple_library(root, books=books, pages=pages)
    res = scan_library(root, settings, options=ScanOptions(executor="inline", lock_timeout=2.0))
    return paths, settings.library_cache_dir(res.library_id)


def _done(cache) -> set[str]:
    with Catalog.open(cache, readonly=True) as cat:
        books = cat.all_books()
        runs = cat.runs([b.id for b in books])
    return {Path(b.path).name for b in books if runs.get(b.id) and runs[b.id]["panels"].status == "done"}


def _factory(delay=0.1, made=None):
    """A real runner (one cheap stage) in this process, as a runner factory."""

    def factory(cache_dir, on_event=None):
        runner = make_runner(cache_dir, stages=[whole_page_stage(delay=delay)], options=OPTS, on_event=on_event)
        if made is not None:
            made.append(runner)
        return runner

    return factory


def _wait(predicate, timeout=30.0) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if predicate():
            return True
        time.sleep(0.02)
    return predicate()


def test_in_process_paused_before_the_start_prioritised_resumed_then_cancelled(tmp_path, settings):
    books, cache = _library(tmp_path, settings)
    events: list = []
    made: list = []
    job = BackgroundAnalysis(cache, settings, events.append, runner_factory=_factory(made=made))
    assert job.in_process and job.commands is None and job.runner is None
    job.pause()  # before the runner exists: remembered
    job.prioritise(books[-1])  # likewise: the last book in library order goes first
    out: dict = {}
    thread = threading.Thread(target=lambda: out.setdefault("result", job.run()), daemon=True)
    thread.start()
    try:
        assert _wait(lambda: job.runner is not None)
        assert made == [job.runner] and job.runner.paused  # the pause reached the new runner
        time.sleep(1.0)
        assert not [e for e in events if isinstance(e, BookAnalysed)]  # paused: nothing analysed
        assert _done(cache) == set()
        job.resume()
        assert _wait(lambda: any(isinstance(e, BookAnalysed) for e in events))
        first = next(e for e in events if isinstance(e, BookAnalysed))
        assert Path(first.path).name == books[-1].name and first.status == "done"
        job.cancel()
        thread.join(30)
        assert not thread.is_alive()
    finally:
        job.cancel()
        thread.join(30)
    result = out["result"]
    assert result.cancelled and job.cancelled
    assert any(isinstance(e, AnalysisProgress) for e in events)  # the runner's events, as they are
    done = _done(cache)
    assert books[-1].name in done and done != {b.name for b in books}  # stopped before the whole library
    assert {Path(e.path).name for e in events if isinstance(e, BookAnalysed)} == done


def test_in_process_run_to_the_end_then_a_second_run_skips_everything(tmp_path, settings):
    books, cache = _library(tmp_path, settings, books=3, pages=2)
    events: list = []
    result = BackgroundAnalysis(cache, settings, events.append, runner_factory=_factory(delay=0)).run()
    assert (result.done, result.failed, result.cancelled) == (3, 0, False)
    assert _done(cache) == {b.name for b in books}
    assert sorted(Path(e.path).name for e in events if isinstance(e, BookAnalysed)) == sorted(b.name for b in books)
    again: list = []
    result = BackgroundAnalysis(cache, settings, again.append, runner_factory=_factory(delay=0)).run()
    assert result.done == 0 and result.skipped == 3
    assert not [e for e in again if isinstance(e, BookAnalysed) and e.status == "done"]


def test_cancelled_before_the_run_nothing_is_analysed(tmp_path, settings):
    _, cache = _library(tmp_path, settings, books=2, pages=2)
    events: list = []
    job = BackgroundAnalysis(cache, settings, events.append, runner_factory=_factory(delay=0))
    job.cancel()
    with pytest.raises(AnalysisCancelled):
        job.run()
    assert job.runner is not None and job.runner.state == "idle"  # made, never run
    assert _done(cache) == set() and events == []


class _Queue:
    """Stands in for the child's command queue."""

    def __init__(self):
        self.items: list = []

    def put(self, item):
        self.items.append(item)


def test_in_a_child_the_controls_travel_over_its_command_queue(tmp_path, settings, monkeypatch):
    from comicdesk.services import analysis_child

    seen: dict = {}
    queue = _Queue()

    def fake_run_child(cache_dir, options, on_event, *, first=(), attach=None, **_):
        seen.update(cache_dir=cache_dir, options=options, first=list(first))
        attach(queue)  # the child started: pending controls go to it
        seen["on_start"] = list(queue.items)
        job.prioritise("/books/B.cbz")
        job.resume()
        job.cancel()
        on_event(AnalysisProgress("index", 1, 2))
        attach(None)  # over
        job.pause()  # nothing runs any more: nowhere to send it
        return "result"

    monkeypatch.setattr(analysis_child, "run_child", fake_run_child)
    events: list = []
    cache = settings.library_cache_dir("lib-1")
    job = BackgroundAnalysis(cache, settings, events.append, first="/books/A.cbz", threads=2, device="cpu")
    assert not job.in_process
    job.pause()
    job.prioritise("/books/C.cbz")  # before the start: among the first
    assert job.run() == "result"
    assert seen["first"] == ["/books/A.cbz", "/books/C.cbz"]
    assert seen["on_start"] == [("pause",)]
    assert queue.items == [("pause",), ("prioritise", "/books/B.cbz"), ("resume",), ("cancel",)]
    assert seen["options"] == job.options()
    assert seen["options"]["threads"] == 2 and seen["options"]["device"] == "cpu"
    assert events == [AnalysisProgress("index", 1, 2)] and job.commands is None


def test_a_cancel_before_the_child_starts_reaches_it_and_a_child_error_is_raised(settings, monkeypatch):
    from comicdesk.services import analysis_child

    queue = _Queue()

    def fake_run_child(cache_dir, options, on_event, *, first=(), attach=None, **_):
        attach(queue)
        attach(None)
        raise ComicdeskError("the analysis process stopped unexpectedly (exit code 9)")

    monkeypatch.setattr(analysis_child, "run_child", fake_run_child)
    job = BackgroundAnalysis(settings.library_cache_dir("lib-1"), settings, lambda e: None)
    job.cancel()
    with pytest.raises(ComicdeskError, match="exit code 9"):
        job.run()
    assert queue.items == [("cancel",)]


def test_no_child_process_runs_it_here(tmp_path, settings, monkeypatch):
    from comicdesk.services import analysis, analysis_child

    books, cache = _library(tmp_path, settings, books=2, pages=2)

    def no_child(*_a, **_k):
        raise OSError("no processes in this sandbox")

    real = analysis.make_runner
    monkeypatch.setattr(analysis_child, "run_child", no_child)
    monkeypatch.setattr(analysis, "make_runner",
                        lambda cache_dir, **kw: real(cache_dir, stages=[whole_page_stage()],
                                                     **{**kw, "options": OPTS}))
    events: list = []
    job = BackgroundAnalysis(cache, settings, events.append)
    assert not job.in_process
    result = job.run()
    assert job.in_process and result.done == 2 and not result.cancelled
    assert _done(cache) == {b.name for b in books}


def test_the_apps_session_reads_the_panels_the_run_committed(tmp_path, settings):
    """``services.session`` reads a book's panels through the ``panels`` declaration
    (``pipeline.outputs``): what the runner wrote, a wide page's two halves included."""
    from fakes import jpeg, make_cbz

    from comicdesk.services.session import LibrarySession, locate

    root = tmp_path / "lib"
    wide = make_cbz(root / "wide.cbz", [jpeg(120, 60), jpeg(60, 90)])
    res = scan_library(root, settings, options=ScanOptions(executor="inline", lock_timeout=2.0))
    cache = settings.library_cache_dir(res.library_id)
    session = LibrarySession(settings, locate(root, settings))
    try:
        book_id = session.book_id_for(str(wide))
        assert session.load_panels(book_id) == {}  # nothing analysed yet
        BackgroundAnalysis(cache, settings, lambda e: None, runner_factory=_factory(delay=0)).run()
        session.reopen_catalog()
        want = {0: [(0, 0, 60, 60), (60, 0, 60, 60)], 1: [(0, 0, 60, 90)]}
        with Catalog.open(cache, readonly=True) as cat:
            assert cat.panels(book_id) == want
        assert session.load_panels(book_id) == want
        assert session.book_results(book_id).panels == want
        assert session.book_analysis(str(wide))[1] == want
    finally:
        session.close(wait=True)
