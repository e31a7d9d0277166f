"""The app's background analysis as it really runs: :class:`comicdesk.qt.jobs.AnalysisJob` with no
runner factory, so the real Runner runs in the analysis child process (``services.analysis_child``) and
prioritise / pause / resume / cancel travel over its command queue (issue 21; the jobs panel's
tests use an in-process fake)."""

from __future__ import annotations

import multiprocessing
import threading
import time

from qthelpers import make_book

WAIT_S = 180


def _done_books(cache, ids) -> set[int]:
    from comicdesk.library.catalog import Catalog

    with Catalog.open(cache, readonly=True) as cat:
        runs = cat.runs(ids)
    return {bid for bid in ids if runs.get(bid) and all(r.status == "done" for r in runs[bid].values())}


def _wait(predicate, timeout=WAIT_S, step=0.2) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if predicate():
            return True
        time.sleep(step)
    return predicate()


def test_the_real_child_is_prioritised_paused_resumed_and_cancelled(tmp_path, settings, pages):
    from comicdesk.library.service import ScanOptions, scan_library
    from comicdesk.qt.jobs import AnalysisJob, JobFinished, JobState

    root = tmp_path / "Comics"
    books = [make_book(root / f"Book {n}.cbz", pages, title=f"Book {n}") for n in range(8)]
    res = scan_library(root, settings, options=ScanOptions(executor="inline"))
    cache = settings.library_cache_dir(res.library_id)
    ids = {b.path: b.id for b in res.books}
    all_ids = sorted(ids.values())
    last = str(books[-1])  # the catalogue's last book: analysed first only when prioritised

    posted = []
    job = AnalysisJob(cache, settings, posted.append, threads=1)
    assert not job.in_process  # no runner factory: the real child
    thread = threading.Thread(target=job.run, daemon=True)
    thread.start()
    try:
        assert _wait(lambda: job._commands is not None and multiprocessing.active_children(), 60)
        job.pause()  # while the child loads its models
        job.prioritise(last)
        assert _wait(lambda: any(isinstance(p, JobState) and p.status == "paused" for p in posted), 60), \
            "the child never said it was paused"
        before = _done_books(cache, all_ids)
        time.sleep(3)
        assert _done_books(cache, all_ids) == before  # paused: nothing more is analysed
        job.resume()
        assert _wait(lambda: ids[last] in _done_books(cache, all_ids)), "the prioritised book was never analysed"
        done_first = _done_books(cache, all_ids)
        job.cancel()
        thread.join(WAIT_S)
        assert not thread.is_alive()
    finally:
        if thread.is_alive():
            job.cancel()
            thread.join(30)
    finished = [p for p in posted if isinstance(p, JobFinished)]
    assert len(finished) == 1 and finished[0].state.status == "cancelled", finished
    assert multiprocessing.active_children() == []  # the child is gone
    # The prioritised book jumped the queue (in catalogue order it is analysed last), and the
    # cancel stopped the run before the whole library.
    assert ids[last] in done_first and done_first != set(all_ids)
    assert _done_books(cache, all_ids) != set(all_ids)
