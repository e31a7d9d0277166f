"""Synthetic comic pages that look like real scans, with panel polygons, for the learned panel
refiner (``comicdesk/ml/panel_net.py``; trained by ``tests/bench/train_panel_net.py``).

``make_scan(seed)`` draws one page and returns a :class:`ScanPage`: the RGB image, the panels as
polygons (four corners each, in pixels of the image) and their boxes, and the style. Everything
comes from a seeded generator (same seed, same page) and is ours (MIT): nothing is copied from a
real page.

What it adds over ``tests/ml/panel_synth.py`` (which it borrows the art and balloons from), the
things real pages do that the classical detector trips on:

- **layouts**: rows of 1-3 panels (or columns first), gutters from none at all (two panels share
  one frame line) to wide, **slanted** gutters (manga), panels **bleeding** off the page, a
  **frameless** panel (a tone or colour field with no frame line), an **inset** (a small framed
  panel over a bigger one: part of it, as the classical detector reports it);
- **things that are not panels**: a **narration column** or a **title** band of lettering in
  place of a panel, page numbers, balloons poking over frames into gutters and into neighbours;
- **scan artefacts**: a **dark margin** (the scanner's lid) on one to three sides, a **spine
  strip** (a dark gradient and a crease line along one side), **yellowed** and blotched paper,
  **halftone** dots, **misregistered** colour plates, bleed-through from the other side, **skew**
  up to 2 degrees, blur, noise and JPEG;
- **styles**: ``western`` (colour art, white or cream paper), ``golden`` (yellowed newsprint,
  halftone, misregistration, thick frames), ``manga`` (grey screentones, speed lines, slanted
  gutters, frameless and bleeding panels, read right to left).

:func:`label_map` rasterises the panels at any size as three classes: 0 outside every panel
(gutters, margins, scan strips), 1 a panel's edge band (a pixel either side of its outline:
what keeps touching panels apart), 2 a panel's interior.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent / "ml"))
from panel_synth import _art, _balloon, _text_block  # noqa: E402

STYLES = ("western", "golden", "manga")


@dataclass
class ScanPage:
    image: np.ndarray                 # (H, W, 3) uint8
    polys: list[np.ndarray]           # each (4, 2) float: corners of a panel, clockwise
    style: str
    seed: int
    rtl: bool = False
    notes: dict = field(default_factory=dict)

    @property
    def boxes(self) -> list[tuple[int, int, int, int]]:
        """Each panel's box ``(x, y, w, h)``, clipped to the page."""
        h, w = self.image.shape[:2]
        out = []
        for p in self.polys:
            x0, y0 = max(0.0, p[:, 0].min()), max(0.0, p[:, 1].min())
            x1, y1 = min(float(w), p[:, 0].max()), min(float(h), p[:, 1].max())
            out.append((int(round(x0)), int(round(y0)), int(round(x1 - x0)), int(round(y1 - y0))))
        return out


def label_map(page: ScanPage, size: tuple[int, int], edge: int = 1) -> np.ndarray:
    """Classes 0/1/2 (outside, edge band, interior) at ``size`` = (width, height)."""
    import cv2

    w, h = size
    sy, sx = h / page.image.shape[0], w / page.image.shape[1]
    out = np.zeros((h, w), np.uint8)
    kernel = np.ones((2 * edge + 1, 2 * edge + 1), np.uint8)
    edges = np.zeros((h, w), bool)
    # A panel drawn under others (``notes["under"]``: an art panel that framed panels overlap)
    # goes first, and each later panel hides the edge band beneath its interior.
    # ``notes["layered"]``: the polygons are in drawing order and every later one hides the
    # edge band beneath its interior (``tests/synth_modern.py``: overlapping panels, insets).
    under = page.notes.get("under")
    layered = bool(page.notes.get("layered"))
    order = list(range(len(page.polys)))
    if under is not None:
        order = [under] + [i for i in order if i != under]
    for i in order:
        p = page.polys[i]
        m = np.zeros((h, w), np.uint8)
        pts = np.round(p * [sx, sy] * 16).astype(np.int32)
        cv2.fillPoly(m, [pts], 1, lineType=cv2.LINE_8, shift=4)
        inner = cv2.erode(m, kernel, borderType=cv2.BORDER_CONSTANT, borderValue=1)
        outer = cv2.dilate(m, kernel)
        out[inner > 0] = 2
        if under is not None or layered:
            edges[inner > 0] = False
        edges |= (outer > 0) & (inner == 0)
    out[edges] = 1
    return out


