"""Synthetic comic pages with known panel boxes, for the panel detector's tests and benchmark.

``make_page(seed, kind)`` draws one page and returns a :class:`SynthPage`: the RGB image, the
true boxes ``(x, y, w, h)`` in western reading order, the order for right-to-left reading, and
the kind. Everything is drawn with OpenCV from a seeded generator, so a seed always gives the
same page.

Kinds (``KINDS``):

- ``framed``: white gutters, black frames, art, text and balloons inside the panels;
- ``black``: black gutters, panels of light flat or graded colour, white or no frame lines;
- ``colour``: gutters of a random colour, framed or unframed panels;
- ``frameless``: no frames: art blobs, figures and ground lines, a balloon above the art with
  a gap of 0.4-0.9 gutter widths (a detector must not split the panel there); the true box is
  the extent of what is drawn;
- ``balloons``: framed panels with one or two balloons crossing a gutter into the next panel,
  balloons poking over frames into gutters (less than the gutter's width) and into the margin;
- ``bleed``: panels at the page's edges run off it (no margin, no frame on that side; white
  inside or coloured art up to the edge);
- ``splash``: one panel: full-bleed art (the true box is the whole page) or a framed splash;
- ``mixed``: framed panels with one or two frameless ones among them;
- ``scan``: a framed page scanned: tilted up to 1.5 degrees, paper tint, noise, blur, JPEG;
- ``jpeg``: a framed or coloured page through strong JPEG compression.

Layouts are guillotine grids: rows (sometimes columns first), cells split into columns, now
and then a cell split again into stacked panels; gutters 8-40 px and margins 15-70 px at a
page width of 1000 px (scaled with the page).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

KINDS = ("framed", "black", "colour", "frameless", "balloons", "bleed", "splash", "mixed",
         "scan", "jpeg")
#: Kinds whose pages are clean framed pages (every panel must be found at IoU >= 0.8).
CLEAN_FRAMED = ("framed",)

Box = tuple[int, int, int, int]


@dataclass
class SynthPage:
    image: np.ndarray
    boxes: list[Box]  # western reading order
    rtl_order: list[int]  # indexes into boxes, in right-to-left reading order
    kind: str
    seed: int
    notes: dict = field(default_factory=dict)


@dataclass
class _Cell:
    x0: int
    y0: int
    x1: int
    y1: int
    rtl_key: tuple = ()
    edges: set = field(default_factory=set)  # page edges the panel bleeds off: "l", "r", "t", "b"


def _cv2():
    import cv2

    return cv2


# -- layout -----------------------------------------------------------------------------------
def _split_sizes(rng, total: int, n: int, gutter: int, min_size: int) -> list[tuple[int, int]] | None:
    avail = total - gutter * (n - 1)
    if avail < n * min_size:
        return None
    weights = rng.uniform(0.6, 1.4, n)
    sizes = np.floor(weights / weights.sum() * avail).astype(int)
    sizes[-1] += avail - sizes.sum()
    if sizes.min() < min_size:
        sizes = np.full(n, avail // n)
        sizes[-1] += avail - sizes.sum()
    spans, pos = [], 0
    for s in sizes:
        spans.append((pos, pos + int(s)))
        pos += int(s) + gutter
    return spans


def _layout(rng, x0: int, y0: int, x1: int, y1: int, gh: int, gv: int, scale: float,
            max_rows: int = 4) -> list[_Cell]:
    """Panel rectangles in western reading order; each carries a key for right-to-left order."""
    min_size = int(130 * scale)
    cells: list[_Cell] = []
    stacked: dict[tuple, list[int]] = {}

    def split(cx0, cy0, cx1, cy1, axis, depth, key):
        if depth == 0:
            probs = np.array([0.1, 0.3, 0.35, 0.25][:max_rows])
            n = int(rng.choice(np.arange(1, max_rows + 1), p=probs / probs.sum()))
        elif depth == 1:
            n = int(rng.choice([1, 2, 3], p=[0.35, 0.45, 0.2]))
        else:
            n = 2 if depth == 2 and rng.random() < 0.2 else 1
        length = (cy1 - cy0) if axis == 0 else (cx1 - cx0)
        spans = _split_sizes(rng, length, n, gh if axis == 0 else gv, min_size) if n > 1 else None
        if spans and axis == 0 and depth >= 2:
            # Stacked panels in a column: keep their gutter clear of the neighbouring columns'
            # (lined-up gutters make a grid, read row by row, and the true order ambiguous).
            taken = stacked.setdefault(key[:-1], [])
            for _ in range(12):
                if all(abs(cy0 + spans[0][1] - t) > 4 * gh for t in taken):
                    break
                spans = _split_sizes(rng, length, n, gh, min_size)
            else:
                spans = None
            if spans:
                taken.append(cy0 + spans[0][1])
        if spans is None:
            if depth < 2:
                split(cx0, cy0, cx1, cy1, 1 - axis, depth + 1, key)
            else:
                _leaf(cx0, cy0, cx1, cy1, key)
            return
        for i, (a, b) in enumerate(spans):
            # Right-to-left reading reverses the order of columns, keeps rows.
            k = key + ((i,) if axis == 0 else (-i,))
            if axis == 0:
                split(cx0, cy0 + a, cx1, cy0 + b, 1, depth + 1, k)
            else:
                split(cx0 + a, cy0, cx0 + b, cy1, 0, depth + 1, k)

    def _leaf(cx0, cy0, cx1, cy1, key):
        cells.append(_Cell(cx0, cy0, cx1, cy1, key))

    first_axis = 1 if rng.random() < 0.15 else 0
    split(x0, y0, x1, y1, first_axis, 0, ())
    return cells


def _rtl_order(cells: list[_Cell]) -> list[int]:
    return sorted(range(len(cells)), key=lambda i: cells[i].rtl_key)


# -- drawing ----------------------------------------------------------------------------------
def _colour(rng, lo: int = 0, hi: int = 256) -> tuple[int, int, int]:
    return tuple(int(v) for v in rng.integers(lo, hi, 3))


def _text_block(rng, img, x: int, y: int, w: int, lines: int, scale: float, colour=(20, 20, 20)) -> int:
    """Lines of lettering inside ``w`` px from (x, y); returns the height used."""
    cv2 = _cv2()
    fs = 0.5 * scale * rng.uniform(0.9, 1.3)
    th = max(1, int(round(1.6 * scale)))
    (cw, chh), _ = cv2.getTextSize("M", cv2.FONT_HERSHEY_SIMPLEX, fs, th)
    step = int(chh * 1.7)
    letters = "ABCDEFGHIJKLMNOPRSTUVWY!?"
    for i in range(lines):
        n = max(2, int(w / max(1, cw) * rng.uniform(0.6, 0.95)))
        words = "".join(letters[int(v)] if rng.random() > 0.18 else " " for v in rng.integers(0, len(letters), n))
        cv2.putText(img, words.strip() or "OK", (x, y + chh + i * step), cv2.FONT_HERSHEY_SIMPLEX,
                    fs, colour, th, cv2.LINE_AA)
    return lines * step


def _balloon(rng, img, cx: int, cy: int, bw: int, bh: int, scale: float, tail_to=None,
             line=(0, 0, 0), fill=(255, 255, 255)) -> None:
    cv2 = _cv2()
    thick = max(1, int(round(2 * scale)))
    if tail_to is not None:
        pts = np.array([[cx - bw // 6, cy], [cx + bw // 6, cy], list(tail_to)], np.int32)
        cv2.fillPoly(img, [pts], fill)
        cv2.polylines(img, [pts], True, line, thick, cv2.LINE_AA)
    cv2.ellipse(img, (cx, cy), (bw // 2, bh // 2), 0, 0, 360, fill, -1, cv2.LINE_AA)
    cv2.ellipse(img, (cx, cy), (bw // 2, bh // 2), 0, 0, 360, line, thick, cv2.LINE_AA)
    lines = max(1, min(4, int(bh / (28 * scale))))
    _text_block(rng, img, cx - int(bw * 0.33), cy - int(bh * 0.3), int(bw * 0.66), lines, scale)


def _figure(rng, img, x: int, base: int, height: int, scale: float, colour) -> None:
    cv2 = _cv2()
    t = max(1, int(round(rng.uniform(1.5, 3.5) * scale)))
    head = max(4, height // 7)
    cv2.circle(img, (x, base - height + head), head, colour, t, cv2.LINE_AA)
    neck, hip = base - height + 2 * head, base - height // 3
    cv2.line(img, (x, neck), (x, hip), colour, t, cv2.LINE_AA)
    for dx in (-1, 1):
        cv2.line(img, (x, hip), (x + dx * head, base), colour, t, cv2.LINE_AA)
        cv2.line(img, (x, neck + head // 2), (x + dx * int(head * 1.3), hip - head), colour, t, cv2.LINE_AA)


def _art(rng, img, x0, y0, x1, y1, scale: float, dark=(20, 20, 20), colourful: bool = True) -> None:
    """Shapes, figures, a ground line and some lettering inside the rectangle (clipped to it)."""
    cv2 = _cv2()
    sub = img[y0:y1, x0:x1]
    h, w = sub.shape[:2]
    if h < 20 or w < 20:
        return
    for _ in range(int(rng.integers(1, 4))):
        c = _colour(rng, 40, 230) if colourful else dark
        kind = rng.integers(0, 3)
        cx, cy = int(rng.integers(0, w)), int(rng.integers(h // 3, h))
        if kind == 0:
            cv2.ellipse(sub, (cx, cy), (int(rng.integers(w // 10, w // 3 + 2)), int(rng.integers(h // 10, h // 3 + 2))),
                        float(rng.uniform(0, 180)), 0, 360, c, -1 if colourful else max(1, int(2 * scale)), cv2.LINE_AA)
        elif kind == 1:
            pts = np.stack([rng.integers(0, w, 5), rng.integers(h // 4, h, 5)], axis=1).astype(np.int32)
            cv2.fillPoly(sub, [pts], c) if colourful else cv2.polylines(sub, [pts], True, c, max(1, int(2 * scale)))
        else:
            cv2.rectangle(sub, (cx - w // 8, cy - h // 8), (cx + w // 8, cy + h // 8), c, -1 if colourful else 2)
    ground = int(h * rng.uniform(0.8, 0.95))
    cv2.line(sub, (0, ground), (w, ground), dark, max(1, int(2 * scale)), cv2.LINE_AA)
    for _ in range(int(rng.integers(1, 3))):
        _figure(rng, sub, int(rng.integers(w // 6, w - w // 6 + 1)), ground, int(h * rng.uniform(0.35, 0.6)), scale, dark)
    if rng.random() < 0.6 and w > 80 * scale:
        _text_block(rng, sub, int(8 * scale), int(8 * scale), int(w * 0.7), int(rng.integers(1, 3)), scale)


def _rotate_page(img, boxes: list[Box], angle: float, border) -> tuple[np.ndarray, list[Box]]:
    cv2 = _cv2()
    h, w = img.shape[:2]
    m = cv2.getRotationMatrix2D((w / 2, h / 2), angle, 1.0)
    out = cv2.warpAffine(img, m, (w, h), flags=cv2.INTER_LINEAR, borderValue=tuple(int(v) for v in border))
    new = []
    for x, y, bw, bh in boxes:
        pts = np.array([[x, y, 1], [x + bw, y, 1], [x, y + bh, 1], [x + bw, y + bh, 1]], np.float64) @ m.T
        ax0, ay0 = max(0, pts[:, 0].min()), max(0, pts[:, 1].min())
        ax1, ay1 = min(w, pts[:, 0].max()), min(h, pts[:, 1].max())
        new.append((int(round(ax0)), int(round(ay0)), int(round(ax1 - ax0)), int(round(ay1 - ay0))))
    return out, new


def _jpeg(img, quality: int) -> np.ndarray:
    cv2 = _cv2()
    ok, buf = cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, int(quality)])
    assert ok
    return cv2.imdecode(buf, cv2.IMREAD_COLOR)


def _content_box(img, bg, x0, y0, x1, y1, tol: int = 30) -> Box | None:
    sub = img[y0:y1, x0:x1].astype(np.int16)
    diff = np.abs(sub - np.asarray(bg, np.int16)).max(axis=2) > tol
    ys, xs = np.nonzero(diff)
    if len(ys) == 0:
        return None
    return (x0 + int(xs.min()), y0 + int(ys.min()), int(xs.max() - xs.min() + 1), int(ys.max() - ys.min() + 1))


# -- pages ------------------------------------------------------------------------------------
def make_page(seed: int, kind: str | None = None, size: tuple[int, int] = (800, 1200)) -> SynthPage:
    """One synthetic page of ``size`` (width, height); ``kind`` defaults to one picked by seed."""
    cv2 = _cv2()
    rng = np.random.default_rng(seed)
    kind = kind or KINDS[seed % len(KINDS)]
    width, height = size
    scale = width / 1000.0
    gh = int(rng.integers(8, 41) * scale) + 2
    gv = int(rng.integers(8, 41) * scale) + 2
    margins = [int(rng.integers(15, 71) * scale) for _ in range(4)]  # left, top, right, bottom
    if kind in ("frameless", "mixed"):  # frameless panels need room to stand apart
        gh, gv = gh + int(10 * scale), gv + int(10 * scale)

    if kind == "splash":
        return _splash(rng, seed, width, height, scale, margins)

    style = kind
    if kind in ("scan", "jpeg"):
        style = "framed" if kind == "scan" or rng.random() < 0.5 else "colour"
    bg = {"black": (0, 0, 0), "colour": _colour(rng, 60, 230)}.get(style, (255, 255, 255))
    if style == "colour" and max(bg) - min(bg) < 40:  # make it a real colour, not a grey
        bg = (int(bg[0]), int(min(255, bg[1] + 60)), int(max(0, bg[2] - 40)))
    bleed = set()
    if kind == "bleed":
        bleed = {e for e in "ltrb" if rng.random() < 0.6} or {"t"}
        for i, e in enumerate("ltrb"):
            if e in bleed:
                margins[i] = 0
    img = np.empty((height, width, 3), np.uint8)
    img[:] = bg
    cells = _layout(rng, margins[0], margins[1], width - margins[2], height - margins[3], gh, gv, scale)
    for c in cells:
        c.edges = {e for e, hit in (("l", c.x0 == 0), ("t", c.y0 == 0), ("r", c.x1 == width),
                                    ("b", c.y1 == height)) if hit}

    frameless = set()
    if style == "frameless":
        frameless = set(range(len(cells)))
    elif kind == "mixed" and len(cells) >= 3:
        frameless = set(int(i) for i in rng.choice(len(cells), size=min(2, len(cells) - 2), replace=False))
    elif style == "colour" and rng.random() < 0.3:
        frameless = set(range(len(cells)))  # unframed panels of white on a coloured page

    thick = max(1, int(round(rng.uniform(2, 5) * scale)))
    frame_colour = (245, 245, 245) if style == "black" else (10, 10, 10)
    frame_on = not (style == "black" and rng.random() < 0.4)
    boxes: list[Box | None] = []
    for i, c in enumerate(cells):
        if i in frameless and style in ("frameless", "mixed"):
            boxes.append(_frameless_panel(rng, img, c, bg, scale, gh))
            continue
        inside = (255, 255, 255)
        if style == "black":
            inside = _colour(rng, 150, 256)
        elif style == "colour" and rng.random() < 0.3:
            inside = _colour(rng, 200, 256)
        elif kind == "bleed" and c.edges and rng.random() < 0.5:
            inside = _colour(rng, 150, 240)  # art running off the page
        img[c.y0:c.y1, c.x0:c.x1] = inside
        if style == "black" and rng.random() < 0.5:  # graded colour
            ramp = np.linspace(0.75, 1.0, c.y1 - c.y0)[:, None, None]
            img[c.y0:c.y1, c.x0:c.x1] = (img[c.y0:c.y1, c.x0:c.x1] * ramp).astype(np.uint8)
        pad = thick + int(4 * scale)
        _art(rng, img, c.x0 + pad, c.y0 + pad, c.x1 - pad, c.y1 - pad, scale,
             colourful=style != "framed" or rng.random() < 0.5)
        if kind in ("framed", "balloons", "scan", "jpeg", "bleed", "mixed") and rng.random() < 0.5:
            bw, bh = int((c.x1 - c.x0) * rng.uniform(0.3, 0.55)), int(rng.uniform(45, 80) * scale)
            if bh + 2 * pad < c.y1 - c.y0 and bw > 40 * scale:
                bx = int(rng.integers(c.x0 + pad + bw // 2, max(c.x0 + pad + bw // 2 + 1, c.x1 - pad - bw // 2)))
                by = c.y0 + pad + bh // 2 + int(4 * scale)
                _balloon(rng, img, bx, by, bw, bh, scale, tail_to=(bx + int(10 * scale), by + bh))
        if (i not in frameless) and frame_on:
            # No frame line along the page's edge where the panel bleeds off it.
            x0, y0, x1, y1 = c.x0, c.y0, c.x1 - 1, c.y1 - 1
            sides = {"t": ((x0, y0), (x1, y0)), "b": ((x0, y1), (x1, y1)),
                     "l": ((x0, y0), (x0, y1)), "r": ((x1, y0), (x1, y1))}
            for e, (a, b) in sides.items():
                if e in c.edges:
                    continue
                off = thick // 2
                da = {"t": (0, off), "b": (0, -off), "l": (off, 0), "r": (-off, 0)}[e]
                cv2.line(img, (a[0] + da[0], a[1] + da[1]), (b[0] + da[0], b[1] + da[1]), frame_colour, thick)
        boxes.append((c.x0, c.y0, c.x1 - c.x0, c.y1 - c.y0))

    notes = {"gutters": (gh, gv), "frameless": sorted(frameless)}
    if kind == "balloons":
        notes.update(_crossing_balloons(rng, img, cells, scale, gh, gv, height, width))

    keep = [i for i, b in enumerate(boxes) if b is not None]
    cells = [cells[i] for i in keep]
    boxes = [boxes[i] for i in keep]
    rtl = _rtl_order(cells)

    if kind == "scan":
        tint = np.array([rng.uniform(0.9, 0.98), rng.uniform(0.92, 0.99), rng.uniform(0.95, 1.0)])
        img = (img.astype(np.float32) * tint[None, None, :]).astype(np.uint8)
        angle = float(rng.uniform(-1.5, 1.5))
        paper = tuple(int(255 * t) for t in tint)
        img, boxes = _rotate_page(img, boxes, angle, paper)
        noise = rng.normal(0, rng.uniform(2, 8), img.shape)
        img = np.clip(img.astype(np.float32) + noise, 0, 255).astype(np.uint8)
        if rng.random() < 0.5:
            img = cv2.GaussianBlur(img, (3, 3), 0)
        img = _jpeg(img, int(rng.integers(50, 90)))
        notes["angle"] = angle
    elif kind == "jpeg":
        img = _jpeg(img, int(rng.integers(15, 40)))
    return SynthPage(img, [tuple(int(v) for v in b) for b in boxes], rtl, kind, seed, notes)


def _frameless_panel(rng, img, c: _Cell, bg, scale: float, gutter: int) -> Box | None:
    """Art without a frame (drawn clipped to the cell) and a balloon above it, apart from the art
    by a gap a little narrower than the gutters."""
    cv2 = _cv2()
    sub = img[c.y0:c.y1, c.x0:c.x1]
    h, w = sub.shape[:2]
    bh = int(min(h * 0.22, rng.uniform(50, 90) * scale))
    gap = max(4, int(rng.uniform(0.4, 0.9) * gutter))
    art_top = bh + gap
    if art_top + 60 * scale >= h:
        art_top, bh = 0, 0
    # The art: a coloured blob and figures standing on a ground line that spans the panel.
    blob = _colour(rng, 60, 220)
    cv2.ellipse(sub, (w // 2, (art_top + h) // 2),
                (int(w * rng.uniform(0.3, 0.5)), int((h - art_top) * rng.uniform(0.3, 0.5))),
                0, 0, 360, blob, -1, cv2.LINE_AA)
    ground = h - int(4 * scale) - 1
    cv2.line(sub, (0, ground), (w - 1, ground), (20, 20, 20), max(2, int(3 * scale)))
    for _ in range(int(rng.integers(1, 3))):
        fx = int(rng.integers(w // 4, w - w // 4 + 1))
        _figure(rng, sub, fx, ground, int((ground - art_top) * rng.uniform(0.7, 1.0)), scale, (20, 20, 20))
    cv2.line(sub, (w // 4, art_top + 1), (w // 3, art_top + 1), (20, 20, 20), max(2, int(3 * scale)))
    if bh:
        bw = int(w * rng.uniform(0.45, 0.8))
        bx = int(rng.integers(bw // 2, w - bw // 2 + 1))
        _balloon(rng, sub, bx, bh // 2, bw, bh, scale)
    return _content_box(img, bg, c.x0, c.y0, c.x1, c.y1)


def _crossing_balloons(rng, img, cells: list[_Cell], scale: float, gh: int, gv: int,
                       height: int, width: int) -> dict:
    """Balloons over frames: one or two cross a gutter into the next panel, some poke into a
    gutter by less than its width, one pokes into the page margin."""
    crossing = pokes = 0
    pairs = []
    for a in cells:
        for b in cells:
            if abs(b.x0 - a.x1) <= gv + 1 and min(a.y1, b.y1) - max(a.y0, b.y0) > 140 * scale:
                pairs.append((a, b, 1))
            elif abs(b.y0 - a.y1) <= gh + 1 and min(a.x1, b.x1) - max(a.x0, b.x0) > 200 * scale:
                pairs.append((a, b, 0))
    rng.shuffle(pairs)
    for a, b, axis in pairs[:int(rng.integers(1, 3))]:
        if axis == 1:
            lo, hi = max(a.y0, b.y0) + int(50 * scale), min(a.y1, b.y1) - int(50 * scale)
            cy = int(rng.integers(lo, hi))
            _balloon(rng, img, (a.x1 + b.x0) // 2, cy, int(rng.uniform(110, 170) * scale),
                     int(rng.uniform(50, 80) * scale), scale)
        else:
            lo, hi = max(a.x0, b.x0) + int(90 * scale), min(a.x1, b.x1) - int(90 * scale)
            cx = int(rng.integers(lo, hi))
            _balloon(rng, img, cx, (a.y1 + b.y0) // 2, int(rng.uniform(120, 180) * scale),
                     int(rng.uniform(50, 70) * scale), scale)
        crossing += 1
    for a, b, axis in pairs[2:4]:
        # Poke over a's frame into the gutter by less than the gutter's width.
        if axis == 1 and gv >= 10:
            bw = int(rng.uniform(90, 140) * scale)
            cx = a.x1 - bw // 2 + int(gv * rng.uniform(0.2, 0.5))
            cy = int(rng.integers(a.y0 + int(50 * scale), a.y1 - int(50 * scale)))
            _balloon(rng, img, cx, cy, bw, int(rng.uniform(45, 70) * scale), scale)
            pokes += 1
        elif axis == 0 and gh >= 10:
            bh = int(rng.uniform(45, 70) * scale)
            cy = a.y1 - bh // 2 + int(gh * rng.uniform(0.2, 0.5))
            cx = int(rng.integers(a.x0 + int(70 * scale), a.x1 - int(70 * scale)))
            _balloon(rng, img, cx, cy, int(rng.uniform(90, 150) * scale), bh, scale)
            pokes += 1
    # A balloon poking over a frame into the page margin.
    c = cells[int(rng.integers(0, len(cells)))]
    if c.y0 > 30 * scale:
        _balloon(rng, img, (c.x0 + c.x1) // 2, c.y0 + int(8 * scale), int(min(c.x1 - c.x0, 200 * scale) * 0.6),
                 int(50 * scale), scale)
        pokes += 1
    return {"crossing": crossing, "pokes": pokes}


def _splash(rng, seed: int, width: int, height: int, scale: float, margins: list[int]) -> SynthPage:
    cv2 = _cv2()
    img = np.empty((height, width, 3), np.uint8)
    if rng.random() < 0.5:
        # Full-bleed art: a graded sky and shapes everywhere; the page is the panel.
        top, bottom = np.array(_colour(rng, 40, 200)), np.array(_colour(rng, 40, 200))
        ramp = np.linspace(0, 1, height)[:, None, None]
        img[:] = (top * (1 - ramp) + bottom * ramp).astype(np.uint8)
        hramp = np.linspace(-25, 25, width)[None, :, None]
        img[:] = np.clip(img.astype(np.float32) + hramp, 0, 255).astype(np.uint8)
        for _ in range(12):
            cv2.ellipse(img, (int(rng.integers(0, width)), int(rng.integers(0, height))),
                        (int(rng.integers(30, 300) * scale), int(rng.integers(30, 300) * scale)),
                        float(rng.uniform(0, 180)), 0, 360, _colour(rng), -1, cv2.LINE_AA)
        _art(rng, img, 0, 0, width, height, scale)
        box = (0, 0, width, height)
    else:
        img[:] = 255
        x0, y0, x1, y1 = margins[0], margins[1], width - margins[2], height - margins[3]
        img[y0:y1, x0:x1] = _colour(rng, 120, 256)
        _art(rng, img, x0 + 10, y0 + 10, x1 - 10, y1 - 10, scale)
        cv2.rectangle(img, (x0, y0), (x1 - 1, y1 - 1), (10, 10, 10), max(2, int(4 * scale)))
        box = (x0, y0, x1 - x0, y1 - y0)
    return SynthPage(img, [box], [0], "splash", seed)


def make_set(n: int, start: int = 0, size: tuple[int, int] = (800, 1200)) -> list[SynthPage]:
    """``n`` pages, the kinds in turn."""
    return [make_page(start + i, KINDS[(start + i) % len(KINDS)], size) for i in range(n)]


from comicdesk.core.geometry import iou  # noqa: E402 - scoring uses the detector's own definition


# -- scoring ----------------------------------------------------------------------------------
def match(truth: list, found: list, threshold: float = 0.5) -> list[tuple[int, int, float]]:
    """Greedy one-to-one matching by IoU, best pairs first: ``(truth index, found index, IoU)``
    for every pair at or above ``threshold``."""
    pairs = sorted(((iou(t, f), i, j) for i, t in enumerate(truth) for j, f in enumerate(found)),
                   reverse=True)
    used_t, used_f, out = set(), set(), []
    for v, i, j in pairs:
        if v < threshold:
            break
        if i in used_t or j in used_f:
            continue
        used_t.add(i)
        used_f.add(j)
        out.append((i, j, v))
    return out


@dataclass
class Score:
    tp: int = 0
    n_truth: int = 0
    n_found: int = 0
    iou_sum: float = 0.0  # over truth boxes: matched IoU, 0 when unmatched

    def add(self, truth: list, found: list) -> list[tuple[int, int, float]]:
        m = match(truth, found)
        self.tp += len(m)
        self.n_truth += len(truth)
        self.n_found += len(found)
        self.iou_sum += sum(v for _, _, v in m)
        return m

    @property
    def precision(self) -> float:
        return self.tp / self.n_found if self.n_found else 1.0

    @property
    def recall(self) -> float:
        return self.tp / self.n_truth if self.n_truth else 1.0

    @property
    def f1(self) -> float:
        p, r = self.precision, self.recall
        return 2 * p * r / (p + r) if p + r else 0.0

    @property
    def mean_iou(self) -> float:
        return self.iou_sum / self.n_truth if self.n_truth else 1.0

    def as_dict(self) -> dict:
        return {"precision": round(self.precision, 4), "recall": round(self.recall, 4),
                "f1": round(self.f1, 4), "mean_iou": round(self.mean_iou, 4),
                "truth": self.n_truth, "found": self.n_found}
