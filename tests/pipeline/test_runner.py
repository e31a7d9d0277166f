"""The analysis runner: what it does, what it skips, bad input, control, priorities, locks."""

from __future__ import annotations

import os
import shutil
import sys
import threading
import time
from pathlib import Path

import pytest
from fakes import Recorder, jpeg, make_cbz, png, png_bomb, simple_library, whole_page_stage
from helpers import tree_digest

from comicdesk.core.events import AnalysisProgress, BookAnalysed, BookFailed, PageFailed, Progress
from comicdesk.library.catalog import Catalog
from comicdesk.library.errors import LibraryBusy
from comicdesk.library.lock import LibraryLock
from comicdesk.library.service import ScanOptions, scan_library
from comicdesk.pipeline.runner import RunError, RunOptions, Runner
from comicdesk.pipeline.stage import IMAGE, PAGE_CLASS, PANELS, StageSpec

INLINE = ScanOptions(executor="inline", lock_timeout=2.0)
FAST = RunOptions(durable=False, lock_timeout=2.0)


def scan(root: Path, settings):
    result = scan_library(root, settings, options=INLINE)
    return result, settings.library_cache_dir(result.library_id)


def run(cache_dir, stages, options=FAST, book_ids=None, before=None):
    events: list = []
    runner = Runner(cache_dir, stages=stages, options=options, on_event=events.append)
    if before is not None:
        before(runner)
    result = runner.run(book_ids)
    return result, events


def of(events, cls):
    return [e for e in events if type(e) is cls]


def test_every_book_is_analysed_once_and_the_library_is_untouched(tmp_path, settings):
    root = tmp_path / "lib"
    simple_library(root, books=5, pages=4)
    make_cbz(root / "wide.cbz", [jpeg(120, 60), jpeg(60, 90)])
    _, cache = scan(root, settings)
    before = tree_digest(root)
    rec = Recorder()
    result, events = run(cache, [whole_page_stage(rec=rec)])
    assert tree_digest(root) == before
    assert (result.done, result.skipped, result.failed, result.cancelled) == (6, 0, 0, False)
    assert result.pages == 22 and result.panels == 23  # the wide page has two panels
    assert sorted(rec.pages("panels")) == sorted(set(rec.pages("panels")))  # each page once
    assert len(rec.calls) == 22
    done = of(events, BookAnalysed)
    assert len(done) == 6 and all(e.status == "done" and e.final for e in done)
    last = of(events, AnalysisProgress)[-1]
    assert (last.done, last.total, last.books_done, last.books_total) == (22, 22, 6, 6)
    with Catalog.open(cache, readonly=True) as cat:
        wide = cat.book_by_path(root / "wide.cbz")
        assert cat.panels(wide.id) == {0: [(0, 0, 60, 60), (60, 0, 60, 60)], 1: [(0, 0, 60, 90)]}
        pages = cat.pages(wide.id)
        assert all(p.content_hash for p in pages)  # hashed while the bytes were read anyway
        runs = cat.runs([wide.id])[wide.id]
        assert runs["panels"].status == "done" and runs["panels"].version == "fake-1"
        assert runs["panels"].content_key == wide.content_key


def test_rerun_skips_work_done_by_the_same_version_and_redoes_a_new_one(tmp_path, settings):
    root = tmp_path / "lib"
    simple_library(root, books=3, pages=3)
    _, cache = scan(root, settings)
    run(cache, [whole_page_stage("v1")])
    rec = Recorder()
    result, events = run(cache, [whole_page_stage("v1", rec=rec)])
    assert rec.calls == [] and rec.ctx == []  # nothing to do: the model is not even loaded
    assert (result.done, result.skipped) == (0, 3)
    assert [e.status for e in of(events, BookAnalysed)] == ["skipped"] * 3
    assert all(e.panels == 3 and e.pages == 3 for e in of(events, BookAnalysed))
    result, _ = run(cache, [whole_page_stage("v2", rec=rec)])
    assert result.done == 3 and len(rec.calls) == 9


