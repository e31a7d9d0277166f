"""The position prior and transitions fitted on real books (comicdesk.ml.page_prior), and the cues
standard-classes-2 added for real pages (hand-made page signals, no models)."""

from __future__ import annotations

import json
import sys

import numpy as np
import pytest
from helpers import REPO, fixtures_dir
from test_page_classes import H, W, book, cover, story

from comicdesk.core.pages import PAGE_CLASSES
from comicdesk.core.signals import PageSignals
from comicdesk.ml import page_classes as pc
from comicdesk.ml import page_prior as pp


def test_every_page_of_every_book_length_has_a_bin():
    for n in range(2, 80):
        bins = [pp.position_bin(i, n) for i in range(n)]
        assert set(bins) <= set(pp.BINS)
        assert bins[0] == "first" and bins[-1] == "last"
        if n >= 8:
            assert bins[1:3] == ["p2", "p3"] and bins[-3:] == ["last3", "last2", "last"]


def test_prior_rows_and_transitions_are_distributions_over_the_nine_classes():
    prior = pp.load_prior()
    for n in (2, 5, 36, 68):
        for i in range(n):
            row = prior.probs(i, n)
            assert row.shape == (len(PAGE_CLASSES),) and row.min() > 0 and row.sum() == pytest.approx(1.0)
    t = prior.transition_matrix()
    assert np.allclose(t.sum(1), 1.0) and t.min() > 0
    assert prior.marginal().sum() == pytest.approx(1.0)
    # the classes CoSMo does not label keep their hand-set shares everywhere
    for c, share in pp.UNFITTED.items():
        assert prior.probs(10, 36)[pc.IDX[c]] == pytest.approx(share, rel=1e-3)


def test_what_the_fit_learnt_from_real_books():
    prior = pp.load_prior()
    inner = prior.probs(18, 36, end_mix=0.0)
    assert inner[pc.IDX["advertisement"]] < 0.06  # not the 15 % of the hand-set prior
    assert inner[pc.IDX["first-page"]] > 0.08
    assert prior.probs(0, 36, first_mix=0.0)[pc.IDX["cover"]] > 0.8
    assert prior.probs(1, 36, end_mix=0.0)[pc.IDX["advertisement"]] > 0.5  # inside front cover
    # the mix keeps a Golden Age habit (ads at the back) from deciding a modern book's last page
    last = prior.probs(35, 36)
    assert last[pc.IDX["story"]] > 0.3 and last[pc.IDX["advertisement"]] < 0.6


def test_shipped_prior_is_what_the_fit_gives_on_the_cosmo_training_books():
    labels = fixtures_dir() / "real" / "cosmo-labels"
    if not (labels / "comics_train.json").is_file():
        pytest.skip("the CoSMo labels are not in the shared fixtures")
    sys.path.insert(0, str(REPO / "tests" / "bench"))
    import fit_page_prior

    fresh = fit_page_prior.fit(fit_page_prior.load(labels / "comics_train.json"))
    shipped = json.loads(pp.PRIOR_FILE.read_text())
    assert fresh["books"] == shipped["books"] == 301
    assert fresh["pair_weight"] == shipped["pair_weight"]
    for b in pp.BINS:
        for c, p in shipped["prior"][b].items():
            assert fresh["prior"][b][c] == pytest.approx(p, abs=1e-6)
    for a, row in shipped["transitions"].items():
        for c, p in row.items():
            assert fresh["transitions"][a][c] == pytest.approx(p, abs=1e-6)


def test_reading_a_cosmo_record():
    sys.path.insert(0, str(REPO / "tests" / "bench"))
    import fit_page_prior

    record = {"stories": [{"page_start": 1, "page_end": 3}, {"page_start": 6, "page_end": 6}],
              "textstories": [{"page_start": 4, "page_end": 4}],
              "advertisements": [{"page_start": 5, "page_end": 5}, {"page_start": 8, "page_end": 8}],
              "covers": [{"page_start": 0, "page_end": 0}, {"page_start": 9, "page_end": 9}]}
    lab, n = fit_page_prior.book_labels(record)
    assert n == 10
    assert lab == {0: "cover", 1: "first-page", 2: "story", 3: "story", 4: "textstory", 5: "advertisement",
                   6: "first-page", 8: "advertisement", 9: "back_cover"}  # page 7: in no range, left out


def test_a_book_that_ends_on_story_is_not_given_a_back_cover():
    n = 12
    pages = [cover(0, n)] + [story(i, n, lines=["LOOK OUT!", "WHERE IS HE?"]) for i in range(1, n)]
    labels = [pc.top_label(p) for p in pc.classify_book(pages)]
    assert labels[-1] in ("story", "first-page")
    # and one that ends on a cover-looking page is
    assert pc.top_label(pc.classify_book(book())[-1]) == "back_cover"


