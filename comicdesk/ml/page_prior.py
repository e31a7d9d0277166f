"""Where page classes fall in a book: the position prior and the transitions, fitted on real books.

``page_prior.json`` (next to this module) holds what ``tests/bench/fit_page_prior.py`` fitted on
the CoSMo page-stream labels of 301 Golden Age books (MIT): per position bin the shares of the six
classes those labels know (cover, advertisement, story, first-page, textstory, back_cover), and
P(next class | class). ``credits``, ``art`` and ``text`` are not labelled there: they keep the
hand-set shares :data:`UNFITTED` (and their hand-set position weights in ``page_classes``), and
the six fitted classes share the rest.

The fit describes Golden Age floppies, whose last pages and inside covers are mostly ads. Modern
books and collections end on story and carry no ads, so every bin other than the first page and
the inner pages is mixed with the inner pages' shares (:data:`END_MIX`): the position then makes
an ad likelier at the back, but the page itself decides. Only numpy and ``core`` are imported.
"""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path

import numpy as np

from comicdesk.core.pages import PAGE_CLASSES

PRIOR_FILE = Path(__file__).with_name("page_prior.json")
K = len(PAGE_CLASSES)
IDX = {c: i for i, c in enumerate(PAGE_CLASSES)}
#: Inner pages: five bins of relative position.
INNER_BINS = ("r0", "r1", "r2", "r3", "r4")
#: Position bins: the first page, pages 2 and 3, the last three pages, and the inner pages.
BINS = ("first", "p2", "p3", "last3", "last2", "last") + INNER_BINS
#: Classes the CoSMo labels do not have, with the share they keep (today's hand-set prior).
UNFITTED = {"credits": 0.03, "art": 0.04, "text": 0.05}
#: Hand-set P(next | class) for the unfitted classes' rows and columns (the former _T, kept).
HAND_T_UNFITTED = {
    # P(credits / art / text next | a fitted class)
    "advertisement": {"credits": 0.03, "art": 0.04, "text": 0.05},
    "cover": {"credits": 0.15, "art": 0.06, "text": 0.05},
    "story": {"credits": 0.005, "art": 0.02, "text": 0.02},
    "textstory": {"credits": 0.001, "art": 0.05, "text": 0.08},
    "first-page": {"credits": 0.01, "art": 0.01, "text": 0.01},
    "back_cover": {"credits": 0.001, "art": 0.1, "text": 0.1},
}
#: Rows of the unfitted classes: P(next | credits / art / text), hand-set.
HAND_T_ROWS = {
    "credits": dict(first_page=0.35, story=0.25, advertisement=0.2, text=0.08, art=0.05, credits=0.05,
                    textstory=0.02),
    "art": dict(art=0.3, advertisement=0.2, story=0.15, first_page=0.1, text=0.08, back_cover=0.12,
                credits=0.03, textstory=0.02),
    "text": dict(text=0.4, advertisement=0.25, story=0.1, first_page=0.08, art=0.06, back_cover=0.07,
                 textstory=0.02, credits=0.02),
}
#: Share of the inner pages' distribution mixed into the bins near the ends (not the first page):
#: a judgement, not fitted — Golden Age books end on ads, modern ones on story.
END_MIX = 0.5
#: Share of the overall class shares mixed into every row of the transitions: in CoSMo's labels a
#: story range always opens with its first page, so "ad, then story" never occurs there, while
#: modern books interrupt a story with ads; the mix bounds what a neighbour can veto (a judgement).
TRANS_MIX = 0.3
#: The same for the first page: nearly every scanned floppy opens on its cover, but collections and
#: web downloads may open on a story page.
FIRST_MIX = 0.1
_END_BINS = ("p2", "p3", "last3", "last2", "last")


def position_bin(i: int, n: int) -> str:
    """The bin of page ``i`` (0-based) of an ``n``-page book (``n`` >= 2)."""
    if i <= 0:
        return "first"
    if i >= n - 1:
        return "last"
    if i == 1:
        return "p2"
    if i == n - 2:
        return "last2"
    if i == 2:
        return "p3"
    if i == n - 3:
        return "last3"
    return INNER_BINS[min(4, int(5 * i / n))]


def _name(c: str) -> str:
    return "first-page" if c == "first_page" else c


class Prior:
    """The fitted tables over all nine classes."""

    def __init__(self, data: dict):
        self.data = data
        fitted_share = 1.0 - sum(UNFITTED.values())
        self.table = {}
        for b in BINS:
            row = np.zeros(K)
            for c, p in data["prior"][b].items():
                row[IDX[c]] = p * fitted_share
            for c, p in UNFITTED.items():
                row[IDX[c]] = p
            self.table[b] = row / row.sum()
        self.inner = np.mean([self.table[b] for b in INNER_BINS], axis=0)
        overall = np.zeros(K)
        for c, p in data["overall"].items():
            overall[IDX[c]] = p * fitted_share
        for c, p in UNFITTED.items():
            overall[IDX[c]] = p
        self._marginal = overall / overall.sum()

    def probs(self, i: int, n: int, end_mix: float = END_MIX, first_mix: float = FIRST_MIX) -> np.ndarray:
        """(K,) prior of page ``i`` of ``n``; the overall shares for a one-page book."""
        if n <= 1:
            return self._marginal.copy()
        b = position_bin(i, n)
        row = self.table[b]
        if b in _END_BINS and end_mix:
            row = (1 - end_mix) * row + end_mix * self.inner
        elif b == "first" and first_mix:
            row = (1 - first_mix) * row + first_mix * self.inner
        return row

    def marginal(self) -> np.ndarray:
        """(K,) the classes' overall shares (fitted six + :data:`UNFITTED`)."""
        return self._marginal.copy()

    def transition_matrix(self, mix: float | None = None) -> np.ndarray:
        """(K, K) P(next | class), rows sum to 1, mixed with the overall shares (:data:`TRANS_MIX`)."""
        mix = TRANS_MIX if mix is None else mix
        t = np.full((K, K), 1e-3)
        for a, row in self.data["transitions"].items():
            extra = HAND_T_UNFITTED[a]
            rest = 1.0 - sum(extra.values())
            for b, p in row.items():
                t[IDX[a], IDX[b]] = p * rest
            for b, p in extra.items():
                t[IDX[a], IDX[b]] = p
        for a, row in HAND_T_ROWS.items():
            for b, p in row.items():
                t[IDX[a], IDX[_name(b)]] = p
        t = t / t.sum(1, keepdims=True)
        return (1 - mix) * t + mix * self._marginal[None, :]


@lru_cache(maxsize=1)
def load_prior() -> Prior:
    return Prior(json.loads(PRIOR_FILE.read_text()))