# -- layout -----------------------------------------------------------------------------------
def _line_through(p: float, slope: float, mid: float):
    """A line ``v = p + slope * (u - mid)`` as a callable of u."""
    return lambda u: p + slope * (u - mid)


def _corner(row_line, col_line) -> tuple[float, float]:
    """Where a 'horizontal' line y = a + b (x - mx) meets a 'vertical' x = c + d (y - my)."""
    (a, b, mx), (c, d, my) = row_line, col_line
    # x = c + d (a + b (x - mx) - my)  ->  x (1 - d b) = c + d (a - b mx - my)
    x = (c + d * (a - b * mx - my)) / (1.0 - d * b)
    y = a + b * (x - mx)
    return x, y


def _layout(rng, x0, y0, x1, y1, slant: float, shared: float, gut: tuple[int, int]):
    """Quadrilateral panels: rows between (maybe slanted) gutters, each row cut into columns.
    Returns a list of (4, 2) corner arrays in reading order (left to right) and, per panel,
    its (row, column) key."""
    n_rows = int(rng.choice([1, 2, 3, 4], p=[0.08, 0.27, 0.4, 0.25]))
    height = y1 - y0
    weights = rng.uniform(0.6, 1.4, n_rows)
    cuts = y0 + np.cumsum(weights / weights.sum() * height)[:-1]
    mx, my = (x0 + x1) / 2, (y0 + y1) / 2

    def gutter():
        return 0 if rng.random() < shared else int(rng.integers(*gut))

    tops = [(y0, 0.0, mx)]
    bottoms = []
    for c in cuts:
        s = float(rng.uniform(-slant, slant)) if rng.random() < 0.5 else 0.0
        g = gutter()
        bottoms.append((c - g / 2, s, mx))
        tops.append((c + g / 2 + (g == 0) * 0.0, s, mx))
    bottoms.append((y1, 0.0, mx))
    polys, keys = [], []
    for r, (top, bot) in enumerate(zip(tops, bottoms)):
        n_cols = int(rng.choice([1, 2, 3], p=[0.3, 0.45, 0.25]))
        w = x1 - x0
        cw = rng.uniform(0.6, 1.4, n_cols)
        ccuts = x0 + np.cumsum(cw / cw.sum() * w)[:-1]
        lefts, rights = [(x0, 0.0, my)], []
        for c in ccuts:
            s = float(rng.uniform(-slant, slant)) if rng.random() < 0.6 else 0.0
            g = gutter()
            rights.append((c - g / 2, s, my))
            lefts.append((c + g / 2, s, my))
        rights.append((x1, 0.0, my))
        for k, (lft, rgt) in enumerate(zip(lefts, rights)):
            corners = [_corner(top, lft), _corner(top, rgt), _corner(bot, rgt), _corner(bot, lft)]
            polys.append(np.array(corners, np.float64))
            keys.append((r, k))
    return polys, keys


