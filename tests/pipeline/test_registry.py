"""The stage registry and the stage protocol's checks."""

from __future__ import annotations

import pytest
from fakes import whole_page_stage

from comicdesk.pipeline import registry
from comicdesk.pipeline.stage import IMAGE, PAGE_CLASS, PANELS, StageSpec, VectorOutput


def noop(ctx):
    return lambda pages: [{} for _ in pages]


def test_the_built_in_panel_stage_is_registered_lazily():
    import sys

    (panels,) = [s for s in registry.stages() if PANELS in s.produces]
    assert (panels.name, panels.pass_no, panels.needs, panels.level) == ("panels", 1, (IMAGE,), "page")
    standard = [s.name for s in registry.stages("standard")]
    # ARCHITECTURE.md's order: page image features, panels, text detection, (page classes,)
    # panel embeddings; pass 2: text recognition, lines to panels, text embeddings, (refined classes).
    assert [n for n in standard if n != "page_classes" and n != "page_classes_text"] == [
        "page_image", "panels", "text_detect", "panel_emb", "text_read", "text_assign", "text_embed"]
    assert panels in registry.stages("cosmo")
    registry.validate(registry.stages("standard"))
    import subprocess

    code = ("import sys, comicdesk.pipeline.registry, comicdesk.pipeline.runner\n"
            "print([m for m in ('comicdesk.ml.panels', 'cv2', 'numpy', 'zarr') if m in sys.modules])")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert proc.stdout.strip() == "[]", proc.stdout + proc.stderr  # models load on the executor


def test_register_replace_and_unregister():
    fake = whole_page_stage("x")
    with pytest.raises(ValueError, match="already registered"):
        registry.register(fake)
    original = registry.stages()
    at = [s.name for s in original].index("panels")
    try:
        registry.register(fake, replace=True)
        assert registry.stages()[at] is fake  # kept its place
        extra = StageSpec("extra", 2, (PANELS,), ("text",), noop, "1")
        registry.register(extra)
        assert registry.stages()[-1] is extra
    finally:
        registry.unregister("extra")
        registry.register(original[at], replace=True)
    assert registry.stages() == original


def test_validation_names_the_problem():
    panels = whole_page_stage()
    needs_text = StageSpec("classes", 1, ("text",), (PAGE_CLASS,), noop, "1")
    with pytest.raises(ValueError, match="'classes' needs 'text', which no earlier stage produces"):
        registry.validate([panels, needs_text])
    book = StageSpec("book", 1, (PANELS,), ("order",), noop, "1", level="book")
    page_after_book = StageSpec("late", 1, ("order",), ("x",), noop, "1")
    with pytest.raises(ValueError, match="cannot need 'order' from the book-level stage 'book'"):
        registry.validate([panels, book, page_after_book])
    registry.validate([panels, book, StageSpec("pass2", 2, ("order", IMAGE), ("y",), noop, "1")])
    with pytest.raises(ValueError, match="cannot need page images"):
        StageSpec("b", 1, (IMAGE,), ("x",), noop, "1", level="book")
    with pytest.raises(ValueError, match="does not produce it"):
        StageSpec("v", 1, (IMAGE,), ("x",), noop, "1", vectors=(VectorOutput("m", "a", 4),))
    with pytest.raises(ValueError, match="pass must be 1 or 2"):
        StageSpec("p", 3, (IMAGE,), ("x",), noop, "1")


def test_the_panel_stage_clips_boxes_and_never_leaves_a_page_without_a_panel():
    from PIL import Image

    from comicdesk.core.geometry import Panel
    from comicdesk.pipeline.stage import PageData
    from comicdesk.pipeline.stages.panels import make_stage

    seen = []

    def detector(image, *, rtl=False):
        seen.append(rtl)
        if image.size == (50, 80):
            return []
        return [Panel((-5, 10, 40, 100), 0), (30.5, 0, 100, 20)]

    run = make_stage(detector)
    pages = [PageData(1, 0, "a", Image.new("RGB", (50, 80)), 50, 80, rtl=True),
             PageData(1, 1, "b", Image.new("RGB", (60, 90)), 60, 90)]
    out = run(pages)
    assert out == [{PANELS: [(0, 0, 50, 80)]}, {PANELS: [(0, 10, 35, 80), (30, 0, 30, 20)]}]
    assert seen == [True, False]
