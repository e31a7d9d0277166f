"""The panel detector on the dev real pages as other scans of them would be: another size, heavier
JPEG, yellowed paper, a softer scan. Real pages, **dev sets only** (``tests/ml/panel_real.py``:
craphound pages 1-6, chapters *tojime_no_siora* and *balloon_dream*, our Golden Age labels);
the held-out pages are never run here.

    python tests/bench/bench_panels_robust.py [--variants orig,size0.6,...] [--sets craphound,golden]
                                              [--detector shipped|classic]

A detector tuned on one scan of a page can rest on thresholds that another scan of the same
page crosses (a tilt measured at 0.19 or 0.21 degrees, a figure joined into one blob or not).
Per set and variant: F1 at IoU 0.5 and 0.8 (boxes matched one to one, best IoU first, found
boxes mapped back to the page's own size), and the pages that come out otherwise than as
scanned (another count of boxes, or of boxes matched at IoU 0.8). Variants: ``orig``; ``sizeF`` (the page resized by F: area-averaged down, bicubic up);
``jpegQ`` (re-encoded at quality Q); ``yellow`` (old paper: blue falls most); ``blur`` (a
3-pixel Gaussian, a softer scan); ``margin`` (a dark band down the outer edge, 2.5 % of the
width: the scanner's lid); ``spine`` (the binding's shadow, 6 % of the width darkening to 35 %
at the inner edge); ``grey`` (a greyscale scan of a colour book); ``dark`` (underexposed:
every value times 0.75); ``tilt1p`` (turned 1 degree, the edges' paper repeated beyond: a
cropped scan); ``tilt1`` (turned 1 degree on a white bed; boxes are compared unturned, so a few pixels
of IoU go to the tilt itself); ``tilt1k`` (the same on a black bed); ``bed`` (the whole page
on a white bed, 3 % of the long side of it showing round the page, turned half a degree).

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

import numpy as np
from helpers import fixtures_dir
from panel_real import RealScore, real_sets
from panel_synth import match

VARIANTS = ("orig", "size0.6", "size0.8", "size1.6", "size2.2", "size3.0", "jpeg50", "yellow", "blur",
            "margin", "spine", "tilt1", "tilt1p", "tilt1k", "bed", "grey", "dark")


def variant(image: np.ndarray, name: str) -> tuple[np.ndarray, float | tuple[float, int]]:
    """The page as the variant ``name`` scans it, and the factor its size changed by (or, for a
    page laid on a bed, the factor and the bed's width on each side: see :func:`back`)."""
    import cv2

    if name == "orig":
        return image, 1.0
    if name.startswith("size"):
        f = float(name[4:])
        how = cv2.INTER_AREA if f < 1 else cv2.INTER_CUBIC
        return cv2.resize(image, None, fx=f, fy=f, interpolation=how), f
    if name.startswith("jpeg"):
        ok, buf = cv2.imencode(".jpg", image[:, :, ::-1], [cv2.IMWRITE_JPEG_QUALITY, int(name[4:])])
        return cv2.imdecode(buf, cv2.IMREAD_COLOR)[:, :, ::-1].copy(), 1.0
    if name == "yellow":
        out = image.astype(np.float32) * np.array([0.97, 0.92, 0.78]) + np.array([5.0, 8.0, 10.0])
        return np.clip(out, 0, 255).astype(np.uint8), 1.0
    if name == "blur":
        return cv2.GaussianBlur(image, (3, 3), 0.8), 1.0
    if name == "margin":  # the scanner's lid: a dark band down the outer edge
        out = image.copy()
        band = max(2, int(0.025 * image.shape[1]))
        out[:, image.shape[1] - band:] = (25, 25, 28)
        return out, 1.0
    if name == "spine":  # the binding's shadow: darker towards the inner edge
        w = image.shape[1]
        shade = np.ones(w, np.float32)
        k = max(2, int(0.06 * w))
        shade[:k] = np.linspace(0.35, 1.0, k)
        return (image.astype(np.float32) * shade[None, :, None]).astype(np.uint8), 1.0
    if name == "grey":  # a greyscale scan of a colour book
        g = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY)
        return np.repeat(g[:, :, None], 3, axis=2), 1.0
    if name == "dark":  # an underexposed scan: paper grey, ink no darker
        return (image.astype(np.float32) * 0.75).astype(np.uint8), 1.0
    if name == "tilt1":  # scanned a degree askew (white beyond the page)
        h, w = image.shape[:2]
        m = cv2.getRotationMatrix2D((w / 2, h / 2), 1.0, 1.0)
        return cv2.warpAffine(image, m, (w, h), flags=cv2.INTER_LINEAR, borderValue=(255, 255, 255)), 1.0
    if name == "tilt1p":  # turned 1 degree, the paper running on to the edges (a cropped scan)
        h, w = image.shape[:2]
        m = cv2.getRotationMatrix2D((w / 2, h / 2), 1.0, 1.0)
        return cv2.warpAffine(image, m, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE), 1.0
    if name == "tilt1k":  # turned 1 degree on a black bed (a dark lid)
        h, w = image.shape[:2]
        m = cv2.getRotationMatrix2D((w / 2, h / 2), 1.0, 1.0)
        return cv2.warpAffine(image, m, (w, h), flags=cv2.INTER_LINEAR, borderValue=(12, 12, 12)), 1.0
    if name == "bed":  # the whole page on a white bed, 3 % of it showing each side, turned half a degree
        h, w = image.shape[:2]
        pad = int(round(0.03 * max(h, w)))
        m = cv2.getRotationMatrix2D((w / 2 + pad, h / 2 + pad), 0.5, 1.0)
        m[:, 2] += pad
        return cv2.warpAffine(image, m, (w + 2 * pad, h + 2 * pad), flags=cv2.INTER_LINEAR,
                              borderValue=(255, 255, 255)), (1.0, pad)
    raise SystemExit(f"unknown variant: {name}")


