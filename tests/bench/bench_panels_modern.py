"""Panel detector on the hard modern-Western synthetic set (``tests/synth_modern.py``;
**synthetic** pages, not real): precision, recall and F1 of boxes matched one to one at IoU 0.5
and 0.8, overall and per phenomenon (over the pages that have it), for the classical detector
alone and the shipped one (classical + refiner); and how many truth boxes were lost to a merge
(a found box holding two or more truth boxes' centres, matched to none of them at 0.5 or to one).

    python tests/bench/bench_panels_modern.py [--pages 150] [--start 0] [--detector both|classic|shipped]

Prints the figures and, last, one JSON line.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE.parent / "ml"))

from panel_synth import Score, match  # noqa: E402
from synth_modern import PHENOMENA, make_modern  # noqa: E402


def _merges(truth, found) -> int:
    """Truth boxes left unmatched at IoU 0.5 whose centre lies in a found box that holds the
    centres of two or more truth boxes."""
    matched = {i for i, _, _ in match(truth, found, 0.5)}
    n = 0
    for i, (x, y, w, h) in enumerate(truth):
        if i in matched:
            continue
        cx, cy = x + w / 2, y + h / 2
        for fx, fy, fw, fh in found:
            if fx <= cx <= fx + fw and fy <= cy <= fy + fh:
                inside = sum(fx <= tx + tw / 2 <= fx + fw and fy <= ty + th / 2 <= fy + fh for tx, ty, tw, th in truth)
                if inside >= 2:
                    n += 1
                    break
    return n


class Both:
    def __init__(self):
        self.s5, self.s8, self.merged, self.pages = Score(), _Score8(), 0, 0

    def add(self, truth, found):
        self.s5.add(truth, found)
        self.s8.add(truth, found)
        self.merged += _merges(truth, found)
        self.pages += 1

    def as_dict(self):
        return {"pages": self.pages, "truth": self.s5.n_truth, "found": self.s5.n_found,
                "p50": round(self.s5.precision, 4), "r50": round(self.s5.recall, 4), "f1_50": round(self.s5.f1, 4),
                "p80": round(self.s8.precision, 4), "r80": round(self.s8.recall, 4), "f1_80": round(self.s8.f1, 4),
                "merged": self.merged}


class _Score8(Score):
    def add(self, truth, found):
        m = match(truth, found, 0.8)
        self.tp += len(m)
        self.n_truth += len(truth)
        self.n_found += len(found)
        return m


def detectors(which: str) -> dict:
    from comicdesk.ml.panel_net import detect_panels_refined, panels_version
    from comicdesk.ml.panels import DETECTOR_VERSION, detect_boxes

    out = {}
    if which in ("both", "classic"):
        out[DETECTOR_VERSION] = lambda im: detect_boxes(im)
    if which in ("both", "shipped"):
        out[panels_version()] = lambda im: [p.box for p in detect_panels_refined(im)]
    return out


def run(n: int, start: int, which: str = "both") -> dict:
    dets = detectors(which)
    res = {name: {"all": Both(), **{ph: Both() for ph in PHENOMENA}} for name in dets}
    for seed in range(start, start + n):
        page = make_modern(seed)
        for name, fn in dets.items():
            found = fn(page.image)
            res[name]["all"].add(page.boxes, found)
            for ph in page.phenomena:
                res[name][ph].add(page.boxes, found)
    return {name: {k: v.as_dict() for k, v in r.items()} for name, r in res.items()}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--pages", type=int, default=150)
    ap.add_argument("--start", type=int, default=0)
    ap.add_argument("--detector", choices=("both", "classic", "shipped"), default="both")
    a = ap.parse_args(argv)
    out = run(a.pages, a.start, a.detector)
    print(f"hard modern-Western pages (SYNTHETIC), seeds {a.start}-{a.start + a.pages - 1}")
    for name, rows in out.items():
        print(f"\n{name}")
        print(f"  {'set':10s} {'pages':>5s} {'truth':>5s} {'found':>5s}  P/R/F1 @0.5          P/R/F1 @0.8          merged")
        for k, r in rows.items():
            print(f"  {k:10s} {r['pages']:5d} {r['truth']:5d} {r['found']:5d}  "
                  f"{r['p50']:.3f} {r['r50']:.3f} {r['f1_50']:.3f}  {r['p80']:.3f} {r['r80']:.3f} {r['f1_80']:.3f}  {r['merged']}")
    print(json.dumps({"synthetic": True, "set": "modern", "pages": a.pages, "start": a.start, "detectors": out}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