def _overlap(rng, polys, keys, not_panel, style: str, margins, width: int, height: int,
             gut: tuple[int, int], scale: float) -> int | None:
    """Sometimes (western pages mostly) turn one wide cell into a frameless **art panel** that
    framed panels overlap (drawn over it, each a panel of its own): the art runs off the page
    on the sides where the cell meets the margin, the neighbours above and below reach into it,
    and a framed panel may sit in one of its corners. Edits ``polys`` and ``keys`` in place;
    returns the art panel's index (drawn first), or ``None``."""
    if rng.random() >= {"western": 0.3, "golden": 0.05, "manga": 0.08}[style]:
        return None
    cw, ch = width - margins[0] - margins[2], height - margins[1] - margins[3]
    boxes = [(p[:, 0].min(), p[:, 1].min(), p[:, 0].max(), p[:, 1].max()) for p in polys]
    cands = [i for i, (x0, y0, x1, y1) in enumerate(boxes)
             if i not in not_panel and x1 - x0 >= 0.45 * cw and y1 - y0 >= 0.18 * ch]
    if not cands:
        return None
    b = int(cands[int(rng.integers(0, len(cands)))])
    x0, y0, x1, y1 = boxes[b]
    reach = gut[1] + 4
    # Runs off the page where the cell meets the margin (each such side, half the time).
    ax0 = 0.0 if x0 - margins[0] < reach and rng.random() < 0.5 else x0
    ay0 = 0.0 if y0 - margins[1] < reach and rng.random() < 0.5 else y0
    ax1 = float(width) if width - margins[2] - x1 < reach and rng.random() < 0.5 else x1
    ay1 = float(height) if height - margins[3] - y1 < reach and rng.random() < 0.5 else y1
    polys[b] = np.array([[ax0, ay0], [ax1, ay0], [ax1, ay1], [ax0, ay1]], np.float64)
    ah = ay1 - ay0
    # The neighbours just above and below reach into the art (their frame drawn over it).
    low, high = float(height), 0.0
    for j, (jx0, jy0, jx1, jy1) in enumerate(boxes):
        if j == b or j in not_panel or min(jx1, x1) - max(jx0, x0) < 0.3 * (jx1 - jx0):
            continue
        d = float(rng.uniform(0.06, 0.22)) * ah
        if 0 <= jy0 - y1 < reach and rng.random() < 0.7:
            polys[j][[0, 1], 1] = min(polys[j][[0, 1], 1].min(), y1 - d)
            low = min(low, float(polys[j][:, 1].min()))
        elif 0 <= y0 - jy1 < reach and rng.random() < 0.7:
            polys[j][[2, 3], 1] = max(polys[j][[2, 3], 1].max(), y0 + d)
            high = max(high, float(polys[j][:, 1].max()))
    # A framed panel in one of the art's corners (inside the page's margins, clear of the
    # neighbours that reach into the art).
    cx0, cy0 = max(ax0, margins[0]), max(ay0, margins[1], high + gut[0])
    cx1, cy1 = min(ax1, width - margins[2]), min(ay1, height - margins[3], low - gut[0])
    if rng.random() < 0.7 and cy1 - cy0 > 0.4 * ah:
        pw = float(rng.uniform(0.25, 0.45)) * (cx1 - cx0)
        ph = float(rng.uniform(0.5, 0.9)) * (cy1 - cy0)
        left, top = rng.random() < 0.5, rng.random() < 0.6
        off = float(rng.uniform(0, 12)) * scale
        px0 = cx0 + off if left else cx1 - off - pw
        py0 = cy0 + off if top else cy1 - off - ph
        polys.append(np.array([[px0, py0], [px0 + pw, py0], [px0 + pw, py0 + ph], [px0, py0 + ph]],
                              np.float64))
        r, k = keys[b]
        keys.append((r, k - 0.5 if left else k + 0.5))
    return b


# -- drawing helpers --------------------------------------------------------------------------
def _tone(rng, h: int, w: int) -> np.ndarray:
    """A screentone: dots or lines at a small period, as a float map 0..1 of ink."""
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    period = float(rng.uniform(3, 7))
    ang = float(rng.uniform(0, np.pi))
    u = xx * np.cos(ang) + yy * np.sin(ang)
    v = -xx * np.sin(ang) + yy * np.cos(ang)
    if rng.random() < 0.6:
        dots = (np.sin(u * 2 * np.pi / period) * np.sin(v * 2 * np.pi / period) + 1) / 2
    else:
        dots = (np.sin(u * 2 * np.pi / period) + 1) / 2
    level = float(rng.uniform(0.2, 0.8))
    return (dots < level).astype(np.float32)


def _poly_mask(shape, poly) -> np.ndarray:
    import cv2

    m = np.zeros(shape, np.uint8)
    cv2.fillPoly(m, [np.round(poly * 16).astype(np.int32)], 1, lineType=cv2.LINE_8, shift=4)
    return m.astype(bool)