def back(box, f) -> tuple[int, ...]:
    """A box found on a variant, in pixels of the page as scanned (``f`` from :func:`variant`)."""
    f, pad = f if isinstance(f, tuple) else (f, 0)
    x, y, w, h = (c / f for c in box)
    return int(round(x - pad)), int(round(y - pad)), int(round(w)), int(round(h))


def run(detector, variants: list[str], sets: list[str]) -> dict:
    out: dict = {}
    for name, pages in real_sets(fixtures_dir()).items():
        if "held-out" in name or (sets and not any(s in name for s in sets)):
            continue
        images = [np.asarray(page.load().convert("RGB")) for page in pages]
        first: list | None = None
        for v in variants:
            score, boxes = RealScore(), []
            for page, image in zip(pages, images):
                img, f = variant(image, v)
                found = [back(b, f) for b in detector(img, page.rtl)]
                score.add(page.truth, found)
                boxes.append((len(found), len(match(page.truth, found, 0.8))))
            d = score.as_dict()
            changed = [] if first is None else [p.name for p, a, b in zip(pages, first, boxes) if a != b]
            first = boxes if first is None else first
            out.setdefault(name, {})[v] = {"f1_50": d["iou0.5"]["f1"], "f1_80": d["iou0.8"]["f1"],
                                          "pages_changed": len(changed)}
            print(f"  {name:<34} {v:<8} {d['iou0.5']['f1']:.3f} {d['iou0.8']['f1']:.3f}  "
                  f"{len(changed):>3} of {len(pages)} pages changed", flush=True)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--variants", default=",".join(VARIANTS))
    ap.add_argument("--sets", default="", help="comma-separated parts of set names (default: every dev set)")
    ap.add_argument("--detector", choices=("shipped", "classic"), default="shipped")
    args = ap.parse_args()
    if args.detector == "shipped":
        import torch

        from comicdesk.ml.panel_net import detect_panels_refined, panels_version

        torch.set_num_threads(1)
        version = panels_version()

        def detector(img, rtl):
            return [p.box for p in detect_panels_refined(img, rtl=rtl)]
    else:
        from comicdesk.ml.panels import DETECTOR_VERSION as version
        from comicdesk.ml.panels import detect_boxes

        def detector(img, rtl):
            return detect_boxes(img, rtl=rtl)
    print(f"panel detector {version} on other scans of the dev real pages "
          "(F1 @0.5, @0.8; pages that come out otherwise than as scanned):")
    figures = run(detector, args.variants.split(","), [s for s in args.sets.split(",") if s])
    print(json.dumps({"bench": "panels_robust", "version": version, "dev_only": True, "sets": figures},
                     separators=(",", ":")))


if __name__ == "__main__":
    main()
