"""The standard page classifier on hand-made page signals (no models; one test embeds the class
descriptions with the real MiniLM to check the shipped vectors)."""

from __future__ import annotations

import numpy as np
import pytest

from comicdesk.core.pages import PAGE_CLASSES
from comicdesk.core.signals import PageSignals
from comicdesk.ml import page_classes as pc

W, H = 600, 900


def story(i, n, **kw):
    panels = [(20, 20, 270, 280), (310, 20, 270, 280), (20, 310, 560, 280), (20, 610, 270, 270), (310, 610, 270, 270)]
    boxes = [(40 + 60 * k, 40 + 150 * k, 120, 16) for k in range(5)]
    base = dict(index=i, n_pages=n, width=W, height=H, panels=panels, text_boxes=boxes, text_coverage=0.03,
                stats={"white": 0.45, "colourfulness": 0.3})
    base.update(kw)
    return PageSignals(**base)


def cover(i, n, **kw):
    base = dict(index=i, n_pages=n, width=W, height=H, panels=[(0, 0, W, H)],
                text_boxes=[(30, 30, 540, 90), (450, 20, 100, 30)], text_coverage=0.1,
                stats={"white": 0.0, "colourfulness": 0.7})
    base.update(kw)
    return PageSignals(**base)


def dense(i, n, lines=None, **kw):
    boxes = [(40, 40 + 22 * k, 520, 16) for k in range(36)]
    base = dict(index=i, n_pages=n, width=W, height=H, panels=[(0, 0, W, H)], text_boxes=boxes,
                text_coverage=0.3, stats={"white": 0.85, "colourfulness": 0.02}, lines=lines)
    base.update(kw)
    return PageSignals(**base)


def book(n=12, **overrides):
    pages = [cover(0, n)] + [story(i, n) for i in range(1, n - 1)] + [cover(n - 1, n)]
    for i, p in overrides.items():
        pages[int(i)] = p
    return pages


def label(probs):
    return pc.top_label(probs)


def test_probabilities_cover_the_nine_classes_in_order_and_sum_to_one():
    out = pc.classify_book(book())
    assert len(out) == 12
    for probs in out:
        assert list(probs) == list(PAGE_CLASSES)
        assert sum(probs.values()) == pytest.approx(1.0, abs=1e-4)
        assert all(0.0 <= v <= 1.0 for v in probs.values())
    assert pc.classify_book([]) == []


def test_position_covers_first_and_back_cover_last():
    labels = [label(p) for p in pc.classify_book(book())]
    assert labels[0] == "cover"
    assert labels[-1] == "back_cover"
    assert all(lab in ("story", "first-page") for lab in labels[1:-1])
    # the same cover-like page in the middle of the book is not a cover
    mid = pc.classify_book(book(**{"6": cover(6, 12)}))[6]
    assert label(mid) != "cover" and mid["cover"] < 0.5


def test_smoothing_pulls_an_ambiguous_page_towards_its_neighbours():
    n = 12
    ad_words = ["ONLY $1.98", "SEND COUPON TODAY", "MONEY BACK GUARANTEE", "NAME ADDRESS CITY STATE ZIP",
                "ORDER NOW FREE CATALOG"]

    def ad(i):
        return story(i, n, panels=[(0, 0, W, H)], lines=list(ad_words))

    ambiguous = story(6, n, panels=[(0, 0, W, 450), (0, 450, W, 450)], lines=["WOW!"])
    with_ads = book(n, **{"5": ad(5), "6": ambiguous, "7": ad(7)})
    for i, p in enumerate(with_ads):
        if p.lines is None:
            p.lines = ["LOOK OUT!"]
    with_story = [story(i, n, lines=["LOOK OUT!"]) if i in (5, 7) else p for i, p in enumerate(with_ads)]
    between_ads = pc.classify_book(with_ads)
    between_story = pc.classify_book(with_story)
    assert label(between_ads[5]) == label(between_ads[7]) == "advertisement"
    assert between_ads[6]["advertisement"] > between_story[6]["advertisement"] + 0.2
    unary = pc.page_scores(with_ads)[6]
    assert between_ads[6]["advertisement"] > np.exp(unary[0]) / np.exp(unary).sum()


