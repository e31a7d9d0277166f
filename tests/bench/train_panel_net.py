"""Train the learned panel refiner's network (``comicdesk/ml/panel_net.py``) on a CPU, seeded.

    nice python tests/bench/train_panel_net.py [--pages 1200] [--steps 2600] [--out comicdesk/ml/panel_net.npz]

Data (all redistributable under MIT; nothing from craphound or openmantra, which are for
measuring only):

- ``--pages`` synthetic scanned pages from ``tests/synth_scan.py`` (seeds 0..pages-1, the three
  styles in turn);
- the public-domain pages whose panels we drew by eye (``tests/data/panels_public_domain.json``:
  Science Comics #1, Whiz Comics #7, Bobby Make-Believe), each box as a rectangle; one draw in
  ``--real-share`` of the batch (these pages are a dev set of the panel bench: its figures on them
  are training figures).

Each page is reduced as the refiner reduces it (long side ``INPUT_LONG``); a random window of
``INPUT_LONG`` x 256 (padded where the page is narrower), flipped left-right half the time,
with brightness, contrast and greyscale jitter, is one sample; the target is
``synth_scan.label_map`` at half that size (outside / edge band / interior). Adam, cosine
learning rate, cross-entropy (edge band weighted x2), one thread. Prints progress and, last,
one JSON line; writes the float16 weights with a ``meta`` note of the data and settings.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE.parent / "ml"))

import numpy as np
from helpers import fixtures_dir
from panel_real import golden_age
from synth_scan import ScanPage, label_map, make_scan

from comicdesk.ml import panel_net

WIDTH = 256  # training window width (the height is INPUT_LONG)


def reduce(page: ScanPage) -> tuple[np.ndarray, np.ndarray]:
    """The page as the network sees it (uint8, long side INPUT_LONG, even sides) and its labels
    at half that size."""
    h, w = page.image.shape[:2]
    s = panel_net.INPUT_LONG / max(h, w)
    nw, nh = 2 * max(8, round(w * s / 2)), 2 * max(8, round(h * s / 2))
    img = panel_net.shrink(page.image, nw, nh)
    return img, label_map(page, (nw // 2, nh // 2))


def reduce_zoomable(page: ScanPage, zoom: float) -> tuple[np.ndarray, list[np.ndarray], dict]:
    """The page reduced to ``zoom`` times the network's long side (windows are cut from it at
    zooms 1 to ``zoom``) and its polygons in that image's pixels; the image's own pixels are
    dropped (a 2300-pixel page would not fit a thousand times in memory)."""
    h, w = page.image.shape[:2]
    s = zoom * panel_net.INPUT_LONG / max(h, w)
    nw, nh = max(16, round(w * s)), max(16, round(h * s))
    img = panel_net.shrink(page.image, nw, nh)
    polys = [p * [nw / w, nh / h] for p in page.polys]
    return img, polys, dict(page.notes)


def zoomed_window(rng, item: tuple, zoom: float, share: float) -> tuple[np.ndarray, np.ndarray]:
    """A random ``INPUT_LONG`` x ``WIDTH`` sample from a page stored by :func:`reduce_zoomable`,
    at zoom 1 (the whole page as the refiner sees it) or, ``share`` of the time, at a zoom drawn
    from 1 to ``zoom`` (a box's crop looked at closer: gutters and frame lines wider); labels
    drawn from the polygons at the sample's half size. Jittered as :func:`window` does."""
    import cv2

    img, polys, notes = item
    H, W = panel_net.INPUT_LONG, WIDTH
    z = float(rng.uniform(1.0, zoom)) if rng.random() < share else 1.0
    f = z / zoom  # sample pixels per stored pixel
    h, w = img.shape[:2]
    sw, sh = min(w, round(W / f)), min(h, round(H / f))  # the source window, clipped to the page
    x0 = int(rng.integers(0, w - sw + 1))
    y0 = int(rng.integers(0, h - sh + 1))
    tw, th = 2 * max(8, round(sw * f / 2)), 2 * max(8, round(sh * f / 2))
    crop = cv2.resize(np.ascontiguousarray(img[y0:y0 + sh, x0:x0 + sw]), (tw, th), interpolation=cv2.INTER_AREA)
    moved = [(p - [x0, y0]) * [tw / sw, th / sh] for p in polys]
    lab = label_map(ScanPage(crop, moved, "window", 0, notes=notes), (tw // 2, th // 2))
    if tw < W or th < H:
        crop, lab = _pad(crop, lab, max(0, W - tw), max(0, H - th))
    crop, lab = crop[:H, :W], lab[:H // 2, :W // 2]
    return _jitter(rng, crop, lab)


def real_pages() -> list[ScanPage]:
    """Our labelled public-domain pages, but every third one (sorted by name), which stays
    out of training so the eval has public-domain pages the network never saw."""
    out = []
    for rp in golden_age(fixtures_dir()):
        if not trained_on(rp.name):
            continue
        img = np.asarray(rp.load())
        polys = [np.array([[x, y], [x + w, y], [x + w, y + h], [x, y + h]], np.float64)
                 for x, y, w, h in rp.truth]
        out.append(ScanPage(img, polys, "public-domain", 0, notes={"name": rp.name}))
    print("public-domain pages trained on: " + ", ".join(p.notes["name"].rsplit("_", 1)[-1].rsplit("/", 1)[-1]
                                                          for p in out), flush=True)
    return out


def trained_on(name: str) -> bool:
    """Public-domain pages kept out of training: those whose name's CRC32 is divisible by 3
    (a fixed rule that does not move when pages are added to the labels file)."""
    import zlib

    return zlib.crc32(name.encode()) % 3 != 0


def window(rng, img: np.ndarray, lab: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """A random INPUT_LONG x WIDTH window (edge-padded where the page is smaller), jittered."""
    H = panel_net.INPUT_LONG
    h, w = img.shape[:2]
    pw, ph = max(0, WIDTH - w), max(0, H - h)
    if pw or ph:
        img, lab = _pad(img, lab, pw + pw % 2, ph + ph % 2)
        h, w = img.shape[:2]
    x0 = 2 * int(rng.integers(0, (w - WIDTH) // 2 + 1))
    y0 = 2 * int(rng.integers(0, (h - H) // 2 + 1))
    img = img[y0:y0 + H, x0:x0 + WIDTH]
    lab = lab[y0 // 2:(y0 + H) // 2, x0 // 2:(x0 + WIDTH) // 2]
    return _jitter(rng, img, lab)


def _pad(img: np.ndarray, lab: np.ndarray, pw: int, ph: int) -> tuple[np.ndarray, np.ndarray]:
    """The image padded by ``pw`` columns and ``ph`` rows (even counts) on the right and at the
    bottom, edge pixels repeated, and its half-size labels by half as many, 'outside' (like a
    margin)."""
    import cv2

    img = cv2.copyMakeBorder(img, 0, ph, 0, pw, cv2.BORDER_REPLICATE)
    lab = cv2.copyMakeBorder(lab, 0, ph // 2, 0, pw // 2, cv2.BORDER_CONSTANT, value=0)
    return img, lab


def _jitter(rng, img: np.ndarray, lab: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Flipped left-right half the time, greyscale a quarter, brightness and contrast moved;
    as the network's input (float, channels first) and the labels."""
    img = img.astype(np.float32)
    if rng.random() < 0.5:
        img, lab = img[:, ::-1], lab[:, ::-1]
    if rng.random() < 0.25:
        img = np.repeat(img.mean(axis=2, keepdims=True), 3, axis=2)
    img = (img - 127.5) * rng.uniform(0.75, 1.25) + 127.5 + rng.uniform(-25, 25)
    img = np.clip(img, 0, 255)
    return (img.transpose(2, 0, 1) - 127.5) / 64.0, np.ascontiguousarray(lab)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--pages", type=int, default=1200)
    ap.add_argument("--steps", type=int, default=2600)
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--lr", type=float, default=3e-3)
    ap.add_argument("--real-share", type=float, default=0.1)
    ap.add_argument("--seed", type=int, default=17)
    ap.add_argument("--overlap", action="store_true",
                    help="synthetic pages may hold framed panels drawn over an art panel (not in the shipped weights)")
    ap.add_argument("--modern", type=int, default=0,
                    help="hard modern-Western pages of tests/synth_modern.py (seeds 5000 on, insets left out) added to the synthetic pool")
    ap.add_argument("--modern-insets", action="store_true", help="the hard modern pages keep their insets")
    ap.add_argument("--zoom", type=float, default=1.0,
                    help="also train on closer looks, zoom 1 to this (a box's crop at the network's size); 1: never")
    ap.add_argument("--zoom-share", type=float, default=0.5, help="share of samples drawn at a zoom above 1")
    ap.add_argument("--out", type=Path, default=panel_net.WEIGHTS)
    args = ap.parse_args()
    import torch

    torch.set_num_threads(1)
    torch.manual_seed(args.seed)
    rng = np.random.default_rng(args.seed)
    t0 = time.perf_counter()
    zoomed = args.zoom > 1.0
    prep = (lambda page: reduce_zoomable(page, args.zoom)) if zoomed else reduce
    synth = [prep(make_scan(s, overlap=args.overlap)) for s in range(args.pages)]
    if args.modern:
        from synth_modern import make_modern

        skip = () if args.modern_insets else ("inset",)
        synth += [prep(make_modern(s, skip=skip).to_scan()) for s in range(5000, 5000 + args.modern)]
    real_src = real_pages()
    real = [prep(p) for p in real_src]
    t_data = time.perf_counter() - t0
    print(f"data: {len(synth)} synthetic pages, {len(real)} public-domain pages ({t_data:.0f} s)", flush=True)

    model = panel_net.build_model()
    model.train()
    opt = torch.optim.Adam(model.parameters(), lr=args.lr, weight_decay=1e-5)
    weight = torch.tensor([1.0, 2.0, 1.0])
    t1 = time.perf_counter()
    losses = []
    for step in range(args.steps):
        lr = args.lr * 0.5 * (1 + math.cos(math.pi * step / args.steps))
        for g in opt.param_groups:
            g["lr"] = lr
        xs, ys = [], []
        for _ in range(args.batch):
            pool = real if real and rng.random() < args.real_share else synth
            item = pool[int(rng.integers(0, len(pool)))]
            x, y = zoomed_window(rng, item, args.zoom, args.zoom_share) if zoomed else window(rng, *item)
            xs.append(x)
            ys.append(y)
        x = torch.from_numpy(np.stack(xs).astype(np.float32))
        y = torch.from_numpy(np.stack(ys).astype(np.int64))
        loss = torch.nn.functional.cross_entropy(model(x), y, weight=weight)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(float(loss.detach()))
        if (step + 1) % 100 == 0:
            print(f"step {step + 1}/{args.steps}  loss {np.mean(losses[-100:]):.4f}  lr {lr:.5f}  "
                  f"{time.perf_counter() - t1:.0f} s", flush=True)
    t_train = time.perf_counter() - t1
    model.eval()
    meta = {
        "data": (f"{args.pages} synthetic pages of tests/synth_scan.py (seeds 0-{args.pages - 1}) and "
                 + (f"{args.modern} hard modern-Western pages of tests/synth_modern.py (seeds 5000-{4999 + args.modern}"
                    + ("), " if args.modern_insets else ", no insets), ") if args.modern else "")
                 + f"{len(real)} public-domain pages with our labels (tests/data/panels_public_domain.json); "
                 "MIT; no craphound or openmantra page"),
        "command": (f"python tests/bench/train_panel_net.py --pages {args.pages} --steps {args.steps} "
                    f"--batch {args.batch} --lr {args.lr} --real-share {args.real_share} --seed {args.seed}"
                    + (" --overlap" if args.overlap else "") + (f" --modern {args.modern}" if args.modern else "")
                    + (" --modern-insets" if args.modern_insets else "")
                    + (f" --zoom {args.zoom} --zoom-share {args.zoom_share}" if zoomed else "")),
        "version": panel_net.REFINER_VERSION,
        "final_loss": round(float(np.mean(losses[-100:])), 4),
        "public_domain_trained": [p.notes["name"] for p in real_src],
    }
    panel_net.save_weights(model, args.out, meta)
    print(json.dumps({"bench": "train_panel_net", "data_s": round(t_data, 1), "train_s": round(t_train, 1),
                      "steps": args.steps, "final_loss": meta["final_loss"], "out": str(args.out),
                      "bytes": args.out.stat().st_size}))


if __name__ == "__main__":
    main()
