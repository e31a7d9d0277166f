"""The learned panel refiner against the classical detector alone, on real pages.

    nice python tests/bench/eval_panel_net.py                  # dev sets + speed
    nice python tests/bench/eval_panel_net.py --held-out       # ... and the held-out sets, apart
    nice python tests/bench/eval_panel_net.py --sweep 'drop=False' 'edge_tol=3'   # refiner variants, dev

For each real set of ``tests/ml/panel_real.py`` (dev: craphound p1-6, openmantra *tojime_no_siora*
+ *balloon_dream*, our public-domain labels, split into the pages the network was trained on and
those it was not; with ``--held-out``: craphound p7-11 and *tencho_isoro*, reported apart, on the
same run): pages, panels, precision / recall / F1 at IoU 0.5 and 0.8 (boxes matched one to one,
best IoU first: ``panel_synth.match`` through ``RealScore``), for the classical detector alone
(``classic``), the classical boxes refined (``refined``) and, for reference, the network's
interior regions alone (``net``). ``--sweep`` adds refiner variants (``RefineParams`` fields,
``name=value`` joined by commas) scored on the same maps.

Speed: ``--speed-pages`` synthetic 1500x2300 RGB pages (``panel_synth.make_page``), one core,
torch and OpenCV on one thread: median ms per page of the detector, of the refiner (maps
included) and of both.

Prints the figures and, last, one JSON line.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from dataclasses import replace
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE.parent / "ml"))
sys.path.insert(0, str(HERE))

import numpy as np
from bench_panels import pin_one_core
from helpers import fixtures_dir
from panel_real import RealScore, real_sets
from panel_synth import KINDS, make_page

from comicdesk.ml import panel_net
from comicdesk.ml.panels import DETECTOR_VERSION, detect_boxes


def parse_variant(text: str) -> panel_net.RefineParams:
    p = panel_net.RefineParams()
    for part in filter(None, text.split(",")):
        key, _, value = part.partition("=")
        cur = getattr(p, key.strip())
        v = value.strip()
        p = replace(p, **{key.strip(): (v == "True") if isinstance(cur, bool) else type(cur)(v)})
    return p


def net_boxes(maps: np.ndarray, width: int, height: int, p: panel_net.RefineParams) -> list:
    """The network's interior regions as boxes (no classical proposals)."""
    _, regions = panel_net._regions(maps[panel_net.INTERIOR], p)
    mh, mw = maps.shape[1:]
    sx, sy = width / mw, height / mh
    out = []
    for r in regions:
        x0, y0, x1, y1 = r["box"]
        g = p.grow
        out.append([(x0 - g) * sx, (y0 - g) * sy, (x1 - x0 + 2 * g) * sx, (y1 - y0 + 2 * g) * sy])
    return out or [[0, 0, width, height]]


def evaluate(sets: dict, variants: dict, model) -> tuple[dict, dict]:
    out, ms = {}, {"classic": [], "refine": []}
    for name, pages in sets.items():
        scores = {k: RealScore() for k in ("classic", "net", *variants)}
        for page in pages:
            img = np.asarray(page.load())
            h, w = img.shape[:2]
            t0 = time.perf_counter()
            classic = detect_boxes(img, rtl=page.rtl)
            t1 = time.perf_counter()
            maps = panel_net.predict_maps(img, model)
            refined = {"refined": panel_net.refine(img, classic, rtl=page.rtl, params=variants["refined"],
                                                   maps=maps)}
            t2 = time.perf_counter()
            refined.update({k: panel_net.refine(img, classic, rtl=page.rtl, params=v, maps=maps)
                            for k, v in variants.items() if k != "refined"})
            ms["classic"].append((t1 - t0) * 1000)
            ms["refine"].append((t2 - t1) * 1000)
            scores["classic"].add(page.truth, classic)
            scores["net"].add(page.truth, net_boxes(maps, w, h, panel_net.RefineParams()))
            for k, boxes in refined.items():
                scores[k].add(page.truth, boxes)
        out[name] = {k: s.as_dict() for k, s in scores.items()}
    return out, ms


def speed(n: int, repeat: int, model) -> dict:
    pages = [make_page(5000 + i, KINDS[i % len(KINDS)], size=(1500, 2300)).image for i in range(n)]
    panel_net.refine(pages[0], detect_boxes(pages[0]), model=model)  # first-call set-up
    det, ref, both, cpu_det, cpu_ref, cpu_both = [], [], [], [], [], []
    for img in pages:
        for _ in range(repeat):
            c0, t0 = time.process_time(), time.perf_counter()
            boxes = detect_boxes(img)
            c1, t1 = time.process_time(), time.perf_counter()
            panel_net.refine(img, boxes, model=model)
            c2, t2 = time.process_time(), time.perf_counter()
            det.append((t1 - t0) * 1000)
            ref.append((t2 - t1) * 1000)
            both.append((t2 - t0) * 1000)
            cpu_det.append((c1 - c0) * 1000)
            cpu_ref.append((c2 - c1) * 1000)
            cpu_both.append((c2 - c0) * 1000)
    med = lambda v: round(statistics.median(v), 1)  # noqa: E731
    return {"pages": n, "repeat": repeat, "page": "1500x2300 RGB", "detect_ms": med(det),
            "refine_ms": med(ref), "total_ms": med(both),
            "total_p95_ms": round(sorted(both)[int(0.95 * (len(both) - 1))], 1),
            "cpu_detect_ms": med(cpu_det), "cpu_refine_ms": med(cpu_ref), "cpu_total_ms": med(cpu_both),
            "load_average": [round(v, 2) for v in os.getloadavg()]}