def test_a_captioned_page_without_a_word_of_selling_is_not_an_ad():
    """A one-page feature: big title, dense captions, colour, the panel detector finds one panel,
    and not one price, order or coupon word in 90 words."""
    n = 36
    captions = ["HOW TO BUILD A WEATHER VANE FROM A CORK AND A KNITTING NEEDLE",
                "FIRST CUT THE CARDBOARD ARROW AND PUSH THE NEEDLE THROUGH ITS CENTRE SO IT TURNS FREELY",
                "THE ARROW ALWAYS POINTS INTO THE WIND BECAUSE THE LARGER TAIL IS PUSHED AWAY FROM IT",
                "MARK NORTH SOUTH EAST AND WEST ON THE BASE WITH THE HELP OF A COMPASS BEFORE YOU START",
                "SAILORS AND FARMERS HAVE READ THE WIND THIS WAY FOR CENTURIES AND SO CAN YOU"]
    boxes = [(30, 20, 420, 60)] + [(30, 100 + 24 * k, 420, 16) for k in range(25)]

    def feature(lines):
        return story(20, n, panels=[(0, 0, W, H)], text_boxes=boxes, text_coverage=0.3, lines=lines,
                     stats={"white": 0.1, "colourfulness": 0.6})

    with_words = pc.classify_book([story(i, n) if i != 20 else feature(captions) for i in range(n)])[20]
    ad_copy = captions[:3] + ["SEND COUPON WITH 25 CENTS", "MONEY REFUNDED IF NOT SATISFIED, ORDER NOW"]
    selling = pc.classify_book([story(i, n) if i != 20 else feature(ad_copy) for i in range(n)])[20]
    assert with_words["advertisement"] < 0.5
    assert selling["advertisement"] > with_words["advertisement"] + 0.2


def test_a_title_read_as_one_box_is_not_no_text():
    splash = story(10, 36, panels=[(0, 0, W, H)], text_boxes=[(20, 20, 560, 90)], text_coverage=0.14)
    assert pc.page_cues(splash)["text_none"] == 0.0
    empty = story(10, 36, panels=[(0, 0, W, H)], text_boxes=[], text_coverage=0.0)
    assert pc.page_cues(empty)["text_none"] == 1.0


def test_a_modern_ad_with_a_web_address_and_no_price_leans_to_non_story():
    n = 24
    lines = ["THE GAME EVERYONE IS TALKING ABOUT", "IN STORES NOW", "WWW.EXAMPLEGAMES.COM",
             "RATED T FOR TEEN", "FOR YOUR CONSOLE AND YOUR PHONE"]

    def page(words):
        return story(12, n, panels=[(0, 0, W, H)], text_boxes=[(40, 60 + 120 * k, 520, 40) for k in range(5)],
                     text_coverage=0.08, lines=words, stats={"white": 0.05, "colourfulness": 0.7})

    ad = pc.classify_book([story(i, n, lines=["WHAT?"]) if i != 12 else page(lines) for i in range(n)])[12]
    plain = pc.classify_book([story(i, n, lines=["WHAT?"]) if i != 12 else page(lines[:1] + lines[3:])
                              for i in range(n)])[12]
    non_story = sum(v for c, v in ad.items() if c not in ("story", "first-page", "textstory"))
    assert pc.page_cues(page(lines))["web"] == 1.0
    assert ad["advertisement"] > plain["advertisement"] + 0.1 and non_story > 0.5


def test_a_one_colour_page_in_a_colour_book_leans_to_non_story_and_nothing_in_a_grey_book():
    n = 16

    def book_of(colour, grey_at=None):
        return [story(i, n, stats={"white": 0.3, "colourfulness": 0.08 if i == grey_at else colour},
                      lines=["WHAT?", "LOOK!"]) for i in range(n)]

    cues = pc.book_cues(book_of(0.5, grey_at=7))
    assert cues[7]["greyer_than_book"] == 1.0 and cues[3]["greyer_than_book"] == 0.0
    assert pc.book_cues(book_of(0.1, grey_at=7)) == [{}] * n  # a black-and-white book: no cue
    assert pc.book_cues(book_of(0.5, grey_at=7)[:6]) == [{}] * 6  # too short to say
    grey = pc.classify_book(book_of(0.5, grey_at=7))[7]
    colour = pc.classify_book(book_of(0.5))[7]
    assert grey["advertisement"] > colour["advertisement"]
    # a page of panels and dialogue stays story: the cue leans, it does not decide
    assert pc.top_label(grey) in ("story", "first-page")


