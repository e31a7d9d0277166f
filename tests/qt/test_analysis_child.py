"""The analysis an export needs runs in a child process, as the app's background analysis does
(its models would otherwise hold the UI process's GIL), and a cancel stops the child cleanly."""

from __future__ import annotations

import multiprocessing

import pytest
from qthelpers import make_book


class Stop(Exception):
    pass


def _library(tmp_path, settings, pages, books=1):
    from comicdesk.library.service import ScanOptions, scan_library

    root = tmp_path / "Comics"
    for n in range(books):
        make_book(root / f"Book {n}.cbz", pages[:2], title=f"Book {n}")
    res = scan_library(root, settings, options=ScanOptions(executor="inline"))
    return res, settings.library_cache_dir(res.library_id)


def test_an_exports_analysis_runs_in_a_child_process_and_a_cancel_stops_it(tmp_path, settings, pages, monkeypatch):
    from comicdesk.core.events import AnalysisProgress, BookAnalysed
    from comicdesk.library.catalog import Catalog
    from comicdesk.pipeline import runner as runner_mod
    from comicdesk.pipeline.runner import foreground_options
    from comicdesk.qt.export_dialog import analyse_in_child

    res, cache = _library(tmp_path, settings, pages, books=2)
    ids = sorted(b.id for b in res.books)
    opts = foreground_options(settings, res.library_id, workers=1, threads=1)

    def not_here(self, *args, **kwargs):
        raise AssertionError("the analysis ran in the app's process")

    monkeypatch.setattr(runner_mod.Runner, "run", not_here)  # the child is a fresh interpreter

    # The person cancels at the first progress: the child is told, stops, and nothing is left.
    def cancel(ev):
        if isinstance(ev, AnalysisProgress):
            raise Stop()

    with pytest.raises(Stop):
        analyse_in_child(cache, ids, opts, cancel)
    assert multiprocessing.active_children() == []

    events = []
    result = analyse_in_child(cache, ids[:1], opts, events.append)
    assert result.done == 1 and not result.cancelled
    finals = [e for e in events if isinstance(e, BookAnalysed) and e.final]
    assert [e.book_id for e in finals] == ids[:1]
    assert multiprocessing.active_children() == []
    with Catalog.open(cache, readonly=True) as cat:
        runs = cat.runs(ids)
        assert runs[ids[0]] and all(r.status == "done" for r in runs[ids[0]].values())
        # The cancelled run did not finish the other book (only the second run's book is complete).
        assert len([r for r in runs.get(ids[1], {}).values() if r.status == "done"]) < len(runs[ids[0]])