def test_a_changed_book_is_analysed_again_a_touched_one_is_not(tmp_path, settings):
    root = tmp_path / "lib"
    books = simple_library(root, books=2, pages=2)
    _, cache = scan(root, settings)
    run(cache, [whole_page_stage()])
    make_cbz(books[0], [jpeg(80, 80, (1, 2, 3))])  # new content at the same path
    os.utime(books[1], ns=(1, 1_000_000_000))  # touched
    scan(root, settings)
    rec = Recorder()
    result, _ = run(cache, [whole_page_stage(rec=rec)])
    assert (result.done, result.skipped) == (1, 1)
    with Catalog.open(cache, readonly=True) as cat:
        row = cat.book_by_path(books[0])
        assert rec.pages("panels") == [(row.id, 0)]
        assert cat.panels(row.id) == {0: [(0, 0, 80, 80)]}


def test_bad_input_never_stops_the_run(tmp_path, settings):
    root = tmp_path / "lib"
    good = jpeg()
    make_cbz(root / "mixed.cbz", [good, good[: len(good) // 2], png(300, 400), png(1, 1), png_bomb(), good],
             names=["a.jpg", "b-truncated.jpg", "c-blank.png", "d-tiny.png", "e-bomb.png", "f.jpg"])
    make_cbz(root / "one-page.cbz", [good])
    make_cbz(root / "long.cbz", [jpeg(16, 24, (i % 256, 0, 0), quality=30) for i in range(600)])
    make_cbz(root / "gone.cbz", [good])
    make_cbz(root / "changed.cbz", [good, good])
    (root / "broken.cbz").write_bytes(b"PK\x03\x04 this is not really a zip")
    big = root / "big.cbz"
    make_cbz(big, [png(3000, 4500, (250, 250, 250))])
    _, cache = scan(root, settings)
    before_digest = None
    (root / "gone.cbz").unlink()  # removed between scan and analysis
    make_cbz(root / "changed.cbz", [good])  # changed between scan and analysis
    before_digest = tree_digest(root)
    rec = Recorder()
    result, events = run(cache, [whole_page_stage(rec=rec)])
    assert tree_digest(root) == before_digest
    failed = {Path(e.path).name: e.reason for e in of(events, BookFailed)}
    assert set(failed) == {"gone.cbz", "changed.cbz", "broken.cbz"}
    assert "gone since the last scan" in failed["gone.cbz"]
    assert "changed since the last scan" in failed["changed.cbz"]
    assert all("\n" not in r and r for r in failed.values())
    done = {Path(e.path).name: e for e in of(events, BookAnalysed)}
    assert set(done) == {"mixed.cbz", "one-page.cbz", "long.cbz", "big.cbz"}
    assert done["long.cbz"].pages == 600 and done["long.cbz"].panels == 600
    assert (done["mixed.cbz"].pages, done["mixed.cbz"].bad_pages, done["mixed.cbz"].panels) == (6, 2, 4)
    bad = {e.index: e.reason for e in of(events, PageFailed)}
    assert set(bad) == {1, 4}
    assert "too large to decode safely" in bad[4]
    assert (result.done, result.failed) == (4, 3)
    with Catalog.open(cache, readonly=True) as cat:
        mixed = cat.book_by_path(root / "mixed.cbz")
        pages = cat.pages(mixed.id)
        assert [p.bad for p in pages] == [False, True, False, False, True, False]
        assert pages[1].error and pages[4].error
        panels = cat.panels(mixed.id)
        assert panels[2] == [(0, 0, 300, 400)] and panels[3] == [(0, 0, 1, 1)]
        assert 1 not in panels and 4 not in panels
        assert cat.panels(cat.book_by_path(big).id) == {0: [(0, 0, 3000, 4500)]}
        runs = cat.runs()
        # Passing problems (gone, changed) are not recorded: the next run tries again.
        for name in ("gone.cbz", "changed.cbz"):
            row = cat.book_by_path(root / name)
            assert row is None or row.id not in runs
    # The broken book failed at scan time; the next run says so again, opening nothing.
    result, events = run(cache, [whole_page_stage(rec=rec)])
    assert {Path(e.path).name for e in of(events, BookFailed)} == {"gone.cbz", "changed.cbz", "broken.cbz"}
    assert result.skipped == 4


def test_a_stage_failing_on_one_page_fails_only_that_book(tmp_path, settings):
    root = tmp_path / "lib"
    simple_library(root, books=4, pages=3)
    _, cache = scan(root, settings)
    with Catalog.open(cache, readonly=True) as cat:
        victim = cat.book_by_path(root / "Book 02.cbz").id

    def bad(page):
        return page.book_id == victim and page.index == 1

    rec = Recorder()
    result, events = run(cache, [whole_page_stage(rec=rec, fail_on=bad)])
    assert (result.done, result.failed) == (3, 1)
    (failure,) = of(events, BookFailed)
    assert failure.book_id == victim
    assert failure.reason == "panels failed on page 1 (0001.jpg): RuntimeError: cannot cope with page 1"
    assert max(rec.batches) > 1  # pages of several books went in one batch
    # Recorded: the next run reports it without trying; retry_failed tries again.
    rec2 = Recorder()
    result, events = run(cache, [whole_page_stage(rec=rec2, fail_on=bad)])
    assert rec2.calls == [] and [e.book_id for e in of(events, BookFailed)] == [victim]
    result, events = run(cache, [whole_page_stage(rec=rec2)], RunOptions(durable=False, retry_failed=True))
    assert result.done == 1 and not of(events, BookFailed)


def test_a_model_that_does_not_load_stops_the_run_with_one_line(tmp_path, settings):
    root = tmp_path / "lib"
    simple_library(root, books=2, pages=1)
    _, cache = scan(root, settings)

    def load(ctx):
        raise ImportError("No module named 'cv2'")

    spec = StageSpec("panels", 1, (IMAGE,), (PANELS,), load, "x")
    with pytest.raises(RunError, match="cannot load the panels stage: ImportError: No module named 'cv2'"):
        run(cache, [spec])
    with Catalog.open(cache, readonly=True) as cat:
        assert cat.runs() == {}  # nothing recorded against the books


def test_the_prioritised_book_goes_first(tmp_path, settings):
    root = tmp_path / "lib"
    books = simple_library(root, books=6, pages=2)
    _, cache = scan(root, settings)
    opts = RunOptions(durable=False, decode_workers=1)
    _, events = run(cache, [whole_page_stage(delay=0.01)], opts,
                    before=lambda r: r.prioritise(books[4]))
    order = [Path(e.path).name for e in of(events, BookAnalysed)]
    assert order[0] == "Book 04.cbz"

    # While running: asked for after the first commit, it comes next or after the book in flight.
    settings2 = type(settings).resolve(tmp_path / "cache2", tmp_path / "data2", env={})
    _, cache2 = scan(root, settings2)
    events2: list = []
    opts = RunOptions(durable=False, decode_workers=1, books_ahead=0)
    runner = Runner(cache2, stages=[whole_page_stage(delay=0.02)], options=opts, on_event=events2.append)

    def on_event(e):
        events2.append(e)
        if type(e) is BookAnalysed and len(of(events2, BookAnalysed)) == 1:
            runner.prioritise(str(books[5]))

    runner.on_event = on_event
    runner.run()
    order = [Path(e.path).name for e in of(events2, BookAnalysed)]
    assert order[0] == "Book 00.cbz"  # library order otherwise
    assert order.index("Book 05.cbz") <= 2, order  # only a book already being decoded comes first


def test_pause_resume_and_cancel_between_batches(tmp_path, settings):
    root = tmp_path / "lib"
    simple_library(root, books=6, pages=3)
    _, cache = scan(root, settings)
    rec = Recorder()
    events: list = []
    runner = Runner(cache, stages=[whole_page_stage(rec=rec, delay=0.01)],
                    options=RunOptions(durable=False, decode_workers=1, batch_size=2), on_event=events.append)
    seen = {}

    def watch(e):
        events.append(e)
        if type(e) is BookAnalysed and "paused" not in seen:
            runner.pause()
            seen["paused"] = len(rec.calls)

            def later():
                time.sleep(0.4)
                seen["during"] = len(rec.calls)
                runner.resume()

            threading.Thread(target=later).start()
        if type(e) is AnalysisProgress and e.state == "paused":
            seen["state"] = True

    runner.on_event = watch
    result = runner.run()
    assert result.done == 6 and not result.cancelled
    # At most the batch in flight finished after pause(); nothing more until resume().
    assert seen["during"] - seen["paused"] <= 2 and seen.get("state")

    # Cancel after the second book: the run stops, only whole books are recorded, the next run
    # does the rest.
    settings2 = type(settings).resolve(tmp_path / "c2", tmp_path / "d2", env={})
    _, cache2 = scan(root, settings2)
    events = []
    runner = Runner(cache2, stages=[whole_page_stage(delay=0.02)],
                    options=RunOptions(durable=False, decode_workers=1, batch_size=2), on_event=events.append)

    def cancel_after_two(e):
        events.append(e)
        if type(e) is BookAnalysed and len(of(events, BookAnalysed)) == 2:
            runner.cancel()

    runner.on_event = cancel_after_two
    t0 = time.monotonic()
    result = runner.run()
    assert result.cancelled and 2 <= result.done < 6
    assert time.monotonic() - t0 < 5
    assert_no_half_books(cache2)
    rec = Recorder()
    result, _ = run(cache2, [whole_page_stage(rec=rec)])
    assert result.done + result.skipped == 6 and result.done == 6 - result.skipped
    assert len(rec.calls) == 3 * result.done


def assert_no_half_books(cache) -> tuple[int, int]:
    """Every book recorded done has panels on every good page; returns (done, total)."""
    with Catalog.open(cache, readonly=True) as cat:
        runs = cat.runs()
        books = cat.all_books()
        done = 0
        for b in books:
            r = runs.get(b.id, {}).get("panels")
            panels = cat.panels(b.id)
            if r is not None and r.status == "done":
                done += 1
                good = [p.index for p in cat.pages(b.id) if not p.bad]
                assert sorted(panels) == good, (b.path, panels)
            else:
                assert panels == {}, b.path
        return done, len(books)


def test_worker_threads_run_at_low_priority_with_capped_threads(tmp_path, settings):
    root = tmp_path / "lib"
    simple_library(root, books=2, pages=2)
    _, cache = scan(root, settings)
    rec = Recorder()
    run(cache, [whole_page_stage(rec=rec)], RunOptions(durable=False, threads=3, nice=5))
    assert rec.ctx[0].threads == 3
    if sys.platform.startswith("linux"):
        base = os.getpriority(os.PRIO_PROCESS, 0)
        assert rec.priorities and all(p == min(19, base + 5) for p in rec.priorities)
        assert os.getpriority(os.PRIO_PROCESS, 0) == base  # the calling thread is left alone


def test_a_second_writer_waits_for_the_lock_and_readers_do_not(tmp_path, settings):
    from comicdesk.pipeline.results import read_book_analysis

    root = tmp_path / "lib"
    books = simple_library(root, books=2, pages=2)
    _, cache = scan(root, settings)
    run(cache, [whole_page_stage()])
    with LibraryLock(cache):
        events: list = []
        t0 = time.monotonic()
        with pytest.raises(LibraryBusy, match="waited 0.3 s"):
            Runner(cache, stages=[whole_page_stage()], options=RunOptions(lock_timeout=0.3),
                   on_event=events.append).run()
        assert time.monotonic() - t0 >= 0.3
        assert any(type(e) is Progress and e.stage == "waiting" for e in events)
        got = read_book_analysis(books[0], settings)  # reading needs no lock
        assert got is not None and got.panels == {0: [[0, 0, 60, 90]], 1: [[0, 0, 60, 90]]}
    # Released: a waiting writer gets in.
    holder = LibraryLock(cache)
    holder.acquire()
    threading.Timer(0.3, holder.release).start()
    result, _ = run(cache, [whole_page_stage("v2")], RunOptions(durable=False, lock_timeout=5))
    assert result.done == 2


def test_manga_books_are_read_right_to_left(tmp_path, settings):
    root = tmp_path / "lib"
    ci = ('<?xml version="1.0"?><ComicInfo xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">'
          '<Manga>YesAndRightToLeft</Manga></ComicInfo>')
    make_cbz(root / "manga.cbz", [jpeg(), jpeg()], comicinfo=ci)
    make_cbz(root / "western.cbz", [jpeg()])
    _, cache = scan(root, settings)
    rec = Recorder()
    run(cache, [whole_page_stage(rec=rec)])
    with Catalog.open(cache, readonly=True) as cat:
        manga = cat.book_by_path(root / "manga.cbz").id
        western = cat.book_by_path(root / "western.cbz").id
    assert rec.rtl == {(manga, 0): True, (manga, 1): True, (western, 0): False}


def test_two_passes_book_stages_and_loaded_outputs(tmp_path, settings):
    """Pass 2 runs after every pass-1 book; a later stage reads panels from the catalogue when
    the panel stage is already done; a book-level stage sees the whole book."""
    root = tmp_path / "lib"
    simple_library(root, books=3, pages=2)
    _, cache = scan(root, settings)
    run(cache, [whole_page_stage()])  # panels done earlier
    seen: dict = {}

    def load_classes(ctx):
        def run_book(book):
            seen[book.book_id] = [p.outputs.get(PANELS) for p in book.pages]
            n = len(book.pages)
            return [{PAGE_CLASS: {"label": "cover" if p.index == 0 else "story",
                                  "probs": {"cover": 0.9 if p.index == 0 else 0.1}}} for p in book.pages[:n]]
        return run_book

    def load_text(ctx):
        def run_pages(pages):
            return [{"text": f"page {p.index} has {len(p.outputs[PANELS])} panels"} for p in pages]
        return run_pages

    classes = StageSpec("classes", 1, (PANELS,), (PAGE_CLASS,), load_classes, "c1", level="book",
                        model_id="test-classifier")
    text = StageSpec("ocr", 2, (IMAGE, PANELS), ("text",), load_text, "t1", batchable=True)
    rec = Recorder()
    result, events = run(cache, [whole_page_stage(rec=rec), classes, text])
    assert rec.calls == []  # panels were loaded, not detected again
    analysed = [(e.book_id, e.pass_no, e.final) for e in of(events, BookAnalysed)]
    assert sorted(analysed) == sorted([(b, 1, False) for b in seen] + [(b, 2, True) for b in seen])
    for b in seen:  # each book's pass 2 after its pass 1, and pass 1 of the others comes first
        assert analysed.index((b, 1, False)) < analysed.index((b, 2, True))
    assert [p for _, p, _ in analysed[:2]] == [1, 1]
    assert result.done == 3
    with Catalog.open(cache, readonly=True) as cat:
        for b, panels in seen.items():  # the book-level stage saw the stored panels
            stored = cat.panels(b)
            assert panels == [stored[0], stored[1]] and all(len(p) == 1 for p in panels)
        b = cat.all_books()[0]
        outs = cat.page_outputs(b.id)
        assert outs[0][0].label == "cover" and outs[0][0].model_id == "test-classifier"
        assert outs[1][0].probs == {"cover": 0.1} and outs[1][0].source == "model"
        runs = cat.runs([b.id])[b.id]
        assert runs["classes"].version == "c1 (panels=fake-1)"  # a new detector re-runs classes
        assert runs["ocr"].pass_no == 2
    # A new detector version: panels and what needs them run again.
    result, events = run(cache, [whole_page_stage("fake-2", rec=rec), classes, text])
    assert result.done == 3 and len(rec.calls) == 6


def test_vectors_from_a_stage_are_stored_mapped_and_compacted(tmp_path, settings):
    import numpy as np

    from comicdesk.cache.vectors import VectorStore
    from comicdesk.pipeline.stage import VectorOutput

    root = tmp_path / "lib"
    simple_library(root, books=2, pages=2)
    _, cache = scan(root, settings)
    page_vec = VectorOutput("test-1", "page_image", 4, level="page",
                            group_attrs={"model": "fake", "revision": "r1", "dims": 4})
    panel_vec = VectorOutput("test-1", "panel_emb", 3, level="panel", normalised=True)

    def load(ctx):
        def run_pages(pages):
            return [{page_vec.kind: np.full(4, p.index + 1.0),
                     panel_vec.kind: np.array([[3.0, 4.0, 0.0]] * len(p.outputs[PANELS]))} for p in pages]
        return run_pages

    emb = StageSpec("emb", 1, (IMAGE, PANELS), (page_vec.kind, panel_vec.kind), load, "e1",
                    batchable=True, vectors=(page_vec, panel_vec))
    run(cache, [whole_page_stage(), emb])
    with VectorStore.open(cache, readonly=True) as store:
        keys, vecs = store.load("test-1", "page_image")
        assert len(keys) == 4 and set(map(tuple, keys[:, 2:].tolist())) == {(-1,)}
        assert sorted(vecs[:, 0].tolist()) == [1, 1, 2, 2]
        keys, vecs = store.load("test-1", "panel_emb")
        assert np.allclose(vecs.astype(np.float32), [0.6, 0.8, 0.0], atol=1e-3)
        assert store.group_attrs("test-1")["revision"] == "r1"
    # New panels: the old panel rows are unmapped, then the end-of-run compaction drops them.
    run(cache, [whole_page_stage("fake-2"), emb], RunOptions(durable=False, compact_garbage=0.3))
    with VectorStore.open(cache, readonly=True) as store:
        assert store.stats("test-1", "panel_emb") == (4, 4)
        assert store.stats("test-1", "page_image") == (4, 4)


def test_the_real_panel_detector_end_to_end(tmp_path, settings):
    from helpers import comicbox_dir

    root = tmp_path / "lib"
    root.mkdir()
    shutil.copyfile(comicbox_dir() / "Captain Science #001.cbz", root / "cs.cbz")
    _, cache = scan(root, settings)
    result, events = run(cache, None)
    assert result.done == 1, events
    with Catalog.open(cache, readonly=True) as cat:
        book = cat.all_books()[0]
        pages = cat.pages(book.id)
        panels = cat.panels(book.id)
        assert sorted(panels) == [p.index for p in pages]
        for p in pages:
            for x, y, w, h in panels[p.index]:
                assert 0 <= x and 0 <= y and w >= 1 and h >= 1
                assert x + w <= p.width and y + h <= p.height
        from comicdesk.ml.panel_net import panels_version

        assert cat.runs([book.id])[book.id]["panels"].version == panels_version()


def test_two_inference_workers_analyse_every_page_once_with_their_own_models(tmp_path, settings):
    """Workers share the page queue; each loads its own models; a book's book-level stage runs
    once, after all its pages, whichever worker saw them; results equal one worker's."""
    root = tmp_path / "lib"
    simple_library(root, books=6, pages=5)
    _, cache = scan(root, settings)
    rec = Recorder()
    finished: list[tuple[int, int]] = []  # (book_id, pages seen) when the book-level stage ran
    lock = threading.Lock()

    def book_load(ctx):
        def run(book):
            with lock:
                finished.append((book.book_id, len([p for p in book.pages if p.outputs.get(PANELS)])))
            return [{PAGE_CLASS: {"label": "story", "probs": {"story": 1.0}}} for _ in book.pages]
        return run

    classes = StageSpec("classes", 1, (PANELS,), (PAGE_CLASS,), book_load, "c1", level="book")
    options = RunOptions(durable=False, lock_timeout=2.0, inference_workers=2)
    result, events = run(cache, [whole_page_stage("w2", rec=rec, delay=0.01), classes], options)
    assert (result.done, result.failed, result.pages) == (6, 0, 30)
    seen = rec.pages("panels")
    assert len(seen) == 30 and len(set(seen)) == 30  # every page once
    assert len(rec.ctx) == 2  # each worker loaded its own model
    assert sorted(b for b, _ in finished) == sorted({b for b, _ in seen}) and all(n == 5 for _, n in finished)
    with Catalog.open(cache, readonly=True) as cat:
        for book in cat.all_books():
            assert sorted(cat.panels(book.id)) == list(range(5))
            assert {o[0].label for o in cat.page_outputs(book.id).values()} == {"story"}


def test_malloc_arenas_are_capped_only_where_glibc_has_the_knob():
    import subprocess

    from comicdesk.pipeline.runner import limit_malloc_arenas

    code = "from comicdesk.pipeline.runner import limit_malloc_arenas; print(limit_malloc_arenas(2))"
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    expected = "True" if sys.platform.startswith("linux") else "False"
    assert proc.returncode == 0 and proc.stdout.strip() == expected, proc.stderr
    if not sys.platform.startswith("linux"):
        assert limit_malloc_arenas() is False


def test_all_zero_rows_of_skip_zero_arrays_are_not_stored_and_read_back_as_zeros(tmp_path, settings):
    import numpy as np

    from comicdesk.cache.vectors import VectorStore
    from comicdesk.pipeline.stage import VectorOutput

    root = tmp_path / "lib"
    root.mkdir()
    make_cbz(root / "wide.cbz", [png(120, 60), png(120, 60)])  # two panels a page
    _, cache = scan(root, settings)
    page_vec = VectorOutput("test-1", "page_text", 3, level="page", normalised=True, skip_zero=True)
    panel_vec = VectorOutput("test-1", "panel_text", 3, level="panel", normalised=True, skip_zero=True)

    def text_stage(version: str, empty: bool) -> StageSpec:
        def load(ctx):
            def run_pages(pages):
                out = []
                for p in pages:
                    has = p.index == 0 and not empty  # page 1 never has text; panel 1 neither
                    out.append({page_vec.kind: np.array([1.0, 0, 0]) * has,
                                panel_vec.kind: np.array([[0, 1.0, 0], [0, 0, 0]]) * has})
                return out
            return run_pages
        return StageSpec("txt", 1, (IMAGE, PANELS), (page_vec.kind, panel_vec.kind), load, version,
                         batchable=True, vectors=(page_vec, panel_vec))

    seen = {}

    def use_load(ctx):
        def run_pages(pages):
            for p in pages:
                seen[p.index] = p.outputs.get(panel_vec.kind)
            return [{} for _ in pages]
        return run_pages

    use = StageSpec("use", 2, (panel_vec.kind,), (), use_load, "u1", batchable=True)
    result, _ = run(cache, [whole_page_stage(), text_stage("t1", empty=False), use])
    assert result.failed == 0
    with VectorStore.open(cache, readonly=True) as store:
        assert [k[:3] for k in store.rows("test-1", "page_text")] == [(1, 0, -1)]
        assert [k[:3] for k in store.rows("test-1", "panel_text")] == [(1, 0, 0)]
    # The next pass reads the panel without a row as zeros, the page without any as nothing.
    assert seen[0].shape == (2, 3) and np.allclose(seen[0].astype(np.float32), [[0, 1, 0], [0, 0, 0]], atol=1e-3)
    assert seen[1] is None
    # A new version that finds no text at all: the rows the pages had are unmapped.
    result, _ = run(cache, [whole_page_stage(), text_stage("t2", empty=True), use])
    assert result.failed == 0
    with VectorStore.open(cache, readonly=True) as store:
        assert store.rows("test-1", "page_text") == [] and store.rows("test-1", "panel_text") == []