def synthetic(n: int, model) -> dict:
    """Classic vs refined on ``n`` synthetic scans (``tests/synth_scan.py``, seeds from
    100000: never trained on; synthetic, not real)."""
    from synth_scan import make_scan

    scores = {"classic": RealScore(), "refined": RealScore()}
    for seed in range(100000, 100000 + n):
        page = make_scan(seed)
        classic = detect_boxes(page.image, rtl=page.rtl)
        scores["classic"].add(page.boxes, classic)
        scores["refined"].add(page.boxes, panel_net.refine(page.image, classic, rtl=page.rtl, model=model))
    return {k: v.as_dict() for k, v in scores.items()}


def split_golden(sets: dict, weights: Path) -> dict:
    """The public-domain set in two: pages the shipped network was trained on, and the rest."""
    trained = set(panel_net.read_meta(weights).get("public_domain_trained", []))
    out = {}
    for name, pages in sets.items():
        if name.startswith("golden-age"):
            out["public-domain, trained on"] = [p for p in pages if p.name in trained]
            out["public-domain, not trained on"] = [p for p in pages if p.name not in trained]
        else:
            out[name] = pages
    return out


def show(results: dict) -> None:
    print(f"  {'set':<34} {'method':<24} {'pages':>5} {'panels':>6} {'found':>6}   "
          f"{'P@.5':>5} {'R@.5':>5} {'F1@.5':>5}   {'P@.8':>5} {'R@.8':>5} {'F1@.8':>5}")
    for name, per in results.items():
        for method, v in per.items():
            a, b = v["iou0.5"], v["iou0.8"]
            print(f"  {name:<34} {method:<24} {v['pages']:>5} {v['panels']:>6} {v['found']:>6}   "
                  f"{a['precision']:.3f} {a['recall']:.3f} {a['f1']:.3f}   "
                  f"{b['precision']:.3f} {b['recall']:.3f} {b['f1']:.3f}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--held-out", action="store_true", help="also the held-out sets (report once)")
    ap.add_argument("--sweep", nargs="*", default=[], help="refiner variants: name=value,...")
    ap.add_argument("--speed-pages", type=int, default=10)
    ap.add_argument("--repeat", type=int, default=2)
    ap.add_argument("--synthetic", type=int, default=60, help="synthetic scans to score (0: none)")
    ap.add_argument("--weights", type=Path, default=panel_net.WEIGHTS)
    args = ap.parse_args()
    import cv2
    import torch

    torch.set_num_threads(1)
    where = pin_one_core()
    model = panel_net.load_model(args.weights)
    meta = panel_net.read_meta(args.weights)
    print(f"classical detector {DETECTOR_VERSION} + refiner {panel_net.REFINER_VERSION} "
          f"({args.weights.name}, {args.weights.stat().st_size} bytes); OpenCV {cv2.__version__}, "
          f"torch {torch.__version__}; {where}")
    variants = {"refined": panel_net.RefineParams()}
    for v in args.sweep:
        variants[v] = parse_variant(v)
    sets = split_golden(real_sets(fixtures_dir()), args.weights)
    dev = {k: v for k, v in sets.items() if "held-out" not in k}
    held = {k: v for k, v in sets.items() if "held-out" in k}
    print("dev sets (real pages, panels drawn by people):")
    dev_res, ms = evaluate(dev, variants, model)
    show(dev_res)
    out = {"bench": "eval_panel_net", "detector": DETECTOR_VERSION, "refiner": panel_net.REFINER_VERSION,
           "weights_bytes": args.weights.stat().st_size, "trained": meta.get("command"), "dev": dev_res,
           "real_ms_median": {k: round(statistics.median(v), 1) for k, v in ms.items()}}
    print(f"  median ms per page as decoded: classic {out['real_ms_median']['classic']}, "
          f"refiner (maps included) {out['real_ms_median']['refine']}")
    if args.held_out:
        print("held-out sets (never looked at; classic alone vs classic + refiner, same run):")
        held_res, _ = evaluate(held, {"refined": panel_net.RefineParams()}, model)
        show(held_res)
        out["held_out"] = held_res
    if args.synthetic:
        print(f"synthetic scans (tests/synth_scan.py, seeds 100000-{100000 + args.synthetic - 1}; SYNTHETIC, not real):")
        syn = synthetic(args.synthetic, model)
        show({"synthetic scans": syn})
        out["synthetic"] = syn
    if args.speed_pages:
        sp = speed(args.speed_pages, args.repeat, model)
        print(f"speed ({sp['pages']} synthetic {sp['page']} pages x {sp['repeat']}, one core, one thread): "
              f"detect {sp['detect_ms']} ms, refine {sp['refine_ms']} ms, total {sp['total_ms']} ms "
              f"(p95 {sp['total_p95_ms']}); CPU: detect {sp['cpu_detect_ms']} ms, refine {sp['cpu_refine_ms']} ms, "
              f"total {sp['cpu_total_ms']} ms; load average {sp['load_average']}")
        out["speed"] = sp
    print(json.dumps(out, separators=(",", ":")))


if __name__ == "__main__":
    main()
