"""Fit the page classifier's position prior and transitions on the CoSMo page-stream labels.

    python tests/bench/fit_page_prior.py [--labels ../shared/fixtures/real/cosmo-labels] [--write]

Data: ``comics_train.json`` (301 Golden Age books, MIT, from mserra0/CoSMo-ComicsPSS) for the fit,
``comics_val.json`` (43 books) for the report; each record's own ``split`` field is ignored.
Reading a record: the first page of a story range is ``first-page``, the rest ``story``; text
story ranges ``textstory``; ad ranges ``advertisement``; a cover range page at the book's last
labelled index is ``back_cover``, any other cover page ``cover``. Pages in no range are unlabelled
and left out of every count and every likelihood. The book's length is its last labelled index
+ 1 (the scans' trailing pages are often unlabelled). ``credits``, ``art`` and ``text`` are not
labelled in these records: their prior (and the hand-set position weights for them) stays as it
was, and the six fitted classes share the rest of the probability.

Fitted:
- ``prior[bin][class]``: the class shares in each position bin (:func:`comicdesk.ml.page_prior.
  position_bin`: first page, pages 2 and 3, the last three pages, and five bins of relative
  position for the rest), with add-``ALPHA`` smoothing towards the overall shares;
- ``transitions[a][b]``: P(next labelled class | class) over consecutive labelled pages, add-0.5.

- ``printed_covers``: the last page of a book that shows a printed inside back cover — the page
  before last not a story page (an ad or a cover, :data:`PRINTED`) — P(last page's class) over
  those training books (add-``ALPHA`` towards the last-bin shares of all books); the other books'
  shares as a report. The classifier puts this row in place of the mixed last bin in proportion
  to how non-story the page before last looks by itself (``page_classes.printed_back``).

Shipped (``--write``) as ``comicdesk/ml/page_prior.json``; the classifier mixes each bin with the
inner pages' shares (``page_prior.END_MIX``) so a Golden Age habit — the last pages are ads —
does not decide a modern book's last page by itself. Reported on validation: per-page
log-likelihood and accuracy of the position-only model (and of the position-only chain: the
prior plus the transitions, no page cues), fitted vs today's hand-set ``PRIOR``/position
weights/``TRANSITIONS``, probabilities renormalised over the six labelled classes. Ends with one
JSON line.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter, defaultdict
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

from comicdesk.core.pages import PAGE_CLASSES  # noqa: E402
from comicdesk.ml import page_prior as pp  # noqa: E402

LABELLED = ("cover", "advertisement", "story", "first-page", "textstory", "back_cover")
#: add-ALPHA smoothing of each position bin towards the overall shares (in pages)
ALPHA = 2.0
DEFAULT_LABELS = REPO.parent / "shared" / "fixtures" / "real" / "cosmo-labels"


def book_labels(record: dict) -> tuple[dict[int, str], int]:
    """``({page index: class}, book length)`` of one CoSMo record, read as the module says."""
    lab: dict[int, str] = {}
    for s in record.get("stories", ()):
        for i in range(s["page_start"], s["page_end"] + 1):
            lab[i] = "first-page" if i == s["page_start"] else "story"
    for s in record.get("textstories", ()):
        for i in range(s["page_start"], s["page_end"] + 1):
            lab[i] = "textstory"
    for s in record.get("advertisements", ()):
        for i in range(s["page_start"], s["page_end"] + 1):
            lab[i] = "advertisement"
    for s in record.get("covers", ()):
        for i in range(s["page_start"], s["page_end"] + 1):
            lab[i] = "cover"
    if not lab:
        return {}, 0
    last = max(lab)
    if lab[last] == "cover":
        lab[last] = "back_cover"
    return lab, last + 1


def load(path: Path) -> list[tuple[dict[int, str], int]]:
    return [b for b in (book_labels(r) for r in json.loads(path.read_text())) if b[1] > 0]


#: CoSMo's non-story classes: an inside cover is one of them (CoSMo has no credits, art or text)
PRINTED = ("advertisement", "cover", "back_cover")
STORY_KINDS = ("story", "first-page", "textstory")


def printed_back(lab: dict[int, str], n: int) -> bool:
    """The last page but one is not a story page: an inside back cover (the cue the classifier uses)."""
    return lab.get(n - 2) in PRINTED


def printed_front(lab: dict[int, str], n: int) -> bool:
    """Page 1 a cover and page 2 an inside front cover (reported, not used: see ``printed_report``)."""
    return lab.get(0) == "cover" and lab.get(1) in PRINTED


def fit_printed(books, base_last: dict[str, float], cond=printed_back) -> dict:
    """The last page's class shares in books of 4+ pages with the cue (``printed``) and without it
    (``other``, where the page before last is labelled but not non-story), add-``ALPHA`` towards
    ``base_last``; ``last_story_kind`` is the raw share of story-kind last pages."""
    out = {}
    for name, keep in (("printed", True), ("other", False)):
        group = [lab[n - 1] for lab, n in books
                 if n >= 4 and (n - 2) in lab and cond(lab, n) == keep]
        cnt = Counter(group)
        m = len(group)
        out[name] = {"books": m, "last": {c: max(1e-5, round((cnt[c] + ALPHA * base_last[c]) / (m + ALPHA), 6))
                                          for c in LABELLED},
                     "last_story_kind": round(sum(cnt[c] for c in STORY_KINDS) / max(1, m), 4)}
    return out


def fit(books) -> dict:
    counts: dict[str, Counter] = defaultdict(Counter)
    overall: Counter = Counter()
    pairs: dict[str, Counter] = defaultdict(Counter)
    for lab, n in books:
        for i, c in lab.items():
            counts[pp.position_bin(i, n)][c] += 1
            overall[c] += 1
            if i + 1 in lab:
                pairs[c][lab[i + 1]] += 1
    total = sum(overall.values())
    base = {c: overall[c] / total for c in LABELLED}
    prior = {}
    for b in pp.BINS:
        m = sum(counts[b].values())
        prior[b] = {c: max(1e-5, round((counts[b][c] + ALPHA * base[c]) / (m + ALPHA), 6)) for c in LABELLED}
    trans = {}
    for a in LABELLED:
        m = sum(pairs[a].values())
        trans[a] = {c: round((pairs[a][c] + 0.5) / (m + 0.5 * len(LABELLED)), 5) for c in LABELLED}
    out = {"source": "CoSMo page-stream labels (MIT, mserra0/CoSMo-ComicsPSS), comics_train.json",
            "books": len(books), "pages": total, "alpha": ALPHA, "overall": {c: round(base[c], 5) for c in LABELLED},
            "bin_pages": {b: sum(counts[b].values()) for b in pp.BINS}, "prior": prior, "transitions": trans}
    last_all = Counter(lab[n - 1] for lab, n in books if (n - 1) in lab)
    m_last = sum(last_all.values())
    out["printed_covers"] = {"condition": "the last page but one is " + " / ".join(PRINTED),
                             **fit_printed(books, {c: last_all[c] / m_last for c in LABELLED})}
    # the pair potential's weight: the position-only chain's log-likelihood on the training books
    table = pp.Prior(out)
    pair = np.log(table.transition_matrix(mix=0.0)) - np.log(table.marginal())[None, :]
    grid = [round(0.1 * k, 1) for k in range(11)]
    lls = [_score(books, lambda n: np.log(np.stack([table.probs(i, n) for i in range(n)])),
                  lambda u, w=w: _smooth(u, pair, w))["loglik_per_page"] for w in grid]
    out["pair_weight"] = grid[int(np.argmax(lls))]
    out["pair_weight_train_loglik"] = dict(zip(map(str, grid), lls))
    return out


def _smooth(u, pair, w):
    from comicdesk.ml import page_classes as pc

    return pc.smooth(u, pair=pair, pair_weight=w, temperature=1.0)


# -- evaluation ------------------------------------------------------------------------------------
SIX = [PAGE_CLASSES.index(c) for c in LABELLED]


def _score(books, unary_fn, chain_fn=None) -> dict:
    ll, right, n = 0.0, 0, 0
    for lab, length in books:
        u = unary_fn(length)
        probs = chain_fn(u) if chain_fn is not None else np.exp(u - u.max(1, keepdims=True))
        probs = probs[:, SIX]
        probs = probs / probs.sum(1, keepdims=True)
        for i, c in lab.items():
            k = LABELLED.index(c)
            ll += float(np.log(max(probs[i, k], 1e-9)))
            right += int(np.argmax(probs[i]) == k)
            n += 1
    return {"pages": n, "loglik_per_page": round(ll / n, 4), "accuracy": round(right / n, 4)}


# Today's (standard-classes-1) hand-set position model, kept here for the comparison.
HAND_PRIOR = {"advertisement": 0.15, "cover": 0.04, "story": 0.58, "textstory": 0.02, "first-page": 0.05,
              "credits": 0.03, "art": 0.04, "text": 0.05, "back_cover": 0.04}
HAND_POSITION = {
    "first": dict(cover=5.0, first_page=0.8, credits=-0.5, back_cover=-4.0, story=-1.0, advertisement=-1.0),
    "last": dict(back_cover=5.0, cover=-3.0, first_page=-3.0, story=-1.0, advertisement=-2.0, art=-1.0),
    "inner": dict(cover=-3.0, back_cover=-5.0),
    "early": dict(first_page=1.2, credits=0.8, advertisement=0.3),
    "late": dict(first_page=-1.2, credits=-0.6, text=0.6, textstory=0.4, art=0.3),
}
HAND_T = {
    "advertisement": dict(advertisement=0.45, story=0.25, first_page=0.10, text=0.05, art=0.04, credits=0.03,
                          textstory=0.02, back_cover=0.06),
    "cover": dict(advertisement=0.25, story=0.15, first_page=0.30, credits=0.15, art=0.06, text=0.05,
                  textstory=0.02, cover=0.02),
    "story": dict(story=0.82, advertisement=0.09, first_page=0.02, text=0.02, textstory=0.01, art=0.02,
                  credits=0.005, back_cover=0.015),
    "textstory": dict(textstory=0.55, story=0.1, advertisement=0.15, text=0.08, art=0.05, first_page=0.04,
                      back_cover=0.03),
    "first-page": dict(story=0.88, advertisement=0.07, text=0.01, art=0.01, textstory=0.02, credits=0.01),
    **pp.HAND_T_ROWS,
}
HAND_PAIR_WEIGHT, HAND_TEMPERATURE = 0.7, 1.3


def _vec(d: dict) -> np.ndarray:
    out = np.zeros(len(PAGE_CLASSES))
    for c, v in d.items():
        out[PAGE_CLASSES.index(pp._name(c))] = v
    return out


def hand_unary(length: int) -> np.ndarray:
    """Today's hand-set position model: log PRIOR + the position cues' weights."""
    out = np.tile(np.log(_vec(HAND_PRIOR)), (length, 1))
    for i in range(length):
        n, cues = length, {}
        if n > 1:
            cues = {"first": i == 0, "last": i == n - 1, "inner": 0 < i < n - 1,
                    "early": 1 <= i <= 3 and i < n - 1,
                    "late": min(1.0, max(0.0, (i / (n - 1) - 0.25) / 0.35)) if 0 < i < n - 1 else 0.0}
        for name, v in cues.items():
            out[i] += float(v) * _vec(HAND_POSITION[name])
    return out


def hand_pair() -> np.ndarray:
    t = np.full((len(PAGE_CLASSES),) * 2, 1e-3)
    for a, row in HAND_T.items():
        for b, p in row.items():
            t[PAGE_CLASSES.index(a), PAGE_CLASSES.index(pp._name(b))] = p
    t /= t.sum(1, keepdims=True)
    return np.log(t) - np.log(_vec(HAND_PRIOR))[None, :]


def printed_report(fitted: dict, train, val) -> dict:
    """The printed-cover cue on train and validation: the last page's story-kind share with and
    without an inside back cover (and, for comparison, with and without a printed front: page 1 a
    cover, page 2 non-story), and the validation books' last pages scored by the shipped last bin
    (mixed), by the printed row where the page before last is labelled non-story (the labels as the
    evidence: the cue at its strongest), and by the unmixed last bin."""
    table = pp.Prior(fitted)
    row = np.array([fitted["printed_covers"]["printed"]["last"].get(c, 0.0) for c in LABELLED])
    six = lambda v: v[SIX] / v[SIX].sum()  # noqa: E731
    flat = {c: 1 / len(LABELLED) for c in LABELLED}
    out = {"condition": fitted["printed_covers"]["condition"],
           "train": {k: fitted["printed_covers"][k] for k in ("printed", "other")},
           "val": fit_printed(val, flat),
           "front_train": fit_printed(train, flat, printed_front),
           "front_val": fit_printed(val, flat, printed_front)}
    models = {
        f"shipped last bin (END_MIX {pp.END_MIX})": lambda lab, n: six(table.probs(n - 1, n)),
        "printed row where the page before last is non-story, else shipped": (
            lambda lab, n: row / row.sum() if printed_back(lab, n) else six(table.probs(n - 1, n))),
        "unmixed last bin (every book a Golden Age floppy)": lambda lab, n: six(table.probs(n - 1, n, end_mix=0.0)),
    }
    out["last_page_val"] = {}
    story = [LABELLED.index(c) for c in STORY_KINDS]
    books = [(lab, n) for lab, n in val if n >= 4]
    for name, fn in models.items():
        ll, right, ps = 0.0, 0, []
        for lab, n in books:
            p = fn(lab, n)
            k = LABELLED.index(lab[n - 1])
            ll += float(np.log(max(p[k], 1e-9)))
            right += int(np.argmax(p) == k)
            ps.append(float(p[story].sum()))
        out["last_page_val"][name] = {"books": len(books), "loglik": round(ll / len(books), 4),
                                      "accuracy": round(right / len(books), 4),
                                      "p_story_kinds": round(float(np.mean(ps)), 4)}
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--labels", type=Path, default=DEFAULT_LABELS)
    ap.add_argument("--write", action="store_true", help=f"write {pp.PRIOR_FILE.relative_to(REPO)}")
    args = ap.parse_args()
    train = load(args.labels / "comics_train.json")
    val = load(args.labels / "comics_val.json")
    fitted = fit(train)
    if args.write:
        pp.PRIOR_FILE.write_text(json.dumps(fitted, indent=1) + "\n")
        pp.load_prior.cache_clear()
        print(f"wrote {pp.PRIOR_FILE}")
    from comicdesk.ml import page_classes as pc

    table = pp.Prior(fitted)
    results = {}
    for name, mix in (("fitted, no mix", 0.0),
                      (f"fitted, END_MIX {pp.END_MIX}, FIRST_MIX {pp.FIRST_MIX}, TRANS_MIX {pp.TRANS_MIX}", pp.END_MIX)):
        def unary(length, mix=mix):
            return np.log(np.stack([table.probs(i, length, end_mix=mix, first_mix=mix and pp.FIRST_MIX) for i in range(length)]))

        pair = np.log(table.transition_matrix(mix=mix and pp.TRANS_MIX)) - np.log(table.marginal())[None, :]
        results[name] = {
            "position": _score(val, unary),
            "chain": _score(val, unary, lambda u: _smooth(u, pair, fitted["pair_weight"])),
        }
    # does the book's length add anything beyond relative position? one table per length group
    # (<= 40 and > 40 labelled pages), position only, no mix
    split = 40
    short, long_ = fit([b for b in train if b[1] <= split]), fit([b for b in train if b[1] > split])
    tables = {False: pp.Prior(short), True: pp.Prior(long_)}

    def unary_by_length(length):
        t = tables[length > split]
        return np.log(np.stack([t.probs(i, length, end_mix=0.0, first_mix=0.0) for i in range(length)]))

    results[f"fitted per length group (<= {split}, > {split}), no mix"] = {
        "position": _score(val, unary_by_length),
        "chain": _score(val, unary_by_length, lambda u: _smooth(u, np.log(table.transition_matrix(mix=0.0))
                                                                 - np.log(table.marginal())[None, :], fitted["pair_weight"])),
    }
    results["hand-set"] = {
        "position": _score(val, hand_unary),
        "chain": _score(val, hand_unary, lambda u: pc.smooth(u, pair=hand_pair(), pair_weight=HAND_PAIR_WEIGHT,
                                                              temperature=HAND_TEMPERATURE)),
    }
    printed = printed_report(fitted, train, val)
    print(f"pair weight (fitted on train): {fitted['pair_weight']}")
    print(f"train: {fitted['books']} books, {fitted['pages']} labelled pages; "
          f"validation: {len(val)} books, {sum(len(lab) for lab, _ in val)} labelled pages")
    print("overall shares (train): " + ", ".join(f"{c} {v:.3f}" for c, v in fitted["overall"].items()))
    print(f"\n{'model (validation)':<60} {'pos. loglik':>11} {'pos. acc':>9} {'chain loglik':>13} {'chain acc':>10}")
    for name, r in results.items():
        print(f"{name:<60} {r['position']['loglik_per_page']:>11.3f} {r['position']['accuracy']:>9.3f} "
              f"{r['chain']['loglik_per_page']:>13.3f} {r['chain']['accuracy']:>10.3f}")
    print("\nprinted covers: the last page's story-kind share")
    print(f"{'books':<58} {'train n':>8} {'story-kind':>11} {'val n':>6} {'story-kind':>11}")
    for cue, tr_key, va_key in (("page before last ad / cover (used)", "train", "val"),
                                ("page 1 cover, page 2 ad / cover (not used)", "front_train", "front_val")):
        for name in ("printed", "other"):
            tr, va = printed[tr_key][name], printed[va_key][name]
            label = f"{cue}: {'yes' if name == 'printed' else 'no'}"
            print(f"{label:<58} {tr['books']:>8} {tr['last_story_kind']:>11.3f} {va['books']:>6} "
                  f"{va['last_story_kind']:>11.3f}")
    print(f"\n{'last page, validation (six classes)':<60} {'loglik':>8} {'acc':>6} {'mean p(story kinds)':>20}")
    for name, r in printed["last_page_val"].items():
        print(f"{name:<60} {r['loglik']:>8.3f} {r['accuracy']:>6.3f} {r['p_story_kinds']:>20.3f}")
    print(json.dumps({"bench": "fit_page_prior", "train_books": fitted["books"], "val_books": len(val),
                      "val": results, "printed_covers": printed}))


if __name__ == "__main__":
    main()