def _strokes(rng, tile, scale: float) -> None:
    """Dense line art: hatching and curves, so panels are not mostly empty."""
    import cv2

    th, tw = tile.shape[:2]
    for _ in range(int(rng.integers(5, 40))):
        n = int(rng.integers(2, 6))
        c = rng.uniform(0, 1, 2) * (tw, th)
        spread = rng.uniform(0.05, 0.3) * np.array([tw, th])
        pts = (c + rng.normal(0, 1, (n, 2)) * spread).astype(np.int32)
        cv2.polylines(tile, [pts], False, (20, 20, 20), max(1, int(rng.uniform(1, 3) * scale)), cv2.LINE_AA)
    if rng.random() < 0.4:  # a hatched area
        x, y = int(rng.integers(0, tw)), int(rng.integers(0, th))
        step = int(rng.integers(3, 8))
        for k in range(0, int(rng.integers(30, 150)), step):
            cv2.line(tile, (x + k, y), (x + k - 40, y + 60), (30, 30, 30), 1, cv2.LINE_AA)


def _speed_lines(rng, img, x0, y0, x1, y1) -> None:
    import cv2

    cx, cy = int(rng.integers(x0, x1)), int(rng.integers(y0, y1))
    for _ in range(int(rng.integers(20, 60))):
        a = rng.uniform(0, 2 * np.pi)
        r0, r1 = rng.uniform(40, 120), rng.uniform(300, 900)
        p0 = (int(cx + r0 * np.cos(a)), int(cy + r0 * np.sin(a)))
        p1 = (int(cx + r1 * np.cos(a)), int(cy + r1 * np.sin(a)))
        cv2.line(img, p0, p1, (25, 25, 25), 1, cv2.LINE_AA)


def _panel_art(rng, page, poly, style: str, framed: bool, frame_w: int, scale: float,
               inset: bool = True) -> None:
    """Fill and draw one panel inside its polygon; the frame line along its outline."""
    import cv2

    h, w = page.shape[:2]
    x0, y0 = int(max(0, poly[:, 0].min())), int(max(0, poly[:, 1].min()))
    x1, y1 = int(min(w, poly[:, 0].max() + 1)), int(min(h, poly[:, 1].max() + 1))
    if x1 - x0 < 8 or y1 - y0 < 8:
        return
    tile = np.empty((y1 - y0, x1 - x0, 3), np.uint8)
    if style == "manga":
        base = 255 if rng.random() < 0.6 else int(rng.integers(200, 255))
        tile[:] = base
        if rng.random() < 0.6 or not framed:
            tone = _tone(rng, y1 - y0, x1 - x0)
            band = np.zeros_like(tone)
            if rng.random() < 0.5:
                band[:] = 1
            else:
                band[: int((y1 - y0) * rng.uniform(0.3, 0.8))] = 1
            dark = float(rng.uniform(60, 160))
            tile[:] = np.clip(tile - (tone * band)[..., None] * (base - dark), 0, 255).astype(np.uint8)
        if rng.random() < 0.3:
            _speed_lines(rng, tile, 0, 0, x1 - x0, y1 - y0)
        _art(rng, tile, 4, 4, x1 - x0 - 4, y1 - y0 - 4, scale, colourful=False)
    else:
        fill = (255, 255, 255)
        if rng.random() < 0.55:
            fill = tuple(int(v) for v in rng.integers(120, 250, 3))
        tile[:] = fill
        if rng.random() < 0.3:  # a dark night scene: the panel's art up to its frame
            tile[:] = tuple(int(v) for v in rng.integers(10, 90, 3))
        _art(rng, tile, 4, 4, x1 - x0 - 4, y1 - y0 - 4, scale, colourful=True)
    _strokes(rng, tile, scale)
    if not framed:  # a frameless panel: a field that reaches its outline
        if style != "manga":
            tile[:] = (tile.astype(np.float32) * rng.uniform(0.55, 0.85)).astype(np.uint8)
    mask = _poly_mask((h, w), poly)[y0:y1, x0:x1]
    region = page[y0:y1, x0:x1]
    region[mask] = tile[mask]
    if rng.random() < 0.12 and inset and x1 - x0 > 200 * scale and y1 - y0 > 200 * scale:
        # An inset: a small framed panel over this one (part of it).
        iw, ih = int((x1 - x0) * rng.uniform(0.25, 0.4)), int((y1 - y0) * rng.uniform(0.25, 0.4))
        ix = int(rng.integers(x0 + 10, x1 - iw - 10))
        iy = int(rng.integers(y0 + 10, y1 - ih - 10))
        page[iy:iy + ih, ix:ix + iw] = 255
        _art(rng, page, ix + 3, iy + 3, ix + iw - 3, iy + ih - 3, scale, colourful=style != "manga")
        cv2.rectangle(page, (ix, iy), (ix + iw, iy + ih), (15, 15, 15), max(1, frame_w - 1))
    if framed and frame_w > 0:
        inset = poly.copy()
        c = poly.mean(axis=0)
        d = c - poly
        d /= np.maximum(1e-6, np.linalg.norm(d, axis=1, keepdims=True))
        inset += d * (frame_w / 2.0)
        pts = np.round(inset * 16).astype(np.int32)
        cv2.polylines(page, [pts], True, (12, 12, 12), frame_w, cv2.LINE_AA, shift=4)


