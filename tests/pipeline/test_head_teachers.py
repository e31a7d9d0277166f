"""What teaches the library's page-class heads (comicdesk.pipeline.rescore), besides the
person's labels: page types in the books' own ComicInfo.xml (weighted below the person's labels,
capped per class per book, never from comicdesk's own exports); the cosmo profile's head; and a
stored head of another version or with other features, retrained from the stored labels on the
next run or relabel."""

from __future__ import annotations

import io
from dataclasses import replace

import numpy as np
import pytest
from fakes import make_cbz
from test_page_class_stages import (
    AD,
    COVER,
    DIMS,
    FAST,
    HOUSE,
    INLINE,
    STORY,
    features_stage,
    kind_of,
    page_png,
    text_stage,
)

from comicdesk.core.pages import PAGE_CLASSES
from comicdesk.library.catalog import Catalog
from comicdesk.library.lock import LibraryLock
from comicdesk.library.service import scan_library
from comicdesk.library.userdata import UserData
from comicdesk.pipeline.heads import HEAD_CURRENT, HEAD_NONE, HEAD_STALE, head_state, load_head
from comicdesk.ml.page_head import HEAD_VERSION, PageHead
from comicdesk.pipeline import rescore
from comicdesk.pipeline.runner import Runner
from comicdesk.pipeline.stage import IMAGE, PAGE_CLASS, STANDARD_MODEL, StageSpec, VectorOutput
from comicdesk.pipeline.stages import page_classes as stage_mod

PLAN = [COVER] + [STORY] * 5 + [AD] + [STORY] * 2 + [HOUSE] + [STORY] + [COVER]
TYPE = {COVER: "FrontCover", STORY: "Story", AD: "Advertisement", HOUSE: "Advertisement"}
TRUTH = ["cover", "first-page"] + ["story"] * 4 + ["advertisement", "story", "story", "advertisement", "story",
                                                   "back_cover"]


def types_of(plan=PLAN) -> dict[int, str]:
    """Page types as a tagger writes them (the last cover is the back cover)."""
    out = {i: TYPE[k] for i, k in enumerate(plan)}
    out[len(plan) - 1] = "BackCover"
    return out


def comicinfo(types: dict[int, str]) -> str:
    pages = "\n".join(f'    <Page Image="{i}" Type="{t}" />' for i, t in sorted(types.items()))
    return (f'<?xml version="1.0" encoding="utf-8"?>\n<ComicInfo>\n  <Series>Tagged</Series>\n'
            f'  <Pages>\n{pages}\n  </Pages>\n</ComicInfo>\n')


def book(root, name, seed, types=None, comment: bytes | None = None, plan=PLAN):
    import zipfile

    path = make_cbz(root / name, [page_png(k, seed + i) for i, k in enumerate(plan)],
                    names=[f"{i:03d}.png" for i in range(len(plan))],
                    comicinfo=comicinfo(types) if types is not None else None)
    if comment is not None:
        with zipfile.ZipFile(path, "a") as zf:
            zf.comment = comment
    return path


def analyse(root, settings, stages=None):
    result = scan_library(root, settings, options=INLINE)
    cache = settings.library_cache_dir(result.library_id)
    data = settings.library_data_dir(result.library_id)
    if stages is None:
        p1, p2 = stage_mod.make_specs(None)
        stages = [features_stage(), p1, text_stage(), p2]
    Runner(cache, stages=stages, options=FAST).run()
    return cache, data


def rows(cache, name, model=STANDARD_MODEL):
    with Catalog.open(cache, readonly=True) as cat:
        b = next(b for b in cat.all_books() if b.path.endswith(name))
        return {p: next(o for o in rs if o.model_id == model) for p, rs in cat.page_outputs(b.id).items()}


def test_exports_are_recognised_in_either_form(tmp_path):
    from comicdesk.export.writer import make_comment

    for comment in (make_comment("0123456789abcdef", []), b"comicdesk-export 1 fp=0123 rendered="):
        path = book(tmp_path, f"x{len(comment)}.cbz", 0, comment=comment)
        assert rescore.written_by_comicdesk(path) is True
    assert rescore.written_by_comicdesk(book(tmp_path, "y.cbz", 0, comment=b'{"appID": "ComicTagger"}')) is False


