"""The standard page classifier: nine classes per page, reading the book as one sequence.

A small, readable log-linear model: where classes fall in a book (the position prior and the
transitions) is fitted on the CoSMo labels of 301 real Golden Age books (``page_prior``); the cue
weights are hand-set and were checked page by page on real scans (documented, with the reasoning
and the data behind every parameter, in ``docs/classes.md``):

1. **Cues.** Each page gives a few numbers in about ``[0, 1]`` (:func:`page_cues`): where it is in
   the book, its panel layout, how much text there is and how big it is, image statistics,
   repetition across books, and — once the text is recognised (pass 2) — groups of telling words
   (prices, order forms, indicia, credits, letters) and the MiniLM similarity of the page text to a
   few descriptions of each class.
2. **Page scores.** ``score[c] = log prior(c | position) + sum_cue value * weight[cue][c]``
   (weights are in nats: +1 makes a class e times likelier). Missing signals contribute nothing.
   Credits, art and text have no real labels behind them (every number of theirs is hand-set), so
   their cues may make a page at most 3 : 1 against the story kinds (:func:`cap_unlabelled`): by
   themselves they never make a page sure enough to drop.
3. **Sequence.** A linear-chain model over the book: page scores as unary potentials and
   ``log P(b | a) - log P(b)`` (the pointwise mutual information of consecutive classes) as pair
   potentials, so the smoothing adds only what neighbours tell (ads cluster, a first page is
   followed by story) and not the class frequencies again. Forward-backward gives each page's
   marginal probabilities. Before the chain, the last page's prior follows the printed-cover cue
   (:func:`printed_back`): a page before last that is non-story by its own look (an inside back
   cover) makes the last page a back page, as in the CoSMo books with one.

Pass 1 (no recognised lines, no text vector) uses the layout, text-amount and image cues; pass 2
adds the words, the sentence similarity and the repetition counts. Only numpy is imported; the
class-description vectors are shipped precomputed (``page_class_descriptions.npz``, checked
against the descriptions' text) and computed with MiniLM only when that file is missing.
"""

from __future__ import annotations

import hashlib
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from comicdesk.core.pages import NON_STORY, PAGE_CLASSES
from comicdesk.core.signals import PageSignals
from comicdesk.ml import page_prior as pp

VERSION = "standard-classes-4"
K = len(PAGE_CLASSES)
IDX = {c: i for i, c in enumerate(PAGE_CLASSES)}

# -- class descriptions for the sentence-similarity cue ---------------------------------------------
#: A few texts per class, written like the text such pages carry (what OCR reads), not like
#: definitions: MiniLM compares page text with page text.
DESCRIPTIONS: dict[str, tuple[str, ...]] = {
    # (written for this classifier in the voice of real pages; none repeats a phrase of our page
    # generators, tests/bench/eval_pages.py and tests/synth_pages.py)
    "advertisement": (
        "Mail this coupon now! Enclose 25c in coin or stamps. Print your name and address clearly. "
        "Satisfaction guaranteed or your money refunded.",
        "Boys! Girls! Earn big prizes selling seeds to your neighbors. Write today for your free outfit. "
        "No experience needed.",
        "Learn at home in spare time. Big pay jobs are waiting for trained men. Free book tells how. "
        "Mail postcard today.",
        "Now at your grocer: the breakfast cereal that gives you energy. Look for the secret badge "
        "inside every box.",
    ),
    "cover": (
        "Approved by the Comics Code Authority. No. 27 December 12c. All new thrilling adventures inside!",
        "Giant annual, 68 pages. Featuring the world's mightiest heroes in their greatest battle!",
        "First issue of a new monthly magazine: the most amazing stories of science and mystery.",
    ),
    "story": (
        "Hurry, men! The bridge won't hold much longer! Gasp! Who are you? You'll pay for this, you rat!",
        "Later, somewhere in the city, the gang meets in its hideout. Boss, the cops are onto us! "
        "Quiet, and listen to my plan.",
        "Wham! So you thought you could escape, eh? Not this time! Good work, partner. Let's get him to "
        "headquarters.",
    ),
    "textstory": (
        "Johnny had never seen the river so high. All night the rain had fallen, and by morning the water "
        "was lapping at the steps of the farmhouse. His father came in from the barn, shaking his head.",
        "The professor adjusted his spectacles and peered at the strange device. For three years he had "
        "searched for the answer, and now it lay before him on the table, humming softly.",
    ),
    "first-page": (
        "Introducing a new hero of the skies! In the dark days of the war one man dared to fight back. "
        "Here is his amazing story.",
        "Script, pencils, inks, colors, letters. Chapter one: the stranger from the north.",
        "The strange case of the vanishing scientist. It began on a foggy evening in the quiet town of "
        "Millbrook...",
    ),
    "credits": (
        "Published bi-monthly. Single copies ten cents. Names of characters are fictitious. Reprinted by "
        "permission. Printed in Canada.",
        "Editor in chief, managing editor, production manager, vice president of sales and marketing, "
        "publisher.",
        "Collection originally published in single magazine form. No portion of this book may be "
        "reproduced without permission. ISBN.",
    ),
    "art": (
        "Pin-up by the guest artist. Sketchbook pages and variant cover art.",
        "Cover gallery: the original covers of issues one to six.",
    ),
    "text": (
        "Our readers write: thanks for the swell magazine! When will the next one be out? Bobby, age 11, "
        "Ohio. Answer: on the newsstands in two months!",
        "A message from the publishers about the future of this magazine and what we have planned. We "
        "want to hear what you think.",
        "Check your newsstand for these titles this month: the checklist of new releases and the news "
        "from the studio.",
    ),
    "back_cover": (
        "Ask for it at your favorite candy counter. Now in the giant size bar, still only a nickel!",
        "Twelve big issues delivered to your door: subscribe now and save.",
    ),
}