def _ad(i, n):
    """A full-page coupon ad: one picture, wide lines of copy, prices and an order form."""
    return story(i, n, panels=[(0, 0, W, H)], text_boxes=[(40, 60 + 50 * k, 520, 30) for k in range(12)],
                 text_coverage=0.2, stats={"white": 0.2, "colourfulness": 0.5},
                 lines=["SEND NO MONEY", "ONLY $1.98 POSTPAID", "MAIL THIS COUPON TODAY", "NAME", "ADDRESS",
                        "CITY STATE", "MONEY BACK GUARANTEE", "ORDER NOW"])


def _talky(i, n):
    """A last page that could be either: panels like a story page, a few lines of copy."""
    return story(i, n, text_boxes=[(40, 60 + 90 * k, 520, 24) for k in range(8)], text_coverage=0.1,
                 lines=["HE WAS A WEAKLING", "THEY LAUGHED AT ME", "NOW I AM A NEW MAN", "YOU CAN BE TOO"])


def _non_story(p):
    return sum(v for c, v in p.items() if c in pc.NON_STORY)


def test_an_inside_back_cover_ad_makes_the_last_page_lean_to_a_back_page():
    """The printed-cover cue: the page before last reads as an ad by itself, so the last page gets
    the fitted prior of such books (the CoSMo training books: 0.4 % story) instead of the mixed
    last bin."""
    n = 24
    floppy = [cover(0, n), _ad(1, n)] + [story(i, n) for i in range(2, n - 2)] + [_ad(n - 2, n), _talky(n - 1, n)]
    unary = pc.page_scores(floppy)
    assert pc.printed_back(unary, floppy) > 0.9
    without = pc.probs_to_dicts(pc.smooth(unary))[-1]  # the chain alone, no cue
    with_cue = pc.classify_book(floppy)[-1]
    assert _non_story(with_cue) > _non_story(without) + 0.15
    assert pc.top_label(with_cue) in ("advertisement", "back_cover")


def test_a_book_that_ends_on_story_after_story_keeps_its_last_page():
    n = 24
    modern = [cover(0, n)] + [story(i, n) for i in range(1, n - 1)] + [_talky(n - 1, n)]
    unary = pc.page_scores(modern)
    assert pc.printed_back(unary, modern) < 0.1
    last = pc.classify_book(modern)[-1]
    assert last == pytest.approx(pc.probs_to_dicts(pc.smooth(unary))[-1], abs=0.03)
    assert pc.top_label(last) in ("story", "first-page")


def test_the_printed_cue_needs_the_whole_book_and_a_readable_page_before_last():
    n = 24
    floppy = [cover(0, n)] + [story(i, n) for i in range(1, n - 2)] + [_ad(n - 2, n), _talky(n - 1, n)]
    assert pc.printed_back(pc.page_scores(floppy[-3:]), floppy[-3:]) == 0.0  # fewer than 4 pages
    part = floppy[:-1]  # pages given are not the whole book
    assert pc.printed_back(pc.page_scores(part), part) == 0.0
    bad = floppy[:-2] + [PageSignals(index=n - 2, n_pages=n, width=None, height=None, bad=True), floppy[-1]]
    assert pc.printed_back(pc.page_scores(bad), bad) == 0.0


def test_shipped_printed_cover_row_is_what_the_fit_gives():
    labels = fixtures_dir() / "real" / "cosmo-labels"
    if not (labels / "comics_train.json").is_file():
        pytest.skip("the CoSMo labels are not in the shared fixtures")
    sys.path.insert(0, str(REPO / "tests" / "bench"))
    import fit_page_prior

    train = fit_page_prior.load(labels / "comics_train.json")
    fresh = fit_page_prior.fit(train)["printed_covers"]
    shipped = json.loads(pp.PRIOR_FILE.read_text())["printed_covers"]
    assert fresh["printed"]["books"] == shipped["printed"]["books"] == 254
    for c, p in shipped["printed"]["last"].items():
        assert fresh["printed"]["last"][c] == pytest.approx(p, abs=1e-6)
    # the cue is real on the held-out books too: their last pages after an inside back cover are
    # hardly ever story, after a story page often
    val = fit_page_prior.fit_printed(fit_page_prior.load(labels / "comics_val.json"),
                                     {c: 1 / 6 for c in fit_page_prior.LABELLED})
    assert val["printed"]["last_story_kind"] < 0.05 < 0.3 < val["other"]["last_story_kind"]
    assert pc.PRINTED_LAST[pc.IDX["advertisement"]] > 0.75