def test_comicinfo_page_types_teach_the_head_below_the_persons_labels(tmp_path, settings):
    root = tmp_path / "lib"
    house = PLAN.index(HOUSE)
    # a tagged book whose tagger marked its house ad; an untagged one with the same house ad
    book(root, "Tagged.cbz", 0, types_of())
    book(root, "Plain.cbz", 100)
    cache, data = analyse(root, settings)
    before = rows(cache, "Plain.cbz")
    assert before[house].label == "story"  # the base classifier is fooled by the house ad

    result = rescore.relabel(cache, data)  # the person labelled nothing
    assert result.labels == 0 and result.comicinfo == result.used > 0 and result.exports_skipped == 0
    head = load_head(data)
    assert head is not None and head.n_labels == result.used
    after = rows(cache, "Plain.cbz")
    assert after[house].probs["advertisement"] > before[house].probs["advertisement"] + 0.1
    assert after[house].version.endswith(f" +head{result.used}")
    truth = TRUTH
    for page, row in before.items():  # no page that was right turned wrong
        if row.label == truth[page]:
            assert after[page].label == truth[page], (page, row.label, after[page].label)

    # what it learnt from: capped story pages at the ComicInfo weight, Story read as a story kind
    with Catalog.open(cache, readonly=True) as cat:
        typed, skipped = rescore.comicinfo_labels(cat)
        (tagged,) = rescore.training_books(cat, None, rescore.training_labels([], typed))
    assert skipped == 0 and len(typed) == 1
    assert tagged.weights and set(tagged.weights.values()) == {rescore.COMICINFO_WEIGHT}
    assert set(tagged.labels.values()) <= {"cover", "advertisement", "story", "first-page", "textstory", "back_cover"}
    story_like = [p for p, c in tagged.labels.items() if c in ("story", "first-page", "textstory")]
    assert len(story_like) == rescore.COMICINFO_PER_CLASS  # 8 Story pages typed, 5 teach
    left_out = {i for i, k in enumerate(PLAN) if k == STORY} - set(story_like)
    assert left_out and all(tagged.pages[i].bad for i in left_out)  # neither taught nor anchored
    assert tagged.labels[house] == "advertisement" and tagged.labels[0] == "cover" and tagged.labels[11] == "back_cover"

    # the person's own label on a typed page wins, at full weight
    with UserData(data) as user:
        user.set_label(next(b.content_key for b in books(cache) if b.path.endswith("Tagged.cbz")), 3, "art")
    with Catalog.open(cache, readonly=True) as cat, UserData(data, readonly=True) as user:
        (tagged,) = rescore.training_books(cat, None, rescore.training_labels(user.all_labels(), typed))
    assert tagged.labels[3] == "art" and tagged.weights.get(3, 1.0) == 1.0


def books(cache):
    with Catalog.open(cache, readonly=True) as cat:
        return cat.all_books()


def test_a_collection_typing_every_page_story_does_not_swamp_the_rest():
    typed = {i: "story" for i in range(200)}
    typed[0] = "cover"
    capped = rescore.cap_per_class(typed)
    assert sorted(capped.values()) == ["cover"] + ["story"] * rescore.COMICINFO_PER_CLASS
    assert 1 in capped and 199 in capped  # spread over the book, its ends kept
    assert rescore.cap_per_class({3: "story", 9: "story"}) == {3: "story", 9: "story"}


def real_export(tmp_path, settings, dest):
    """A CBZ written by comicdesk's own exporter (every page typed from its labels), copied to
    ``dest`` as a person might move it into a library."""
    import shutil

    from comicdesk.export.batch import ExportOptions
    from comicdesk.services.export import export_books
    from comicdesk.export.filters import build_filter

    src = book(tmp_path / "elsewhere", "Source.cbz", 0, types_of())
    options = ExportOptions(filter=build_filter(), analyse=False, scan_options=INLINE)
    summary = export_books(src, tmp_path / "out" / "Exported.cbz", settings, options)
    (res,) = summary.results
    assert res.status == "written", res.error
    dest.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(res.output, dest)
    return dest


