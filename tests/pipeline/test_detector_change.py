"""A new panel detector re-runs what reads panels — the panels, the lines' assignment to panels,
what reads the assignment — and not text recognition; old panels stay visible until the re-run
commits; records written when recognition still needed the panels are reused."""

from __future__ import annotations

import dataclasses
import threading
from pathlib import Path

import pytest
from fakes import simple_library

from comicdesk.core.settings import Settings
from comicdesk.library.catalog import Catalog
from comicdesk.library.service import ScanOptions, scan_library
from comicdesk.pipeline.results import read_book_analysis
from comicdesk.pipeline.runner import RunOptions, Runner
from comicdesk.pipeline.stage import IMAGE, PANELS, TEXT_BOXES, TEXT_LINES, TEXT_PANELS, StageSpec
from comicdesk.pipeline.stages import text_assign, text_read

FAST = RunOptions(durable=False, lock_timeout=2.0, nice=0)
W, H = 60, 90  # fakes.simple_library's pages (60 + book index wide)
#: Four lines, one in each corner: split in rows they fall in panels 0 0 1 1, in columns 0 1 0 1.
LINES = [(5, 5, 15, 10), (38, 5, 15, 10), (5, 70, 15, 10), (38, 70, 15, 10)]
LAYOUTS = {"rows": lambda w, h: [(0, 0, w, h // 2), (0, h // 2, w, h - h // 2)],
           "cols": lambda w, h: [(0, 0, w // 2, h), (w // 2, 0, w - w // 2, h)]}


class Calls:
    def __init__(self):
        self.lock = threading.Lock()
        self.by_stage: dict[str, list[tuple[int, int]]] = {}
        self.seen_panels: dict[tuple[int, int], list[int]] = {}

    def add(self, stage: str, page) -> None:
        with self.lock:
            self.by_stage.setdefault(stage, []).append((page.book_id, page.index))

    def count(self, stage: str) -> int:
        return len(self.by_stage.get(stage, []))

    def reset(self) -> None:
        self.by_stage.clear()


def panel_stage(calls: Calls, version: str, layout: str, gate=None, fail=False) -> StageSpec:
    def load(ctx):
        def run(pages):
            if gate is not None:
                gate[0].set()
                assert gate[1].wait(10)
            out = []
            for p in pages:
                if fail:
                    raise RuntimeError("detector broke")
                calls.add("panels", p)
                kind = layout if layout != "mixed" else ("rows", "cols")[(p.index + p.width) % 2]
                out.append({PANELS: LAYOUTS[kind](p.width, p.height)})
            return out
        return run

    return StageSpec("panels", 1, (IMAGE,), (PANELS,), load, version, batchable=True)


def detect_stage(calls: Calls) -> StageSpec:
    def load(ctx):
        def run(pages):
            for p in pages:
                calls.add("text_detect", p)
            return [{TEXT_BOXES: {"boxes": list(LINES), "scores": [0.9] * 4, "coverage": 0.1}} for _ in pages]
        return run

    return StageSpec("text_detect", 1, (IMAGE,), (TEXT_BOXES,), load, "det-1", batchable=True)


def _read(calls: Calls, page, assign: bool):
    from comicdesk.ml.ocr import assign_to_panels

    calls.add("text_read", page)
    boxes = [tuple(b) for b in page.outputs[TEXT_BOXES]["boxes"]]
    where = assign_to_panels(boxes, page.outputs[PANELS]) if assign else [-1] * len(boxes)
    return {TEXT_LINES: [{"box": b, "text": f"word{page.index}-{i}", "conf": 0.9, "panel": j}
                         for i, (b, j) in enumerate(zip(boxes, where))]}


def ocr_stage(calls: Calls) -> StageSpec:
    """The real text_read stage's declaration (needs, former needs, version), a fake recogniser."""
    return dataclasses.replace(text_read.SPEC, load=lambda ctx: lambda pages: [_read(calls, p, False) for p in pages])


def former_ocr_stage(calls: Calls) -> StageSpec:
    """text_read as it was: it needed the panels and assigned each line itself."""
    return dataclasses.replace(text_read.SPEC, needs=(IMAGE, TEXT_BOXES, PANELS), former_needs=(),
                               load=lambda ctx: lambda pages: [_read(calls, p, True) for p in pages])


def assign_stage(calls: Calls, version: str | None = None) -> StageSpec:
    def load(ctx):
        real = text_assign.SPEC.load(ctx)

        def run(pages):
            for p in pages:
                calls.add("text_assign", p)
            return real(pages)
        return run

    return dataclasses.replace(text_assign.SPEC, load=load, version=version or text_assign.SPEC.version)


def by_panel_stage(calls: Calls, former: bool = False) -> StageSpec:
    """Reads the lines' panels (as text_embed does)."""
    def load(ctx):
        def run(pages):
            for p in pages:
                calls.add("by_panel", p)
                with calls.lock:
                    calls.seen_panels[(p.book_id, p.index)] = [ln["panel"] for ln in p.outputs[TEXT_LINES]]
            return [{"words_by_panel": 1} for _ in pages]
        return run

    needs = (TEXT_LINES, PANELS) if former else (TEXT_LINES, TEXT_PANELS, PANELS)
    return StageSpec("by_panel", 2, needs, ("words_by_panel",), load, "bp-1", batchable=True)


def page_text_stage(calls: Calls) -> StageSpec:
    """Reads only the text (as cosmo-text does)."""
    def load(ctx):
        def run(pages):
            for p in pages:
                calls.add("page_text", p)
            return [{"page_words": 1} for _ in pages]
        return run

    return StageSpec("page_text", 2, (TEXT_LINES,), ("page_words",), load, "pt-1", batchable=True)


def line_panels_stage(calls: Calls, former: bool = False) -> StageSpec:
    """Reads the lines' panels but not the panels themselves (then: only the lines)."""
    def load(ctx):
        def run(pages):
            for p in pages:
                calls.add("line_panels", p)
            return [{"panel_count": 1} for _ in pages]
        return run

    needs = (TEXT_LINES,) if former else (TEXT_LINES, TEXT_PANELS)
    return StageSpec("line_panels", 2, needs, ("panel_count",), load, "lp-1", batchable=True)


def stages(calls: Calls, version="det-A", layout="rows", **kw) -> list[StageSpec]:
    return [panel_stage(calls, version, layout, **kw), detect_stage(calls), ocr_stage(calls),
            assign_stage(calls), by_panel_stage(calls), page_text_stage(calls), line_panels_stage(calls)]


def former_stages(calls: Calls, version="det-A", layout="rows") -> list[StageSpec]:
    return [panel_stage(calls, version, layout), detect_stage(calls), former_ocr_stage(calls),
            by_panel_stage(calls, former=True), page_text_stage(calls), line_panels_stage(calls, former=True)]


@pytest.fixture
def library(tmp_path, settings):
    root = tmp_path / "lib"
    paths = simple_library(root, books=3, pages=2)
    res = scan_library(root, settings, options=ScanOptions(executor="inline", lock_timeout=2.0))
    return {"root": root, "paths": paths, "cache": settings.library_cache_dir(res.library_id),
            "settings": settings, "pages": 6}


def stored(cache: Path):
    """``{(book id, page): [(text, conf, panel), ...]}``, ``{(book file name, page): panels}`` and
    the runs."""
    with Catalog.open(cache, readonly=True) as cat:
        lines, panels = {}, {}
        for b in cat.all_books():
            for page, rows in cat.text_lines(b.id).items():
                lines[(b.id, page)] = [(r.text, r.conf, r.panel) for r in rows]
            for page, boxes in cat.panels(b.id).items():
                panels[(Path(b.path).name, page)] = boxes
        return lines, panels, cat.runs()


def expected_panels(layout: str) -> list[int]:
    return {"rows": [0, 0, 1, 1], "cols": [0, 1, 0, 1]}[layout]


def test_a_new_detector_reruns_the_panel_stages_and_the_assignment_not_recognition(library):
    calls = Calls()
    first = Runner(library["cache"], stages=stages(calls), options=FAST).run()
    assert (first.done, first.failed) == (3, 0)
    assert calls.count("text_read") == 6 and calls.count("text_assign") == 6
    lines_a, panels_a, _ = stored(library["cache"])
    assert all([p for _, _, p in rows] == expected_panels("rows") for rows in lines_a.values())
    calls.reset()

    again = Runner(library["cache"], stages=stages(calls, "det-B", "cols"), options=FAST).run()
    assert (again.done, again.failed) == (3, 0)
    assert calls.count("text_read") == 0 and calls.count("text_detect") == 0  # no OCR, no detection
    assert calls.count("panels") == 6 and calls.count("text_assign") == 6 and calls.count("by_panel") == 6
    assert calls.count("page_text") == 0  # reads only the text: unchanged
    lines_b, panels_b, runs = stored(library["cache"])
    assert panels_b != panels_a
    for key, rows in lines_b.items():
        # Same text and confidence, read once; the panels are the new detector's.
        assert [(t, c) for t, c, _ in rows] == [(t, c) for t, c, _ in lines_a[key]]
        assert [p for _, _, p in rows] == expected_panels("cols")
        assert calls.seen_panels[key] == expected_panels("cols")  # the consumer saw the new assignment
    assert all(r["panels"].version == "det-B" and "det-B" in r["text_assign"].version
               and "det-B" not in r["text_read"].version for r in runs.values())
    calls.reset()
    assert Runner(library["cache"], stages=stages(calls, "det-B", "cols"), options=FAST).run().skipped == 3
    assert calls.by_stage == {}


def test_the_assignment_is_what_recognition_assigned_before_for_an_unchanged_detector(library, tmp_path):
    calls = Calls()
    Runner(library["cache"], stages=former_stages(calls, layout="mixed"), options=FAST).run()
    before, panels_before, _ = stored(library["cache"])
    # The same library analysed from scratch by the split stages: the same rows, panel for panel.
    other = tmp_path / "other"
    settings = Settings.resolve(other / "cache", other / "data", env={})
    res = scan_library(library["root"], settings, options=ScanOptions(executor="inline", lock_timeout=2.0))
    cache = settings.library_cache_dir(res.library_id)
    Runner(cache, stages=stages(Calls(), layout="mixed"), options=FAST).run()
    after, panels_after, _ = stored(cache)
    assert sorted(after.values()) == sorted(before.values()) and panels_after == panels_before
    assert sorted(tuple(p for _, _, p in rows) for rows in after.values()) == \
        sorted([tuple(expected_panels("rows"))] * 3 + [tuple(expected_panels("cols"))] * 3)


def test_records_of_the_former_recognition_are_reused_and_rewritten(library):
    calls = Calls()
    Runner(library["cache"], stages=former_stages(calls), options=FAST).run()
    assert calls.count("text_read") == 6
    lines_a, _, runs_a = stored(library["cache"])
    assert all("panels=det-A" in r["text_read"].version and "text_assign" not in r for r in runs_a.values())
    calls.reset()
    # Today's stages, same detector: nothing to do, and the records take today's fingerprints.
    result = Runner(library["cache"], stages=stages(calls), options=FAST).run()
    assert (result.skipped, result.done, result.pages) == (3, 0, 0) and calls.by_stage == {}
    _, _, runs = stored(library["cache"])
    for r in runs.values():
        assert "panels" not in r["text_read"].version and r["text_assign"].status == "done"
        assert r["text_assign"].version.startswith("overlap-1 (panels=det-A")
    # A new detector now: the assignment re-runs, recognition does not.
    result = Runner(library["cache"], stages=stages(calls, "det-B", "cols"), options=FAST).run()
    assert result.done == 3 and calls.count("text_read") == 0 and calls.count("text_assign") == 6
    assert calls.count("page_text") == 0
    lines_b, _, _ = stored(library["cache"])
    assert all([p for _, _, p in rows] == expected_panels("cols") for rows in lines_b.values())
    assert {k: [(t, c) for t, c, _ in v] for k, v in lines_b.items()} == \
        {k: [(t, c) for t, c, _ in v] for k, v in lines_a.items()}


def test_upgrading_and_a_new_detector_at_once_reads_no_text_again(library):
    """The likely upgrade: this comicdesk also ships a new detector version."""
    calls = Calls()
    Runner(library["cache"], stages=former_stages(calls), options=FAST).run()
    calls.reset()
    result = Runner(library["cache"], stages=stages(calls, "det-B", "cols"), options=FAST).run()
    assert (result.done, result.failed) == (3, 0)
    assert calls.count("text_read") == 0 and calls.count("page_text") == 0
    assert calls.count("panels") == calls.count("text_assign") == calls.count("by_panel") == 6
    assert calls.count("line_panels") == 6  # the lines' panels changed under it
    lines, _, runs = stored(library["cache"])
    assert all([p for _, _, p in rows] == expected_panels("cols") for rows in lines.values())
    assert all(r["text_read"].version == "ppocr-v6-rec (text_detect=det-1)" for r in runs.values())


def test_a_new_assignment_rule_does_not_take_the_former_records(library):
    calls = Calls()
    Runner(library["cache"], stages=former_stages(calls), options=FAST).run()
    calls.reset()
    specs = stages(calls)
    specs[3] = assign_stage(calls, version="overlap-2")
    result = Runner(library["cache"], stages=specs, options=FAST).run()
    assert result.done == 3 and calls.count("text_read") == 0
    assert calls.count("text_assign") == 6 and calls.count("by_panel") == 6 and calls.count("page_text") == 0


def test_old_panels_stay_visible_until_the_rerun_commits(library):
    settings = library["settings"]
    book = library["paths"][0]
    Runner(library["cache"], stages=stages(Calls()), options=FAST).run()
    old = read_book_analysis(book, settings).panels
    assert old[0] == [list(b) for b in LAYOUTS["rows"](W, H)]
    gate = (threading.Event(), threading.Event())
    calls = Calls()
    runner = Runner(library["cache"], stages=stages(calls, "det-B", "cols", gate=gate), options=FAST)
    t = threading.Thread(target=runner.run)
    t.start()
    try:
        assert gate[0].wait(10)  # the new detector is at work on the first pages
        assert read_book_analysis(book, settings).panels == old
        with Catalog.open(library["cache"], readonly=True) as cat:
            row = cat.book_by_path(book)
            assert cat.panels(row.id)[0] == LAYOUTS["rows"](W, H)
    finally:
        gate[1].set()
        t.join(20)
    assert read_book_analysis(book, settings).panels[0] == [list(b) for b in LAYOUTS["cols"](W, H)]


def test_a_failed_rerun_leaves_the_old_panels_visible(library):
    settings = library["settings"]
    book = library["paths"][0]
    Runner(library["cache"], stages=stages(Calls()), options=FAST).run()
    old = read_book_analysis(book, settings).panels
    result = Runner(library["cache"], stages=stages(Calls(), "det-B", "cols", fail=True), options=FAST).run()
    assert result.failed == 3
    assert read_book_analysis(book, settings).panels == old


def test_panels_from_a_stage_that_hands_back_no_lines_are_stored_with_the_lines(library):
    """A stage producing only ``TEXT_PANELS`` (not the lines): the runner writes the panels into
    the stored lines, text untouched."""
    calls = Calls()
    Runner(library["cache"], stages=stages(calls), options=FAST).run()
    before, _, _ = stored(library["cache"])

    def load(ctx):
        return lambda pages: [{TEXT_PANELS: [3, 2, 1, 0]} for _ in pages]

    only = StageSpec("text_assign", 2, (TEXT_LINES, PANELS), (TEXT_PANELS,), load, "reverse-1", batchable=True)
    specs = [s if s.name != "text_assign" else only for s in stages(calls)]
    assert Runner(library["cache"], stages=specs, options=FAST).run().done == 3
    after, _, _ = stored(library["cache"])
    assert {k: [(t, c) for t, c, _ in v] for k, v in after.items()} == \
        {k: [(t, c) for t, c, _ in v] for k, v in before.items()}
    assert all([p for _, _, p in rows] == [3, 2, 1, 0] for rows in after.values())


@pytest.mark.parametrize("profile, reached", [
    ("standard", {"panels", "page_classes", "panel_emb", "text_assign", "text_embed", "page_classes_text"}),
    ("cosmo", {"panels", "text_assign", "panel-encoder"}),
])
def test_what_a_new_detector_reaches_among_the_built_in_stages(tmp_path, profile, reached):
    """Fingerprints only (no model loads): recognition, text detection, page features and the
    text-only embeddings keep theirs."""
    from comicdesk.pipeline import registry

    specs = registry.stages(profile)
    now = Runner(tmp_path, stages=specs, options=RunOptions(profile=profile))
    bumped = [dataclasses.replace(s, version="some-new-detector") if s.name == "panels" else s for s in specs]
    new = Runner(tmp_path, stages=bumped, options=RunOptions(profile=profile))
    assert {s.name for s in specs if now._fingerprint(s) != new._fingerprint(new._by_name(s.name))} == reached
    assert "text_read" in {s.name for s in specs}


def test_former_fingerprints_are_the_ones_the_earlier_comicdesk_wrote(tmp_path):
    """What text_read and text_embed recorded before text_assign existed, rebuilt from today's
    versions (the strings planning matches)."""
    from comicdesk.pipeline import registry

    specs = {s.name: s for s in registry.stages("standard")}
    r = Runner(tmp_path, stages=list(specs.values()))
    v = {name: s.resolve_version() for name, s in specs.items()}
    ocr = f"{v['text_read']} (panels={v['panels']}, text_detect={v['text_detect']})"
    assert r._former_fingerprint(specs["text_read"]) == ocr
    assert r._former_fingerprint(specs["text_assign"]) == ocr
    former = (f"{v['text_embed']} (panel_emb={v['panel_emb']} (panels={v['panels']}), panels={v['panels']}, "
              f"text_read={ocr})")
    if len(former) > 200:  # a long fingerprint is kept as its version and a digest of the whole
        import hashlib

        former = v["text_embed"] + " #" + hashlib.blake2b(former.encode(), digest_size=8).hexdigest()
    assert r._former_fingerprint(specs["text_embed"]) == former
    assert r._fingerprint(specs["text_read"]) == f"{v['text_read']} (text_detect={v['text_detect']})"