def _lettering(rng, page, x0, y0, x1, y1, scale: float, big: bool = False) -> None:
    if big:
        import cv2

        fs = float(rng.uniform(1.5, 3.0)) * scale
        cv2.putText(page, "".join(rng.choice(list("ABCDEFGHIKLMNOPRSTW "), 9)), (x0 + 5, (y0 + y1) // 2 + int(12 * fs)),
                    cv2.FONT_HERSHEY_DUPLEX, fs, tuple(int(v) for v in rng.integers(0, 120, 3)),
                    max(2, int(3 * scale)), cv2.LINE_AA)
        return
    lines = max(1, int((y1 - y0) / (28 * scale)) - 1)
    _text_block(rng, page, x0 + 4, y0 + 4, max(10, x1 - x0 - 8), min(lines, 40), scale)


# -- scan artefacts ---------------------------------------------------------------------------
def _yellow(rng, img: np.ndarray, strength: float) -> np.ndarray:
    import cv2

    h, w = img.shape[:2]
    tint = np.array([1.0, rng.uniform(0.88, 0.97), rng.uniform(0.7, 0.88)]) ** strength
    blot = cv2.resize(rng.uniform(0.9, 1.0, (6, 4)).astype(np.float32), (w, h),
                      interpolation=cv2.INTER_CUBIC)
    out = img.astype(np.float32) * tint[None, None, :] * blot[..., None] ** strength
    return np.clip(out, 0, 255).astype(np.uint8)


def _halftone(rng, img: np.ndarray) -> np.ndarray:
    h, w = img.shape[:2]
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    p = float(rng.uniform(3, 5))
    dots = (np.sin(xx * 2 * np.pi / p) * np.sin(yy * 2 * np.pi / p)).astype(np.float32)
    f = img.astype(np.float32)
    coloured = (f.max(axis=2) - f.min(axis=2)) > 30
    f[coloured] += dots[coloured, None] * rng.uniform(15, 35)
    return np.clip(f, 0, 255).astype(np.uint8)


def _misregister(rng, img: np.ndarray) -> np.ndarray:
    c = int(rng.integers(0, 3))
    dx, dy = (int(v) for v in rng.integers(-4, 5, 2))
    img = img.copy()
    img[..., c] = np.roll(np.roll(img[..., c], dy, axis=0), dx, axis=1)
    return img


def _bleed_through(rng, img: np.ndarray) -> np.ndarray:
    import cv2

    back = cv2.GaussianBlur(img[:, ::-1], (0, 0), 2.0).astype(np.float32)
    a = float(rng.uniform(0.04, 0.12))
    f = img.astype(np.float32)
    return np.clip(f - a * (255.0 - back), 0, 255).astype(np.uint8)


def _scan_frame(rng, img: np.ndarray, polys: list[np.ndarray]):
    """Dark margins (the scanner's lid) on some sides and a spine strip along one: the page
    sits inside a bigger canvas; polygons move with it."""
    h, w = img.shape[:2]
    pads = [0, 0, 0, 0]  # left, top, right, bottom
    for i in range(4):
        if rng.random() < 0.35:
            pads[i] = int(rng.uniform(0.01, 0.07) * w)
    if not any(pads) and rng.random() < 0.5:
        return img, polys
    dark = rng.uniform(0, 90)
    canvas = np.empty((h + pads[1] + pads[3], w + pads[0] + pads[2], 3), np.float32)
    canvas[:] = dark + rng.normal(0, 6, canvas.shape)
    canvas[pads[1]:pads[1] + h, pads[0]:pads[0] + w] = img
    if rng.random() < 0.6:  # a spine: darkening towards one side, a crease line
        side = int(rng.integers(0, 2))
        width = int(rng.uniform(0.03, 0.12) * w)
        ramp = np.linspace(rng.uniform(0.25, 0.6), 1.0, width, dtype=np.float32)
        cols = np.arange(width) + pads[0] if side == 0 else (pads[0] + w - 1 - np.arange(width))
        canvas[:, cols] *= ramp[None, :, None]
        crease = cols[int(rng.integers(0, max(1, width // 3)))]
        canvas[:, max(0, crease - 1):crease + 1] *= 0.5
    shift = np.array([pads[0], pads[1]], np.float64)
    return np.clip(canvas, 0, 255).astype(np.uint8), [p + shift for p in polys]


def _rotate(rng, img: np.ndarray, polys: list[np.ndarray], angle: float):
    import cv2

    h, w = img.shape[:2]
    m = cv2.getRotationMatrix2D((w / 2, h / 2), angle, 1.0)
    edge = tuple(int(v) for v in np.median(img[:4].reshape(-1, 3), axis=0))
    out = cv2.warpAffine(img, m, (w, h), flags=cv2.INTER_LINEAR, borderValue=edge)
    return out, [np.hstack([p, np.ones((len(p), 1))]) @ m.T for p in polys]


# -- pages ------------------------------------------------------------------------------------
def make_scan(seed: int, style: str | None = None, width: int | None = None,
              overlap: bool = False) -> ScanPage:
    """One synthetic scanned page (style picked by seed when not given); ``overlap``: sometimes
    framed panels drawn over an art panel (:func:`_overlap`; off by default: the shipped
    weights were trained without it)."""
    import cv2

    rng = np.random.default_rng(seed)
    style = style or STYLES[seed % len(STYLES)]
    width = width or int(rng.integers(480, 760))
    height = int(width * rng.uniform(1.35, 1.6))
    scale = width / 1000.0
    paper = (255, 255, 255)
    if style == "golden" or (style == "western" and rng.random() < 0.3):
        paper = (250, 246, 232)
    page = np.empty((height, width, 3), np.uint8)
    page[:] = paper
    black_gutters = style != "manga" and rng.random() < 0.08
    if black_gutters:
        page[:] = (10, 10, 10)
    bleed = {e for e in "ltrb" if rng.random() < (0.3 if style == "manga" else 0.1)}
    margins = [0 if e in bleed else int(rng.uniform(15, 80) * scale) for e in "ltrb"]
    slant = {"manga": 0.12, "western": 0.05, "golden": 0.0}[style]
    shared = {"manga": 0.15, "western": 0.15, "golden": 0.3}[style]
    gut = (int(6 * scale) + 2, int(45 * scale) + 4)
    transpose = rng.random() < 0.12
    if transpose:
        polys, keys = _layout(rng, margins[1], margins[0], height - margins[3], width - margins[2],
                              slant, shared, gut)
        polys = [p[:, ::-1].copy() for p in polys]
        keys = [(k, r) for r, k in keys]
    else:
        polys, keys = _layout(rng, margins[0], margins[1], width - margins[2], height - margins[3],
                              slant, shared, gut)
    frame_w = max(1, int(round(rng.uniform(1.5, 6 if style == "golden" else 4.5) * scale)))
    # Some cells are not panels: a narration column or a title band of lettering.
    not_panel = set()
    if len(polys) >= 3 and style != "manga" and rng.random() < 0.3:
        not_panel.add(int(rng.integers(0, len(polys))))
    # Framed panels over an art panel (its own generator, so pages without them are as before).
    under = _overlap(np.random.default_rng((seed, 3)), polys, keys, not_panel, style, margins,
                     width, height, gut, scale) if overlap and not black_gutters else None
    kept = []
    drawn = list(range(len(polys)))
    if under is not None:  # the art panel first, the framed ones over it
        drawn = [under] + [i for i in drawn if i != under]
    for i in drawn:
        poly = polys[i]
        x0, y0 = int(max(0, poly[:, 0].min())), int(max(0, poly[:, 1].min()))
        x1, y1 = int(min(width, poly[:, 0].max())), int(min(height, poly[:, 1].max()))
        if i in not_panel:
            if not black_gutters:
                big = (y1 - y0) < 0.22 * height and rng.random() < 0.5
                _lettering(rng, page, x0 + 6, y0 + 6, x1 - 6, y1 - 6, scale, big)
            continue
        framed = i != under and not (rng.random() < (0.2 if style == "manga" else 0.07))
        _panel_art(rng, page, poly, style, framed, frame_w, scale, inset=i != under)
        kept.append(i)
    kept.sort()
    polys = [polys[i] for i in kept]
    keys = [keys[i] for i in kept]
    under = kept.index(under) if under is not None else None
    # Balloons over frames: into the gutter, into the neighbour.
    for _ in range(int(rng.integers(0, 3))):
        if not polys:
            break
        p = polys[int(rng.integers(0, len(polys)))]
        corner = p[int(rng.integers(0, 4))]
        cx = int(np.clip(corner[0] + rng.uniform(-60, 60) * scale, 40, width - 40))
        cy = int(np.clip(corner[1] + rng.uniform(-30, 30) * scale, 30, height - 30))
        _balloon(rng, page, cx, cy, int(rng.uniform(90, 180) * scale), int(rng.uniform(45, 80) * scale), scale)
    if rng.random() < 0.5 and margins[3] > 25 * scale:  # a page number
        cv2.putText(page, str(int(rng.integers(1, 200))), (width // 2, height - margins[3] // 3),
                    cv2.FONT_HERSHEY_SIMPLEX, 0.6 * scale + 0.3, (30, 30, 30), 1, cv2.LINE_AA)
    # Scan artefacts.
    if style == "golden":
        if rng.random() < 0.7:
            page = _halftone(rng, page)
        if rng.random() < 0.6:
            page = _misregister(rng, page)
        page = _yellow(rng, page, float(rng.uniform(0.5, 1.5)))
    elif rng.random() < 0.3:
        page = _yellow(rng, page, float(rng.uniform(0.2, 0.8)))
    if rng.random() < 0.2:
        page = _bleed_through(rng, page)
    if style != "manga" or rng.random() < 0.3:
        page, polys = _scan_frame(rng, page, polys)
    if rng.random() < 0.4:
        page, polys = _rotate(rng, page, polys, float(rng.uniform(-2.0, 2.0)))
    if rng.random() < 0.4:
        page = cv2.GaussianBlur(page, (0, 0), float(rng.uniform(0.5, 1.3)))
    if rng.random() < 0.5:
        page = np.clip(page.astype(np.float32) + rng.normal(0, rng.uniform(2, 7), page.shape), 0, 255).astype(np.uint8)
    if rng.random() < 0.7:
        ok, buf = cv2.imencode(".jpg", page, [cv2.IMWRITE_JPEG_QUALITY, int(rng.integers(30, 92))])
        page = cv2.imdecode(buf, cv2.IMREAD_COLOR)
    rtl = style == "manga"
    order = sorted(range(len(polys)), key=lambda i: (keys[i][0], -keys[i][1] if rtl else keys[i][1]))
    notes = {"frame_w": frame_w, "bleed": sorted(bleed), "transpose": transpose}
    if under is not None:
        notes["under"] = order.index(under)
    return ScanPage(page, [polys[i] for i in order], style, seed, rtl, notes)
