"""When the standard classifier may be sure a page is not story (standard-classes-4): the classes
no real label stands behind (credits, art, text) cannot make a page sure by hand-set cues alone
(hand-made page signals, no models)."""

from __future__ import annotations

import numpy as np

from comicdesk.core.pages import NON_STORY, PAGE_CLASSES, SURE_AT
from comicdesk.core.signals import PageSignals
from comicdesk.ml import page_classes as pc

W, H = 600, 900
NON = [PAGE_CLASSES.index(c) for c in PAGE_CLASSES if c in NON_STORY]


def story(i, n, **kw):
    panels = [(20, 20, 270, 280), (310, 20, 270, 280), (20, 310, 560, 280), (20, 610, 270, 270), (310, 610, 270, 270)]
    base = dict(index=i, n_pages=n, width=W, height=H, panels=panels,
                text_boxes=[(40 + 60 * k, 40 + 150 * k, 120, 16) for k in range(5)], text_coverage=0.03,
                stats={"white": 0.1, "colourfulness": 0.05}, lines=["WHERE ARE WE?", "HOLD ON!"])
    base.update(kw)
    return PageSignals(**base)


def splash(i, n):
    """A wordless full-page picture (one panel, no text), black and white like its book."""
    return PageSignals(index=i, n_pages=n, width=W, height=H, panels=[(0, 0, W, H)], text_boxes=[],
                       text_coverage=0.0, stats={"white": 0.05, "colourfulness": 0.02}, lines=[])


def p_non_story(probs):
    return sum(probs[c] for c in NON_STORY)


def test_a_wordless_splash_inside_a_story_is_not_sure_art():
    n = 30
    pages = [story(i, n) for i in range(n)]
    pages[20] = splash(20, n)
    pages[21] = splash(21, n)
    uncapped = pc.smooth(pc.page_scores(pages))
    # without the cap the hand-set cues alone made these pin-ups, sure enough to drop
    assert uncapped[20, PAGE_CLASSES.index("art")] > 0.5
    assert uncapped[20, NON].sum() >= SURE_AT
    out = pc.classify_book(pages)
    for i in (20, 21):
        assert p_non_story(out[i]) < SURE_AT - 0.05


def test_the_cap_keeps_the_shares_among_non_story_classes():
    n = 12
    pages = [story(i, n) for i in range(n)]
    pages[6] = splash(6, n)
    unary = pc.page_scores(pages)
    capped = pc.cap_unlabelled(unary, pages)
    shift = unary[6] - capped[6]
    assert shift[NON].min() > 0.5  # the non-story side was lowered ...
    assert np.allclose(shift[NON], shift[NON][0])  # ... as a whole
    story_kinds = [k for k in range(len(PAGE_CLASSES)) if k not in NON]
    assert np.allclose(shift[story_kinds], 0.0)
    # story pages have nothing to cap
    assert np.allclose(np.delete(unary, 6, axis=0), np.delete(capped, 6, axis=0))

