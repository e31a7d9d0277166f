from __future__ import annotations

import pytest
from helpers import one_line

from comicdesk.core.pages import GROUPS, PAGE_CLASSES
from comicdesk.export.batch import decide_pages
from comicdesk.export.filters import FilterError, build_filter
from comicdesk.library.labels import PageLabel


def test_presets_and_default():
    assert build_filter("story-only").keep == GROUPS["story-only"]
    assert build_filter("no-ads").keep == frozenset(PAGE_CLASSES) - {"advertisement"}
    assert build_filter().keep == build_filter("no-ads").keep
    assert "default" in build_filter().description


def test_keep_and_drop_by_class_or_group():
    assert build_filter(keep="story,Cover").keep == {"story", "cover"}
    assert build_filter(keep="story-only, back-cover").keep == {"story", "first-page", "textstory", "back_cover"}
    assert build_filter(drop="advertisement,credits").keep == frozenset(PAGE_CLASSES) - {"advertisement", "credits"}
    assert build_filter("story-only", keep="cover").keep == GROUPS["story-only"] | {"cover"}
    assert build_filter("story-only", drop="first_page").keep == {"story", "textstory"}
    f = build_filter(keep="story")
    assert f.keeps("story") and not f.keeps("cover") and f.keeps(None)


@pytest.mark.parametrize("kw, words", [
    ({"keep": "story,adverts"}, "unknown page class or group 'adverts'"),
    ({"drop": " , "}, "needs at least one"),
    ({"preset": "clean"}, "unknown preset 'clean'"),
    ({"drop": "no-ads,advertisement"}, "keeps no page class"),
    ({"keep": "story", "drop": "cover"}, "not both"),
])
def test_bad_names_are_one_line(kw, words):
    with pytest.raises(FilterError) as err:
        build_filter(**kw)
    assert words in one_line(err.value)


def test_decide_pages():
    labels = {0: PageLabel("cover", None, "model"), 1: PageLabel("story", None, "user"),
              2: PageLabel("advertisement", None, "comicinfo"), 3: PageLabel(None, None, None),
              4: PageLabel("story", None, "comicinfo", hidden=True), 5: PageLabel("story", None, "user", hidden=True)}
    f = build_filter("story-only")
    choices, unlabelled, unsure = decide_pages(labels, 6, f, mark_only=False)
    assert unlabelled == 1
    # page 0: a model's "cover" without probabilities is not sure: kept, and listed
    assert [c.keep for c in choices] == [True, True, False, True, False, True]
    assert unsure == [0]
    marked, _, unsure = decide_pages(labels, 6, f, mark_only=True)
    assert all(c.keep for c in marked)
    assert [c.deleted for c in marked] == [False, False, True, False, True, False] and unsure == [0]
    dropped, _, unsure = decide_pages(labels, 6, f, mark_only=False, drop_unsure=True)
    assert [c.keep for c in dropped] == [False, True, False, True, False, True] and unsure == []
