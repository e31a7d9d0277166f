"""A small learned panel refiner: the classical detector proposes, a tiny network corrects.

The classical detector (:mod:`comicdesk.ml.panels`) mostly fails on real pages by merging
neighbours, stretching boxes over dark scan margins and spine strips, and cutting boxes short.
This module predicts, at reduced resolution (the page's long side at :data:`INPUT_LONG` pixels,
maps at half that), three per-pixel classes — outside every panel (gutters, margins, scan
strips), a panel's edge band, a panel's interior — and uses the interior map on the classical
boxes:

- **split** a box holding two or more separate interior regions (a gutter or a shared frame
  line the network sees crosses it); since ``refine-2`` a box over half the page or more that
  holds one region is looked at again with interior only where the edge band is faint (the
  frames of panels drawn over an art panel, which the network sees only faintly); since
  ``refine-3`` a box kept whole is split along a straight line across it that the edge band
  covers from end to end (a shared frame line that a balloon breaks joins the interiors);
  since ``refine-5`` a box being split also splits each of its regions that falls apart in
  that faint-edge look (two framed panels whose shared frame a balloon or a breakout crosses);
- **tighten or extend** a box holding one interior region to that region's extent, edge by
  edge, where they differ by more than the maps' resolution (a stretched or cut-short box);
- **drop** a box with (nearly) no interior in it (a text column, a scan strip) and, since
  ``refine-4``, no frame around it in the edge band (a framed panel whose inside the network
  doubts stays);
- **add** a confident interior region no box covers.

Weights ship in the package (``panel_net.npz``, float16, < 1 MB) and load with no network; how
they were made is in ``panel_net.npz``'s ``meta`` entry and in docs/panels.md ("Learned
refiner"): synthetic pages (``tests/synth_scan.py``) and our public-domain labels only,
reproduced by ``tests/bench/train_panel_net.py``. torch is imported inside the functions, never
when ``comicdesk`` is imported. :func:`detect_panels_refined` is the shipped detector: the
pipeline's ``panels`` stage and ``comicdesk panels`` use it, keyed by :func:`panels_version`.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass, replace
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from comicdesk.core.geometry import Box, Panel, clip_box, whole_page

__all__ = ["INPUT_LONG", "REFINER_VERSION", "RefineParams", "WEIGHTS", "build_model",
           "detect_panels_refined", "for_inference", "load_model", "panels_version", "predict_maps", "refine"]

#: Changes whenever the refined output for the same page may change.
REFINER_VERSION = "refine-5"
#: The page's long side, in pixels, as the network sees it (maps come out at half of it).
INPUT_LONG = 384
#: Channels of the network's four stages (the shipped weights' shape; ``meta`` repeats it).
CHANNELS = (8, 16, 32, 64)
#: The input is padded to a multiple of this (the deepest stage's stride).
_MULTIPLE = 16
WEIGHTS = Path(__file__).resolve().parent / "panel_net.npz"
#: Classes of the maps.
OUTSIDE, EDGE, INTERIOR = 0, 1, 2


@dataclass(frozen=True)
class RefineParams:
    """The refiner's knobs; lengths in map pixels unless said otherwise."""

    #: A map pixel is interior when its probability reaches this.
    interior: float = 0.4
    #: An interior region is panel-sized when both sides reach this share of sqrt(w * h) of the
    #: map, and its area this share of the map's area.
    min_side: float = 0.06
    min_area: float = 0.004
    #: A region belongs to a box when this share of its pixels lie inside the box.
    belongs: float = 0.6
    #: A box edge moves to its region's edge only when they differ by more than this.
    edge_tol: float = 1.5
    #: Move a box's edges only inwards, over strips the maps call outside every panel (mean
    #: probability at least ``strip_outside``).
    shrink_only: bool = True
    strip_outside: float = 0.7
    #: Split only when the pieces' boxes cover at least this share of the box (a gap inside
    #: one panel's interior map leaves pieces that cover little of it).
    split_cover: float = 0.0
    #: A split piece's edge takes the box's edge when they differ by at most this.
    snap_tol: float = 8.0
    #: A box whose mean interior probability is below this, holding no region, is dropped ...
    drop_below: float = 0.2
    #: ... unless the network sees a frame around it: the edge band's mean probability along
    #: the box's border (its outer two map pixels) reaches this (a framed diagram on pale paper
    #: whose inside the network doubts, Science Comics p. 24 scanned at twice the size; what is
    #: dropped is a strip of scan margin or dirt, with no frame).
    drop_framed: float = 0.25
    #: A region no box covers (less than this share of it inside boxes) is added when its mean
    #: interior probability reaches ``add_conf``.
    add_overlap: float = 0.3
    add_conf: float = 0.75
    #: Grow regions by this many map pixels on each side (the interior is the panel less its
    #: edge band).
    grow: float = 1.0
    #: An interior pixel counts only where the edge band's probability is below this (a faint
    #: frame line the network half sees still parts two interiors).
    edge_below: float = 1.0
    #: A box covering at least this share of the page that holds one interior region or none
    #: is looked at again with interior pixels only where the edge band's probability is below
    #: ``big_edge_below`` (a classical box over several rows of panels whose frames the
    #: network sees faintly: framed panels drawn over an art panel).
    big_box: float = 0.5
    big_edge_below: float = 0.1
    #: A box kept whole is split along a straight line of the maps across it whose mean edge
    #: band probability reaches this (a border the network sees from end to end: stacked
    #: strips sharing a frame line, a narrow strip beside a panel), when both sides are at
    #: least ``min_side`` wide. 1.0 or more: never.
    line_edge: float = 0.95
    #: ... and the maps see no gutter beside it: the probability of outside every panel, per
    #: line of the maps within 3 map pixels of it, stays at most this.
    line_outside: float = 0.2
    #: A box being split: each of its regions that falls apart into two or more panel-sized
    #: regions where interior counts only below ``big_edge_below`` of edge band, those holding
    #: at least this share of it, is split into them (two framed panels whose shared frame a
    #: balloon or art breaking out crosses: the maps join their insides there). Since
    #: ``refine-5``; above 1.0: never.
    strict_parts: float = 0.9
    split: bool = True
    adjust: bool = True
    drop: bool = True
    add: bool = False


