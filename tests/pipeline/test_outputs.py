"""One declaration per stage output kind (comicdesk.pipeline.outputs): every persisted kind has
one, what commit_book stores its load reads back as a stage wrote it, a result off its declared
shape writes nothing, and the runner fails only the book whose stage gave one."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from fakes import embedding_stage, simple_library, whole_page_stage

from comicdesk.cache.vectors import VectorStore
from comicdesk.core.events import BookFailed
from comicdesk.library.catalog import Catalog
from comicdesk.library.service import ScanOptions, scan_library
from comicdesk.pipeline import outputs, registry
from comicdesk.pipeline.runner import RunOptions, Runner
from comicdesk.pipeline.signals import signals_from_cache
from comicdesk.pipeline.stage import (IMAGE, PAGE_CLASS, PAGE_REPEATS, PAGE_STATS, PANELS, TEXT_BOXES,
                                      TEXT_LINES, TEXT_PANELS, PageData, StageSpec)

FAST = RunOptions(durable=False, lock_timeout=2.0)


def _stage(name: str, produces: tuple[str, ...], needs=(IMAGE,), **kw) -> StageSpec:
    return StageSpec(name, 1, needs, produces, lambda ctx: None, f"{name}-1", **kw)


def _library(tmp_path, settings, books=1, pages=3) -> Path:
    root = tmp_path / "lib"
    simple_library(root, books=books, pages=pages)
    result = scan_library(root, settings, options=ScanOptions(executor="inline", lock_timeout=2.0))
    return settings.library_cache_dir(result.library_id)


def test_every_kind_a_registered_stage_persists_is_declared_once():
    for kind in (PAGE_STATS, TEXT_BOXES, TEXT_LINES, TEXT_PANELS, PANELS, PAGE_CLASS, PAGE_REPEATS,
                 "vectors:standard-1/page_image", "vectors:any-model/any_array"):
        assert sum(o.matches(kind) for o in outputs.OUTPUTS) == 1, kind
    for s in registry.stages():
        for v in s.vectors:
            assert outputs.output(v.kind).where == outputs.VECTORS
    # Context is read, never stored; page classes are stored, never read back for a stage.
    assert outputs.output(PAGE_REPEATS).store is None and outputs.loadable(PAGE_REPEATS)
    assert outputs.output(PAGE_CLASS).store is not None and not outputs.loadable(PAGE_CLASS)
    assert outputs.output("scratch") is None and not outputs.loadable("scratch")


def test_what_commit_book_stores_its_declaration_reads_back(tmp_path, settings):
    cache = _library(tmp_path, settings)
    feats = _stage("feats", (PAGE_STATS, PANELS, TEXT_BOXES))
    read = _stage("read", (TEXT_LINES,), needs=(TEXT_BOXES,))
    classes = _stage("classes", (PAGE_CLASS,), needs=(PANELS,), level="book")
    emb = embedding_stage()
    stages = [feats, read, classes, emb]
    with Catalog.open(cache) as cat:
        book = cat.all_books()[0]
        rows = cat.pages(book.id)
        pages = []
        for r in rows:
            i = r.index
            panels = [(0, 0, 10 + i, 20)] + ([(10, 0, 5, 5)] if i == 1 else [])
            pages.append(PageData(book.id, i, r.name, None, 60, 90, outputs={
                PAGE_STATS: {"phash": 2**63 + i, "stats": {"std": 0.25 * i}},
                PANELS: panels,
                TEXT_BOXES: {"boxes": [(1, 2, 3, 4)] * i, "scores": [0.5] * i, "coverage": 0.1 * i},
                TEXT_LINES: [{"box": (1, 2, 3, 4), "text": f"line {i}", "conf": 0.75, "panel": 0}] * i,
                PAGE_CLASS: {"label": "story", "probs": {"story": 0.9, "cover": 0.1}},
                emb.vectors[0].kind: np.array([book.id, i, 1, 1], dtype=np.float32),
                emb.vectors[1].kind: np.ones((len(panels), 2), dtype=np.float32),
            }))
        store = VectorStore.open(cache, catalog=cat, durable=False)
        outputs.ensure_arrays(store, stages)
        fps = {s.name: s.resolve_version() for s in stages}
        n = outputs.commit_book(cat, store, book, pages, stages, fps, decoded=True, now=123.0)
        assert n == 4
        reader = outputs.CacheReader(cat, store)
        assert outputs.load(PANELS, reader, book.id) == {p.index: p.outputs[PANELS] for p in pages}
        stats = outputs.load(PAGE_STATS, reader, book.id)
        assert {i: (v["phash"], v["stats"]) for i, v in stats.items()} == {
            p.index: (2**63 + p.index, {"std": 0.25 * p.index}) for p in pages}
        lines = outputs.load(TEXT_LINES, reader, book.id)
        assert {i: [(tuple(ln["box"]), ln["text"], ln["panel"]) for ln in v] for i, v in lines.items()} == {
            p.index: [((1, 2, 3, 4), f"line {p.index}", 0)] * p.index for p in pages}
        assert outputs.load(TEXT_PANELS, reader, book.id) == {p.index: [0] * p.index for p in pages}
        boxes = outputs.load(TEXT_BOXES, reader, book.id)
        assert boxes[2]["boxes"] == [(1, 2, 3, 4)] * 2 and boxes[2]["coverage"] == pytest.approx(0.2)
        vecs = outputs.load(emb.vectors[0].kind, reader, book.id)
        assert {i: v.tolist() for i, v in vecs.items()} == {p.index: [book.id, p.index, 1, 1] for p in pages}
        assert outputs.load(emb.vectors[1].kind, reader, book.id)[1].shape == (2, 2)
        # Recorded done under the given fingerprints, page classes under the stage's model id.
        runs = cat.runs([book.id])[book.id]
        assert {name: (r.status, r.version, r.finished_at) for name, r in runs.items()} == {
            s.name: ("done", fps[s.name], 123.0) for s in stages}
        assert {i: o[0].label for i, o in cat.page_outputs(book.id).items()} == {p.index: "story" for p in pages}
        # The page signals read the same declarations.
        signals = signals_from_cache(cat, book.id, store)
        assert [s.panels for s in signals] == [p.outputs[PANELS] for p in pages]
        # Page 0 has no line and no text_read run: its text is not known to be read.
        assert [s.lines for s in signals] == [None] + [[f"line {p.index}"] * p.index for p in pages[1:]]
        assert [s.text_coverage for s in signals] == pytest.approx([0.0, 0.1, 0.2])
        assert [(s.phash, s.stats) for s in signals] == [(2**63 + p.index, {"std": 0.25 * p.index}) for p in pages]
        store.close()


@pytest.mark.parametrize("kind, value, words", [
    (PANELS, [(0, 0, 5)], "panels of another shape"),
    (PAGE_STATS, "not a dict", "page_stats of another shape"),
    (TEXT_BOXES, {"boxes": [(1, 2, 3, 4)], "scores": []}, "text_boxes of another shape"),
    (PAGE_CLASS, {"label": "story", "probs": [0.5]}, "page_class of another shape"),
])
def test_a_result_off_its_declared_shape_writes_nothing(tmp_path, settings, kind, value, words):
    cache = _library(tmp_path, settings, pages=2)
    stage = _stage("odd", (kind,))
    with Catalog.open(cache) as cat:
        book = cat.all_books()[0]
        pages = [PageData(book.id, r.index, r.name, None, 60, 90, outputs={kind: value if r.index else None})
                 for r in cat.pages(book.id)]
        with pytest.raises(outputs.OutputError) as err:
            outputs.commit_book(cat, None, book, pages, [stage], {"odd": "odd-1"}, decoded=True)
        assert words in str(err.value) and "page 1" in str(err.value) and "\n" not in str(err.value)
        assert cat.runs([book.id]).get(book.id, {}) == {}
        assert cat.panels(book.id) == {} and cat.page_features(book.id) == {}


def test_vectors_off_their_declared_width_fail_only_that_book(tmp_path, settings):
    cache = _library(tmp_path, settings, books=2, pages=2)
    good = embedding_stage()
    page_vec, panel_vec = good.vectors

    def load(ctx):
        def run(pages):
            return [{page_vec.kind: np.zeros(3 if p.book_id == 1 else 4, dtype=np.float32),
                     panel_vec.kind: np.ones((len(p.outputs[PANELS]), 2))} for p in pages]
        return run

    wide = StageSpec("emb", 1, (IMAGE, PANELS), good.produces, load, "emb-odd", batchable=True,
                     vectors=good.vectors)
    events: list = []
    result = Runner(cache, stages=[whole_page_stage(), wide], options=FAST, on_event=events.append).run()
    assert (result.done, result.failed) == (1, 1)
    failed = [e for e in events if isinstance(e, BookFailed)]
    assert len(failed) == 1 and "emb gave vectors:fake-emb/page_image of shape (3,)" in failed[0].reason
    with Catalog.open(cache) as cat:
        bad = next(b for b in cat.all_books() if b.id == 1)
        assert cat.runs([bad.id])[bad.id]["emb"].status == "failed"


def _rows_stage() -> StageSpec:
    """Panels and a page class from the page's size alone (no image): what an engine's worker
    could compute anywhere."""

    def load(ctx):
        def run(pages):
            return [{PANELS: [(0, 0, p.width // 2, p.height), (p.width // 2, 0, p.width - p.width // 2, p.height)],
                     PAGE_STATS: {"phash": p.index + 1, "stats": {"std": 0.5}}} for p in pages]
        return run

    return StageSpec("sizes", 1, (), (PANELS, PAGE_STATS), load, "sizes-1", batchable=True)


def test_a_book_computed_elsewhere_and_committed_through_commit_book_is_the_runners(tmp_path, settings):
    from comicdesk.core.settings import Settings
    from comicdesk.library.lock import LibraryLock

    stage = _rows_stage()
    by_runner = _library(tmp_path / "a", settings, books=2, pages=3)
    result = Runner(by_runner, stages=[stage], options=FAST).run()
    assert result.done == 2
    elsewhere = _library(tmp_path / "b", Settings.resolve(tmp_path / "b" / "cache", tmp_path / "b" / "data", env={}),
                         books=2, pages=3)
    with LibraryLock(elsewhere, timeout=2.0), Catalog.open(elsewhere) as cat:  # the one writer
        for book in cat.all_books():
            pages = [PageData(book.id, r.index, r.name, None, r.width, r.height, r.bad, r.error,
                              content_hash=r.content_hash) for r in cat.pages(book.id)]
            for page, out in zip(pages, stage.load(None)(pages)):  # "the worker", anywhere
                page.outputs.update(out)
            assert outputs.commit_book(cat, None, book, pages, [stage], {"sizes": "sizes-1"}, decoded=False) == 6
    # The runner takes the work for done, and the catalogue holds what the runner wrote.
    again = Runner(elsewhere, stages=[stage], options=FAST).run()
    assert (again.done, again.skipped) == (0, 2)

    def stored(cache):
        with Catalog.open(cache, readonly=True) as cat:
            books = {Path(b.path).name: b.id for b in cat.all_books()}
            return {name: (cat.panels(i), {p: (f.phash, f.stats) for p, f in cat.page_features(i).items()})
                    for name, i in books.items()}

    assert stored(elsewhere) == stored(by_runner)
