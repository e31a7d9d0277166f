"""Learning from the person's labels (comicdesk.pipeline.rescore): the head is retrained from the
labels in the data dir, stored there, and the library's pages are re-scored; a busy library gets
the head later; the person's label always wins."""

from __future__ import annotations

from dataclasses import replace

import pytest
from test_page_class_stages import FAST, HOUSE, features_stage, make_library, text_stage

from comicdesk.library import labels as labels_mod
from comicdesk.library.catalog import Catalog
from comicdesk.library.lock import LibraryLock
from comicdesk.library.userdata import UserData
from comicdesk.pipeline.heads import load_head
from comicdesk.pipeline import rescore
from comicdesk.pipeline.runner import Runner
from comicdesk.pipeline.stage import STANDARD_MODEL
from comicdesk.pipeline.stages import page_classes as stage_mod


def analysed(tmp_path, settings):
    cache, plan = make_library(tmp_path / "lib", settings)
    p1, p2 = stage_mod.make_specs(None)
    Runner(cache, stages=[features_stage(), p1, text_stage(), p2], options=FAST).run()
    data = settings.data_root / "libraries" / cache.name
    return cache, data, plan


def outputs(cache):
    with Catalog.open(cache, readonly=True) as cat:
        return {b.path: {p: rows[0] for p, rows in cat.page_outputs(b.id).items()} for b in cat.all_books()}


def books(cache):
    with Catalog.open(cache, readonly=True) as cat:
        return sorted(cat.all_books(), key=lambda b: b.path)


def test_labels_retrain_the_head_and_rescore_the_other_pages(tmp_path, settings):
    cache, data, plan = analysed(tmp_path, settings)
    first, second = books(cache)
    before = outputs(cache)
    house = plan.index(HOUSE)
    assert before[second.path][house].label == "story"  # the base classifier is fooled
    # the person corrects the first book's house ad and confirms its page 2
    with UserData(data) as user:
        user.set_label(first.content_key, house, "advertisement")
        user.set_label(first.content_key, 2, "story")
    result = rescore.relabel(cache, data)
    assert (result.labels, result.used, result.pending) == (2, 2, False)
    assert result.rescored_books == 2 and result.rescored_pages == 2 * len(plan)
    head = load_head(data)
    assert head is not None and head.n_labels == 2
    after = outputs(cache)
    # the other book's house ad is now an ad; its story pages stay story; sources stay "model"
    old, new = before[second.path][house], after[second.path][house]
    assert new.label == "advertisement" and new.probs["advertisement"] > old.probs["advertisement"] + 0.3
    assert new.source == "model" and new.model_id == STANDARD_MODEL
    assert new.version.endswith(" +head2") and new.created_at >= old.created_at
    for page, row in before[second.path].items():  # no other page became an ad, ends stay ends
        if page != house:
            assert (after[second.path][page].label == "advertisement") == (row.label == "advertisement")
    assert after[second.path][0].label == "cover"
    assert after[second.path][len(plan) - 1].label in ("back_cover", "advertisement")  # thumbnail: no look
    # the person's labels win when read, and are not in the catalogue
    with Catalog.open(cache, readonly=True) as cat, UserData(data, readonly=True) as user:
        resolved = labels_mod.book_labels(cat, cat.book(first.id), user)
    assert (resolved[house].label, resolved[house].source) == ("advertisement", "user")
    assert resolved[house].probs is not None
    assert all(o.source == "model" for o in after[first.path].values())


def test_a_busy_library_gets_the_head_from_the_next_writer(tmp_path, settings):
    cache, data, plan = analysed(tmp_path, settings)
    first, _ = books(cache)
    before = outputs(cache)
    with UserData(data) as user:
        user.set_label(first.content_key, 2, "text")
    with LibraryLock(cache, timeout=1):
        result = rescore.relabel(cache, data, lock_timeout=0.1)
    assert result.pending and result.rescored_pages == 0 and "another comicdesk process" in result.reason
    assert load_head(data) is not None  # stored anyway
    assert outputs(cache) == before  # the catalogue was not touched
    with UserData(data, readonly=True) as user:
        assert user.setting(rescore.PENDING_KEY)
    with LibraryLock(cache, timeout=1):
        done = rescore.rescore_pending(cache, data)
    assert done == (2, 2 * len(plan))
    with UserData(data, readonly=True) as user:
        assert not user.setting(rescore.PENDING_KEY)
    assert rescore.rescore_pending(cache, data) is None  # nothing left to do


def test_a_rerun_never_overwrites_the_persons_label(tmp_path, settings):
    cache, data, _ = analysed(tmp_path, settings)
    first, _ = books(cache)
    with UserData(data) as user:
        user.set_label(first.content_key, 6, "art")
    rescore.relabel(cache, data)
    # a new classifier version re-runs both page-class stages over every book
    p1, p2 = stage_mod.make_specs(lambda ctx: load_head(data))
    p1, p2 = replace(p1, version="other-1"), replace(p2, version="other-1")
    result = Runner(cache, stages=[features_stage(), p1, text_stage(), p2], options=FAST).run()
    assert result.done == 2
    with Catalog.open(cache, readonly=True) as cat, UserData(data, readonly=True) as user:
        resolved = labels_mod.book_labels(cat, cat.book(first.id), user)
        rows = cat.page_outputs(first.id)
    assert (resolved[6].label, resolved[6].source) == ("art", "user")
    assert rows[6][0].source == "model" and rows[6][0].version.startswith("other-1")


def test_clearing_every_label_goes_back_to_the_base_classifier(tmp_path, settings):
    cache, data, _ = analysed(tmp_path, settings)
    first, _ = books(cache)
    base = outputs(cache)
    with UserData(data) as user:
        user.set_label(first.content_key, 2, "text")
    rescore.relabel(cache, data)
    with UserData(data) as user:
        user.set_label(first.content_key, 2, None)
    result = rescore.relabel(cache, data)
    assert result.labels == 0 and load_head(data) is None
    again = outputs(cache)
    for path, pages in base.items():
        for page, row in pages.items():
            assert again[path][page].label == row.label
            assert again[path][page].probs == pytest.approx(row.probs, abs=1e-6)
            assert " +head" not in again[path][page].version


def test_labels_for_books_the_cache_does_not_know_are_kept_but_teach_nothing(tmp_path, settings):
    cache, data, _ = analysed(tmp_path, settings)
    with UserData(data) as user:
        user.set_label("no-such-book", 1, "story")
    result = rescore.relabel(cache, data)
    assert (result.labels, result.used) == (1, 0)
    assert load_head(data) is None
    # no catalogue at all: the head is stored, nothing to re-score
    empty = tmp_path / "nocache"
    result = rescore.relabel(empty, data)
    assert result.rescored_pages == 0 and result.reason == "the library has not been analysed yet"
    assert not empty.exists()
