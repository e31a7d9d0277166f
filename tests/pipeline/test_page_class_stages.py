"""The page-class stages through the real runner, with small fake feature stages standing in for
the standard profile's models (what they produce is chosen so the classes are known)."""

from __future__ import annotations

import numpy as np
import pytest
from fakes import make_cbz

from comicdesk.cache.vectors import VectorStore
from comicdesk.core.pages import PAGE_CLASSES
from comicdesk.library import labels as labels_mod
from comicdesk.library.catalog import Catalog
from comicdesk.library.service import ScanOptions, scan_library
from comicdesk.ml.phash import phash
from comicdesk.pipeline.runner import Runner, RunOptions
from comicdesk.pipeline.signals import signals_from_book, signals_from_cache
from comicdesk.pipeline.stage import (
    IMAGE,
    PAGE_CLASS,
    PAGE_STATS,
    PANELS,
    STANDARD_MODEL,
    TEXT_BOXES,
    TEXT_LINES,
    BookData,
    PageData,
    StageSpec,
    VectorOutput,
)
from comicdesk.pipeline.stages import page_classes as stage_mod

INLINE = ScanOptions(executor="inline", lock_timeout=2.0)
FAST = RunOptions(durable=False, lock_timeout=2.0)
DIMS = 16
PAGE_IMAGE = VectorOutput(STANDARD_MODEL, "page_image", DIMS, level="page")
PAGE_TEXT = VectorOutput(STANDARD_MODEL, "page_text", 384, level="page", normalised=True)

# what each page "shows", by its colour's red channel
STORY, AD, COVER = 10, 200, 251  # (page vectors: one-hot at kind % DIMS; 250 would look like STORY)
HOUSE = 120  # a house ad drawn like a story page: only its look (page vector) differs
AD_WORDS = ["ONLY $1.98!", "SEND COUPON WITH CHECK OR MONEY ORDER", "NAME ADDRESS CITY STATE ZIP",
            "MONEY BACK GUARANTEE", "ORDER NOW"]


def kind_of(page) -> int:
    return page.image.getpixel((1, 1))[0]