# -- the network ------------------------------------------------------------------------------
def build_model(channels: Sequence[int] = CHANNELS) -> Any:
    """The network (untrained): a four-stage encoder with dilated convolutions at the deepest
    stage (a gutter is a long, thin thing: it needs context) and a light decoder back to half
    the input's resolution; 3 output classes. About 190k parameters for :data:`CHANNELS`."""
    import torch
    from torch import nn
    from torch.nn import functional as F

    def cbr(i: int, o: int, stride: int = 1, dil: int = 1) -> nn.Module:
        return nn.Sequential(nn.Conv2d(i, o, 3, stride, dil, dilation=dil, bias=False),
                             nn.BatchNorm2d(o), nn.ReLU(inplace=True))

    a, b, c, d = channels

    class PanelNet(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.e1 = cbr(3, a, 2)
            self.e2 = nn.Sequential(cbr(a, b, 2), cbr(b, b))
            self.e3 = nn.Sequential(cbr(b, c, 2), cbr(c, c), cbr(c, c, dil=2))
            self.e4 = nn.Sequential(cbr(c, d, 2), cbr(d, d, dil=2), cbr(d, d, dil=4), cbr(d, d, dil=8))
            self.d3 = cbr(d + c, c)
            self.d2 = cbr(c + b, b)
            self.d1 = cbr(b + a, a)
            self.head = nn.Conv2d(a, 3, 1)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            x1 = self.e1(x)
            x2 = self.e2(x1)
            x3 = self.e3(x2)
            x4 = self.e4(x3)

            def up(t: torch.Tensor, ref: torch.Tensor) -> torch.Tensor:
                return F.interpolate(t, size=ref.shape[2:], mode="bilinear", align_corners=False)

            y = self.d3(torch.cat([up(x4, x3), x3], 1))
            y = self.d2(torch.cat([up(y, x2), x2], 1))
            y = self.d1(torch.cat([up(y, x1), x1], 1))
            return self.head(y)

    return PanelNet()


def save_weights(model: Any, path: Path, meta: dict) -> None:
    """The state dict as float16 arrays (BatchNorm's counters as they are) plus ``meta`` (a
    JSON string: channels, input size, what data made the weights)."""
    arrays = {}
    for k, v in model.state_dict().items():
        a = v.detach().cpu().numpy()
        arrays[k] = a.astype(np.float16) if a.dtype.kind == "f" else a
    meta = dict(meta, channels=list(CHANNELS), input_long=INPUT_LONG)
    arrays["meta"] = np.array(json.dumps(meta, sort_keys=True))
    with open(path, "wb") as f:
        np.savez_compressed(f, **arrays)


def read_meta(path: Path = WEIGHTS) -> dict:
    with np.load(path, allow_pickle=False) as z:
        return json.loads(str(z["meta"]))


@lru_cache(maxsize=2)
def load_model(path: Path = WEIGHTS) -> Any:
    """The network with weights from ``path`` (the shipped ones by default), in eval mode, in
    float32. Reads only the local file; a missing or broken file is a ``ValueError``."""
    import torch

    path = Path(path)
    try:
        with np.load(path, allow_pickle=False) as z:
            meta = json.loads(str(z["meta"]))
            state = {k: torch.from_numpy(np.asarray(z[k]).astype(np.float32) if z[k].dtype.kind == "f"
                                         else np.asarray(z[k])) for k in z.files if k != "meta"}
    except (OSError, KeyError, ValueError) as exc:
        raise ValueError(f"panel refiner weights unreadable: {path} ({exc})") from exc
    model = build_model(tuple(meta.get("channels", CHANNELS)))
    model.load_state_dict(state)
    return for_inference(model)


def for_inference(model: Any) -> Any:
    """``model`` made ready to predict on a CPU (a copy; the same maps to float rounding): in
    eval mode, every convolution with its batch norm folded in, weights in channels-last
    layout, which :func:`predict_maps` feeds. Together about 1.7 times faster, one thread."""
    import copy

    import torch
    from torch.nn.utils.fusion import fuse_conv_bn_eval

    model = copy.deepcopy(model).eval()

    def fold(module: Any) -> None:
        for name, child in module.named_children():
            if (isinstance(child, torch.nn.Sequential) and len(child) == 3
                    and isinstance(child[0], torch.nn.Conv2d) and isinstance(child[1], torch.nn.BatchNorm2d)):
                setattr(module, name, torch.nn.Sequential(fuse_conv_bn_eval(child[0], child[1]), child[2]))
            else:
                fold(child)

    fold(model)
    return model.to(memory_format=torch.channels_last)


# -- input ------------------------------------------------------------------------------------
def _rgb_array(image: Any) -> np.ndarray:
    """An (H, W, 3) uint8 array from a Pillow image or a numpy array."""
    if hasattr(image, "mode") and hasattr(image, "convert"):
        if image.mode != "RGB":
            image = image.convert("RGB")
        return np.asarray(image)
    arr = np.asarray(image)
    if arr.ndim == 3 and arr.shape[2] == 1:
        arr = arr[..., 0]
    if arr.ndim == 2:
        arr = np.repeat(arr[..., None], 3, axis=2)
    if arr.ndim != 3 or arr.shape[2] not in (2, 3, 4) or arr.size == 0:
        raise ValueError(f"not an image: array of shape {arr.shape}")
    if arr.shape[2] == 2:
        arr = np.repeat(arr[..., :1], 3, axis=2)
    arr = arr[..., :3]
    if arr.dtype != np.uint8:
        if arr.dtype == bool:
            arr = arr.astype(np.uint8) * 255
        elif arr.dtype.kind == "f":
            arr = np.clip(arr * (255.0 if arr.max(initial=0) <= 1.0 else 1.0), 0, 255).astype(np.uint8)
        else:
            top = float(arr.max(initial=0)) or 1.0
            arr = (arr.astype(np.float64) * (255.0 / max(255.0, top))).astype(np.uint8)
    return arr


def shrink(arr: np.ndarray, nw: int, nh: int) -> np.ndarray:
    """``arr`` area-averaged to ``nw`` x ``nh``: by a whole number first (OpenCV's fast path),
    then the rest (training reduces pages the same way)."""
    import cv2

    small = np.ascontiguousarray(arr)
    h, w = small.shape[:2]
    k = min(w // nw, h // nh)
    if k >= 2:
        small = cv2.resize(small, (w // k, h // k), interpolation=cv2.INTER_AREA)
    return cv2.resize(small, (nw, nh), interpolation=cv2.INTER_AREA)


def prepare(arr: np.ndarray, long: int = INPUT_LONG) -> tuple[np.ndarray, tuple[int, int]]:
    """The page reduced to ``long`` pixels on its long side, padded (edge pixels repeated) to a
    multiple of 16, as a float32 (3, H, W) array normalised the way the network was trained;
    with the reduced page's (width, height) before padding."""
    import cv2

    h, w = arr.shape[:2]
    s = long / max(h, w)
    nw, nh = max(_MULTIPLE, int(round(w * s))), max(_MULTIPLE, int(round(h * s)))
    small = shrink(arr, nw, nh)
    ph, pw = -nh % _MULTIPLE, -nw % _MULTIPLE
    if ph or pw:
        small = cv2.copyMakeBorder(small, 0, ph, 0, pw, cv2.BORDER_REPLICATE)
    x = (small.astype(np.float32).transpose(2, 0, 1) - 127.5) / 64.0
    return x, (nw, nh)


def predict_maps(image: Any, model: Any = None, threads: int | None = None) -> np.ndarray:
    """Class probabilities ``(3, h, w)`` (outside, edge, interior) at half the network's input
    size, the padding cut off; ``h / page height`` = ``w / page width`` (up to rounding).
    ``threads``: torch's thread count for this call (a process-wide setting, so ``None``, the
    default, leaves it as the process has it: the pipeline's workers share one process)."""
    import torch

    model = model if model is not None else load_model()
    arr = _rgb_array(image)
    x, (nw, nh) = prepare(arr)
    prev = torch.get_num_threads()
    try:
        if threads is not None:
            torch.set_num_threads(threads)
        with torch.inference_mode():
            logits = model(torch.from_numpy(x)[None].contiguous(memory_format=torch.channels_last))[0]
            probs = torch.softmax(logits, 0).numpy()
    finally:
        if threads is not None:
            torch.set_num_threads(prev)
    return probs[:, : (nh + 1) // 2, : (nw + 1) // 2]


# -- the refiner ------------------------------------------------------------------------------
def _regions(p_int: np.ndarray, p: RefineParams, p_edge: np.ndarray | None = None) -> tuple[np.ndarray, list[dict]]:
    """Connected interior regions that are panel-sized: label image and, per region, its box
    in map pixels (x0, y0, x1, y1; exclusive ends), area and mean probability."""
    import cv2

    mask = p_int >= p.interior
    if p_edge is not None and p.edge_below < 1.0:
        mask &= p_edge < p.edge_below
    mask = mask.astype(np.uint8)
    n, labels, stats, _ = cv2.connectedComponentsWithStats(mask, connectivity=4)
    h, w = p_int.shape
    side = p.min_side * math.sqrt(h * w)
    sums = np.bincount(labels.ravel(), weights=p_int.ravel(), minlength=n)
    out = []
    for k in range(1, n):
        x, y, bw, bh, area = (int(v) for v in stats[k])
        if bw < side or bh < side or area < p.min_area * h * w:
            continue
        out.append({"id": k, "box": (x, y, x + bw, y + bh), "area": area, "conf": sums[k] / area})
    return labels, out


def refine(image: Any, boxes: Sequence[Sequence[float]], *, rtl: bool = False,
           params: RefineParams | None = None, maps: np.ndarray | None = None,
           model: Any = None) -> list[Box]:
    """The classical ``boxes`` ``(x, y, w, h)`` (in reading order) corrected with the
    network's maps of ``image``: split, tightened or extended, dropped, and confident regions
    no box covers added. Returns boxes in reading order; never empty."""
    p = params or RefineParams()
    arr = None
    if maps is None:
        arr = _rgb_array(image)
        maps = predict_maps(arr, model)
    if arr is not None:
        H, W = arr.shape[:2]
    elif hasattr(image, "size") and hasattr(image, "mode"):
        W, H = image.size
    else:
        H, W = np.asarray(image).shape[:2]
    p_int = maps[INTERIOR]
    mh, mw = p_int.shape
    sx, sy = W / mw, H / mh
    labels, regions = _regions(p_int, p, maps[EDGE])
    by_id = {r["id"]: r for r in regions}

    def to_page(r: dict) -> tuple[float, float, float, float]:
        x0, y0, x1, y1 = r["box"]
        g = p.grow
        return ((x0 - g) * sx, (y0 - g) * sy, (x1 + g) * sx, (y1 + g) * sy)

    out: list[tuple[tuple[float, float, float, float], int]] = []  # (x0, y0, x1, y1), parent
    claimed = np.zeros(int(labels.max()) + 1, np.int64)
    strict = None

    def strict_regions() -> tuple[np.ndarray, list[dict]]:
        nonlocal strict
        if strict is None:
            strict = _regions(p_int, replace(p, edge_below=p.big_edge_below), maps[EDGE])
        return strict

    for i, b in enumerate(boxes):
        bx, by, bw, bh = (float(v) for v in b)
        m0 = (int(max(0, math.floor(bx / sx))), int(max(0, math.floor(by / sy))))
        m1 = (int(min(mw, math.ceil((bx + bw) / sx))), int(min(mh, math.ceil((by + bh) / sy))))
        page_box = (bx, by, bx + bw, by + bh)
        if m1[0] <= m0[0] or m1[1] <= m0[1]:
            out.append((page_box, i))
            continue
        sub = labels[m0[1]:m1[1], m0[0]:m1[0]]
        counts = np.bincount(sub.ravel(), minlength=labels.max() + 1)
        claimed += counts
        inside = [by_id[k] for k in np.nonzero(counts)[0] if k in by_id
                  and counts[k] >= p.belongs * by_id[k]["area"]]
        looked_again = False
        if len(inside) < 2 and p.split and bw * bh >= p.big_box * W * H:
            s_labels, s_regions = strict_regions()
            s_by_id = {r["id"]: r for r in s_regions}
            s_counts = np.bincount(s_labels[m0[1]:m1[1], m0[0]:m1[0]].ravel(), minlength=s_labels.max() + 1)
            s_inside = [s_by_id[k] for k in np.nonzero(s_counts)[0] if k in s_by_id
                        and s_counts[k] >= p.belongs * s_by_id[k]["area"]]
            if len(s_inside) >= 2:
                inside, looked_again = s_inside, True
        if len(inside) >= 2 and p.split and _cover(inside, to_page, page_box) >= p.split_cover:
            # The pieces' outer edges stay the box's where they nearly agree (the classical
            # edges are exact to the pixel when right; the maps' are not).
            snap = (p.snap_tol * sx, p.snap_tol * sy, p.snap_tol * sx, p.snap_tol * sy)
            if not looked_again and p.strict_parts <= 1.0:
                inside = [q for r in inside for q in _parts(r, labels, strict_regions(), p.strict_parts)]
            for r in inside:
                out.append((_snap(to_page(r), page_box, snap), i))
        elif (cut := _edge_line(maps[EDGE], m0, m1, p, maps[OUTSIDE])) is not None:
            axis, at = cut
            k0, k1 = (0, 2) if axis == 1 else (1, 3)
            scale = sx if axis == 1 else sy
            for lo, hi in ((page_box[k0], at * scale), (at * scale, page_box[k1])):
                piece = list(page_box)
                piece[k0], piece[k1] = lo, hi
                out.append((tuple(piece), i))
        elif len(inside) == 1 and p.adjust:
            tol = (p.edge_tol * sx, p.edge_tol * sy, p.edge_tol * sx, p.edge_tol * sy)
            new = _snap(to_page(inside[0]), page_box, tol)
            if p.shrink_only:
                new = _shrink_only(new, page_box, maps[OUTSIDE], sx, sy, p.strip_outside)
            out.append((new, i))
        elif (not inside and p.drop and float(p_int[m0[1]:m1[1], m0[0]:m1[0]].mean()) < p.drop_below
              and _border_edge(maps[EDGE], m0, m1) < p.drop_framed):
            continue
        else:
            out.append((page_box, i))
    added = False
    if p.add:
        for r in regions:
            if claimed[r["id"]] < p.add_overlap * r["area"] and r["conf"] >= p.add_conf:
                out.append((to_page(r), -1))
                added = True
    if not out:
        return [whole_page(W, H)]
    result = [clip_box((x0, y0, x1 - x0, y1 - y0), W, H) for (x0, y0, x1, y1), _ in out]
    if added:
        return _reading_order(result, rtl)
    # Keep the classical order; the pieces of a split box take its place, read in rows.
    ordered: list[Box] = []
    k = 0
    while k < len(out):
        parent = out[k][1]
        group = []
        while k < len(out) and out[k][1] == parent:
            group.append(result[k])
            k += 1
        ordered.extend(_reading_order(group, rtl) if len(group) > 1 else group)
    return ordered


def _parts(r: dict, labels: np.ndarray, strict: tuple[np.ndarray, list[dict]], share: float) -> list[dict]:
    """The panel-sized regions of the strict labelling (``strict``: labels and regions) that lie
    in the region ``r`` of ``labels``, when there are two or more of them and they hold at least
    ``share`` of its area; else ``[r]``."""
    s_labels, s_regions = strict
    x0, y0, x1, y1 = r["box"]
    ids = set(np.unique(s_labels[y0:y1, x0:x1][labels[y0:y1, x0:x1] == r["id"]]).tolist())
    parts = [q for q in s_regions if q["id"] in ids]
    if len(parts) >= 2 and sum(q["area"] for q in parts) >= share * r["area"]:
        return parts
    return [r]


def _border_edge(p_edge: np.ndarray, m0: tuple[int, int], m1: tuple[int, int]) -> float:
    """The edge band's mean probability along a box's border: its outer two map pixels."""
    e = p_edge[m0[1]:m1[1], m0[0]:m1[0]]
    k = 2
    ring = np.concatenate([e[:k].ravel(), e[-k:].ravel(), e[k:-k, :k].ravel(), e[k:-k, -k:].ravel()])
    return float(ring.mean()) if ring.size else 0.0


def _edge_line(p_edge: np.ndarray, m0: tuple[int, int], m1: tuple[int, int],
               p: RefineParams, p_out: np.ndarray) -> tuple[int, float] | None:
    """The straightest border the maps see across the box ``m0``-``m1`` (map pixels): the row
    (axis 0) or column (axis 1) whose mean edge band probability along the box is highest,
    at least ``p.min_side`` of the map in from the box's edges, when it reaches
    ``p.line_edge``; as ``(axis, map coordinate of the line's middle)``."""
    if p.line_edge > 1.0 or not p.split:
        return None
    mh, mw = p_edge.shape
    side = int(math.ceil(p.min_side * math.sqrt(mh * mw)))
    sub = p_edge[m0[1]:m1[1], m0[0]:m1[0]]
    best = None
    for axis in (0, 1):
        n = sub.shape[axis]
        if n <= 2 * side:
            continue
        prof = sub.mean(axis=1 - axis)[side:n - side]
        k = int(np.argmax(prof))
        if prof[k] < p.line_edge or (best is not None and prof[k] <= best[0]):
            continue
        # One line two panels share, not the edge of a gutter: no strip outside every panel
        # beside it.
        beside = p_out[m0[1]:m1[1], m0[0]:m1[0]].mean(axis=1 - axis)[max(0, side + k - 3):side + k + 4]
        if float(beside.max()) <= p.line_outside:
            best = (float(prof[k]), axis, (m0[1] if axis == 0 else m0[0]) + side + k + 0.5)
    return None if best is None else (best[1], best[2])


def _shrink_only(new: Sequence[float], old: Sequence[float], p_out: np.ndarray, sx: float, sy: float,
                 least: float) -> tuple[float, ...]:
    """``old`` with each edge moved in to ``new``'s only where ``new`` lies inside and the strip
    between them is outside every panel (mean probability at least ``least``): a box stretched
    over a scan's dark margin, a spine strip or a text column."""
    box = list(old)
    mh, mw = p_out.shape
    for k in range(4):
        inward = new[k] > old[k] if k < 2 else new[k] < old[k]
        if not inward:
            continue
        x0, y0, x1, y1 = old
        if k == 0:
            x1 = new[0]
        elif k == 1:
            y1 = new[1]
        elif k == 2:
            x0 = new[2]
        else:
            y0 = new[3]
        a0, b0 = int(max(0, x0 / sx)), int(max(0, y0 / sy))
        a1, b1 = int(min(mw, math.ceil(x1 / sx))), int(min(mh, math.ceil(y1 / sy)))
        if a1 > a0 and b1 > b0 and float(p_out[b0:b1, a0:a1].mean()) >= least:
            box[k] = new[k]
    return tuple(box)


def _cover(regions: list[dict], to_page: Any, box: Sequence[float]) -> float:
    """The share of ``box`` (x0, y0, x1, y1) the regions' boxes cover (their sum, clipped)."""
    bx0, by0, bx1, by1 = box
    area = max(1e-6, (bx1 - bx0) * (by1 - by0))
    total = 0.0
    for r in regions:
        x0, y0, x1, y1 = to_page(r)
        total += max(0.0, min(x1, bx1) - max(x0, bx0)) * max(0.0, min(y1, by1) - max(y0, by0))
    return total / area


def _snap(new: Sequence[float], old: Sequence[float], tol: Sequence[float]) -> tuple[float, ...]:
    """``new``'s edges (x0, y0, x1, y1), each replaced by ``old``'s where they differ by at
    most ``tol``."""
    return tuple(n if abs(n - o) > t else o for n, o, t in zip(new, old, tol))


def _reading_order(boxes: list[Box], rtl: bool) -> list[Box]:
    """Rows top to bottom (a box joins the row above when it overlaps the row's span by half
    the shorter height), each row left to right (right to left when ``rtl``)."""
    rows: list[list[Box]] = []
    for b in sorted(boxes, key=lambda q: q[1] + q[3] / 2):
        if rows:
            top = min(q[1] for q in rows[-1])
            bottom = max(q[1] + q[3] for q in rows[-1])
            if min(bottom, b[1] + b[3]) - max(top, b[1]) >= 0.5 * min(b[3], bottom - top):
                rows[-1].append(b)
                continue
        rows.append([b])
    out: list[Box] = []
    for row in rows:
        out.extend(sorted(row, key=lambda q: q[0], reverse=rtl))
    return out


def panels_version() -> str:
    """The shipped detector's version, as the cache keys panels: the classical detector's and
    the refiner's (``classic-11+refine-5``); either changing re-runs the panels stage."""
    from comicdesk.ml.panels import DETECTOR_VERSION

    return f"{DETECTOR_VERSION}+{REFINER_VERSION}"


def detect_panels_refined(image: Any, rtl: bool = False, *, params: RefineParams | None = None,
                          model: Any = None, detector_params: Any = None) -> list[Panel]:
    """The classical detector's panels, refined (same shape as
    :func:`comicdesk.ml.panels.detect_panels`: ``Panel`` list in reading order, never empty).
    ``detector_params``: the classical detector's :class:`~comicdesk.ml.panels.PanelParams`."""
    from comicdesk.ml.panels import detect_boxes

    arr = _rgb_array(image)
    boxes = detect_boxes(arr, rtl=rtl, params=detector_params)
    refined = refine(arr, boxes, rtl=rtl, params=params, model=model)
    height, width = arr.shape[:2]
    if len(refined) == 1 and [tuple(b) for b in boxes] == [tuple(whole_page(width, height))]:
        refined = boxes  # "nothing found" stays the whole page: only a split changes it
    return [Panel(b, i) for i, b in enumerate(refined)]