@pytest.mark.parametrize("at, n_lines, lines, expected", [
    (8, 36, ["Dear Editor, I have read every issue and the letters page is my favourite.",
             "Keep up the good work! Sincerely, a fan. P.S. more letters please"], "text"),
    (1, 12, ["Published monthly by Starlight Comics Inc. Copyright 1954. All rights reserved.",
             "Printed in U.S.A. Second class postage paid. Subscription $1.50"], "credits"),
    (6, 36, ["AMAZING X-RAY SPECS ONLY $1.98", "Send coupon with check or money order", "Money back guarantee",
             "NAME ADDRESS CITY STATE ZIP", "Allow 4 weeks for delivery. Rush order today"], "advertisement"),
])
def test_words_refine_a_text_page_in_pass_two(at, n_lines, lines, expected):
    n = 12

    def page(lines):
        return dense(at, n, lines=lines, text_boxes=[(40, 40 + 22 * k, 520, 16) for k in range(n_lines)],
                     text_coverage=0.3 * n_lines / 36)

    pass1 = pc.classify_book(book(n, **{str(at): page(None)}))[at]
    pass2 = pc.classify_book(book(n, **{str(at): page(lines * (n_lines // 6))}))[at]
    assert label(pass2) == expected
    assert pass2[expected] > pass1[expected]
    if n_lines > 30:
        assert label(pass1) in ("text", "textstory")


def test_repetition_in_other_books_means_advertisement():
    n = 12
    page = story(6, n, panels=[(0, 0, W, H)], text_boxes=[(40, 40, 500, 60), (40, 700, 300, 20)])
    alone = pc.classify_book(book(n, **{"6": page}))[6]
    page_rep = story(6, n, panels=[(0, 0, W, H)], text_boxes=[(40, 40, 500, 60), (40, 700, 300, 20)],
                     repeats_other_books=3)
    repeated = pc.classify_book(book(n, **{"6": page_rep}))[6]
    assert label(repeated) == "advertisement"
    assert repeated["advertisement"] > alone["advertisement"] + 0.3


def test_sentence_similarity_to_class_descriptions():
    vecs = pc.description_vectors()
    assert vecs is not None and set(vecs) == set(PAGE_CLASSES)
    n = 12
    lines = ["some words that are read here and there on the page"]  # neutral words
    base = pc.classify_book(book(n, **{"6": dense(6, n, lines=lines)}))[6]
    text_vec = vecs["text"][0]
    near = pc.classify_book(book(n, **{"6": dense(6, n, lines=lines, text_vec=text_vec)}))[6]
    assert near["text"] > base["text"]
    zero = pc.classify_book(book(n, **{"6": dense(6, n, lines=lines, text_vec=np.zeros(384))}))[6]
    assert zero == base  # a zero vector means "no text": no cue


def test_bad_pages_and_one_page_books_are_classified_without_position_bias():
    pages = book(6)
    pages[3] = PageSignals(index=3, n_pages=6, width=None, height=None, bad=True)
    out = pc.classify_book(pages)
    assert len(out) == 6 and sum(out[3].values()) == pytest.approx(1.0, abs=1e-4)
    single = pc.classify_book([story(0, 1)])[0]
    assert label(single) == "story"
    empty = pc.classify_book([PageSignals(index=0, n_pages=1, width=None, height=None)])[0]
    assert sum(empty.values()) == pytest.approx(1.0, abs=1e-4)


def test_pass_one_cues_leave_out_words_and_pass_two_adds_them():
    p = dense(3, 10)
    cues1 = pc.page_cues(p)
    assert "price" not in cues1 and not any(k.startswith("sim:") for k in cues1)
    p2 = dense(3, 10, lines=["ONLY $1.98 send coupon"] * 10, text_vec=pc.description_vectors()["advertisement"][0])
    cues2 = pc.page_cues(p2)
    assert cues2["price"] == 1.0 and "sim:advertisement" in cues2
    assert max((v, k) for k, v in cues2.items() if k.startswith("sim:"))[1] == "sim:advertisement"


def test_every_weight_names_a_cue_that_exists():
    names = set()
    for p in (story(0, 5), cover(1, 5), dense(2, 5, lines=["x"] * 5, repeats_other_books=1,
                                                  repeats_within_book=1), cover(4, 5)):
        names |= set(pc.page_cues(p))
    colour_book = [story(i, 10, stats={"white": 0.3, "colourfulness": 0.5}) for i in range(10)]
    for cues in pc.book_cues(colour_book):
        names |= set(cues)
    assert set(pc.WEIGHTS) <= names
    assert np.allclose(pc.TRANSITIONS.sum(1), 1.0)


def test_shipped_description_vectors_match_minilm():
    """The shipped vectors are MiniLM's embedding of today's descriptions (regenerate with
    ``pc.save_description_vectors(pc.embed_descriptions(MiniLM()))`` after editing them)."""
    from feat_models import minilm

    fresh = pc.embed_descriptions(minilm())
    with np.load(pc._DESCRIPTIONS_FILE) as data:
        assert str(data["digest"]) == pc.descriptions_digest()
        for c in PAGE_CLASSES:
            assert np.allclose(data[c].astype(np.float32), fresh[c], atol=2e-3)


@pytest.mark.slow
def test_end_to_end_with_the_real_models():
    """Three pages drawn like the benchmark's (tests/bench/eval_pages.py), through the real OCR,
    EfficientNet, MiniLM, panel detector and image statistics, read as one book."""
    import sys

    from feat_models import efficientnet, minilm, ocr
    from helpers import REPO

    sys.path.insert(0, str(REPO / "tests" / "bench"))
    import eval_pages as ev

    class Models:
        pass

    models = Models()
    models.ocr, models.effnet, models.minilm = ocr(), efficientnet(), minilm()
    book = {"series": "STARLIGHT COMICS", "number": 3, "title": "THE LOST CITY", "colour": True}
    rng = np.random.default_rng(3)
    images = [ev.draw_cover(rng, book), ev.draw_story(rng, book), ev.draw_story(rng, book),
              ev.ad_image(2, coloured=False), ev.draw_story(rng, book), ev.draw_art(rng, book)]
    raw = ev.signals_for_images(images, models)
    for pass_no in (1, 2):
        labels = [pc.top_label(p) for p in pc.classify_book(ev.to_signals(raw, None, pass_no))]
        assert labels[0] == "cover" and labels[2] == "story" and labels[-1] == "back_cover", labels
    assert labels[3] == "advertisement", labels  # pass 2 reads the ad's words
