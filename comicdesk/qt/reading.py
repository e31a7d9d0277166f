"""Reading logic without Qt: which pages are shown together, in which order, at what size.

- Single pages: every page is its own view.
- Double-page spreads: the cover (page 0) is shown alone, then pages go in pairs (1-2, 3-4, ...).
  A wide page (landscape: a spread scanned as one image) is always shown alone, and the pairing
  starts again after it. ``shift`` pairs the cover with page 1 instead, for books whose scans put
  the left and right halves one page off.
- Right-to-left (manga): the first page of a pair is drawn on the right, and "next" is to the
  left (the left arrow and a click on the left side go forward).
- Continuous: every page in one vertical strip, each fitted by the same rule.
"""

from __future__ import annotations

from dataclasses import dataclass

FITS = ("page", "width", "height", "original")
GAP = 8  # pixels between the two pages of a spread, and between pages of the strip
MIN_ZOOM, MAX_ZOOM = 0.1, 8.0
DEFAULT_ASPECT = (2, 3)  # width, height of a page whose size is not known yet


def is_wide(size: tuple[int, int] | None) -> bool:
    return size is not None and size[0] > size[1] * 1.15


def spreads(count: int, sizes: list[tuple[int, int] | None] | None = None, *, double: bool,
            shift: bool = False) -> list[tuple[int, ...]]:
    """The views of a book, each a tuple of page indexes in reading order."""
    if count <= 0:
        return []
    if not double:
        return [(i,) for i in range(count)]
    sizes = sizes or []

    def wide(i: int) -> bool:
        return i < len(sizes) and is_wide(sizes[i])

    groups: list[tuple[int, ...]] = []
    i = 0
    if not shift:
        groups.append((0,))
        i = 1
    while i < count:
        if wide(i) or i + 1 >= count or wide(i + 1):
            groups.append((i,))
            i += 1
        else:
            groups.append((i, i + 1))
            i += 2
    return groups


def group_index(groups: list[tuple[int, ...]], page: int) -> int:
    """The view showing ``page``; for a page no view shows (skipped: not a story page), the next
    view after it, else the last."""
    for gi, g in enumerate(groups):
        if page in g:
            return gi
    for gi, g in enumerate(groups):
        if g[0] > page:
            return gi
    return max(0, len(groups) - 1)


def spreads_of(pages: list[int], sizes: list[tuple[int, int] | None] | None, *, double: bool,
               shift: bool = False) -> list[tuple[int, ...]]:
    """:func:`spreads` over a subset of the pages (the story pages), in page indexes."""
    sizes = sizes or []
    sub = [sizes[i] if i < len(sizes) else None for i in pages]
    return [tuple(pages[j] for j in g) for g in spreads(len(pages), sub, double=double, shift=shift)]


def panel_view(page: tuple[int, int], box: tuple[int, int, int, int], view_w: int, view_h: int,
               margin: float = 0.04) -> tuple[float, int, int, int, int]:
    """Guided view: the scale that fits panel ``box`` of a ``page`` (w, h) in the view, the canvas
    size, and the scroll position that centres the panel: ``(scale, canvas_w, canvas_h, sx, sy)``
    (the page is drawn at the canvas centre when smaller than the view)."""
    pw, ph = page
    bx, by, bw, bh = box
    s = min(view_w / max(1, bw), view_h / max(1, bh)) * (1 - 2 * margin)
    s = max(0.01, min(s, MAX_ZOOM))
    w, h = int(round(pw * s)), int(round(ph * s))
    cw, ch = max(view_w, w), max(view_h, h)
    x0, y0 = (cw - w) // 2, (ch - h) // 2
    sx = int(round(x0 + (bx + bw / 2) * s - view_w / 2))
    sy = int(round(y0 + (by + bh / 2) * s - view_h / 2))
    return s, cw, ch, max(0, min(sx, cw - view_w)), max(0, min(sy, ch - view_h))


def display_order(group: tuple[int, ...], rtl: bool) -> tuple[int, ...]:
    """Left to right on screen."""
    return tuple(reversed(group)) if rtl else group


def page_size(sizes: list[tuple[int, int] | None], i: int) -> tuple[int, int]:
    s = sizes[i] if i < len(sizes) else None
    if not s or s[0] <= 0 or s[1] <= 0:
        return (DEFAULT_ASPECT[0] * 400, DEFAULT_ASPECT[1] * 400)
    return s


def fit_scale(content_w: float, content_h: float, view_w: float, view_h: float, fit: str,
              zoom: float) -> float:
    if content_w <= 0 or content_h <= 0:
        return zoom
    if fit == "width":
        base = view_w / content_w
    elif fit == "height":
        base = view_h / content_h
    elif fit == "original":
        base = 1.0
    else:
        base = min(view_w / content_w, view_h / content_h)
    return max(0.01, base * zoom)


@dataclass(frozen=True)
class Placement:
    index: int
    x: int
    y: int
    w: int
    h: int


def place_group(group: tuple[int, ...], sizes, view_w: int, view_h: int, *, fit: str, zoom: float,
                rtl: bool) -> tuple[list[Placement], int, int]:
    """Pages of one view side by side at one height; returns placements and the canvas size
    (at least the viewport, content centred)."""
    order = display_order(group, rtl)
    dims = [page_size(sizes, i) for i in order]
    # Pages of a spread are brought to a common height (the taller one's), then fitted together.
    ref_h = max(h for _w, h in dims)
    widths = [w * ref_h / h for w, h in dims]
    content_w = sum(widths) + GAP * (len(order) - 1)
    s = fit_scale(content_w, ref_h, view_w, view_h, fit, zoom)
    total_w = int(round(content_w * s))
    total_h = int(round(ref_h * s))
    canvas_w, canvas_h = max(view_w, total_w), max(view_h, total_h)
    x = (canvas_w - total_w) // 2
    y = (canvas_h - total_h) // 2
    out = []
    for i, w in zip(order, widths):
        pw = int(round(w * s))
        out.append(Placement(i, x, y, pw, total_h))
        x += pw + int(round(GAP * s))
    return out, canvas_w, canvas_h


def place_strip(count: int, sizes, view_w: int, view_h: int, *, fit: str, zoom: float
                ) -> tuple[list[Placement], int, int]:
    """Every page in one vertical strip (continuous scroll)."""
    out = []
    y = GAP
    widest = 0
    for i in range(count):
        w, h = page_size(sizes, i)
        s = fit_scale(w, h, view_w, view_h, fit, zoom)
        pw, ph = max(1, int(round(w * s))), max(1, int(round(h * s)))
        out.append(Placement(i, 0, y, pw, ph))
        widest = max(widest, pw)
        y += ph + GAP
    canvas_w = max(view_w, widest)
    out = [Placement(p.index, (canvas_w - p.w) // 2, p.y, p.w, p.h) for p in out]
    return out, canvas_w, max(view_h, y)


def clamp_zoom(z: float) -> float:
    return max(MIN_ZOOM, min(MAX_ZOOM, z))