def test_books_written_by_comicdesk_export_never_teach(tmp_path, settings):
    root = tmp_path / "lib"
    types = types_of()
    real_export(tmp_path, settings, root / "Exported.cbz")
    book(root, "Plain.cbz", 100)
    cache, data = analyse(root, settings)
    assert rescore.written_by_comicdesk(root / "Exported.cbz") is True
    assert rescore.written_by_comicdesk(root / "Plain.cbz") is False
    assert rescore.written_by_comicdesk(root / "gone.cbz") is None
    with Catalog.open(cache, readonly=True) as cat:  # the export's ComicInfo types its pages
        exported = next(b for b in cat.all_books() if b.path.endswith("Exported.cbz"))
        assert len(exported.comicinfo["page_types"]) >= len(PLAN) // 2
    before = rows(cache, "Plain.cbz")
    result = rescore.relabel(cache, data)
    assert (result.used, result.comicinfo, result.exports_skipped) == (0, 0, 1)
    assert load_head(data) is None
    after = rows(cache, "Plain.cbz")
    assert {p: r.label for p, r in after.items()} == {p: r.label for p, r in before.items()}
    # the same page types in a book that is not an export do teach
    book(root, "Tagged.cbz", 200, types)
    cache, data = analyse(root, settings)
    assert rescore.relabel(cache, data).comicinfo > 0


def test_a_scanner_verdict_on_exports_is_taken_without_opening_the_file(tmp_path, settings):
    root = tmp_path / "lib"
    book(root, "Tagged.cbz", 0, types_of())
    cache, _ = analyse(root, settings)
    with Catalog.open(cache) as cat:
        b = cat.all_books()[0]
        assert rescore.comicinfo_labels(cat)[1] == 0 and len(rescore.comicinfo_labels(cat)[0]) == 1
        with cat.transaction():
            cat.conn.execute("UPDATE books SET comicinfo = json_set(comicinfo, '$.comicdesk_export', json('true')) "
                             "WHERE id = ?", (b.id,))
        assert rescore.comicinfo_labels(cat) == ({}, 1)


def test_a_library_with_comicinfo_types_gets_its_head_at_the_end_of_an_index_run(tmp_path, settings):
    root = tmp_path / "lib"
    book(root, "Tagged.cbz", 0, types_of())
    book(root, "Plain.cbz", 100)
    scan = scan_library(root, settings, options=INLINE)
    cache, data = settings.library_cache_dir(scan.library_id), settings.library_data_dir(scan.library_id)
    p1, p2 = stage_mod.make_specs()  # the default provider: reads the head from ctx.data_dir
    stages = [features_stage(), p1, text_stage(), p2]
    Runner(cache, stages=stages, options=replace(FAST, data_dir=str(data))).run()
    assert head_state(data) == HEAD_CURRENT  # trained from the ComicInfo types, with no label at all
    head = load_head(data)
    assert head is not None and head.n_labels > 0
    house = PLAN.index(HOUSE)
    assert rows(cache, "Plain.cbz")[house].version.endswith(f" +head{head.n_labels}")
    with LibraryLock(cache, timeout=1):
        assert rescore.rescore_pending(cache, data) is None  # in step: nothing to do


def test_a_library_without_labels_gets_no_user_data(tmp_path, settings):
    root = tmp_path / "lib"
    book(root, "Plain.cbz", 100)
    scan = scan_library(root, settings, options=INLINE)
    cache, data = settings.library_cache_dir(scan.library_id), settings.library_data_dir(scan.library_id)
    p1, p2 = stage_mod.make_specs()
    Runner(cache, stages=[features_stage(), p1, text_stage(), p2], options=replace(FAST, data_dir=str(data))).run()
    assert head_state(data) == HEAD_NONE and not (data / "user.sqlite").exists()


# -- a head of another version ----------------------------------------------------------------------
def other_features(data: bytes) -> bytes:
    """The same head as stored by a comicdesk whose head had other features."""
    with np.load(io.BytesIO(data), allow_pickle=False) as z:
        arrays = {k: z[k] for k in z.files}
    arrays["features"] = np.array(list(arrays["features"][:-1]) + ["some_new_cue"])
    buf = io.BytesIO()
    np.savez_compressed(buf, **arrays)
    return buf.getvalue()


