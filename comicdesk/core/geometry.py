"""Page geometry: panel boxes and the few operations every layer needs on them.

A box is ``(x, y, w, h)`` in integer pixels of the page image as decoded (for a rendered PDF page,
the rendered image whose size the catalogue records), with ``w`` and ``h`` at least 1. Every page
has at least one panel: when a detector finds nothing, the whole page is panel 0.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

Box = tuple[int, int, int, int]


@dataclass(frozen=True, slots=True)
class Panel:
    """One panel on a page: its box and its place in reading order (0 is read first)."""

    box: Box
    order: int

    @property
    def x(self) -> int:
        return self.box[0]

    @property
    def y(self) -> int:
        return self.box[1]

    @property
    def w(self) -> int:
        return self.box[2]

    @property
    def h(self) -> int:
        return self.box[3]

    @property
    def area(self) -> int:
        return self.box[2] * self.box[3]

    def as_list(self) -> list[int]:
        """``[x, y, w, h]``, the form the catalogue and the JSON output use."""
        return list(self.box)


def whole_page(width: int, height: int) -> Box:
    """The box of the whole page (the panel a page has when nothing else is found)."""
    return (0, 0, max(1, int(width)), max(1, int(height)))


def clip_box(box: Sequence[float], width: int, height: int) -> Box:
    """``box`` rounded outwards to whole pixels and clipped to the page; never empty."""
    import math

    x, y, w, h = box
    x0 = min(max(0, math.floor(x)), width - 1)
    y0 = min(max(0, math.floor(y)), height - 1)
    x1 = max(x0 + 1, min(width, math.ceil(x + w)))
    y1 = max(y0 + 1, min(height, math.ceil(y + h)))
    return (x0, y0, x1 - x0, y1 - y0)


def iou(a: Sequence[float], b: Sequence[float]) -> float:
    """Intersection over union of two ``(x, y, w, h)`` boxes (0.0 when either is empty)."""
    ax, ay, aw, ah = a
    bx, by, bw, bh = b
    iw = min(ax + aw, bx + bw) - max(ax, bx)
    ih = min(ay + ah, by + bh) - max(ay, by)
    if iw <= 0 or ih <= 0:
        return 0.0
    inter = iw * ih
    union = aw * ah + bw * bh - inter
    return inter / union if union > 0 else 0.0
