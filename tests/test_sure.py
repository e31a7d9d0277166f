"""The one rule for acting on a page class (comicdesk.core.pages): sure labels, sure drops."""

from __future__ import annotations

import pytest

from comicdesk.core import pages
from comicdesk.core.pages import (NON_STORY, PAGE_CLASSES, STORY_KINDS, drop_is_sure, label_is_sure, page_drop,
                                  prob_of)

STORY_ONLY = pages.GROUPS["story-only"]


def probs(**kw) -> dict[str, float]:
    out = {c: 0.0 for c in PAGE_CLASSES}
    out.update(kw)
    return out


def test_groups_split_every_class():
    assert STORY_KINDS | NON_STORY == frozenset(PAGE_CLASSES) and not STORY_KINDS & NON_STORY
    assert STORY_KINDS == {"story", "first-page", "textstory"}


def test_the_persons_and_comicinfos_labels_are_always_sure():
    low = probs(story=0.99, advertisement=0.01)
    assert label_is_sure("advertisement", low, "user", 0.9) is True
    assert label_is_sure("advertisement", None, "comicinfo", 0.9) is True
    assert page_drop("advertisement", low, "user", STORY_ONLY, 0.9) == "drop"
    assert page_drop("cover", None, "comicinfo", STORY_ONLY, 0.9) == "drop"


def test_a_model_label_is_sure_by_the_probability_of_its_side():
    # An "ad" whose probability alone is low is still sure when the non-story classes together are.
    p = probs(advertisement=0.5, cover=0.3, art=0.15, story=0.05)
    assert label_is_sure("advertisement", p, "model", 0.9) is True
    assert label_is_sure("advertisement", p, "model", 0.96) is False
    # A story-kind label: story, first-page and textstory count together.
    q = probs(story=0.45, **{"first-page": 0.3}, textstory=0.2, advertisement=0.05)
    assert label_is_sure("story", q, "model", 0.9) is True
    assert label_is_sure("first-page", q, "model", 0.96) is False


def test_the_threshold_is_reached_at_exactly_t():
    p = probs(advertisement=0.6, cover=0.3, story=0.1)  # 0.6 + 0.3 is 0.8999999999999999 in floats
    assert drop_is_sure(p, NON_STORY, 0.9) is True
    assert drop_is_sure(p, NON_STORY, 0.9 + 1e-6) is False
    assert label_is_sure("advertisement", p, "model", 0.9) is True
    assert prob_of(p, {"advertisement", "cover"}) == pytest.approx(0.9)


def test_without_probabilities_a_model_label_is_not_sure_and_nothing_is_dropped():
    assert label_is_sure("advertisement", None, "model", 0.5) is False
    assert label_is_sure("advertisement", {}, "model", 0.5) is False
    assert drop_is_sure(None, NON_STORY, 0.0) is False
    assert page_drop("advertisement", None, "model", STORY_ONLY, 0.5) == "unsure"
    # A page without a label: no verdict, and a filter keeps it.
    assert label_is_sure(None, probs(story=1.0), None) is None
    assert page_drop(None, probs(advertisement=1.0), None, STORY_ONLY) == "keep"


def test_a_filter_drops_only_when_the_classes_it_drops_are_likely_enough():
    p = probs(advertisement=0.55, story=0.3, cover=0.15)  # p(not story) = 0.7
    assert page_drop("advertisement", p, "model", STORY_ONLY, 0.9) == "unsure"
    assert page_drop("advertisement", p, "model", STORY_ONLY, 0.7) == "drop"
    # no-ads drops only advertisement: p(ad) = 0.55 decides, not p(non-story).
    no_ads = pages.GROUPS["no-ads"]
    assert page_drop("advertisement", p, "model", no_ads, 0.6) == "unsure"
    assert page_drop("advertisement", p, "model", no_ads, 0.55) == "drop"
    # A label the filter keeps is kept, whatever the probabilities.
    assert page_drop("story", probs(advertisement=0.99, story=0.01), "model", STORY_ONLY, 0.5) == "keep"


def test_every_caller_reads_sure_at_when_it_is_called(monkeypatch):
    p = probs(advertisement=0.8, story=0.2)
    monkeypatch.setattr(pages, "SURE_AT", 0.75)
    assert label_is_sure("advertisement", p, "model") is True
    assert page_drop("advertisement", p, "model", STORY_ONLY) == "drop"
    monkeypatch.setattr(pages, "SURE_AT", 0.85)
    assert label_is_sure("advertisement", p, "model") is False
    assert page_drop("advertisement", p, "model", STORY_ONLY) == "unsure"
    assert 0.0 < pages.SURE_AT <= 1.0