@pytest.mark.parametrize("how", ["version", "features"])
def test_a_stale_head_is_retrained_from_the_stored_labels_on_the_next_run(tmp_path, settings, how):
    root = tmp_path / "lib"
    book(root, "A.cbz", 0)
    book(root, "B.cbz", 100)
    cache, data = analyse(root, settings)
    house = PLAN.index(HOUSE)
    key = next(b.content_key for b in books(cache) if b.path.endswith("A.cbz"))
    with UserData(data) as user:
        user.set_label(key, house, "advertisement")
    rescore.relabel(cache, data)
    good = rows(cache, "B.cbz")
    assert good[house].version.endswith(" +head1")
    # an older comicdesk's head: the version or the features differ
    with UserData(data) as user:
        version, blob, n, digest = user.head(STANDARD_MODEL)
        if how == "version":
            user.set_head(STANDARD_MODEL, HEAD_VERSION + 1, blob, n, digest)
        else:
            user.set_head(STANDARD_MODEL, HEAD_VERSION, other_features(blob), n, digest)
            with pytest.raises(ValueError, match="another version"):
                PageHead.from_bytes(user.head(STANDARD_MODEL)[1])
    assert head_state(data) == HEAD_STALE and load_head(data) is None
    # the next run: its page-class stages classify without the stale head; at its end the head is
    # retrained from the stored label and the library re-scored with it
    p1, p2 = stage_mod.make_specs()
    p1, p2 = replace(p1, version="next-1"), replace(p2, version="next-1")
    Runner(cache, stages=[features_stage(), p1, text_stage(), p2], options=replace(FAST, data_dir=str(data))).run()
    assert head_state(data) == HEAD_CURRENT
    head = load_head(data)
    assert head is not None and head.n_labels == 1
    after = rows(cache, "B.cbz")
    assert after[house].version.startswith("next-1")
    assert after[house].version.endswith(" +head1")
    assert after[house].probs["advertisement"] == pytest.approx(good[house].probs["advertisement"], abs=0.02)


@pytest.mark.parametrize("how", ["relabel", "a run with nothing to analyse"])
def test_a_stale_head_is_retrained_by_relabel_or_any_run(tmp_path, settings, how):
    """A stale head is retrained by relabel, and by a run even when it has no book to analyse
    (every stage current): it never waits for a run that has work."""
    root = tmp_path / "lib"
    book(root, "A.cbz", 0)
    cache, data = analyse(root, settings)
    key = books(cache)[0].content_key
    with UserData(data) as user:
        user.set_label(key, 3, "text")
        user.set_head(STANDARD_MODEL, HEAD_VERSION + 1, b"not a head", 1, "x")
    assert head_state(data) == HEAD_STALE
    if how == "relabel":
        assert rescore.relabel(cache, data).used == 1
    else:
        p1, p2 = stage_mod.make_specs()
        result = Runner(cache, stages=[features_stage(), p1, text_stage(), p2],
                        options=replace(FAST, data_dir=str(data))).run()
        assert result.pages == 0  # nothing was analysed again
    assert head_state(data) == HEAD_CURRENT and load_head(data).n_labels == 1
    assert rows(cache, "A.cbz")[3].label == "text"


def test_the_stage_version_follows_the_heads_features():
    from comicdesk.ml import page_head

    assert str(page_head.HEAD_VERSION) in stage_mod._version()
    before = stage_mod._version()
    old = page_head.FEATURES
    try:
        page_head.FEATURES = old + ("some_new_cue",)
        assert stage_mod._version() != before  # a run re-classifies, and its end retrains the head
    finally:
        page_head.FEATURES = old


# -- the cosmo profile ------------------------------------------------------------------------------
VISUAL = VectorOutput("cosmo-v4", "page_visual", DIMS, level="page")
LOGITS = VectorOutput("cosmo-v4", "page_logits", len(PAGE_CLASSES), level="page")
SLOT = {STORY: 0, HOUSE: 1, AD: 2, COVER: 3}  # what a page looks like, one slot per kind