_DESCRIPTIONS_FILE = Path(__file__).with_name("page_class_descriptions.npz")


def descriptions_digest() -> str:
    h = hashlib.sha256()
    for c in PAGE_CLASSES:
        for d in DESCRIPTIONS[c]:
            h.update(f"{c}\0{d}\0".encode())
    return h.hexdigest()[:16]


def embed_descriptions(encoder) -> dict[str, np.ndarray]:
    """``{class: (n, 384) unit rows}`` from a MiniLM-like ``encoder.encode(texts)``."""
    return {c: np.asarray(encoder.encode(list(DESCRIPTIONS[c])), dtype=np.float32) for c in PAGE_CLASSES}


def save_description_vectors(vectors: dict[str, np.ndarray], path: Path = _DESCRIPTIONS_FILE) -> None:
    np.savez(path, digest=np.array(descriptions_digest()),
             **{c: v.astype(np.float16) for c, v in vectors.items()})


@lru_cache(maxsize=1)
def description_vectors() -> dict[str, np.ndarray] | None:
    """The class descriptions embedded with MiniLM: the shipped file when it matches the
    descriptions, else computed once per process (MiniLM loaded lazily); None if neither works
    (the similarity cue is then left out)."""
    try:
        with np.load(_DESCRIPTIONS_FILE) as data:
            if str(data["digest"]) == descriptions_digest():
                return {c: data[c].astype(np.float32) for c in PAGE_CLASSES}
    except (OSError, KeyError, ValueError):
        pass
    try:
        from comicdesk.ml.minilm import MiniLM

        return embed_descriptions(MiniLM())
    except Exception:  # noqa: BLE001 - no MiniLM: the classifier works without this cue
        return None


# -- word groups --------------------------------------------------------------------------------
def _rx(*parts: str) -> re.Pattern:
    return re.compile("|".join(parts), re.IGNORECASE)