def features_stage() -> StageSpec:
    """Pass 1: stats, panels, text boxes and page vectors from the page's colour."""

    def load(ctx):
        def run(pages):
            out = []
            for p in pages:
                k = kind_of(p)
                w, h = p.image.size
                if k in (STORY, HOUSE):
                    panels = [(0, 0, w // 2, h // 2), (w // 2, 0, w - w // 2, h // 2), (0, h // 2, w, h - h // 2),
                              (0, 0, 4, 4)]
                    boxes = [(2, 2 + 6 * i, 10, 3) for i in range(4)]
                else:
                    panels = [(0, 0, w, h)]
                    boxes = [(2, 2, w - 4, h // 8)] + [(2, 30 + 4 * i, 20, 2) for i in range(8)]
                vec = np.zeros(DIMS, np.float32)
                vec[k % DIMS] = 4.0
                out.append({PAGE_STATS: {"phash": phash(p.image), "stats": {"white": 0.4 if k in (STORY, HOUSE) else 0.1,
                                                                            "colourfulness": 0.3}},
                            PANELS: panels,
                            TEXT_BOXES: {"boxes": boxes, "scores": [0.9] * len(boxes), "coverage": 0.05},
                            PAGE_IMAGE.kind: vec})
            return out

        return run

    return StageSpec(name="fake_features", pass_no=1, needs=(IMAGE,),
                     produces=(PAGE_STATS, PANELS, TEXT_BOXES, PAGE_IMAGE.kind), load=load, version="ff-1",
                     vectors=(PAGE_IMAGE,), profiles=("standard",))


def text_stage() -> StageSpec:
    """Pass 2: recognised lines (ad words on ad pages) and a zero text vector."""

    def load(ctx):
        def run(pages):
            out = []
            for p in pages:
                boxes = p.outputs[TEXT_BOXES]["boxes"]
                words = AD_WORDS if kind_of(p) == AD else ["LOOK OUT!", "TAKE THAT!", "WHAT?", "RUN!"]
                lines = [{"box": b, "text": words[i % len(words)], "conf": 0.9, "panel": 0}
                         for i, b in enumerate(boxes)]
                out.append({TEXT_LINES: lines, PAGE_TEXT.kind: np.zeros(384, np.float32)})
            return out

        return run

    return StageSpec(name="fake_text", pass_no=2, needs=(IMAGE, TEXT_BOXES), produces=(TEXT_LINES, PAGE_TEXT.kind),
                     load=load, version="ft-1", vectors=(PAGE_TEXT,), profiles=("standard",))


def page_png(kind: int, seed: int) -> bytes:
    """A distinct noisy page (so perceptual hashes differ) whose corner pixel says its kind."""
    import io

    from PIL import Image

    rng = np.random.default_rng(seed)
    a = (rng.random((12, 8, 3)) * 255).astype(np.uint8).repeat(8, 0).repeat(8, 1)
    a[:4, :4] = (kind, 40, 90)
    buf = io.BytesIO()
    Image.fromarray(a).save(buf, "PNG")
    return buf.getvalue()


def make_library(root, settings, books=2):
    plan = [COVER] + [STORY] * 5 + [AD] + [STORY] * 2 + [HOUSE] + [STORY] + [COVER]
    for b in range(books):
        make_cbz(root / f"Book {b}.cbz", [page_png(k, 100 * b + i) for i, k in enumerate(plan)],
                 names=[f"{i:03d}.png" for i in range(len(plan))])
    result = scan_library(root, settings, options=INLINE)
    return settings.library_cache_dir(result.library_id), plan


def expected(plan):
    names = {STORY: "story", AD: "advertisement", COVER: "cover", HOUSE: "story"}
    out = [names[k] for k in plan]
    out[1] = "first-page"  # the story's first page comes right after the cover
    out[-1] = "back_cover"
    return out


def merged(label):
    """Story kinds as one, an outside back cover as the ad it most often is (these pages are
    thumbnail-sized, so only position tells first page from story and back cover from ad)."""
    return "story" if label in ("story", "first-page", "textstory") else \
        "advertisement" if label == "back_cover" else label


class Heads:
    def __init__(self, head=None):
        self.head = head
        self.calls = 0

    def __call__(self, ctx):
        self.calls += 1
        return self.head


def test_specs_declare_the_contract():
    p1, p2 = stage_mod.SPECS
    assert (p1.name, p1.pass_no, p1.level, p1.model_id, p1.profiles) == \
        ("page_classes", 1, "book", STANDARD_MODEL, ("standard",))
    assert set(p1.needs) == {PAGE_STATS, PANELS, TEXT_BOXES, "vectors:standard-1/page_image"}
    assert (p2.name, p2.pass_no, p2.output_model_id) == ("page_classes_text", 2, STANDARD_MODEL)
    assert {TEXT_LINES, "vectors:standard-1/page_text", "page_repeats"} <= set(p2.needs)
    assert p1.produces == p2.produces == (PAGE_CLASS,)
    assert p1.resolve_version() == p2.resolve_version()


def test_both_passes_classify_and_pass_two_replaces_pass_one(tmp_path, settings):
    cache, plan = make_library(tmp_path / "lib", settings)
    heads = Heads()
    p1, p2 = stage_mod.make_specs(heads)
    seen = []
    result = Runner(cache, stages=[features_stage(), p1, text_stage(), p2], options=FAST,
                    on_event=seen.append).run()
    assert (result.done, result.failed) == (2, 0), seen
    assert heads.calls == 2  # each stage's load asks once
    with Catalog.open(cache, readonly=True) as cat:
        for book in cat.all_books():
            outs = cat.page_outputs(book.id)
            assert sorted(outs) == list(range(len(plan)))
            for rows in outs.values():
                assert len(rows) == 1  # one row per page under standard-1: pass 2 replaced pass 1
                row = rows[0]
                assert (row.model_id, row.source) == (STANDARD_MODEL, "model")
                assert list(row.probs) == list(PAGE_CLASSES)
                assert sum(row.probs.values()) == pytest.approx(1.0, abs=1e-4)
            assert [merged(outs[i][0].label) for i in range(len(plan))] == [merged(c) for c in expected(plan)]
            runs = cat.runs([book.id])[book.id]
            assert runs["page_classes"].status == runs["page_classes_text"].status == "done"
            # what `comicdesk pages` shows: label, probs, source from the resolver
            resolved = labels_mod.book_labels(cat, book)
            assert resolved[6].label == "advertisement" and resolved[6].source == "model"
            assert resolved[6].probs["advertisement"] > 0.5


def test_signals_from_the_cache_match_what_the_stage_saw(tmp_path, settings):
    cache, plan = make_library(tmp_path / "lib", settings, books=1)
    captured = {}

    def spy(ctx):
        return None

    p1, p2 = stage_mod.make_specs(spy)
    orig = p2.load

    def load(ctx):
        run = orig(ctx)

        def wrapped(book: BookData):
            captured["signals"] = signals_from_book(book)
            return run(book)

        return wrapped

    from dataclasses import replace

    p2 = replace(p2, load=load)
    Runner(cache, stages=[features_stage(), p1, text_stage(), p2], options=FAST).run()
    live = captured["signals"]
    with Catalog.open(cache, readonly=True) as cat, VectorStore.open(cache, catalog=cat, readonly=True) as store:
        book = cat.all_books()[0]
        cached = signals_from_cache(cat, book.id, store)
    assert len(live) == len(cached) == len(plan)
    for a, b in zip(live, cached):
        assert (a.index, a.n_pages, a.width, a.height) == (b.index, b.n_pages, b.width, b.height)
        assert [tuple(x) for x in a.panels] == b.panels
        assert [tuple(x) for x in a.text_boxes] == b.text_boxes
        assert a.lines == b.lines and a.phash == b.phash
        assert a.stats == pytest.approx(b.stats)
        assert np.allclose(a.image_vec, b.image_vec, atol=1e-2)
        assert np.allclose(a.text_vec, b.text_vec)
        assert (a.repeats_other_books, a.repeats_within_book) == (b.repeats_other_books, b.repeats_within_book)


def test_the_head_from_the_provider_is_applied():
    class Flip:
        identity = False

        def apply(self, pages, probs):
            return [{c: (1.0 if c == "text" else 0.0) for c in PAGE_CLASSES} for _ in probs]

    pages = [PageData(1, i, f"{i}.jpg", None, 60, 90, outputs={PANELS: [(0, 0, 60, 90)]}) for i in range(3)]
    pages.append(PageData(1, 3, "3.jpg", None, None, None, bad=True))
    book = BookData(1, "/x.cbz", False, pages)
    p1, _ = stage_mod.make_specs(lambda ctx: Flip())
    out = p1.load(None)(book)
    assert [o[PAGE_CLASS]["label"] for o in out[:3]] == ["text"] * 3
    assert out[3] == {}  # nothing is stored for a bad page
    p1, _ = stage_mod.make_specs(None)
    plain = p1.load(None)(book)
    assert all(o[PAGE_CLASS]["label"] != "text" for o in plain[:3])


def test_default_provider_reads_the_head_from_the_data_dir(tmp_path):
    from types import SimpleNamespace

    from comicdesk.library.userdata import UserData
    from comicdesk.ml.page_head import HEAD_VERSION, PageHead

    assert stage_mod.default_head_provider(SimpleNamespace()) is None
    assert stage_mod.default_head_provider(SimpleNamespace(data_dir=tmp_path)) is None  # no file
    head = PageHead(n_labels=3)
    head.b[PAGE_CLASSES.index("art")] = 5.0
    with UserData(tmp_path) as user:
        user.set_head(STANDARD_MODEL, HEAD_VERSION, head.to_bytes(), 3, "x")
    got = stage_mod.default_head_provider(SimpleNamespace(data_dir=tmp_path))
    assert got is not None and got.n_labels == 3 and got.b[PAGE_CLASSES.index("art")] == 5.0