def cosmo_stages(version="fc-1"):
    """A stand-in for the cosmo profile's stages: page vectors from the page's look, and classes
    from a 'model' fooled by the house ad (it calls it story)."""

    def load_visual(ctx):
        def run(pages):
            out = []
            for p in pages:
                v = np.zeros(DIMS, np.float32)
                v[SLOT[kind_of(p)]] = 4.0
                out.append({VISUAL.kind: v})
            return out

        return run

    def load_classes(ctx):
        def run(bk):
            out = []
            for i, p in enumerate(bk.pages):
                vec = p.outputs[VISUAL.kind]
                k = int(np.argmax(vec))
                cls = {SLOT[AD]: "advertisement", SLOT[COVER]: "cover"}.get(k, "story")
                if i == 0:
                    cls = "cover"
                elif i == len(bk.pages) - 1:
                    cls = "back_cover"
                logits = np.full(len(PAGE_CLASSES), -3.0, np.float32)
                logits[PAGE_CLASSES.index(cls)] = 3.0
                if k == SLOT[HOUSE]:  # not sure of it: the house ad is half like an ad
                    logits[PAGE_CLASSES.index("story")] = 1.5
                    logits[PAGE_CLASSES.index("advertisement")] = 0.5
                probs = np.exp(logits) / np.exp(logits).sum()
                out.append({PAGE_CLASS: {"label": cls, "probs": {c: float(x) for c, x in zip(PAGE_CLASSES, probs)}},
                            LOGITS.kind: logits})
            return out

        return run

    return [
        StageSpec(name="fake-cosmo-visual", pass_no=1, needs=(IMAGE,), produces=(VISUAL.kind,), load=load_visual,
                  version=version, vectors=(VISUAL,), model_id="cosmo-v4", profiles=("cosmo",)),
        StageSpec(name="fake-cosmo-classes", pass_no=2, needs=(VISUAL.kind,), produces=(PAGE_CLASS, LOGITS.kind),
                  load=load_classes, version=version, level="book", vectors=(LOGITS,), model_id="cosmo-v4",
                  profiles=("cosmo",)),
    ]


def test_the_persons_labels_teach_the_cosmo_profile(tmp_path, settings):
    root = tmp_path / "lib"
    book(root, "A.cbz", 0)
    book(root, "B.cbz", 100)
    cosmo = [replace(s, profiles=("standard", "cosmo")) for s in cosmo_stages()]
    cache, data = analyse(root, settings, stages=[features_stage(), cosmo[0], text_stage(), cosmo[1]])
    house = PLAN.index(HOUSE)
    before = rows(cache, "B.cbz", "cosmo-v4")
    assert before[house].label == "story"
    key = next(b.content_key for b in books(cache) if b.path.endswith("A.cbz"))
    with UserData(data) as user:
        user.set_label(key, house, "advertisement")
    result = rescore.relabel(cache, data)
    assert result.rescored_pages >= 2 * len(PLAN)
    assert head_state(data, "cosmo-v4") == HEAD_CURRENT
    after = rows(cache, "B.cbz", "cosmo-v4")
    assert after[house].probs["advertisement"] > before[house].probs["advertisement"] + 0.3, after[house].probs
    assert after[house].label == "advertisement" and after[house].source == "model"
    assert after[house].version.endswith(" +head1")
    for page, row in before.items():
        if page != house:
            assert after[page].label == row.label
    # a fresh run of the cosmo stages writes classes without the head; the run's end applies it
    cosmo2 = [replace(s, profiles=("standard", "cosmo")) for s in cosmo_stages("fc-2")]
    Runner(cache, stages=[features_stage(), cosmo2[0], text_stage(), cosmo2[1]],
           options=replace(FAST, data_dir=str(data))).run()
    again = rows(cache, "B.cbz", "cosmo-v4")
    assert again[house].version == "fc-2 +head1" or again[house].version.endswith(" +head1")
    assert again[house].label == "advertisement"
    # clearing the label takes the cosmo classes back to the model's own
    with UserData(data) as user:
        user.set_label(key, house, None)
    rescore.relabel(cache, data)
    back = rows(cache, "B.cbz", "cosmo-v4")
    assert back[house].label == "story" and " +head" not in back[house].version
    assert back[house].probs == pytest.approx(before[house].probs, abs=2e-3)