WORDS: dict[str, re.Pattern] = {
    # money: $1.98, 10¢, 25 cents, "price"
    "price": _rx(r"\$\s?\d", r"\d\s?¢", r"\b\d+\s?cents?\b", r"\bprice\b", r"\bonly\s+\$?\d", r"\bpostpaid\b"),
    # ordering and selling
    "order": _rx(r"\border\b", r"\bsend\b", r"\bcoupon\b", r"\benclos", r"\bmoney\s+order\b",
                 r"\bc\.?o\.?d\b", r"\bpostage\b", r"\bshipping\b", r"\bguarantee", r"\brush\b",
                 r"\bfree\b", r"\bcatalog", r"\boffer\b", r"\bdelivery\b", r"\bmail\b", r"\brefund",
                 r"\bbuy\b", r"\bsale\b", r"\bsave\b", r"\bmoney\s+back\b", r"\bbargains?\b",
                 r"\bsatisf(y|ied|action)\b"),
    # the coupon's form
    "form": _rx(r"\bname\b", r"\baddress\b", r"\bcity\b", r"\bstate\b", r"\bzip\b", r"\bage\b", r"\bdept\.?"),
    # indicia
    "indicia": _rx(r"copyright", r"©", r"\(c\)\s*\d", r"all rights reserved", r"\bpublish", r"printed in",
                   r"second[- ]class", r"postage paid", r"\btrademark", r"™", r"\bsubscription",
                   r"\binc\.", r"\bisbn\b", r"similarity .* intended"),
    # credits
    "credits": _rx(r"\bwriter\b", r"written by", r"\bscript", r"story by", r"\bpencil", r"\binks?\b",
                   r"\binker", r"\bcolou?rs?\b", r"\bcolou?rist", r"\bletter(er|ing|ed by)\b",
                   r"\beditor\b", r"editor[- ]in[- ]chief", r"cover by", r"art by", r"\bplot\b",
                   r"\bcreated by"),
    # letters pages, editorials
    "letters": _rx(r"dear editor", r"\bdear\b", r"\bletters?\b", r"write to", r"\bsincerely\b",
                   r"\bP\.S\.", r"\beditorial", r"\bnext issue\b",
                   r"\bfans?\b", r"\breaders?\b"),
    # web addresses and "in stores now": modern ads, back matter and indicia, hardly ever a story
    # panel
    "web": _rx(r"\bwww\.", r"https?://", r"\.com\b", r"\.net\b", r"\bin stores\b",
               r"\bavailable (now|at|in|wherever)\b"),
    # the end of a story, "continued"
    "story_end": _rx(r"the end\b", r"\bcontinued\b", r"\bto be continued"),
}


def word_counts(text: str) -> dict[str, int]:
    return {name: len(rx.findall(text)) for name, rx in WORDS.items()}


# -- cues ---------------------------------------------------------------------------------------------
def _clip(x: float, lo: float = 0.0, hi: float = 1.0) -> float:
    return lo if x < lo else min(x, hi)


def _ramp(x: float, a: float, b: float) -> float:
    """0 at ``a``, 1 at ``b`` (linear in between, clipped)."""
    return _clip((x - a) / (b - a))


def _page_area(p: PageSignals) -> float:
    if p.width and p.height:
        return float(p.width * p.height)
    boxes = list(p.panels) + list(p.text_boxes)
    if not boxes:
        return 1.0
    return float(max(x + w for x, y, w, h in boxes) * max(y + h for x, y, w, h in boxes)) or 1.0


def _stat(p: PageSignals, name: str) -> float | None:
    v = (p.stats or {}).get(name)
    try:
        v = float(v)
    except (TypeError, ValueError):
        return None
    return v if math.isfinite(v) else None


