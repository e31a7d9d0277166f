"""Hard modern-Western synthetic pages (**synthetic**, ours, MIT) with each panel's frame box, for
measuring the panel detector where modern Western comics trip it (issue 17's held-out craphound
pages are of that kind; they are never looked at: this set stands in for them).

``make_modern(seed)`` draws one page and returns a :class:`ModernPage`: the RGB image, the true
boxes ``(x, y, w, h)`` (each panel's frame box, outer edge of its frame line, clipped to the
page; a panel partly hidden under another keeps its whole frame box), and ``phenomena``, the set
of hard things drawn on the page. Same seed, same page.

What it draws: black frames 2-8 px thick, white gutters narrow (5-12 px) or wide (14-40 px),
full-colour art (flat or graded fields, shapes, figures, speed lines), and per page several of
(``PHENOMENA``):

- ``breakout``: a figure or a coloured shape inside one panel reaching across the gutter into
  its neighbour, over both frames;
- ``caption``: a caption box sitting on the frame line between two stacked panels (half in each)
  or across a gutter between side-by-side ones;
- ``balloon``: a balloon straddling a gutter;
- ``inset``: a small framed panel over a neighbour's corner (over the corner of one panel, out
  across the gutter);
- ``overlap``: two panels overlapping: one drawn over the side of its neighbour;
- ``stack``: a tall panel beside a stack of two or three;
- ``trapezoid``: slanted frame sides (a slanted gutter between two panels of a row);
- ``bleed``: a panel bleeding off the page (no frame, no margin on that side);
- ``speed``: speed lines across a panel;
- ``dark``: a panel of dark art (a night scene) next to the others.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent / "ml"))
from panel_synth import _balloon, _figure, _text_block  # noqa: E402

PHENOMENA = ("breakout", "caption", "balloon", "inset", "overlap", "stack", "trapezoid", "bleed",
             "speed", "dark")

Box = tuple[int, int, int, int]


@dataclass
class ModernPage:
    image: np.ndarray                       # (H, W, 3) uint8, RGB
    boxes: list[Box]                        # frame boxes (x, y, w, h), western reading order
    phenomena: set = field(default_factory=set)
    seed: int = 0
    notes: dict = field(default_factory=dict)
    polys: list = field(default_factory=list)  # each panel's frame outline, (4, 2), in drawing order

    def to_scan(self):
        """The page as a ``synth_scan.ScanPage`` (for the refiner's training): polygons in
        drawing order, each later panel hiding the edge band under it (``notes["layered"]``)."""
        from synth_scan import ScanPage

        return ScanPage(self.image, [p.copy() for p in self.polys], "modern", self.seed,
                        notes={"layered": True})


def _cv2():
    import cv2

    return cv2


def _col(rng, lo: int = 0, hi: int = 256) -> tuple[int, int, int]:
    return tuple(int(v) for v in rng.integers(lo, hi, 3))


# -- layout: rectangles (x0, y0, x1, y1) of outer frame edges ----------------------------------
def _split(rng, a: int, b: int, n: int, gut: int, least: int) -> list[tuple[int, int]] | None:
    avail = b - a - gut * (n - 1)
    if avail < n * least:
        return None
    w = rng.uniform(0.6, 1.4, n)
    sizes = np.floor(w / w.sum() * avail).astype(int)
    sizes[-1] += avail - sizes.sum()
    if sizes.min() < least:
        return None
    out, p = [], a
    for s in sizes:
        out.append((p, p + int(s)))
        p += int(s) + gut
    return out


def _layout(rng, x0, y0, x1, y1, gh, gv, stack: bool) -> list[list[int]] | None:
    """Rows of 1-3 panels; with ``stack`` one row is a tall panel beside a stack of 2-3."""
    h = y1 - y0
    n_rows = int(rng.integers(2, 5))
    rows = _split(rng, y0, y1, n_rows, gv, int(0.12 * h))
    if rows is None:
        return None
    boxes = []
    tall_row = int(rng.integers(0, n_rows)) if stack else -1
    if stack and n_rows > 1:  # the tall row spans two rows' height
        r = tall_row if tall_row < n_rows - 1 else n_rows - 2
        rows = rows[:r] + [(rows[r][0], rows[r + 1][1])] + rows[r + 2:]
        tall_row = r
    for ri, (ry0, ry1) in enumerate(rows):
        if ri == tall_row:
            cols = _split(rng, x0, x1, 2, gh, int(0.25 * (x1 - x0)))
            if cols is None:
                return None
            left_tall = rng.random() < 0.5
            for ci, (cx0, cx1) in enumerate(cols):
                if (ci == 0) == left_tall:
                    boxes.append([cx0, ry0, cx1, ry1])
                else:
                    parts = _split(rng, ry0, ry1, int(rng.integers(2, 4)), gv, int(0.08 * h))
                    if parts is None:
                        parts = [(ry0, ry1)]
                    for py0, py1 in parts:
                        boxes.append([cx0, py0, cx1, py1])
            continue
        n = int(rng.choice([1, 2, 2, 3, 3]))
        cols = _split(rng, x0, x1, n, gh, int(0.18 * (x1 - x0))) or [(x0, x1)]
        for cx0, cx1 in cols:
            boxes.append([cx0, ry0, cx1, ry1])
    return boxes


def _neighbours(boxes, gh, gv):
    """Pairs (i, j, axis): ``axis`` 'x' when j is right of i across a vertical gutter, 'y' when j
    is below i across a horizontal one (the two share at least a third of their side)."""
    out = []
    for i, a in enumerate(boxes):
        for j, b in enumerate(boxes):
            if i == j:
                continue
            ov_y = min(a[3], b[3]) - max(a[1], b[1])
            ov_x = min(a[2], b[2]) - max(a[0], b[0])
            if 0 <= b[0] - a[2] <= gh + 2 and ov_y > 0.33 * min(a[3] - a[1], b[3] - b[1]):
                out.append((i, j, "x"))
            if 0 <= b[1] - a[3] <= gv + 2 and ov_x > 0.33 * min(a[2] - a[0], b[2] - b[0]):
                out.append((i, j, "y"))
    return out


# -- drawing ----------------------------------------------------------------------------------
def _fill_art(rng, h: int, w: int, scale: float, dark: bool) -> np.ndarray:
    """A panel's colour art on its own tile."""
    cv2 = _cv2()
    tile = np.empty((h, w, 3), np.uint8)
    if dark:
        top, bot = np.array(_col(rng, 10, 70), np.float32), np.array(_col(rng, 0, 50), np.float32)
    else:
        top, bot = np.array(_col(rng, 120, 256), np.float32), np.array(_col(rng, 90, 240), np.float32)
    if rng.random() < 0.6:  # a graded sky
        t = np.linspace(0, 1, h, dtype=np.float32)[:, None, None]
        tile[:] = (top * (1 - t) + bot * t).astype(np.uint8)
    else:
        tile[:] = top.astype(np.uint8)
    for _ in range(int(rng.integers(2, 6))):  # shapes
        c = _col(rng, 20, 230) if not dark else _col(rng, 40, 160)
        cx, cy = int(rng.integers(0, w)), int(rng.integers(h // 4, h))
        if rng.random() < 0.5:
            cv2.ellipse(tile, (cx, cy), (int(rng.integers(w // 12 + 2, w // 3 + 3)), int(rng.integers(h // 12 + 2, h // 3 + 3))),
                        float(rng.uniform(0, 180)), 0, 360, c, -1, cv2.LINE_AA)
        else:
            pts = np.stack([rng.integers(0, w, 5), rng.integers(h // 5, h, 5)], axis=1).astype(np.int32)
            cv2.fillPoly(tile, [pts], c, cv2.LINE_AA)
            cv2.polylines(tile, [pts], True, (10, 10, 10), max(1, int(2 * scale)), cv2.LINE_AA)
    ground = int(h * rng.uniform(0.75, 0.95))
    ink = (10, 10, 10) if not dark else (200, 200, 210)
    cv2.line(tile, (0, ground), (w, ground), ink, max(1, int(2 * scale)), cv2.LINE_AA)
    for _ in range(int(rng.integers(1, 3))):
        _figure(rng, tile, int(rng.integers(w // 6, w - w // 6 + 1)), ground, int(h * rng.uniform(0.35, 0.7)), scale, ink)
    return tile


def _speed_lines(rng, tile, scale: float) -> None:
    cv2 = _cv2()
    h, w = tile.shape[:2]
    fx, fy = int(rng.uniform(0.3, 0.7) * w), int(rng.uniform(0.3, 0.7) * h)
    r = int(np.hypot(w, h))
    for a in rng.uniform(0, 2 * np.pi, int(rng.integers(25, 60))):
        r0 = rng.uniform(0.25, 0.5) * min(w, h)
        p0 = (int(fx + r0 * np.cos(a)), int(fy + r0 * np.sin(a)))
        p1 = (int(fx + r * np.cos(a)), int(fy + r * np.sin(a)))
        cv2.line(tile, p0, p1, (15, 15, 15), max(1, int(rng.uniform(1, 3) * scale)), cv2.LINE_AA)


def _draw_panel(rng, page, poly, frame: int, scale: float, dark: bool, speed: bool, halo: int = 0) -> None:
    """Frame (black, ``frame`` px inside the polygon's outline) and colour art inside; ``halo``:
    a white border that wide around the frame (an inset's)."""
    cv2 = _cv2()
    h, w = page.shape[:2]
    mask = np.zeros((h, w), np.uint8)
    cv2.fillPoly(mask, [np.round(poly).astype(np.int32)], 255)
    if halo:
        grown = cv2.dilate(mask, np.ones((2 * halo + 1, 2 * halo + 1), np.uint8))
        page[grown > 0] = 255
    inner = cv2.erode(mask, np.ones((2 * frame + 1, 2 * frame + 1), np.uint8),
                      borderType=cv2.BORDER_CONSTANT, borderValue=255)
    ys, xs = np.nonzero(inner)
    page[mask > 0] = 0
    if len(ys) == 0:
        return
    y0, y1, x0, x1 = ys.min(), ys.max() + 1, xs.min(), xs.max() + 1
    tile = _fill_art(rng, y1 - y0, x1 - x0, scale, dark)
    if speed:
        _speed_lines(rng, tile, scale)
    sub = inner[y0:y1, x0:x1] > 0
    page[y0:y1, x0:x1][sub] = tile[sub]


def _caption(rng, page, cx: int, cy: int, cw: int, ch: int, scale: float) -> None:
    cv2 = _cv2()
    fill = (255, 240, 160) if rng.random() < 0.6 else (255, 255, 255)
    x0, y0 = cx - cw // 2, cy - ch // 2
    cv2.rectangle(page, (x0, y0), (x0 + cw, y0 + ch), fill, -1)
    cv2.rectangle(page, (x0, y0), (x0 + cw, y0 + ch), (10, 10, 10), max(1, int(round(2 * scale))))
    _text_block(rng, page, x0 + int(8 * scale), y0 + int(4 * scale), int(cw * 0.85),
                max(1, min(3, int(ch / (26 * scale)))), scale)


def _box(poly, w: int, h: int) -> Box:
    x0, y0 = max(0.0, poly[:, 0].min()), max(0.0, poly[:, 1].min())
    x1, y1 = min(float(w), poly[:, 0].max()), min(float(h), poly[:, 1].max())
    return (int(round(x0)), int(round(y0)), int(round(x1 - x0)), int(round(y1 - y0)))


def _rect(b) -> np.ndarray:
    x0, y0, x1, y1 = b
    return np.array([[x0, y0], [x1, y0], [x1, y1], [x0, y1]], np.float64)


def make_modern(seed: int, width: int | None = None, only: str | None = None,
                skip: tuple[str, ...] = ()) -> ModernPage:
    """One hard modern-Western page (**synthetic**). ``only``: draw that phenomenon (and the
    layout it needs) and no other, for per-phenomenon probes; ``skip``: phenomena left out
    (the page is then drawn from the same random stream, so it differs from the full one)."""
    cv2 = _cv2()
    rng = np.random.default_rng((seed, 17))
    width = width or int(rng.integers(900, 1300))
    height = int(width * rng.uniform(1.48, 1.56))
    scale = width / 1000.0
    page = np.full((height, width, 3), 255, np.uint8)
    narrow = rng.random() < 0.5
    gh = int((rng.uniform(5, 12) if narrow else rng.uniform(14, 40)) * scale)
    gv = int((rng.uniform(5, 12) if narrow else rng.uniform(14, 40)) * scale)
    frame = int(rng.integers(2, 9))
    margins = [int(rng.uniform(30, 70) * scale) for _ in range(4)]  # l, t, r, b
    if only is not None:
        want = {only}
    else:
        k = int(rng.integers(3, 6))
        want = set(rng.choice(PHENOMENA, k, replace=False).tolist()) - set(skip)
    boxes = None
    while boxes is None:
        boxes = _layout(rng, margins[0], margins[1], width - margins[2], height - margins[3], gh, gv,
                        "stack" in want)
    have = set()
    if "stack" in want and any(b[3] - b[1] > 0.4 * height for b in boxes):
        have.add("stack")
    polys = [_rect(b) for b in boxes]
    pairs = _neighbours(boxes, gh, gv)
    xs = [(i, j) for i, j, a in pairs if a == "x"]
    ys_ = [(i, j) for i, j, a in pairs if a == "y"]
    # Slanted gutter between two panels of a row: the shared side's ends move opposite ways.
    same_row = [(i, j) for i, j in xs if boxes[i][1] == boxes[j][1] and boxes[i][3] == boxes[j][3]]
    if "trapezoid" in want and same_row:
        i, j = same_row[int(rng.integers(0, len(same_row)))]
        d = rng.uniform(0.06, 0.18) * min(boxes[i][2] - boxes[i][0], boxes[j][2] - boxes[j][0])
        d *= rng.choice([-1, 1])
        polys[i][1, 0] += d
        polys[i][2, 0] -= d
        polys[j][0, 0] += d
        polys[j][3, 0] -= d
        have.add("trapezoid")
    # Bleed: a panel at the page's edge runs off it.
    if "bleed" in want:
        side = int(rng.integers(0, 4))
        cand = [i for i, b in enumerate(boxes)
                if [b[0] == min(c[0] for c in boxes), b[1] == min(c[1] for c in boxes),
                    b[2] == max(c[2] for c in boxes), b[3] == max(c[3] for c in boxes)][side]]
        if cand:
            i = cand[int(rng.integers(0, len(cand)))]
            col = [0, 1, 0, 1][side]
            far = [-20.0, -20.0, width + 20.0, height + 20.0][side]
            pts = [(0, 3), (0, 1), (1, 2), (2, 3)][side]
            for p in pts:
                polys[i][p, col] = far
            have.add("bleed")
    # Overlap: one panel drawn over the side of its neighbour.
    on_top = []
    if "overlap" in want and (xs or ys_):
        i, j, axis = pairs[int(rng.integers(0, len(pairs)))]
        top = j if rng.random() < 0.5 else i
        size = (boxes[i][2] - boxes[i][0]) if axis == "x" else (boxes[i][3] - boxes[i][1])
        size = min(size, (boxes[j][2] - boxes[j][0]) if axis == "x" else (boxes[j][3] - boxes[j][1]))
        ext = (gh if axis == "x" else gv) + rng.uniform(0.08, 0.2) * size
        col = 0 if axis == "x" else 1
        if top == j:  # j reaches back over i
            for p in ((0, 3) if axis == "x" else (0, 1)):
                polys[j][p, col] -= ext
        else:
            for p in ((1, 2) if axis == "x" else (2, 3)):
                polys[i][p, col] += ext
        on_top.append(top)
        have.add("overlap")
    dark_i = int(rng.integers(0, len(boxes))) if "dark" in want else -1
    speed_i = int(rng.integers(0, len(boxes))) if "speed" in want else -1
    have |= {"dark"} if dark_i >= 0 else set()
    have |= {"speed"} if speed_i >= 0 else set()
    order = [i for i in range(len(polys)) if i not in on_top] + on_top
    for i in order:
        _draw_panel(rng, page, polys[i], frame, scale, i == dark_i, i == speed_i)
    truth = [_box(p, width, height) for p in polys]
    drawn = [polys[i] for i in order]
    # Inset: a small framed panel over a panel's corner, out across the gutter.
    if "inset" in want:
        cand = [i for i, b in enumerate(boxes) if b[2] - b[0] > 0.3 * width and b[3] - b[1] > 0.18 * height]
        if cand:
            i = cand[int(rng.integers(0, len(cand)))]
            b = boxes[i]
            iw = int((b[2] - b[0]) * rng.uniform(0.25, 0.4))
            ih = int((b[3] - b[1]) * rng.uniform(0.3, 0.45))
            out = int(rng.uniform(0.0, 0.6) * min(iw, ih) * 0.5)  # how far it reaches past the corner
            cx = b[0] - out if rng.random() < 0.5 else b[2] + out - iw
            cy = b[1] - out if rng.random() < 0.5 else b[3] + out - ih
            cx, cy = int(np.clip(cx, 2, width - iw - 2)), int(np.clip(cy, 2, height - ih - 2))
            poly = _rect((cx, cy, cx + iw, cy + ih))
            _draw_panel(rng, page, poly, max(2, frame - 1), scale, False, False,
                        halo=int(rng.integers(0, 2) * rng.uniform(3, 8) * scale))
            truth.append(_box(poly, width, height))
            drawn.append(poly)
            have.add("inset")
    # Breakout: a figure or a shape from one panel across the gutter into its neighbour.
    if "breakout" in want and pairs:
        for _ in range(int(rng.integers(1, 3))):
            i, j, axis = pairs[int(rng.integers(0, len(pairs)))]
            a, b = boxes[i], boxes[j]
            c = _col(rng, 30, 230)
            if axis == "x":
                gx = (a[2] + b[0]) / 2
                lo, hi = max(a[1], b[1]), min(a[3], b[3])
                cy = int(rng.uniform(lo + 0.2 * (hi - lo), hi - 0.2 * (hi - lo)))
                rx = int(rng.uniform(0.06, 0.2) * min(a[2] - a[0], b[2] - b[0]) + gh)
                ry = int(rng.uniform(0.08, 0.25) * (hi - lo))
                cx = int(gx + rng.uniform(-0.5, 0.5) * rx)
            else:
                gy = (a[3] + b[1]) / 2
                lo, hi = max(a[0], b[0]), min(a[2], b[2])
                cx = int(rng.uniform(lo + 0.2 * (hi - lo), hi - 0.2 * (hi - lo)))
                ry = int(rng.uniform(0.06, 0.2) * min(a[3] - a[1], b[3] - b[1]) + gv)
                rx = int(rng.uniform(0.06, 0.2) * (hi - lo))
                cy = int(gy + rng.uniform(-0.5, 0.5) * ry)
            if rng.random() < 0.5:
                cv2.ellipse(page, (cx, cy), (rx, ry), float(rng.uniform(-30, 30)), 0, 360, c, -1, cv2.LINE_AA)
                cv2.ellipse(page, (cx, cy), (rx, ry), float(0), 0, 360, (10, 10, 10), max(1, int(3 * scale)), cv2.LINE_AA)
            else:  # an arm or a weapon: a thick bar across the gutter
                ang = rng.uniform(-0.6, 0.6) + (0 if axis == "x" else np.pi / 2)
                L = max(rx, ry) * 1.5
                p0 = (int(cx - L * np.cos(ang)), int(cy - L * np.sin(ang)))
                p1 = (int(cx + L * np.cos(ang)), int(cy + L * np.sin(ang)))
                t = int(rng.uniform(8, 30) * scale)
                cv2.line(page, p0, p1, (10, 10, 10), t + 4, cv2.LINE_AA)
                cv2.line(page, p0, p1, c, t, cv2.LINE_AA)
        have.add("breakout")
    # Captions on the frame line between two panels.
    if "caption" in want and pairs:
        for _ in range(int(rng.integers(1, 3))):
            i, j, axis = pairs[int(rng.integers(0, len(pairs)))]
            a, b = boxes[i], boxes[j]
            if axis == "y":
                lo, hi = max(a[0], b[0]), min(a[2], b[2])
                cw = int(rng.uniform(0.3, 0.6) * (hi - lo))
                cx = int(rng.uniform(lo + cw / 2 + 4, max(lo + cw / 2 + 5, hi - cw / 2 - 4)))
                cy = int((a[3] + b[1]) / 2 + rng.uniform(-0.3, 0.3) * 50 * scale)
                ch = int(rng.uniform(35, 70) * scale)
            else:
                lo, hi = max(a[1], b[1]), min(a[3], b[3])
                ch = int(rng.uniform(35, 70) * scale)
                cw = int(rng.uniform(0.25, 0.45) * min(a[2] - a[0], b[2] - b[0]) + gh)
                cx = int((a[2] + b[0]) / 2)
                cy = int(rng.uniform(lo + ch, max(lo + ch + 1, hi - ch)))
            _caption(rng, page, cx, cy, cw, ch, scale)
        have.add("caption")
    if "balloon" in want and pairs:
        for _ in range(int(rng.integers(1, 3))):
            i, j, axis = pairs[int(rng.integers(0, len(pairs)))]
            a, b = boxes[i], boxes[j]
            bw, bh = int(rng.uniform(110, 220) * scale), int(rng.uniform(55, 95) * scale)
            if axis == "x":
                lo, hi = max(a[1], b[1]), min(a[3], b[3])
                cx, cy = int((a[2] + b[0]) / 2), int(rng.uniform(lo + bh, max(lo + bh + 1, hi - bh)))
            else:
                lo, hi = max(a[0], b[0]), min(a[2], b[2])
                cx, cy = int(rng.uniform(lo + bw / 2, max(lo + bw / 2 + 1, hi - bw / 2))), int((a[3] + b[1]) / 2)
            _balloon(rng, page, cx, cy, bw, bh, scale, tail_to=(cx + int(rng.uniform(-40, 40) * scale), cy + int(bh * 0.9)))
        have.add("balloon")
    if rng.random() < 0.5:  # light JPEG, as a digital release
        ok, buf = cv2.imencode(".jpg", page[:, :, ::-1], [cv2.IMWRITE_JPEG_QUALITY, int(rng.integers(75, 95))])
        page = cv2.imdecode(buf, cv2.IMREAD_COLOR)[:, :, ::-1].copy()
    return ModernPage(page, truth, have, seed, {"frame": frame, "gutters": (gh, gv), "narrow": narrow},
                      drawn)