def page_cues(p: PageSignals) -> dict[str, float]:
    """The cues of one page (name -> value, mostly in [0, 1]); a cue whose signal is missing is
    left out. Position cues need ``n_pages`` > 1."""
    c: dict[str, float] = {}
    n, i = max(1, p.n_pages), p.index
    if n > 1:
        c["first"] = float(i == 0)
        c["last"] = float(i == n - 1)
        # the last page is an outside back cover when it looks like a cover (one picture, ink to
        # the edges), not because it is last: modern books end on story (set below)
        c["inner"] = float(0 < i < n - 1)
        c["early"] = float(1 <= i <= 3 and i < n - 1)
        c["late"] = _ramp(i / (n - 1), 0.25, 0.6) if 0 < i < n - 1 else 0.0
    area = _page_area(p)
    page_h = float(p.height) if p.height else math.sqrt(area * 1.5)
    # On a thumbnail-sized page (a few hundred pixels) lettering is too small to detect and panel
    # borders blur, so "no text / one panel found" says little: those cues are scaled by ``seen``.
    seen = _ramp(math.sqrt(area), 150, 400)
    # panels
    panels = list(p.panels or [])
    n_panels = len(panels)
    if panels:
        largest = max(w * h for x, y, w, h in panels) / area
        c["panels_many"] = _ramp(n_panels, 2, 5)
        # one panel found on a thumbnail-sized page is as likely a detection that failed
        c["panel_single"] = float(n_panels <= 1 or largest >= 0.8) * seen
        c["panels_two"] = float(n_panels == 2 and largest < 0.8)
    # text amount and size
    boxes = list(p.text_boxes or [])
    n_lines = len(boxes)
    page_w = float(p.width) if p.width else area / page_h
    cov = p.text_coverage
    if cov is None and boxes:
        cov = min(1.0, sum(w * h for x, y, w, h in boxes) / area)
    cov = cov or 0.0
    # "no text": at most one line found and almost no page covered by text (a title the detector
    # read as one box still covers the page)
    c["text_none"] = float(n_lines <= 1) * (1 - _ramp(cov, 0.01, 0.04)) * seen
    c["text_some"] = _ramp(n_lines, 2, 8) * (1 - _ramp(n_lines, 25, 45)) * seen
    c["text_dense"] = max(_ramp(n_lines, 25, 50), _ramp(cov, 0.15, 0.3)) * seen
    c["text_block"] = _ramp(cov, 0.06, 0.12) * (1 - _ramp(cov, 0.25, 0.4)) * seen
    if boxes:
        heights = sorted(h for x, y, w, h in boxes)
        big = heights[-1] / page_h
        c["text_big"] = _ramp(big, 0.035, 0.08)
        c["text_huge"] = _ramp(big, 0.07, 0.12)
        # lines in regular rows (prose, lists): many lines of nearly one height
        med = heights[len(heights) // 2]
        regular = sum(1 for h in heights if abs(h - med) <= 0.25 * med) / n_lines
        c["text_regular"] = regular * _ramp(n_lines, 10, 25)
        # long lines (columns of prose, copy, indicia) rather than balloon-sized ones
        wide = sum(1 for x, y, w, h in boxes if w > 0.35 * page_w) / n_lines
        c["text_wide"] = wide * _ramp(n_lines, 3, 8)
    # image statistics (comicdesk.ml.page_stats: fractions in [0, 1]; colourfulness = Hasler &
    # Suesstrunk's M / 100: ~0.1 for a black-and-white page, 0.4-0.8 for a colour cover)
    white = _stat(p, "white")
    if white is not None:
        c["white"] = _ramp(white, 0.35, 0.75)
        c["no_white"] = 1.0 - _ramp(white, 0.03, 0.15)
    colour = _stat(p, "colourfulness")
    if colour is not None:
        c["colourful"] = _ramp(colour, 0.25, 0.7)
        c["grey"] = 1.0 - _ramp(colour, 0.08, 0.2)
    if c.get("last") and "panel_single" in c and "white" in c:
        # one picture, not a white page, not much text (a page of captions is a feature, not a cover)
        c["last_cover_look"] = c["panel_single"] * (1 - c["white"]) * (1 - c.get("text_dense", 0.0))
    # repetition (pass 2: loaded from the library)
    if p.repeats_other_books:
        c["repeated"] = _ramp(p.repeats_other_books, 0, 2)
    if p.repeats_within_book:
        c["repeated_within"] = 1.0
    # words (pass 2)
    if p.lines is not None:
        text = p.text
        words = len(text.split())
        counts = word_counts(text)
        c["price"] = _ramp(counts["price"], 0, 2)
        c["order"] = _ramp(counts["order"], 0, 4)
        c["form"] = _ramp(counts["form"], 1, 4)
        c["indicia"] = _ramp(counts["indicia"], 0, 3)
        c["credits_words"] = _ramp(counts["credits"], 1, 4)
        c["letters"] = _ramp(counts["letters"], 1, 5)
        c["story_end"] = _ramp(counts["story_end"], 0, 1)
        c["web"] = _ramp(counts["web"], 0, 2)
        # plenty of text read and not one price, order or coupon word: not an ad (captions and
        # one-page features are text-heavy too, but they sell nothing)
        c["no_ad_words"] = _ramp(words, 30, 100) * (1 - max(c["price"], c["order"], c["form"], c["web"]))
        c["prose"] = _ramp(words, 120, 300)
        # few words read from a page with a moderate number of lines: titles and captions, not
        # the columns of a letters page or a text story (a page with many lines but few words is
        # one the OCR could not read, and says nothing)
        c["few_words"] = (1 - _ramp(words, 60, 150)) * (1 - _ramp(n_lines, 30, 60))
        c["exclaim"] = _ramp(text.count("!") + text.count("?"), 2, 8) * (1 - _ramp(words, 200, 400))
        sims = _class_similarity(p, words)
        if sims is not None:
            for k, s in enumerate(sims):
                c[f"sim:{PAGE_CLASSES[k]}"] = s
    return c


def _class_similarity(p: PageSignals, words: int) -> np.ndarray | None:
    """Per class: max cosine of the page text to its descriptions, minus the mean over classes,
    scaled by how much text there is (a few OCR'd words are noise)."""
    if p.text_vec is None or words < 4:
        return None
    v = np.asarray(p.text_vec, dtype=np.float32).reshape(-1)
    norm = float(np.linalg.norm(v))
    if norm < 1e-6:
        return None
    desc = description_vectors()
    if desc is None:
        return None
    v = v / norm
    s = np.array([float(np.max(desc[c] @ v)) for c in PAGE_CLASSES])
    return (s - s.mean()) * _ramp(words, 4, 30)


# -- weights (nats) -----------------------------------------------------------------------------------
def _w(**kw: float) -> np.ndarray:
    out = np.zeros(K)
    for name, v in kw.items():
        out[IDX[name.replace("_", "-") if name == "first_page" else name]] = v
    return out


#: The class prior by position (``page_prior``: fitted on 301 real Golden Age books; credits, art
#: and text keep hand-set shares) replaces a constant bias; ``PRIOR`` is its overall shares.
PRIOR = {c: float(p) for c, p in zip(PAGE_CLASSES, pp.load_prior().marginal())}
BIAS = np.log(np.array([PRIOR[c] for c in PAGE_CLASSES]))


def position_bias(i: int, n: int) -> np.ndarray:
    """(K,) log prior of page ``i`` of an ``n``-page book (fitted per position bin)."""
    return np.log(pp.load_prior().probs(i, n))


#: cue -> per-class weight (nats). Read as "this cue makes these classes likelier/unlikelier".
WEIGHTS: dict[str, np.ndarray] = {
    # position: the fitted prior (``position_bias``) says where covers, ads, first pages and text
    # stories fall; these hand-set weights remain only for the classes the fit has no labels for
    "first": _w(credits=-0.5),
    "last": _w(art=-1.0),
    "last_cover_look": _w(back_cover=3.5),
    "early": _w(credits=0.8),
    "late": _w(credits=-0.6, text=0.6, art=0.3),
    # panel layout
    "panels_many": _w(story=2.5, first_page=1.5, textstory=-1.0, text=-1.5, art=-2.5, cover=-2.0,
                      credits=-1.5, back_cover=-1.5, advertisement=-0.5),
    "panels_two": _w(advertisement=0.5, first_page=0.3),
    "panel_single": _w(cover=1.2, art=1.5, back_cover=1.0, advertisement=0.5, text=0.5, textstory=0.5,
                       credits=0.5, story=-1.5, first_page=-1.0),
    # text amount and size
    "text_none": _w(art=2.0, cover=0.3, back_cover=0.3, text=-3.0, textstory=-3.0, credits=-2.0,
                    advertisement=-1.0, first_page=-1.0, story=-0.5),
    "text_some": _w(story=0.3, advertisement=0.3, art=-1.0),
    "text_dense": _w(textstory=1.5, text=1.5, credits=0.5, advertisement=0.3, story=-0.5, art=-3.0,
                     cover=-2.5, first_page=-0.3),
    "text_regular": _w(textstory=1.0, text=1.0, credits=0.3, story=-0.5),
    # (caption boxes and one-page features cover as much of a real story page as ad copy does)
    "text_block": _w(advertisement=0.4, credits=0.3, back_cover=0.3, story=-0.3),
    # (balloon lines are short, but the caption boxes of older books run wide)
    "text_wide": _w(text=1.5, textstory=1.5, credits=1.0, advertisement=0.6, back_cover=0.5, cover=0.3,
                    story=-1.0, first_page=-0.3),
    "text_big": _w(cover=0.8, first_page=0.8, advertisement=0.6, back_cover=0.4),
    # (a story's title splash has the biggest letters inside a book; pin-ups have hardly any)
    "text_huge": _w(cover=1.0, advertisement=0.4, first_page=1.0, art=-0.5),
    # image statistics
    "white": _w(text=1.0, textstory=1.0, credits=1.0, cover=-1.5, back_cover=-0.5, art=-0.3),
    "no_white": _w(cover=0.8, art=0.5, back_cover=0.5, text=-1.0, textstory=-1.0, credits=-1.0),
    "colourful": _w(cover=0.6, art=0.4, back_cover=0.3, text=-0.6, credits=-0.6, textstory=-0.6),
    "grey": _w(text=0.4, credits=0.4, textstory=0.4, cover=-0.5),
    # a one-colour page in a colour book: inside covers and back pages (book_cues)
    "greyer_than_book": _w(advertisement=1.5, text=1.0, credits=1.0, textstory=0.5, back_cover=0.8,
                           story=-0.5, first_page=-0.5),
    # repetition across books: ads and house ads are printed in many issues
    "repeated": _w(advertisement=2.5, back_cover=1.5, art=0.3, story=-1.5, first_page=-1.5, cover=-2.0,
                   textstory=-1.0, text=-0.3),
    "repeated_within": _w(advertisement=0.5, art=0.3),
    # words (pass 2)
    # (an outside back cover is most often an ad: ad words are nearly as likely there, and its
    # position decides)
    # (prose tells stories, it does not quote prices or ask for a name and address)
    "price": _w(advertisement=1.5, back_cover=1.3, cover=0.3, textstory=-0.8, text=-0.3),
    "order": _w(advertisement=2.0, back_cover=1.8, text=-0.2, textstory=-0.5),
    "form": _w(advertisement=1.0, back_cover=0.9, textstory=-0.5, text=-0.3),
    "indicia": _w(credits=3.5, advertisement=-1.0, back_cover=-0.5),
    "credits_words": _w(credits=1.5, first_page=1.5, story=-0.3),
    "letters": _w(text=2.0, credits=0.2),
    "story_end": _w(story=0.8, textstory=0.8),
    "web": _w(advertisement=1.0, back_cover=0.8, credits=0.5, text=0.5, story=-0.5, first_page=-0.3),
    "no_ad_words": _w(advertisement=-3.0, back_cover=-1.5),
    "prose": _w(textstory=1.0, text=1.0, story=-1.0),
    "few_words": _w(text=-1.5, textstory=-1.5),
    "exclaim": _w(story=0.6, first_page=0.4, advertisement=0.2),
}
#: The sentence-similarity cue: nats per unit of cosine above the classes' mean.
SIM_WEIGHT = 10.0

# -- sequence model -------------------------------------------------------------------------------------
#: P(next class | class), rows in PAGE_CLASSES order: fitted on the same books (ads come in runs,
#: a first page is followed by story or, for one-page features, by another first page); the
#: credits, art and text rows and columns are hand-set (``page_prior``).
TRANSITIONS = pp.load_prior().transition_matrix()
#: Pair potential: pointwise mutual information log P(b|a) - log P(b) (P(b) = the overall shares),
#: so smoothing says what neighbours add, not the class frequencies again.
PAIR = np.log(TRANSITIONS) - BIAS[None, :]
#: Weight of the pair potential (fitted with the prior: the position-only chain's likelihood on
#: the training books).
PAIR_WEIGHT = float(pp.load_prior().data.get("pair_weight", 0.7))
#: Softmax temperature of the final marginals (>1 softens the hand-set cue weights' overconfidence).
TEMPERATURE = 1.3


@dataclass(frozen=True)
class BookScores:
    """What :func:`score_book` computed: per-page scores before and marginals after smoothing."""

    unary: np.ndarray  # (n, K) page scores (nats)
    probs: np.ndarray  # (n, K) marginals


def book_cues(pages: Sequence[PageSignals]) -> list[dict[str, float]]:
    """Cues that compare a page with the rest of its book (one dict per page):

    - ``greyer_than_book``: a page much less colourful than the book's median page (a colour book
      prints its inside covers and back pages — ads, indicia, letters, text stories — in one
      colour); nothing in a black-and-white book, or in a book of fewer than 8 pages.
    """
    out: list[dict[str, float]] = [{} for _ in pages]
    colours = [_stat(p, "colourfulness") for p in pages]
    known = [c for c in colours if c is not None]
    if len(known) < 8:
        return out
    median = float(np.median(known))
    if median < 0.25:  # a black-and-white (or barely tinted) book
        return out
    for i, c in enumerate(colours):
        if c is not None:
            out[i]["greyer_than_book"] = _ramp(median - c, 0.1, 0.2)
    return out


def page_scores(pages: Sequence[PageSignals]) -> np.ndarray:
    """(n, K) page scores before smoothing."""
    out = np.tile(BIAS, (len(pages), 1))
    context = book_cues(pages)
    for i, p in enumerate(pages):
        if p.n_pages > 1:
            out[i] = position_bias(p.index, p.n_pages)
        if p.bad:
            continue
        for name, v in {**page_cues(p), **context[i]}.items():
            if name.startswith("sim:"):
                out[i, IDX[name[4:]]] += SIM_WEIGHT * v
            elif v and name in WEIGHTS:  # (a cue only the head reads, e.g. "inner")
                out[i] += v * WEIGHTS[name]
    return out


def _logsumexp(a: np.ndarray, axis: int) -> np.ndarray:
    m = np.max(a, axis=axis, keepdims=True)
    return np.squeeze(m, axis) + np.log(np.sum(np.exp(a - m), axis=axis))


def smooth(unary: np.ndarray, pair: np.ndarray | None = None, pair_weight: float = PAIR_WEIGHT,
           temperature: float = TEMPERATURE) -> np.ndarray:
    """Marginals of the linear chain (forward-backward in log space): ``(n, K)``, rows sum to 1."""
    pair = PAIR if pair is None else pair
    n = unary.shape[0]
    if n == 0:
        return np.zeros((0, K))
    u = unary / temperature
    pw = pair_weight * pair / temperature
    fwd = np.zeros_like(u)
    bwd = np.zeros_like(u)
    fwd[0] = u[0]
    for t in range(1, n):
        fwd[t] = u[t] + _logsumexp(fwd[t - 1][:, None] + pw, axis=0)
    for t in range(n - 2, -1, -1):
        bwd[t] = _logsumexp(pw + (u[t + 1] + bwd[t + 1])[None, :], axis=1)
    post = fwd + bwd
    post -= post.max(1, keepdims=True)
    p = np.exp(post)
    return p / p.sum(1, keepdims=True)


#: Where a printed book's inside back cover sits (``page_prior.json`` "printed_covers", fitted on
#: the CoSMo training books by ``tests/bench/fit_page_prior.py``): the last page's class shares in
#: books whose page before last is an ad or a cover (254 of 301 books: 0.4 % of their last pages
#: are story pages, against 57 % in the other 47; validation 0 of 32 against 5 of 11). The
#: unfitted classes keep their hand-set shares, as in every bin.
PRINTED_CLASSES = tuple(c for c in PAGE_CLASSES if c in NON_STORY)


def _printed_last_row() -> np.ndarray | None:
    data = pp.load_prior().data.get("printed_covers")
    if not data:
        return None
    row = np.zeros(K)
    fitted_share = 1.0 - sum(pp.UNFITTED.values())
    for c, v in data["printed"]["last"].items():
        row[IDX[c]] = v * fitted_share
    for c, v in pp.UNFITTED.items():
        row[IDX[c]] = v
    return row / row.sum()


PRINTED_LAST = _printed_last_row()


def printed_back(unary: np.ndarray, pages: Sequence[PageSignals]) -> float:
    """How much the page before last looks like an inside back cover (an ad or a cover) by itself:
    its page score with the position prior swapped for the inner pages' (so the Golden Age habit of
    ads at the back does not vote for itself), at the chain's temperature. 0 for a book of fewer
    than 4 pages, a bad page before last, or pages not given as the whole book."""
    n = len(pages)
    if n < 4 or PRINTED_LAST is None:
        return 0.0
    pen, last = pages[-2], pages[-1]
    if pen.bad or last.n_pages != n or last.index != n - 1 or pen.index != n - 2:
        return 0.0
    z = (unary[-2] - position_bias(n - 2, n) + np.log(pp.load_prior().inner)) / TEMPERATURE
    p = np.exp(z - z.max())
    p /= p.sum()
    return float(sum(p[IDX[c]] for c in PRINTED_CLASSES))


#: Classes no real label stands behind (CoSMo labels none of them; their cue weights, position
#: weights, prior shares and transitions are all hand-set): ``page_prior.UNFITTED``.
UNLABELLED_CLASSES = tuple(c for c in PAGE_CLASSES if c in pp.UNFITTED)
#: At most this many times likelier than the story kinds may a page's own look make it one of the
#: :data:`UNLABELLED_CLASSES` (odds after the chain's temperature, before the position prior and
#: the neighbours): 3 : 1, so that hand-set cues alone leave such a page at p <= 0.75 against the
#: story kinds — below every sure threshold of the sweep (t - 0.05 = 0.85) — and only the fitted
#: prior or a neighbour can make it sure. A judgement, not fitted (docs/classes.md).
UNLABELLED_ODDS = 3.0


def cap_unlabelled(unary: np.ndarray, pages: Sequence[PageSignals]) -> np.ndarray:
    """The page scores with the unlabelled classes' (credits, art, text) hand-set evidence capped
    at :data:`UNLABELLED_ODDS` against the story kinds. Per page: the look is the score less its
    position prior; when the three classes' look together (their log-sum-exp) exceeds the look of
    the story kind the page looks most like by more than ``TEMPERATURE x log(UNLABELLED_ODDS)``
    nats, they are lowered together to that. What the cap takes off the non-story side as a whole (its log-sum-exp before and after)
    is taken off every non-story class alike, so the cap moves a page towards the story kinds but
    leaves the shares among the non-story classes as the cues said (an indicia page that is sure
    non-story by its ad-like words too stays credits). A bad page is left as it is."""
    out = unary.copy()
    cap = TEMPERATURE * math.log(UNLABELLED_ODDS)
    story = [IDX[c] for c in PAGE_CLASSES if c not in NON_STORY]
    non = [IDX[c] for c in PAGE_CLASSES if c in NON_STORY]
    unl = [IDX[c] for c in UNLABELLED_CLASSES]
    for i, p in enumerate(pages):
        if p.bad:
            continue
        prior = position_bias(p.index, p.n_pages) if p.n_pages > 1 else BIAS
        look = unary[i] - prior
        over = float(_logsumexp(look[unl], axis=0) - np.max(look[story])) - cap
        if over <= 0:
            continue
        capped = unary[i].copy()
        capped[unl] -= over
        drop = float(_logsumexp(unary[i][non], axis=0) - _logsumexp(capped[non], axis=0))
        if drop > 0:
            out[i, non] -= drop
    return out


def score_book(pages: Sequence[PageSignals]) -> BookScores:
    """Page scores, with the unlabelled classes' look capped (:func:`cap_unlabelled`), then the
    printed-cover cue on the last page's prior (:func:`printed_back`: the last bin becomes ``e x
    PRINTED_LAST + (1 - e) x`` the mixed bin), then the chain."""
    unary = cap_unlabelled(page_scores(pages), pages)
    e = printed_back(unary, pages)
    if e > 0:
        n = len(pages)
        mixed = pp.load_prior().probs(n - 1, n)
        unary = unary.copy()
        unary[-1] += np.log(e * PRINTED_LAST + (1 - e) * mixed) - np.log(mixed)
    return BookScores(unary, smooth(unary))


def probs_to_dicts(probs: np.ndarray) -> list[dict[str, float]]:
    return [{c: float(round(v, 6)) for c, v in zip(PAGE_CLASSES, row)} for row in probs]


def classify_book(pages: list[PageSignals]) -> list[dict[str, float]]:
    """Probabilities over the nine classes (``PAGE_CLASSES`` order) for each page of a book, the
    pages given in book order. A bad page gets the smoothed guess from its neighbours."""
    if not pages:
        return []
    return probs_to_dicts(score_book(pages).probs)


def top_label(probs: dict[str, float]) -> str:
    return max(PAGE_CLASSES, key=lambda c: probs.get(c, 0.0))
