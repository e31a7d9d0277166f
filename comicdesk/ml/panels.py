"""The classical panel detector: boxes and reading order of the panels on a comic page.

Plain computer vision with OpenCV and numpy, no model weights. The method (docs/panels.md has the
full account and the figures):

1. **Working copy.** The page is reduced to at most ``work_size`` pixels on its long side (a strided
   pre-reduction first for gigantic pages, then area averaging), so the cost hardly depends on the
   page's size. Boxes are mapped back to pixels of the page as given.
2. **Gutter colour.** The colour most common along the page's edge and along rows/columns that
   are uniform from end to end (gutters that cross the page: the only gutter evidence on a page
   whose panels bleed off the edges). White, black and coloured gutters are all just "the gutter
   colour". A page with no such colour (full-bleed art) is a splash: the whole page is one panel.
3. **Content mask.** Pixels that differ from the gutter colour by more than a noise-aware threshold,
   plus every region they enclose (a framed panel becomes a solid block, whatever its inside
   looks like).
4. **Deskew.** The tilt of the large, nearly rectangular blocks (framed panels on a scan) is
   measured and undone on the mask; boxes are mapped back through the same rotation.
5. **Recursive cuts.** The mask is cut along gutters, rows first (top to bottom), then columns
   (left to right, or right to left for manga), recursively, which gives the reading order of the
   cut tree. Each region takes the surest cut it has: clean gutters (bands of nearly empty
   lines); a single frame line two panels share (no gutter); a gutter a balloon blocks (a short
   band of low fill between two solid blocks); several solid blocks; a dirty gutter (little
   content between solid blocks a short way off: panels starting at uneven heights); slanted
   gutters and slanted shared frame lines. A region that bleeds off the page on three sides with
   one border along the fourth is one panel, and a gap its own border runs across is no gutter.
   Pieces that are not panel-like (specks, a page number, a balloon or a line of text standing
   apart inside a frameless panel) are dropped or merged into their neighbour across the
   narrower gap, so frameless panels are not split at balloon gaps; the pieces either side of
   a shared frame line are panels when panel-sized and more than lettering. Columns cut first
   whose panels still line up in rows (row gutters a few pixels apart) are read row by row.
6. **Boxes.** Each leaf's box is its content's extent; for a solid (framed) leaf, thin protrusions
   (a balloon poking over the frame into the gutter) are trimmed off, and its left and right
   ends stop at its frame (a tall balloon poking sideways over it).

When nothing is found the whole page is panel 0. The detector is deterministic and, by default,
single-threaded (``PanelParams.threads``); see :func:`detect_panels`.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

import numpy as np

from comicdesk.core.geometry import Box, Panel, clip_box, whole_page

if TYPE_CHECKING:  # pragma: no cover
    from PIL.Image import Image as PILImage

__all__ = ["DETECTOR_VERSION", "Panel", "PanelParams", "detect_boxes", "detect_panels"]

#: Changes whenever the detector's output for the same page may change; the cache keys by it.
DETECTOR_VERSION = "classic-11"


@dataclass(frozen=True)
class PanelParams:
    """Every knob of the detector. Lengths are fractions of the working copy's size unless
    their name says otherwise; the defaults are tuned on the synthetic set and the xkcd strips
    (``tests/bench/bench_panels.py``)."""

    #: Long side of the working copy in pixels (pages are never enlarged).
    work_size: int = 1000
    #: A page whose short side is below this many pixels is one panel, without looking.
    min_page_px: int = 24
    #: Least colour distance (max over channels, 0-255) from the gutter colour that counts as
    #: content. Raised automatically on noisy pages.
    ink_threshold: int = 40
    #: A scan's dark strip along an edge of the page (the scanner's lid) is no content: lines
    #: from the edge of one dark tone (``margin_fill`` of their pixels), no more than
    #: ``margin_max`` of the page deep and more than ``margin_min`` (a panel's frame line at
    #: the page's edge is thinner); the ring the gutter colour is read from skips it.
    scan_margins: bool = True
    margin_fill: float = 0.9
    margin_max: float = 0.05
    margin_min: float = 0.012
    #: A page scanned on a bed of another colour than its paper (a white lid around cream
    #: newsprint, wedges of it where the page is turned): the edge ring reads the bed's colour
    #: or none, the paper is all content, or the wedges join the corner panels. The flat
    #: colour of the image's four corners, where joined to the edges and reaching no deeper
    #: than ``bed_depth`` of the long side, covering at least ``bed_min`` of the image, with
    #: one other, pale colour just beyond it (the paper), is painted over in that colour
    #: before anything else; the page so washed is split on its own and its panels kept when
    #: there are two or more covering ``bed_panels`` of it.
    page_on_bed: bool = True
    bed_depth: float = 0.06
    bed_min: float = 0.003
    bed_panels: float = 0.5
    #: ... and a binding's shadow within this share of the page of an edge is lifted first.
    shade_depth: float = 0.08
    #: Least share of the page's edge the gutter colour must have when no gutter band (a band of
    #: uniform lines crossing the page) backs it; below it the page is a splash.
    min_gutter_share: float = 0.5
    #: Least share of the votes (edge pixels and gutter bands) the gutter colour must have.
    min_band_share: float = 0.25
    #: Least gutter width, as a fraction of the working copy's long side (never below 2 px).
    min_gap: float = 0.003
    #: Most content a gutter line may hold (noise, a balloon tail), as a fraction of its length.
    gap_tolerance: float = 0.012
    #: A line of a piece with at most this many content pixels is margin when trimming.
    stray_px: int = 1
    #: Widest gutter (a crossing balloon may block it; a background run along the page's edge
    #: this short is a gutter's mouth), as a fraction of the long side.
    max_gutter: float = 0.06
    #: Fill a block on each side of a blocked gutter must have to call the gutter blocked.
    solid_flank: float = 0.72
    #: A blocked gutter is no gutter where a straight line of dark ink crosses it and runs on
    #: past both of its sides (a panel's frame), unless the line is one side of a caption box
    #: across the gutter: two such lines at most a least panel side apart with lettering
    #: between them on one flat colour.
    caption_across: bool = True
    #: A blocked gutter between solid blocks may be this narrow (pixels of the working copy;
    #: a narrow gutter between framed panels, frames antialiased into it, that a balloon or a
    #: caption crosses), where a clean one needs ``min_gap``.
    blocked_min_px: int = 2
    #: A blocked gutter line holds at most this share of its flanks' fill (or of ink, between
    #: two frame lines).
    blocked_ratio: float = 0.7
    #: A line of ink across at least this share of a region is a frame line (balloons drawn
    #: over a frame break it).
    frame_line: float = 0.6
    #: Least panel side, as a fraction of sqrt(width * height) of the page.
    min_panel: float = 0.1
    #: Pieces smaller than this share of the page's area are specks (page numbers, dirt).
    speck_area: float = 0.003
    #: A speck this close (fraction of the long side) to a neighbour joins it; else it is dropped.
    speck_gap: float = 0.02
    #: A piece whose box is at least this full is a framed (solid) panel.
    solid_fill: float = 0.8
    #: A piece of loose (frameless) content stands as a panel when its extent along the cut
    #: reaches this share of its largest sibling's and, for a row, this share of the typical
    #: framed panel's height when the page has framed panels (what stands apart above or
    #: below the art inside a frameless panel is short).
    loose_share: float = 0.25
    loose_row_share: float = 0.35
    #: Largest letter, as a fraction of the long side (lettering alone never makes a panel).
    letter_size: float = 0.04
    #: Share of a piece's ink that may be other small strokes for it to count as lettering.
    other_ink: float = 0.5
    #: A solid leaf's edge lines holding less than this share of its fullest line are trimmed.
    trim_share: float = 0.35
    #: Tilts below this (degrees) are left alone; above ``max_skew`` they are not a scan's tilt.
    min_skew: float = 0.2
    max_skew: float = 5.0
    #: Below this tilt (degrees) the page is also split untilted, and the reading that finds
    #: more panels is kept (0 turns this off).
    skew_sure: float = 0.6
    #: Cut along a single frame line that two panels share (no gutter between them): a run of
    #: at most ``line_thick`` (fraction of the long side) lines that ink covers over at least
    #: ``line_cover`` of the region's width (a pixel of wobble allowed), with panel room on both
    #: sides, and beside which ink covers at most ``line_side_low`` on one side and
    #: ``line_side_high`` on the other (a line, not a dark stretch of art).
    shared_lines: bool = True
    line_thick: float = 0.008
    line_cover: float = 0.9
    line_side_low: float = 0.5
    line_side_high: float = 0.9
    #: ... unless art runs on across it: the same ink colour on both sides along more than this
    #: share of its length.
    line_crossed: float = 0.1
    #: Split a region that no straight gutter cuts along slanted gutters: straight lines at most
    #: ``max_slant`` (run over length) off square that cross no content.
    slanted: bool = True
    max_slant: float = 0.25
    #: ... and along slanted frame lines two panels share (covered by dark ink over
    #: ``line_cover`` of their length).
    slanted_lines: bool = True
    #: A band whose lines hold at most this share of content, between solid blocks a short way
    #: off on both sides, is a gutter that panels' uneven edges and poking art make dirty (cut
    #: only where nothing surer is found).
    dirty_gap: float = 0.2
    #: A piece is never lettering when three quarters of its ink belong to marks centred
    #: elsewhere (line art joined to the frames into one connected web).
    art_through: bool = True
    #: A band between two frame lines is a blocked gutter only when it holds at most
    #: ``line_band_ratio`` of its flanks' fill on the whole (gutter shows along much of it, not
    #: in one line: a tall balloon's outline beside art is no pair of frames).
    line_band_depth: bool = True
    line_band_ratio: float = 0.85
    #: A clean gutter that a line of ink along the region's edge runs across (a bleeding panel's
    #: own border, under both its balloon and its art) is not a gutter, and a region that bleeds
    #: off the page on three sides with one border along the fourth is one panel (no solid
    #: blocks, dirty or slanted gutters are looked for in it).
    frame_across: bool = True
    #: Pieces on either side of a shared frame line or a blocked gutter are panels when they
    #: are panel-sized and more than lettering, however short against their siblings (the size
    #: tests keep frameless panels whole at gaps inside them; a border is no such gap).
    border_pieces: bool = True
    #: A framed leaf's box ends at its frame on the left and right: within a fifth of its width,
    #: the outermost column its content fills ``frame_full`` of, when beyond it content fills
    #: less than ``frame_beyond`` and a frame line shows (a tall balloon poking sideways over
    #: the frame into the gutter is cut off; never at the page's edge).
    to_frame: bool = True
    frame_full: float = 0.9
    frame_beyond: float = 0.75
    #: A shared frame line beside which ink does not thin out (art on both sides) still cuts
    #: where no content lies beside it on one side along ``uneven_share`` of its length (touching
    #: panels of uneven heights: the shorter one ends before the line does).
    uneven_border: bool = True
    uneven_share: float = 0.25
    #: A dirty gutter that the region's own border runs across is no gutter either (the same
    #: test as for clean gutters, ``frame_across``).
    dirty_frame_across: bool = True
    #: A band beside a shared line that is panel-sized and mostly inked is art, never lettering
    #: (a colour panel: every line of it is "a line across", which the caption test strips).
    solid_band: bool = True
    #: ... and a band down the page (a column) is art from this many least panel sides across.
    solid_column: float = 1.0
    #: Two lines of ink running (``line_cover``) the whole region facing each other across a
    #: band that is clean along a line are a gutter between two framed panels, even where the
    #: panels' inside is not content (a white interior flooded through a break in a frame).
    paired_lines: bool = True
    #: Solid blocks are panels only when none lies half inside another's box (panels cut
    #: apart by slanted gutters overlap along a strip; a balloon, a figure and an object in
    #: one frameless panel nest).
    blocks_apart: bool = True
    #: A solid block counts only when content runs along at least this many sides of its box
    #: (``0.8`` of the side, within 3 px): a framed panel, square or cut by a slanted gutter,
    #: has its frame there; a figure or an object standing free in a frameless panel touches
    #: its box at a few points (craphound p6's frameless panel split into its two figures when
    #: scanned at 0.8 or 1.6 times the size). 0: any block; since ``classic-11``.
    block_sides: int = 1
    #: Where a region is split into solid blocks, the largest mass of content left outside
    #: them, when panel-sized, is a panel too (it used to be dropped).
    blocks_rest: bool = True
    #: No slanted cut leaves a piece that holds only lettering (a caption box's bottom line
    #: across a framed panel, square or nearly, is no gutter).
    slanted_lettering: bool = True
    #: Each piece between slanted gutters is split again, by straight cuts only (a title
    #: panel cut off along a slanted line above a row of framed panels).
    split_slanted: bool = True
    #: Columns cut first whose panels line up in rows all the same (row gutters that do not
    #: meet, a few pixels or a balloon apart, across the columns) are read row by row: a row
    #: starts where no panel crosses the line by more than ``band_cross`` of its height.
    row_bands: bool = True
    band_cross: float = 0.25
    #: A shared frame line with screentone (or hatching) beside it: the run of lines that ink
    #: covers (a pixel of wobble allowed) is wider than a frame line, since the tone's dots
    #: cover every line once spread by a pixel. Within such a run, a thin run of lines that ink
    #: covers over ``line_cover`` as they are (no wobble) is the line, and whether ink thins
    #: beside it is judged on the ink as it is (tone covers a third to two thirds).
    toned_lines: bool = True
    tone_low: float = 0.1
    tone_high: float = 0.75
    #: A frame line two colour panels share (content on both sides of it, which the shared
    #: line test refuses), found on dark ink: dark ink covers it (``line_cover``, a pixel of
    #: wobble) and covers at most ``dark_side`` beside it on both sides, while content (colour)
    #: covers at least ``dark_fill`` there.
    dark_lines: bool = True
    dark_side: float = 0.5
    dark_fill: float = 0.9
    #: ... and is refused as art running on across it (a black horizon drawn across one sky)
    #: only where the same colour lies on both sides along more than this share of it (two
    #: panels of one scene share colours along part of their border).
    dark_crossed: float = 0.25
    #: Dark ink is at most 128 bright on paper at least 230 bright, and proportionally darker
    #: on greyer paper (an underexposed scan).
    relative_dark: bool = True
    #: A slanted gutter that a caption, a balloon or art blocks at one end (no gap there for
    #: a slanted cut to start from): clean along ``1 - slant_blocked`` of its length from the
    #: other end, no wider than a gutter, dark frames flanking it (:meth:`_blocked_slants`).
    blocked_slants: bool = True
    slant_blocked: float = 0.3
    slant_width_spread: float = 2.0
    #: OpenCV threads used inside the call (None leaves OpenCV's setting alone). The pipeline
    #: runs pages in parallel, so one thread per call is the default.
    threads: int | None = 1


# -- public API -------------------------------------------------------------------------------
def detect_panels(image: np.ndarray | PILImage, *, rtl: bool = False,
                  params: PanelParams | None = None) -> list[Panel]:
    """The panels of a page, in reading order (``Panel.order`` equals the list index).

    ``image``: a Pillow image in any mode, or a numpy array ``(H, W)``, ``(H, W, 1|2|3|4)`` of
    uint8 (other integer and float types are scaled; channel order does not matter). ``rtl``:
    read rows right to left (manga); the caller decides it, e.g. from ComicInfo's
    ``Manga=YesAndRightToLeft``. Boxes are ``(x, y, w, h)`` in pixels of ``image``; the list is
    never empty (the whole page is panel 0 when nothing is found). Never raises on a valid image;
    a ``ValueError`` means the argument is not an image at all.

    The call holds OpenCV to ``params.threads`` threads (1 by default) while it runs and restores
    the previous setting afterwards.
    """
    boxes = detect_boxes(image, rtl=rtl, params=params)
    return [Panel(box, i) for i, box in enumerate(boxes)]


def detect_boxes(image: np.ndarray | PILImage, *, rtl: bool = False,
                 params: PanelParams | None = None) -> list[Box]:
    """Like :func:`detect_panels`, as plain ``(x, y, w, h)`` tuples in reading order."""
    p = params or PanelParams()
    width, height = _image_size(image)
    if min(height, width) < p.min_page_px:
        return [whole_page(width, height)]
    import cv2

    with _cv_threads(cv2, p.threads):
        small = _working_copy(cv2, image, p.work_size)
        boxes = _Detector(cv2, p).run(small, width, height, rtl)
    return boxes or [whole_page(width, height)]


# -- input ------------------------------------------------------------------------------------
def _is_pil(image: Any) -> bool:
    return not isinstance(image, np.ndarray) and hasattr(image, "mode") and hasattr(image, "size")


def _image_size(image: Any) -> tuple[int, int]:
    """(width, height) of a page image, checking that it is one."""
    if _is_pil(image):
        width, height = image.size
    else:
        shape = np.shape(image)
        if len(shape) not in (2, 3) or (len(shape) == 3 and not 1 <= shape[2] <= 4):
            raise ValueError(f"not a page image: array of shape {tuple(shape)}")
        height, width = shape[:2]
    if width <= 0 or height <= 0:
        raise ValueError("not a page image: it has no pixels")
    return int(width), int(height)


def _working_copy(cv2: Any, image: Any, work_size: int) -> np.ndarray:
    """The page reduced to at most ``work_size`` pixels on its long side, as a contiguous
    ``(h, w, 1|3)`` uint8 array.

    Cheap at any size: a Pillow image is first box-reduced by a whole factor (``Image.reduce``,
    for the modes that have it), an array on a gigantic page first loses whole rows and columns
    (a stride), then halved by
    area averaging (OpenCV's fast path) while more than twice too large; the last step to the
    working size is bilinear. Thin lines survive: every step but the last averages."""
    arr = None
    if _is_pil(image):
        factor = max(image.size) // work_size
        if factor >= 2:
            try:
                image = image.reduce(factor)
            except (ValueError, NotImplementedError):  # P, 1, I;16: no reduce; the array way
                arr = _pil_to_array(image)
        if arr is None:
            arr = _pil_to_array(image)
    else:
        arr = np.asarray(image)
    step = max(arr.shape[:2]) // (4 * work_size)
    if step >= 2:
        arr = arr[::step, ::step]
    if arr.ndim == 3 and arr.shape[2] == 1:
        arr = arr[:, :, 0]
    if arr.ndim == 3 and arr.shape[2] in (2, 4):
        arr = _flatten_alpha(arr)
    arr = np.ascontiguousarray(_to_uint8(arr))
    while max(arr.shape[:2]) > 2 * work_size:
        h, w = arr.shape[:2]
        arr = cv2.resize(arr[: h // 2 * 2, : w // 2 * 2], (w // 2, h // 2), interpolation=cv2.INTER_AREA)
    h, w = arr.shape[:2]
    if max(h, w) > work_size:
        scale = work_size / max(h, w)
        size = (max(1, round(w * scale)), max(1, round(h * scale)))
        arr = cv2.resize(arr, size, interpolation=cv2.INTER_LINEAR)
    if arr.ndim == 2:
        arr = arr[:, :, None]
    return arr


def _pil_to_array(im: Any) -> np.ndarray:
    mode = im.mode
    if mode in ("RGB", "L"):
        return np.asarray(im)
    if mode == "1":
        return np.asarray(im.convert("L"))
    if mode in ("I;16", "I;16B", "I;16L", "I;16N", "I", "F"):
        return np.asarray(im)  # scaled by _to_uint8
    if mode in ("RGBA", "LA", "PA", "La", "RGBa") or (mode == "P" and "transparency" in im.info):
        return np.asarray(im.convert("RGBA"))
    return np.asarray(im.convert("RGB"))


def _flatten_alpha(arr: np.ndarray) -> np.ndarray:
    """Colour (or grey) plus alpha, flattened on white as a reader shows it."""
    colour, alpha = arr[:, :, :-1], _to_uint8(arr[:, :, -1]).astype(np.float32) / 255.0
    colour = _to_uint8(colour).astype(np.float32)
    out = colour * alpha[:, :, None] + 255.0 * (1.0 - alpha[:, :, None])
    out = out.round().astype(np.uint8)
    return out[:, :, 0] if out.shape[2] == 1 else out


def _to_uint8(arr: np.ndarray) -> np.ndarray:
    if arr.dtype == np.uint8:
        return arr
    if arr.dtype == np.bool_:
        return arr.astype(np.uint8) * 255
    if np.issubdtype(arr.dtype, np.floating):
        a = np.nan_to_num(arr.astype(np.float32))
        hi = float(a.max(initial=0.0))
        scale = 255.0 if hi <= 1.0 else 255.0 / hi
        return (a * scale).clip(0, 255).astype(np.uint8)
    if np.issubdtype(arr.dtype, np.integer):
        hi = int(arr.max(initial=0))
        if hi <= 255:
            return arr.clip(0, 255).astype(np.uint8)
        top = max(65535, hi)
        return (arr.astype(np.float64) * (255.0 / top)).clip(0, 255).astype(np.uint8)
    raise ValueError(f"not a page image: pixels of type {arr.dtype}")


@contextmanager
def _cv_threads(cv2: Any, n: int | None) -> Iterator[None]:
    if n is None:
        yield
        return
    old = cv2.getNumThreads()
    if old != n:
        cv2.setNumThreads(n)
    try:
        yield
    finally:
        if old != n:
            cv2.setNumThreads(old)


# -- the detector -----------------------------------------------------------------------------
@dataclass
class _Piece:
    """A trimmed rectangle of the working mask: ``[y0, y1) x [x0, x1)``."""

    y0: int
    y1: int
    x0: int
    x1: int
    mass: int

    @property
    def h(self) -> int:
        return self.y1 - self.y0

    @property
    def w(self) -> int:
        return self.x1 - self.x0

    @property
    def area(self) -> int:
        return self.h * self.w

    @property
    def fill(self) -> float:
        return self.mass / self.area if self.area else 0.0

    def span(self, axis: int) -> tuple[int, int]:
        return (self.y0, self.y1) if axis == 0 else (self.x0, self.x1)


class _Detector:
    def __init__(self, cv2: Any, params: PanelParams):
        self.cv2 = cv2
        self.p = params

    # -- driver -----------------------------------------------------------------------------
    def run(self, small: np.ndarray, width: int, height: int, rtl: bool) -> list[Box]:
        """Boxes in pixels of the ``width`` x ``height`` page, given its working copy."""
        cv2, p = self.cv2, self.p
        h, w = small.shape[:2]
        if p.page_on_bed:
            washed = self._wash_bed(small)
            if washed is not small:
                # Kept when the page, its bed washed out, splits into panels that fill half of
                # it or more: a single panel on a black page looks just like pale paper on a
                # dark bed, and washed out, its art alone is left to split.
                boxes = _Detector(cv2, replace(p, page_on_bed=False)).run(washed, width, height, rtl)
                if len(boxes) >= 2 and sum(b[2] * b[3] for b in boxes) >= p.bed_panels * width * height:
                    return boxes
        if p.scan_margins:
            small = self._unshade(small)
        gutter = self._gutter_colour(small)
        if gutter is None:
            return []  # no gutter anywhere: a splash page
        self.gutter = gutter
        ink, mask = self._content_mask(small, gutter)
        if int(mask.sum()) < max(4, 0.0005 * h * w):
            return []  # blank
        angle = self._skew(mask)
        matrix = None
        if angle:
            turned, matrix = self._rotate(mask, angle)
            leaves = self._leaves(small, self._rotate(ink, angle)[0], turned, matrix, rtl)
            if abs(angle) < p.skew_sure:
                # A small tilt may be no scan's (hand-drawn frames, uneven panels; its measure
                # flickers around ``min_skew`` with the scan's size, JPEG or paper tint): the
                # page is split as it is too, and the reading that finds more panels is kept.
                straight = self._leaves(small, ink, mask, None, rtl)
                if len(straight) > len(leaves):
                    leaves, matrix = straight, None
        else:
            leaves = self._leaves(small, ink, mask, None, rtl)
        if not leaves:
            return []
        inverse = cv2.invertAffineTransform(matrix) if matrix is not None else None
        sx, sy = width / w, height / h
        boxes = []
        for lf in leaves:
            x0, y0, x1, y1 = float(lf.x0), float(lf.y0), float(lf.x1), float(lf.y1)
            if inverse is not None:
                corners = np.array([[x0, y0, 1], [x1, y0, 1], [x0, y1, 1], [x1, y1, 1]], np.float64)
                mapped = corners @ inverse.T
                x0, y0 = mapped[:, 0].min(), mapped[:, 1].min()
                x1, y1 = mapped[:, 0].max(), mapped[:, 1].max()
                x0, y0, x1, y1 = max(0.0, x0), max(0.0, y0), min(float(w), x1), min(float(h), y1)
            boxes.append(clip_box((x0 * sx, y0 * sy, (x1 - x0) * sx, (y1 - y0) * sy), width, height))
        return boxes

    def _wash_bed(self, small: np.ndarray) -> np.ndarray:
        """The page with the scanner's bed around it painted over in the paper's colour
        (:attr:`PanelParams.page_on_bed`), or as it is when it shows no bed."""
        cv2, p = self.cv2, self.p
        h, w = small.shape[:2]
        img = small.reshape(h, w, -1)
        if h < 16 or w < 16:
            return small
        # A bed shows at the image's corners (a turned page leaves its widest wedges there):
        # all four one flat colour.
        corners = np.concatenate([img[:2, :2], img[:2, -2:], img[-2:, :2], img[-2:, -2:]]).reshape(-1, img.shape[2])
        bed = np.median(corners, axis=0)
        if float(np.abs(corners.astype(np.int16) - bed).max()) > 16:
            return small
        d = max(1, int(round(p.bed_depth * max(h, w))))
        # Looked for on every fourth pixel first (most pages' corners are their margins,
        # joined to gutters that run deep in, or no bed with paper beyond it).
        coarse = img[::4, ::4]
        on_bed = self._bed_mask(coarse, bed, max(1, d // 4))
        if float(on_bed.mean()) < p.bed_min or self._paper(coarse, on_bed, bed, 1) is None:
            return small
        on_bed = self._bed_mask(img, bed, d)
        if float(on_bed.mean()) < p.bed_min or (paper := self._paper(img, on_bed, bed, 2)) is None:
            return small
        # The wash reaches two pixels past the bed, over the page's blurred edge.
        out = small.copy()
        out.reshape(h, w, -1)[cv2.dilate(on_bed, np.ones((5, 5), np.uint8)) > 0] = np.round(paper).astype(np.uint8)
        return out

    def _paper(self, img: np.ndarray, on_bed: np.ndarray, bed: np.ndarray, gap: int) -> np.ndarray | None:
        """The paper's colour: what lies just beyond the bed (past ``gap`` pixels of its blurred
        edge), mostly one pale colour other than the bed's; None when it is not (a dark line
        there is a frame drawn round a margin of the page's own)."""
        cv2 = self.cv2
        near = cv2.dilate(on_bed, np.ones((2 * gap + 1, 2 * gap + 1), np.uint8))
        far = cv2.dilate(on_bed, np.ones((2 * gap + 7, 2 * gap + 7), np.uint8))
        band = img[(far > 0) & (near == 0)].astype(np.int16)
        if len(band) == 0:
            return None
        paper = np.median(band, axis=0)
        if (float((np.abs(band - paper).max(axis=1) <= 24).mean()) < 0.6
                or float(np.abs(paper - bed).max()) <= 32
                or float(paper.min()) < 128 or float(paper.max() - paper.min()) > 96):
            return None
        return paper

    def _bed_mask(self, img: np.ndarray, bed: np.ndarray, depth: int) -> np.ndarray:
        """Pixels of ``img`` (H, W, C) within 16 of the colour ``bed`` on every channel, joined to
        the image's edge and reaching no more than ``depth`` pixels in from it (uint8, 0/1)."""
        cv2 = self.cv2
        h, w = img.shape[:2]
        if h <= 2 * depth + 2 or w <= 2 * depth + 2:
            return np.zeros((h, w), np.uint8)
        flat = (_distance(cv2, np.ascontiguousarray(img), bed) <= 16).astype(np.uint8)
        n, labels = cv2.connectedComponents(flat, connectivity=4)
        edge = np.unique(np.concatenate([labels[0], labels[-1], labels[:, 0], labels[:, -1]]))
        deep = np.bincount(labels[depth:h - depth, depth:w - depth].ravel(), minlength=n) > 0
        keep = edge[(edge > 0) & ~deep[edge]]
        lut = np.zeros(n, np.uint8)
        lut[keep] = 1
        return lut[labels]

    def _leaves(self, small: np.ndarray, ink: np.ndarray, mask: np.ndarray,
                matrix: np.ndarray | None, rtl: bool) -> list[_Piece]:
        """The panels found on ``mask`` (the page turned by ``matrix``, or as it is)."""
        cv2, p = self.cv2, self.p
        h, w = small.shape[:2]
        self.mask, self.ink = mask, ink
        self.small = small if matrix is None else self._rotate_image(small, matrix, mask.shape)
        # Dark ink (every channel dark): what frames are drawn in, apart from colour art.
        brightest = _brightest(cv2, self.small)
        # Dark is half the paper's brightness or less (on an underexposed scan the paper is
        # grey and mid-grey art falls below 128); pages on paper at least 230 bright: 128.
        paper = float(np.max(self.gutter)) if self.p.relative_dark and self.gutter is not None else 230.0
        self.dark = (brightest <= min(128.0, 128.0 * paper / 230.0)).astype(np.uint8) & ink
        self._components: np.ndarray | None = None
        self._blobs: np.ndarray | None = None
        self._segs: list[tuple[int, int, int, int]] | None = None
        self.ii = cv2.integral(mask, sdepth=cv2.CV_32S)
        self.ink_ii = cv2.integral(ink, sdepth=cv2.CV_32S)
        mh, mw = mask.shape
        self.long_side = max(mh, mw)
        self.page_area = float(h * w)
        self.min_side = p.min_panel * math.sqrt(h * w)
        self.min_gap = max(2, int(round(p.min_gap * self.long_side)))
        self.rtl = rtl
        self._ref: tuple[float, float] | None = None
        self._ref_done = False
        self._in_slant = False
        whole = self._trim(_Piece(0, mh, 0, mw, 0))
        if whole is None:
            return []
        leaves = self._split(whole, 0)
        leaves = _drop_nested([lf for lf in leaves if lf.area >= p.speck_area * self.page_area])
        return leaves

    # -- preparation ------------------------------------------------------------------------
    def _gutter_colour(self, small: np.ndarray) -> np.ndarray | None:
        """The gutter colour (one value per channel), or None when the page has none."""
        cv2 = self.cv2
        h, w, c = small.shape
        if h >= 8 and w >= 8:  # half size: noise averaged, the narrowest gutters kept
            half = cv2.resize(small[: h // 2 * 2, : w // 2 * 2], (w // 2, h // 2), interpolation=cv2.INTER_AREA)
        else:
            half = small
        if half.ndim == 2:
            half = half[:, :, None]
        th, tw = half.shape[:2]
        if self.p.scan_margins:
            # Each side's line beyond a scan's dark strip, where there is one: the paper.
            bright = _brightest(self.cv2, half)
            r0, r1 = self._strip_depth(bright, 0, 0), self._strip_depth(bright, 0, th - 1)
            c0, c1 = self._strip_depth(bright, 1, 0), self._strip_depth(bright, 1, tw - 1)
            ring = np.concatenate([half[r0], half[th - 1 - r1], half[:, c0], half[:, tw - 1 - c1]]).reshape(-1, c)
        else:
            ring = np.concatenate([half[0], half[-1], half[:, 0], half[:, -1]]).reshape(-1, c)
        # Bands of lines that run uniform from edge to edge: gutters crossing the page. A wider
        # band is a flat panel, not a gutter.
        widest = max(1, int(round(self.p.max_gutter * max(th, tw))))
        half = np.ascontiguousarray(half)
        # Per line (row, then column), the brightest and darkest value of each channel
        # (OpenCV's reduce: numpy's max over a middle axis of a colour image is slow).
        lines = []
        for dim, n in ((1, th), (0, tw)):
            hi = cv2.reduce(half, dim, cv2.REDUCE_MAX).reshape(n, c)
            lo = cv2.reduce(half, dim, cv2.REDUCE_MIN).reshape(n, c)
            lines.append((hi, lo))
        uniform_rows = self._bands(half, widest, *lines[0])
        uniform_cols = self._bands(half.transpose(1, 0, 2), widest, *lines[1])
        # A band between two strips of content is the surest sign of a gutter. Bands at the
        # page's edge add nothing to the ring (margins, or a bleeding panel's flat colour).
        inner = [b for b in (uniform_rows, uniform_cols) if len(b)]
        votes = np.concatenate([ring, *inner]).astype(np.int16)
        if len(votes) == 0:
            return None
        codes = _colour_bins(votes)
        mode = np.bincount(codes).argmax()
        centre = np.array([(mode >> 8) & 15, (mode >> 4) & 15, mode & 15] if c == 3 else [mode],
                          np.int16) * 16 + 8
        near = np.abs(votes - centre).max(axis=1) <= 24
        colour = np.median(votes[near], axis=0)
        share = float((np.abs(votes - colour).max(axis=1) <= 24).mean())
        has_lines = bool(inner)
        ring_share = float((np.abs(ring.astype(np.int16) - colour).max(axis=1) <= 24).mean())
        if not has_lines and ring_share < self.p.min_gutter_share:
            return None
        self.ring_share = ring_share
        if has_lines and share < self.p.min_band_share:
            return None
        return colour.astype(np.float32)

    @staticmethod
    def _bands(img: np.ndarray, widest: int, hi: np.ndarray, lo: np.ndarray) -> np.ndarray:
        """One vote line per gutter-like band of uniform rows of ``img`` (a run of such rows no
        wider than ``widest``, away from the page's edges): four copies of its middle row, so
        a band counts the same however wide (a thin band is the more gutter-like)."""
        c = img.shape[2]
        spread = hi.astype(np.int16) - lo  # per row of ``img``: brightest minus darkest
        flags = spread.max(axis=1) <= 32
        n = len(flags)
        # A band is one colour: a run of uniform rows breaks where the colour changes (a frame
        # line between a gutter and a flat panel).
        colour = img[:, 0].astype(np.int16)
        step = np.abs(np.diff(colour, axis=0)).max(axis=1) > 24
        starts = flags & np.concatenate([[True], step | ~flags[:-1]])
        bounds = np.flatnonzero(starts).tolist() + [n]
        keep = []
        for s in bounds[:-1]:
            e = s + 1
            while e < n and flags[e] and not starts[e]:
                e += 1
            if s > 0 and e < n and 2 <= e - s <= widest:  # one row is a frame line
                keep.append(img[(s + e) // 2])
        return np.concatenate(keep * 4).reshape(-1, c) if keep else np.empty((0, c), img.dtype)

    def _content_mask(self, small: np.ndarray, gutter: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The ink (1 where the page is not gutter-coloured) and the content mask: the ink plus
        every region it encloses."""
        cv2, p = self.cv2, self.p
        dist = _distance(cv2, small, gutter)
        # Noise: how far the gutter-coloured edge pixels stray from the gutter colour.
        edge = np.concatenate([dist[0], dist[-1], dist[:, 0], dist[:, -1]])
        calm = edge[edge < p.ink_threshold]
        noise = float(np.percentile(calm, 90)) if len(calm) else 0.0
        threshold = int(max(p.ink_threshold, min(3.0 * noise, 100)))
        ink = (dist > threshold).astype(np.uint8)
        if p.scan_margins:
            self._clear_margins(ink, small)
        return ink, self._fill_enclosed(ink)

    def _unshade(self, small: np.ndarray) -> np.ndarray:
        """The page with a binding's shadow lifted: near an edge (``shade_depth`` of the
        page), lines whose palest pixel is darker than the paper, fading smoothly to the
        paper's brightness inwards (no step over 40 % of the rise: a coloured margin ends in a
        step), are brightened back to it (the paper's margins show the shadow)."""
        cv2, p = self.cv2, self.p
        h, w = small.shape[:2]
        bright = _brightest(cv2, small)
        out = None
        for axis in (0, 1):  # columns (left and right edges), then rows (top and bottom)
            peak = cv2.reduce(bright, axis, cv2.REDUCE_MAX).reshape(-1).astype(np.float32)
            paper = float(np.median(peak))
            n = len(peak)
            d = max(3, int(p.shade_depth * n))
            if paper < 64 or 3 * d >= n:
                continue
            for seg in (slice(0, d), slice(n - d, n)):
                part = peak[seg] if seg.start == 0 else peak[seg][::-1]  # edge first
                if part[0] >= 0.9 * paper or part[-1] < 0.95 * paper:
                    continue  # no shadow, or one that does not fade out: art, not shade
                rise = np.diff(part)
                if rise.min() < -8 or rise.max() > 0.4 * (part[-1] - part[0]):
                    continue  # not a fade but a step: a coloured margin, a frame's edge
                gain = np.clip(paper / np.maximum(part, 1.0), 1.0, 4.0)
                gain = gain if seg.start == 0 else gain[::-1]
                if out is None:
                    out = small.astype(np.float32)
                if axis == 0:
                    out[:, seg] *= gain[None, :, None]
                else:
                    out[seg] *= gain[:, None, None]
        return small if out is None else np.clip(out, 0, 255).astype(np.uint8)

    def _clear_margins(self, ink: np.ndarray, small: np.ndarray) -> None:
        """Clears (in place) a scan's dark strip along each edge of the page where there is one
        (:meth:`_strip_depth`), and the line beyond it."""
        h, w = ink.shape
        bright = _brightest(self.cv2, small)
        for axis in (0, 1):
            n = h if axis == 0 else w
            for start in (0, n - 1):
                k = self._strip_depth(bright, axis, start)
                if not k:
                    continue
                k = min(k + 1, n)
                if start == 0:
                    (ink[:k] if axis == 0 else ink[:, :k])[...] = 0
                else:
                    (ink[n - k:] if axis == 0 else ink[:, n - k:])[...] = 0

    def _strip_depth(self, bright: np.ndarray, axis: int, start: int) -> int:
        """How many lines deep a scan's dark strip (the scanner's lid) runs in from an edge of
        the page (rows for axis 0, columns for axis 1; ``start`` the edge line), or 0: lines of
        one dark tone from end to end (``margin_fill`` of their pixels within 32 levels of the
        line's median, itself below 128), more than ``margin_min`` and no more than
        ``margin_max`` of the page deep, with paper beyond (the next line's median 48 levels
        brighter) or, for a near-black strip (below 64), anything not one tone. Art is not one
        tone along the page's whole length, a panel's frame line at the edge is thinner, a
        panel bleeding off the edge is deeper, and a dark gutter colour runs on beyond."""
        p = self.p
        n = bright.shape[0] if axis == 0 else bright.shape[1]
        deep = max(2, int(p.margin_max * n))
        if 2 * deep >= n:
            return 0
        step = 1 if start == 0 else -1
        tone = 0
        for k in range(deep + 2):
            line = (bright[start + step * k] if axis == 0 else bright[:, start + step * k]).astype(np.int16)
            mid = int(np.median(line))
            flat = float((np.abs(line - mid) <= 32).mean()) >= p.margin_fill
            if k and (mid >= tone + 48 or (not flat and tone < 64)):
                return k if max(3, int(p.margin_min * n)) <= k <= deep else 0
            if mid >= 128 or not flat:
                return 0
            tone = max(tone, mid)
        return 0

    def _fill_enclosed(self, ink: np.ndarray) -> np.ndarray:
        """Content plus every region it encloses.

        The gutter is the background reached from the page's edge: from margins (background
        runs along an edge from corner to corner) and gutter mouths (short runs). A long run
        between two lines is either the inside of a panel bleeding off the page (its own frame
        lines reach the edge, and beyond them lies gutter) or a stretch of gutter and frameless
        panel between framed panels (beyond the lines lie those panels): only the first is
        filled."""
        cv2 = self.cv2
        h, w = ink.shape
        bg = (ink == 0).astype(np.uint8)
        mouth = max(2, int(self.p.max_gutter * max(h, w)))
        edges = ((bg[0], lambda i: (i, 0)), (bg[h - 1], lambda i: (i, h - 1)),
                 (bg[:, 0], lambda i: (0, i)), (bg[:, w - 1], lambda i: (w - 1, i)))
        held = []
        for line, point in edges:
            n = len(line)
            for s, e in _runs(line.astype(bool)):
                x, y = point((s + e) // 2)
                if (s == 0 and e == n) or e - s <= mouth:
                    if bg[y, x] == 1:
                        cv2.floodFill(bg, None, (x, y), 2)
                else:
                    held.append((x, y))
        label = 3
        regions = []
        for x, y in held:
            if bg[y, x] == 1 and label < 256:
                _, _, _, rect = cv2.floodFill(bg, None, (x, y), label)
                regions.append((label, rect))
                label += 1
        reach = max(3, int(0.012 * max(h, w)))
        kernel = np.ones((2 * reach + 1, 2 * reach + 1), np.uint8)
        for value, (rx, ry, rw, rh) in regions:
            x0, y0 = max(0, rx - reach), max(0, ry - reach)
            x1, y1 = min(w, rx + rw + reach), min(h, ry + rh + reach)
            win = bg[y0:y1, x0:x1]
            region = (win == value).astype(np.uint8)
            ring = (cv2.dilate(region, kernel) > 0) & (region == 0) & (win != 0)
            beyond = win[ring]
            gutter_share = float((beyond == 2).mean()) if len(beyond) else 0.0
            win[win == value] = 1 if gutter_share >= 0.5 else 2
        return (bg != 2).astype(np.uint8)

    def _skew(self, mask: np.ndarray) -> float:
        """The tilt (degrees, OpenCV rotation sense) of the large rectangular blocks, or 0."""
        cv2, p = self.cv2, self.p
        h, w = mask.shape
        contours, _ = cv2.findContours(mask, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
        angles, weights = [], []
        for cnt in contours:
            area = cv2.contourArea(cnt)
            if area < 0.01 * h * w:
                continue
            rect = cv2.minAreaRect(cnt)
            rw, rh = rect[1]
            if rw * rh <= 0 or area / (rw * rh) < 0.85:
                continue
            pts = cv2.boxPoints(rect)
            dx, dy = pts[1] - pts[0]
            a = math.degrees(math.atan2(float(dy), float(dx)))
            a = (a + 45.0) % 90.0 - 45.0  # the edge's tilt from the nearest axis
            angles.append(a)
            weights.append(area)
        if not angles:
            return 0.0
        order = np.argsort(angles)
        cum = np.cumsum(np.asarray(weights)[order])
        angle = float(np.asarray(angles)[order][np.searchsorted(cum, cum[-1] / 2.0)])
        if abs(angle) < p.min_skew or abs(angle) > p.max_skew:
            return 0.0
        return angle

    def _rotate(self, mask: np.ndarray, angle: float) -> tuple[np.ndarray, np.ndarray]:
        cv2 = self.cv2
        h, w = mask.shape
        m = cv2.getRotationMatrix2D((w / 2.0, h / 2.0), angle, 1.0)
        corners = np.array([[0, 0, 1], [w, 0, 1], [0, h, 1], [w, h, 1]], np.float64) @ m.T
        nw = int(math.ceil(corners[:, 0].max() - corners[:, 0].min()))
        nh = int(math.ceil(corners[:, 1].max() - corners[:, 1].min()))
        m[0, 2] += nw / 2.0 - w / 2.0
        m[1, 2] += nh / 2.0 - h / 2.0
        out = cv2.warpAffine(mask, m, (nw, nh), flags=cv2.INTER_NEAREST, borderValue=0)
        return out, m

    def _rotate_image(self, img: np.ndarray, m: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
        out = self.cv2.warpAffine(img, m, (shape[1], shape[0]), flags=self.cv2.INTER_NEAREST,
                                  borderValue=0)
        return out if out.ndim == 3 else out[:, :, None]

    # -- mask queries (integral image) --------------------------------------------------------
    def _profile(self, pc: _Piece, axis: int, ink: bool = False) -> np.ndarray:
        """Content (or ink) per line: per row (axis 0) or per column (axis 1) of the piece."""
        ii = self.ink_ii if ink else self.ii
        if axis == 0:
            cum = ii[pc.y0:pc.y1 + 1, pc.x1] - ii[pc.y0:pc.y1 + 1, pc.x0]
        else:
            cum = ii[pc.y1, pc.x0:pc.x1 + 1] - ii[pc.y0, pc.x0:pc.x1 + 1]
        return np.diff(cum)

    def _mass(self, y0: int, y1: int, x0: int, x1: int) -> int:
        ii = self.ii
        return int(ii[y1, x1] - ii[y0, x1] - ii[y1, x0] + ii[y0, x0])

    def _trim(self, pc: _Piece) -> _Piece | None:
        """The piece shrunk to its content. A line with a stray pixel or so is margin (at most
        ``p.stray_px``, and never more than the gutter tolerance allows); thin art (a horizon
        line) is content."""
        p = self.p
        rows = self._profile(pc, 0)
        keep = np.flatnonzero(rows > min(p.gap_tolerance * pc.w, p.stray_px))
        if len(keep) == 0:
            return None
        y0, y1 = pc.y0 + int(keep[0]), pc.y0 + int(keep[-1]) + 1
        cols = self._profile(_Piece(y0, y1, pc.x0, pc.x1, 0), 1)
        keep = np.flatnonzero(cols > min(p.gap_tolerance * (y1 - y0), p.stray_px))
        if len(keep) == 0:
            return None
        x0, x1 = pc.x0 + int(keep[0]), pc.x0 + int(keep[-1]) + 1
        return _Piece(y0, y1, x0, x1, self._mass(y0, y1, x0, x1))

    # -- cutting ----------------------------------------------------------------------------
    def _split(self, region: _Piece, depth: int) -> list[_Piece]:
        """The leaves under ``region`` in reading order.

        Clean gutters first, rows before columns; a gutter blocked by a balloon only where no
        clean one is left, the deepest of either direction first. When columns are cut while
        a blocked row gutter runs across all of them (a grid whose row gutter a balloon
        crosses), the leaves are put in row order afterwards."""
        if depth > 24:
            return [region]
        for axis in (0, 1):  # rows first, then columns
            pieces = self._cut(region, axis, self._clean_gaps(region, axis))
            if len(pieces) >= 2:
                if axis == 0:
                    return self._descend(pieces, axis, depth)
                columns = [self._split(pc, depth + 1) for pc in (pieces[::-1] if self.rtl else pieces)]
                out = [leaf for col in columns for leaf in col]
                for (s, e), _ in self._blocked_gaps(region, 0):
                    top, bottom = region.y0 + s, region.y0 + e
                    if all(any(lf.y1 <= bottom for lf in col) and any(lf.y0 >= top for lf in col)
                           for col in columns):
                        return _reading_order(out, self.rtl)  # a grid: read it row by row
                if self.p.row_bands:
                    return _band_order(columns, self.p.band_cross)
                return out
            if len(pieces) == 1 and (pieces[0].h, pieces[0].w) != (region.h, region.w):
                return self._split(pieces[0], depth + 1)  # specks dropped: look again
        if self.p.shared_lines:
            for axis in (0, 1):  # a frame line two panels share, no gutter between them
                pieces = self._cut(region, axis, self._line_gaps(region, axis), border=True)
                if len(pieces) >= 2:
                    return self._descend(pieces, axis, depth)
        blocked = [(depth_, axis, gap) for axis in (0, 1)
                   for gap, depth_ in self._blocked_gaps(region, axis)]
        for _, axis, gap in sorted(blocked):
            pieces = self._cut(region, axis, [gap], border=True)
            if len(pieces) >= 2:
                return self._descend(pieces, axis, depth)
        if self.p.frame_across and self._edge_line(region):
            return [self._finish(region)]  # one panel bleeding off three sides
        blocks = self._blocks(region)
        if len(blocks) >= 2:
            return blocks
        dirty = [(axis, gap) for axis in (0, 1) for gap in self._dirty_gaps(region, axis)]
        for axis, gap in dirty:
            pieces = self._cut(region, axis, [gap])
            if len(pieces) >= 2:
                return self._descend(pieces, axis, depth)
        if self.p.slanted and not self._in_slant:
            for axis in (0, 1):
                pieces = self._slanted(region, axis)
                if len(pieces) >= 2:
                    if self.p.split_slanted:
                        self._in_slant = True  # straight cuts only inside a slanted piece
                        try:
                            return self._descend(pieces, axis, depth)
                        finally:
                            self._in_slant = False
                    return pieces[::-1] if axis == 1 and self.rtl else pieces
        return [self._finish(region)]

    def _slanted(self, region: _Piece, axis: int) -> list[_Piece]:
        """The pieces between slanted gutters across ``region`` (rows for axis 0, columns for
        axis 1): straight lines from a gap in the content along one side of the region to a gap
        along the opposite side, at most ``p.max_slant`` off square, that meet (nearly) no
        content on the way. Each piece is the extent of the content between two such lines."""
        p = self.p
        sub = self.mask[region.y0:region.y1, region.x0:region.x1]
        a = sub.T if axis == 0 else sub  # lines run down the rows of ``a``
        n, m = a.shape
        if m < 2 * self.min_side or n < self.min_side:
            return []
        edge = max(1, self.min_gap // 2)
        margin = int(0.5 * self.min_side)
        t = np.arange(n)
        found = self._slanted_gaps(a, edge, margin, t) + self._slanted_lines(region, axis, margin, t)
        if not found and p.blocked_slants:
            found = self._blocked_slants(region, axis, a, edge, margin, t)
        lines: list[tuple[int, int]] = []
        for _, _, x0, x1 in sorted(found):
            if all(abs(x0 - u0) >= self.min_side and abs(x1 - u1) >= self.min_side
                   and (x0 - u0) * (x1 - u1) > 0 for u0, u1 in lines):
                lines.append((x0, x1))
        if not lines:
            return []
        lines.sort()
        cols = np.arange(m)[None, :]
        bounds = [None] + [x0 + (x1 - x0) * t[:, None] / max(1, n - 1) for x0, x1 in lines] + [None]
        pieces = []
        for lo, hi in zip(bounds, bounds[1:]):
            side = a.astype(bool)
            if lo is not None:
                side &= cols > lo + 1
            if hi is not None:
                side &= cols < hi - 1
            rows_any, cols_any = np.flatnonzero(side.any(axis=1)), np.flatnonzero(side.any(axis=0))
            if len(rows_any) == 0:
                continue
            r0, r1, c0, c1 = int(rows_any[0]), int(rows_any[-1]) + 1, int(cols_any[0]), int(cols_any[-1]) + 1
            if min(r1 - r0, c1 - c0) < self.min_side:
                return []  # not panels on both sides
            mass = int(side.sum())
            if p.slanted_lettering and self._lettering_band(region, axis, c0 + edge, c1 - edge,
                                                            solid_art=True):
                return []  # a caption inside the panel, not a panel: its box's line is no gutter
            if axis == 0:
                pieces.append(_Piece(region.y0 + c0, region.y0 + c1, region.x0 + r0, region.x0 + r1, mass))
            else:
                pieces.append(_Piece(region.y0 + r0, region.y0 + r1, region.x0 + c0, region.x0 + c1, mass))
        return pieces

    def _descend(self, pieces: list[_Piece], axis: int, depth: int) -> list[_Piece]:
        if axis == 1 and self.rtl:
            pieces = pieces[::-1]
        parts = [self._split(piece, depth + 1) for piece in pieces]
        if axis == 1 and self.p.row_bands:
            return _band_order(parts, self.p.band_cross)
        return [leaf for part in parts for leaf in part]

    def _fractions(self, region: _Piece, axis: int) -> np.ndarray:
        prof = self._profile(region, axis).astype(np.float32)
        return prof / max(1, region.w if axis == 0 else region.h)

    def _clean_gaps(self, region: _Piece, axis: int) -> list[tuple[int, int]]:
        """Clean gutters across ``region`` along ``axis``: runs of (nearly) empty lines, as
        ``(start, end)`` offsets."""
        frac = self._fractions(region, axis)
        n = len(frac)
        gaps = [(s, e) for s, e in _runs(frac <= self.p.gap_tolerance)
                if e - s >= self.min_gap and s > 0 and e < n]
        if self.p.frame_across:
            gaps = [g for g in gaps if not self._frame_across(region, axis, g)]
        return gaps

    def _edge_line(self, region: _Piece) -> bool:
        """Whether the region is one panel that bleeds off the page on three sides: a line of
        ink runs along the whole of its fourth side (a pixel of wobble allowed, within a frame
        line's thickness of it), which is not at the page's edge."""
        edge = max(3, int(round(self.p.line_thick * self.long_side)))
        mh, mw = self.mask.shape
        at = [region.y0 <= edge, region.y1 >= mh - edge, region.x0 <= edge, region.x1 >= mw - edge]
        if sum(at) != 3:
            return False
        side = at.index(False)
        k = edge + 2
        y0, y1, x0, x1 = region.y0, region.y1, region.x0, region.x1
        if side == 0:
            a = self.ink[y0:min(y1, y0 + k), x0:x1]
        elif side == 1:
            a = self.ink[max(y0, y1 - k):y1, x0:x1]
        elif side == 2:
            a = self.ink[y0:y1, x0:min(x1, x0 + k)].T
        else:
            a = self.ink[y0:y1, max(x0, x1 - k):x1].T
        if a.shape[0] < 3:
            return False
        band = a[:-2] | a[1:-1] | a[2:]
        return bool((band.mean(axis=1) >= 0.98).any())

    def _frame_across(self, region: _Piece, axis: int, gap: tuple[int, int]) -> bool:
        """Whether the region's own border runs across the gap: a line of ink along the
        region's edge (within a frame line's thickness of it, a pixel of wobble allowed) that
        crosses the whole gap and covers ``p.line_cover`` of the region's length (the one border
        of a panel that bleeds off the page on its other sides, under both its balloon and its
        art): the gap is inside one panel, not a gutter. A balloon straddling a gutter between
        two framed panels' top lines is no such line: the border must run the region's length."""
        s, e = gap
        if axis == 1:
            sub = self.ink[region.y0:region.y1, region.x0:region.x1]
        else:
            sub = self.ink[region.y0:region.y1, region.x0:region.x1].T
        if sub.shape[0] < 3:
            return False
        edge = max(3, int(round(self.p.line_thick * self.long_side)))
        # lines near the region's two edges, each with a pixel of wobble
        for rows in (sub[:edge + 2], sub[-edge - 2:]):
            gap_rows = rows[:, s:e]
            crossing = (gap_rows[:-2] | gap_rows[1:-1] | gap_rows[2:]).all(axis=1)
            if not crossing.any():
                continue  # the usual case: nothing crosses the gap at the region's edge
            band = rows[:-2] | rows[1:-1] | rows[2:]
            if (crossing & (band.mean(axis=1) >= self.p.line_cover)).any():
                return True
        return False

    def _blocked_gaps(self, region: _Piece, axis: int) -> list[tuple[tuple[int, int], float]]:
        """Gutters blocked by a balloon, as ``((start, end), depth)``, lower depth surer.

        Either a short band of low fill between two solid blocks (depth: the band's fill over
        its flanks'), or a band between two lines of ink (the facing frames of two panels,
        broken where a balloon covers them) with little ink inside and gutter still showing
        (depth: the band's fill). Never a band that a straight line of ink runs across: that is
        a panel's frame (a tall panel beside stacked ones), not a balloon."""
        p = self.p
        frac = self._fractions(region, axis)
        n = len(frac)
        flank = max(3, 2 * self.min_gap)
        max_len = max(self.min_gap, int(p.max_gutter * self.long_side))
        out = []
        least = min(self.min_gap, max(2, p.blocked_min_px))
        for s, e in _runs(frac < p.blocked_ratio):
            if not (least <= e - s <= max_len) or s < flank or e > n - flank:
                continue
            low = min(float(np.median(frac[s - flank:s])), float(np.median(frac[e:e + flank])))
            ratio = float(frac[s:e].max()) / low if low > 0 else 1.0
            if low >= p.solid_flank and ratio <= p.blocked_ratio:
                out.append(((s, e), ratio))
        length = region.w if axis == 0 else region.h
        ink = self._profile(region, axis, ink=True).astype(np.float32) / max(1, length)
        lines = _runs(ink >= p.frame_line)
        for (a0, a), (b, b1) in zip(lines, lines[1:]):
            if not (self.min_gap <= b - a <= max_len) or a < flank or b > n - flank:
                continue
            if any(a < e and s < b for (s, e), _ in out):
                continue
            band = frac[a:b]
            outer = min(float(np.median(frac[a - flank:a])), float(np.median(frac[b:b + flank])))
            if float(ink[a:b].max()) > p.blocked_ratio or float(band.min()) > outer - 0.1:
                continue  # ink across it, or no more gutter showing than beside it: no gutter
            # Two frame lines from end to end facing each other across a clean band: a gutter
            # however little the panels beside it are filled (white art inside frames that a
            # break in a line let the gutter flood).
            paired = (p.paired_lines and float(band.min()) <= p.gap_tolerance
                      and min(float(ink[a0:a].max()), float(ink[b:b1].max())) >= p.line_cover)
            if (outer >= p.solid_flank or paired) and (not p.line_band_depth
                                           or float(band.mean()) <= p.line_band_ratio * outer):
                out.append(((a, b), float(band.mean()) / outer))
        return [(g, d) for g, d in out if not self._crossed(region, axis, g)]

    def _line_gaps(self, region: _Piece, axis: int) -> list[tuple[int, int]]:
        """Single frame lines that two panels share (no gutter between them): a thin run of
        lines that ink covers from end to end (give or take a pixel of wobble), with panel-sized
        room on both sides."""
        cv2, p = self.cv2, self.p
        sub = self.ink[region.y0:region.y1, region.x0:region.x1]
        if axis == 1:
            sub = sub.T
        n, length = sub.shape
        if n < 2 * self.min_side or length < 4:
            return []
        thick = max(3, int(round(p.line_thick * self.long_side)))
        if self._boxed(sub, thick):
            # A closed frame: one panel (a caption or a horizon may cross it), unless a line of
            # dark ink parts two colour panels inside it.
            return self._dark_line_gaps(region, axis, thick) if p.dark_lines else []
        band = cv2.dilate(np.ascontiguousarray(sub), np.ones((3, 1), np.uint8))
        cover = band.mean(axis=1)
        margin = int(0.7 * self.min_side)
        out = []
        for s, e, side in self._line_runs(sub, cover, thick, margin):
            # A line, not a dark stretch of art: beside it the ink thins out, clearly on one
            # side and at least a little on the other.
            before = float(side[s - 2 - thick:s - 2].mean())
            after = float(side[e + 2:e + 2 + thick].mean())
            if min(before, after) > p.line_side_low or max(before, after) > p.line_side_high:
                if not (p.uneven_border and self._gutter_beside(region, axis, s, e, thick)):
                    continue
            if self._art_crosses(region, axis, s, e):
                continue
            out.append((s, e))
        if not out:
            return self._dark_line_gaps(region, axis, thick) if p.dark_lines else out
        # A caption box spanning the panel has a full-width line too: what lies between two
        # lines (or a line and the region's end) must be more than lettering.
        bounds = [(0, 0)] + out + [(n, n)]
        for k in range(1, len(bounds) - 1):
            for lo, hi in ((bounds[k - 1][1], bounds[k][0]), (bounds[k][1], bounds[k + 1][0])):
                if self._lettering_band(region, axis, lo + thick, hi - thick):
                    out[k - 1] = (-1, -1)
        return [g for g in out if g[0] >= 0]

    def _dark_line_gaps(self, region: _Piece, axis: int, thick: int) -> list[tuple[int, int]]:
        """Frame lines two colour panels share (modern Western art fills each panel to its
        frame, so content covers both sides of the line and the test on content refuses it):
        a thin run of lines that dark ink covers from end to end (a pixel of wobble), beside
        which dark ink is scarce on both sides, the colour not running on across it, and more
        than lettering on both sides."""
        cv2, p = self.cv2, self.p
        sub = self.dark[region.y0:region.y1, region.x0:region.x1]
        if axis == 1:
            sub = sub.T
        n = sub.shape[0]
        band = cv2.dilate(np.ascontiguousarray(sub), np.ones((3, 1), np.uint8))
        cover = band.mean(axis=1)
        raw = sub.mean(axis=1)
        ink = self.ink[region.y0:region.y1, region.x0:region.x1]
        ink = ink.T if axis == 1 else ink
        margin = int(0.7 * self.min_side)
        out = []
        for s, e in _runs(cover >= p.line_cover):
            if s < margin or e > n - margin or e - s > thick:
                continue
            before = float(raw[s - 2 - thick:s - 2].mean())
            after = float(raw[e + 2:e + 2 + thick].mean())
            if max(before, after) > p.dark_side:
                continue
            if min(float(ink[s - 2 - thick:s - 2].mean()), float(ink[e + 2:e + 2 + thick].mean())) < p.dark_fill:
                continue  # not colour on both sides: the content test's case, judged there
            if self._art_crosses(region, axis, s, e, p.dark_crossed):
                continue
            if self._lettering_band(region, axis, thick, s - thick) or \
                    self._lettering_band(region, axis, e + thick, n - thick):
                continue
            out.append((s, e))
        return out

    def _line_runs(self, sub: np.ndarray, cover: np.ndarray, thick: int,
                   margin: int) -> list[tuple[int, int, np.ndarray]]:
        """Candidate shared lines in ``sub`` (lines run along its rows): ``(start, end, side)``
        with ``side`` the per-line cover to judge the ink beside the line on. A run of lines
        that ink covers with a pixel of wobble (``cover``), at most ``thick`` wide; with
        ``p.toned_lines``, in a wider run (tone beside a frame line), each thin run of lines that
        ink covers as they are, judged on the ink as it is."""
        p = self.p
        n = len(cover)
        out = []
        raw = None
        for s, e in _runs(cover >= p.line_cover):
            if s < margin or e > n - margin:
                continue
            if e - s <= thick:
                out.append((s, e, cover))
                continue
            if not p.toned_lines:
                continue
            if raw is None:
                raw = sub.mean(axis=1)
            for s2, e2 in _runs(raw[s:e] >= p.line_cover):
                # The line at one end of the run, tone over the rest of it: a frame line's
                # thickness of lines beside the line, inside the run, that ink covers only in
                # part (no second line, no solid dark).
                if e2 - s2 > thick:
                    continue
                if s2 <= 1:
                    tone = raw[s + e2 + 1:s + e2 + 1 + thick]
                elif e2 >= e - s - 1:
                    tone = raw[max(s, s + s2 - 1 - thick):s + s2 - 1]
                else:
                    continue
                if len(tone) == thick and p.tone_low <= float(tone.mean()) <= p.tone_high \
                        and float(tone.max()) < p.line_cover:
                    out.append((s + s2, s + e2, raw))
        return out

    def _gutter_beside(self, region: _Piece, axis: int, s: int, e: int, thick: int) -> bool:
        """Whether, along a quarter of the line's length or more, no content lies just beside it
        on one side (``thick`` lines a couple of pixels off): the line is there the outer
        border of one panel and a shorter neighbour ends before it (touching panels of uneven
        heights), not a stroke inside art."""
        mask = self.mask[region.y0:region.y1, region.x0:region.x1]
        if axis == 1:
            mask = mask.T
        n = mask.shape[0]
        for lo, hi in ((s - 2 - thick, s - 2), (e + 2, e + 2 + thick)):
            if lo < 0 or hi > n:
                continue
            empty = mask[lo:hi].max(axis=0) == 0
            if float(empty.mean()) >= self.p.uneven_share:
                return True
        return False

    @staticmethod
    def _boxed(sub: np.ndarray, thick: int) -> bool:
        """Whether lines of ink run along all four sides of ``sub`` (a framed panel)."""
        h, w = sub.shape
        if h <= 2 * thick or w <= 2 * thick:
            return False
        sides = (sub[:thick].max(axis=0).mean(), sub[-thick:].max(axis=0).mean(),
                 sub[:, :thick].max(axis=1).mean(), sub[:, -thick:].max(axis=1).mean())
        return min(float(v) for v in sides) >= 0.9

    def _lettering_band(self, region: _Piece, axis: int, lo: int, hi: int,
                        solid_art: bool = False) -> bool:
        """Whether the marks lying wholly inside a band of ``region`` are mostly letters
        (``solid_art``: a mostly inked band half of it dark ink never is, however narrow)."""
        if hi <= lo:
            return True
        pad = max(2, int(0.01 * self.long_side))
        if axis == 0:
            y0, y1, x0, x1 = region.y0 + lo, region.y0 + hi, region.x0 + pad, region.x1 - pad
        else:
            y0, y1, x0, x1 = region.y0 + pad, region.y1 - pad, region.x0 + lo, region.x0 + hi
        st = self._ink_components()
        x, y, w, h, area = st[:, 0], st[:, 1], st[:, 2], st[:, 3], st[:, 4]
        inside = (x >= x0) & (y >= y0) & (x + w <= x1) & (y + h <= y1)
        sub = self.ink[y0:y1, x0:x1]
        if sub.size == 0:
            return True
        if solid_art and float(sub.mean()) >= 0.6 and float(self.dark[y0:y1, x0:x1].mean()) >= 0.5:
            return False  # half of it dark ink: a dark panel, not a filled caption strip
        if self.p.solid_band and float(sub.mean()) >= 0.6:
            # Mostly inked: colour art when it is two panels' least sides or more across, else
            # a filled title or caption strip (its big letters are no "letters" below). A
            # column of colour (a tall narrow panel) is art from one panel's least side: title
            # and caption strips run across the page, not down it.
            return hi - lo < (self.p.solid_column if axis == 1 else 2.0) * self.min_side
        # Without lines running across or along the band (a caption box's sides).
        keep = sub.astype(bool).copy()
        keep[:, sub.sum(axis=0) >= 0.8 * sub.shape[0]] = False
        keep[sub.sum(axis=1) >= 0.8 * sub.shape[1], :] = False
        total = int(keep.sum())
        if total <= 0:
            return True
        letter = self.p.letter_size * self.long_side
        small = inside & (h <= letter)  # letters, words, lines of text
        return int(area[small].sum()) >= 0.5 * total

    def _art_crosses(self, region: _Piece, axis: int, s: int, e: int, share: float | None = None) -> bool:
        """Whether art runs on across a line (the same colour just before and just after it
        along more than ``share`` of its length, ``line_crossed`` unless given): a horizon or
        an edge drawn inside a panel, not a border."""
        d = 2
        if axis == 0:
            a0, b0 = region.y0 + s - d - 1, region.y0 + e + d
            if a0 < 0 or b0 >= self.small.shape[0]:
                return False
            one = self.small[a0, region.x0:region.x1].astype(np.int16)
            two = self.small[b0, region.x0:region.x1].astype(np.int16)
            i1, i2 = self.ink[a0, region.x0:region.x1], self.ink[b0, region.x0:region.x1]
        else:
            a0, b0 = region.x0 + s - d - 1, region.x0 + e + d
            if a0 < 0 or b0 >= self.small.shape[1]:
                return False
            one = self.small[region.y0:region.y1, a0].astype(np.int16)
            two = self.small[region.y0:region.y1, b0].astype(np.int16)
            i1, i2 = self.ink[region.y0:region.y1, a0], self.ink[region.y0:region.y1, b0]
        same = (np.abs(one - two).max(axis=-1) <= 24) & (i1 > 0) & (i2 > 0)
        return float(same.mean()) > (self.p.line_crossed if share is None else share)

    def _blocked_slants(self, region: _Piece, axis: int, a: np.ndarray, edge: int, margin: int,
                        t: np.ndarray) -> list[tuple[float, int, int, int]]:
        """Slanted gutters that a caption, a balloon or art breaking out of a frame blocks
        somewhere along them: straight lines from a gap along one side of the region, at most
        ``p.max_slant`` off square, that meet content along at most ``p.slant_blocked`` of
        their length, where the clean strip they run in is no wider than a gutter and dark ink
        (two frames) flanks it on both sides along ``line_cover`` of the clean part, keeping its
        width (within ``p.slant_width_spread`` px, 10th to 90th percentile: parallel frames).
        ``(cover, slant, start, end)`` like :meth:`_slanted_gaps`."""
        p = self.p
        n, m = a.shape
        dark = self.dark[region.y0:region.y1, region.x0:region.x1]
        dark = dark.T if axis == 0 else dark
        widest = max(3, int(p.max_gutter * self.long_side))
        reach = int(p.max_slant * n) // 2
        q0s, q1s = [], []
        for from_top in (True, False):
            rows = a[:edge] if from_top else a[n - edge:]
            mouths = [x for s_, e_ in _runs(rows.max(axis=0) == 0) for x in range(s_, e_)
                      if margin <= x < m - margin]
            if not mouths:
                continue
            xs = np.asarray(mouths[::max(1, len(mouths) // 8)], np.int64)
            fixed = np.repeat(xs, 2 * reach + 1)
            other = fixed + np.tile(np.arange(-reach, reach + 1) * 2, len(xs))
            ok = (other >= margin) & (other < m - margin)
            q0s.append(fixed[ok] if from_top else other[ok])
            q1s.append(other[ok] if from_top else fixed[ok])
        if not q0s:
            return []
        q0, q1 = np.concatenate(q0s), np.concatenate(q1s)
        if len(q0) == 0:
            return []
        # Coarsely first (every tenth row), then the lines left in full.
        ts = t[::10]
        pos = np.rint(q0[:, None] + (q1 - q0)[:, None] * ts[None, :] / max(1, n - 1)).astype(np.int64)
        coarse = (a[ts[None, :], pos.clip(0, m - 1)] > 0).mean(axis=1)
        keep = np.argsort(coarse, kind="stable")[:24]
        keep = keep[coarse[keep] <= p.slant_blocked + 0.1]
        q0, q1 = q0[keep], q1[keep]
        if len(q0) == 0:
            return []
        pos = np.rint(q0[:, None] + (q1 - q0)[:, None] * t[None, :] / max(1, n - 1)).astype(np.int64)
        pos = pos.clip(0, m - 1)
        hit = a[t[None, :], pos] > 0
        share = hit.mean(axis=1)
        for k in np.argsort(share, kind="stable")[:8]:
            if share[k] > p.slant_blocked:
                break
            clean = np.flatnonzero(~hit[k])[::2]
            if len(clean) == 0:
                continue
            # The clean strip around the line on each clean row (at most ``widest`` wide), and
            # dark ink within three pixels beyond both its edges (a pixel or two of soft edge).
            x = pos[k, clean]
            c = widest + 3
            cols = x[:, None] + np.arange(-c, c + 1)[None, :]
            inside = (cols >= 0) & (cols < m)
            cols = cols.clip(0, m - 1)
            wa = (a[clean[:, None], cols] > 0) | ~inside
            wd = (dark[clean[:, None], cols] > 0) & inside
            back = wa[:, c - 1::-1]  # from the line leftwards
            dl = np.where(back.any(axis=1), back.argmax(axis=1), c)
            ahead = wa[:, c + 1:]
            dr = np.where(ahead.any(axis=1), ahead.argmax(axis=1), c)
            width = dl + dr + 1
            ok = (width <= widest) & (x - dl > 0) & (x + dr < m - 1)
            rows_i = np.arange(len(clean))[:, None]
            lidx = (c - dl)[:, None] - np.arange(1, 4)[None, :]
            ridx = (c + dr)[:, None] + np.arange(1, 4)[None, :]
            ok &= wd[rows_i, lidx.clip(0, 2 * c)].any(axis=1) & wd[rows_i, ridx.clip(0, 2 * c)].any(axis=1)
            flanked = int(ok.sum())
            widths = (width - 1)[ok]
            # Two frames run parallel: the strip keeps its width (white streaks between speed
            # lines or hatching narrow and widen).
            if flanked and flanked >= p.line_cover * len(clean) and \
                    float(np.percentile(widths, 90) - np.percentile(widths, 10)) <= p.slant_width_spread:
                return [(float(share[k]), abs(int(q1[k]) - int(q0[k])), int(q0[k]), int(q1[k]))]
        return []

    def _slanted_gaps(self, a: np.ndarray, edge: int, margin: int,
                      t: np.ndarray) -> list[tuple[float, int, int, int]]:
        """Slanted gutters down the rows of ``a``: ``(cover, slant, start, end)``."""
        p = self.p
        n, m = a.shape
        def mouths(rows: np.ndarray) -> list[int]:
            free = rows.max(axis=0) == 0
            return [x for s, e in _runs(free) for x in range(s, e) if margin <= x < m - margin]
        starts, ends = mouths(a[:edge]), mouths(a[n - edge:])
        if not starts or not ends:
            return []
        xs0 = np.asarray(starts[::max(1, len(starts) // 24)], np.int64)
        xs1 = np.asarray(ends[::max(1, len(ends) // 24)], np.int64)
        p0, p1 = np.meshgrid(xs0, xs1, indexing="ij")
        p0, p1 = p0.ravel(), p1.ravel()
        ok = np.abs(p1 - p0) <= p.max_slant * n
        p0, p1 = p0[ok], p1[ok]
        if len(p0) == 0:
            return []
        padded = np.pad(a, ((0, 0), (1, 1)))
        coarse = _line_cover(padded, p0, p1, t[::3], n, low=True)
        keep = coarse <= 2 * p.gap_tolerance
        p0, p1 = p0[keep], p1[keep]
        if len(p0) == 0:
            return []
        fine = _line_cover(padded, p0, p1, t, n, low=True)
        return [(float(c), abs(int(u1) - int(u0)), int(u0), int(u1))
                for c, u0, u1 in zip(fine, p0, p1) if c <= p.gap_tolerance]

    def _slanted_lines(self, region: _Piece, axis: int, margin: int,
                       t: np.ndarray) -> list[tuple[float, int, int, int]]:
        """Slanted frame lines two panels share, from side to side of ``region`` (straight
        dark segments found once per page, extended across the region and covered by dark ink
        nearly all the way): ``(-cover, slant, start, end)`` in the coordinates of
        :meth:`_slanted`."""
        p = self.p
        if not p.slanted_lines:
            return []
        dark = self.dark[region.y0:region.y1, region.x0:region.x1]
        a = dark.T if axis == 0 else dark
        n, m = a.shape
        thick = max(3, int(round(p.line_thick * self.long_side)))
        if self._boxed(dark, thick):
            return []
        out, seen = [], set()
        padded = near = None
        for x1, y1, x2, y2 in self._segments():
            if axis == 0:
                along0, along1, across0, across1, lo, base = x1, x2, y1, y2, region.x0, region.y0
            else:
                along0, along1, across0, across1, lo, base = y1, y2, x1, x2, region.y0, region.x0
            if along1 == along0 or abs(across1 - across0) > p.max_slant * abs(along1 - along0):
                continue
            mid_r = (y1 + y2) / 2.0
            mid_c = (x1 + x2) / 2.0
            if not (region.y0 <= mid_r < region.y1 and region.x0 <= mid_c < region.x1):
                continue
            k = (across1 - across0) / (along1 - along0)
            u0 = across0 + k * (lo - along0) - base
            u1 = across0 + k * (lo + n - 1 - along0) - base
            key = (int(round(u0)), int(round(u1)))
            if key in seen or min(key) < margin or max(key) >= m - margin:
                continue
            seen.add(key)
            if padded is None:
                padded = np.pad(a, ((0, 0), (1, 1)))
                # Ink within 5 columns: every line tried below passes within 4 of the key's
                # (ends moved by up to 3, rounding), a pixel of wobble beside it, so the cover
                # of this along the key's line bounds theirs from above.
                near = self.cv2.dilate(padded, np.ones((1, 11), np.uint8))
            if _line_cover(near, np.array([key[0]]), np.array([key[1]]), t[::4], n, low=False)[0] < p.line_cover - 0.1:
                continue  # no line near it covers enough: the settling below would find none
            # The segments come from a reduced copy: settle each end to the pixel.
            d = np.arange(-3, 4)
            q0, q1 = np.meshgrid(key[0] + d, key[1] + d, indexing="ij")
            q0, q1 = q0.ravel(), q1.ravel()
            tried = _line_cover(padded, q0, q1, t[::4], n, low=False)
            best = int(np.argmax(tried))
            if tried[best] < p.line_cover - 0.1:
                continue
            key = (int(q0[best]), int(q1[best]))
            if abs(key[1] - key[0]) < 3:
                continue  # square lines are :meth:`_line_gaps`' to judge
            cover = float(_line_cover(padded, np.array([key[0]]), np.array([key[1]]), t, n, low=False)[0])
            if cover < p.line_cover:
                continue
            if self._art_crosses_slant(region, axis, key, t, thick):
                continue
            offsets = np.arange(thick // 2 + 2, thick // 2 + 2 + thick)
            sides = [float(_line_cover(padded, key[0] + sign * offsets, key[1] + sign * offsets, t, n,
                                       low=False).mean()) for sign in (-1, 1)]
            if min(sides) > p.line_side_low or max(sides) > p.line_side_high:
                continue
            out.append((-cover, abs(key[1] - key[0]), key[0], key[1]))
        return out

    def _art_crosses_slant(self, region: _Piece, axis: int, key: tuple[int, int], t: np.ndarray,
                           thick: int) -> bool:
        """Like :meth:`_art_crosses`, for a slanted line (``key``: its ends across the region)."""
        n = len(t)
        pos = np.rint(key[0] + (key[1] - key[0]) * t / max(1, n - 1)).astype(np.int64)
        d = thick // 2 + 2
        img = self.small[region.y0:region.y1, region.x0:region.x1]
        ink = self.ink[region.y0:region.y1, region.x0:region.x1]
        if axis == 0:
            img, ink = img.transpose(1, 0, 2), ink.T
        m = ink.shape[1]
        lo, hi = pos - d, pos + d
        ok = (lo >= 0) & (hi < m)
        if not ok.any():
            return False
        rows, lo, hi = t[ok], lo[ok], hi[ok]
        one, two = img[rows, lo].astype(np.int16), img[rows, hi].astype(np.int16)
        same = (np.abs(one - two).max(axis=-1) <= 24) & (ink[rows, lo] > 0) & (ink[rows, hi] > 0)
        return float(same.mean()) > self.p.line_crossed

    def _segments(self) -> list[tuple[int, int, int, int]]:
        """Long straight segments of dark ink on the page (computed once, at a quarter size)."""
        if self._segs is None:
            cv2 = self.cv2
            h, w = self.dark.shape
            f = 4
            small = cv2.resize(self.dark * 255, (max(1, w // f), max(1, h // f)), interpolation=cv2.INTER_AREA)
            small = (small >= 40).astype(np.uint8)
            length = max(8, int(0.7 * self.min_side / f))
            found = cv2.HoughLinesP(small, 1, np.pi / 180, threshold=length, minLineLength=length, maxLineGap=1)
            self._segs = [] if found is None else [tuple(int(f * v) for v in seg) for seg in found[:, 0]]
        return self._segs

    def _dirty_gaps(self, region: _Piece, axis: int) -> list[tuple[int, int]]:
        """Gutters that panels' uneven edges and poking art make dirty: a band whose lines hold
        at most ``p.dirty_gap`` content, between solid blocks reached a short way off on both
        sides (a row of panels starting at different heights). What crosses such a band is at
        most a fifth of it: art poking out, not a tall panel. Surest (emptiest) first."""
        p = self.p
        frac = self._fractions(region, axis)
        n = len(frac)
        flank = max(3, 2 * self.min_gap)
        max_len = max(self.min_gap, int(p.max_gutter * self.long_side))
        reach = max(flank, int(p.max_gutter * self.long_side / 2))
        out = []
        for s, e in _runs(frac <= p.dirty_gap):
            if not (self.min_gap <= e - s <= max_len) or s < flank or e > n - flank:
                continue
            near = [frac[max(0, s - reach):s], frac[e:e + reach]]
            if all(len(v) >= flank and _window_max(v, flank) >= p.solid_flank for v in near):
                if p.dirty_frame_across and self._frame_across(region, axis, (s, e)):
                    continue  # the region's own border runs across it: inside one panel
                out.append((float(frac[s:e].max()), (s, e)))
        return [g for _, g in sorted(out)]

    def _crossed(self, region: _Piece, axis: int, gap: tuple[int, int]) -> bool:
        """Whether a straight line of dark ink (a frame; colour art does not count) crosses the
        band and runs on well past both sides, other than a caption box's sides."""
        reach = int(self.min_side / 2)
        lo = max(0, (region.y0 if axis == 0 else region.x0) + gap[0] - reach)
        hi = (region.y0 if axis == 0 else region.x0) + gap[1] + reach
        if axis == 0:
            window = self.dark[lo:hi, region.x0:region.x1].T
            img = self.small[lo:hi, region.x0:region.x1].transpose(1, 0, 2)
        else:
            window = self.dark[region.y0:region.y1, lo:hi]
            img = self.small[region.y0:region.y1, lo:hi]
        runs = _runs(window.all(axis=1))  # lines across the band, along the region
        if not runs or not self.p.caption_across:
            return bool(runs)
        sides = set()
        for (s0, e0), (s1, e1) in zip(runs, runs[1:]):
            if 8 <= s1 - e0 <= self.min_side and self._caption_box(window[e0:s1], img[e0:s1]):
                sides |= {s0, s1}
        return any(s0 not in sides for s0, _ in runs)

    def _caption_box(self, dark: np.ndarray, img: np.ndarray) -> bool:
        """Whether the inside of a box (its dark ink and its colours) is lettering on one flat
        colour: some dark marks, not many, and the rest mostly one colour."""
        share = float(dark.mean()) if dark.size else 0.0
        if not 0.02 <= share <= 0.5:
            return False
        px = img[dark == 0]
        if len(px) == 0:
            return False
        codes = _colour_bins(px)
        return float(np.bincount(codes).max()) >= 0.6 * len(codes)

    def _cut(self, region: _Piece, axis: int, gaps: list[tuple[int, int]],
             border: bool = False) -> list[_Piece]:
        """Pieces of ``region`` between ``gaps`` along ``axis``, after dropping specks and
        merging pieces that are not panels into their neighbours."""
        if not gaps:
            return []
        start = region.y0 if axis == 0 else region.x0
        bounds = [0] + [b for g in gaps for b in g] + [region.h if axis == 0 else region.w]
        pieces: list[_Piece] = []
        for a, b in zip(bounds[0::2], bounds[1::2]):
            if axis == 0:
                raw = _Piece(start + a, start + b, region.x0, region.x1, 0)
            else:
                raw = _Piece(region.y0, region.y1, start + a, start + b, 0)
            trimmed = self._trim(raw)
            if trimmed is not None:
                pieces.append(trimmed)
        pieces = self._absorb_specks(pieces, axis)
        while len(pieces) >= 2:
            weak = [i for i, pc in enumerate(pieces) if not self._panel_like(pc, pieces, axis, border)]
            if not weak:
                break
            i = min(weak, key=lambda k: pieces[k].area)
            j = self._nearest(pieces, i, axis)
            a, b = sorted((i, j))
            merged = self._union(pieces[a], pieces[b], region, axis)
            pieces[a:b + 1] = [merged]
        return pieces

    def _absorb_specks(self, pieces: list[_Piece], axis: int) -> list[_Piece]:
        """Specks (a page number, dirt, a lone "OK!") join the piece next to them when it is
        close, else they are dropped."""
        p = self.p
        speck = p.speck_area * self.page_area
        near = p.speck_gap * self.long_side
        out = list(pieces)
        while len(out) >= 2:
            small = [i for i, pc in enumerate(out) if pc.area < speck]
            if not small:
                break
            i = small[0]
            j = self._nearest(out, i, axis)
            lo, hi = out[i].span(axis)
            olo, ohi = out[j].span(axis)
            gap = olo - hi if j > i else lo - ohi
            if gap <= near:
                a, b = sorted((i, j))
                y0, y1 = min(out[a].y0, out[b].y0), max(out[a].y1, out[b].y1)
                x0, x1 = min(out[a].x0, out[b].x0), max(out[a].x1, out[b].x1)
                out[a:b + 1] = [_Piece(y0, y1, x0, x1, self._mass(y0, y1, x0, x1))]
            else:
                del out[i]
        return [pc for pc in out if pc.area >= speck] if len(out) == 1 else out

    def _panel_like(self, pc: _Piece, siblings: list[_Piece], axis: int, border: bool = False) -> bool:
        """Whether a piece of a cut stands as (or holds) panels of its own.

        Not when it is smaller than a panel can be, nor when it holds only lettering (text,
        balloons and caption boxes smaller than a panel: what stands apart inside a frameless
        panel). A solid (framed) block of panel size is a panel; loose content must reach a
        share of its largest sibling along the cut (no slivers) and, for a row, a share of the
        typical framed panel's height."""
        p = self.p
        if min(pc.w, pc.h) < self.min_side:
            return False
        extent = pc.h if axis == 0 else pc.w
        if pc.fill >= p.solid_fill:
            return True  # a framed (or flat) block of panel size
        if self._lettering_only(pc):
            return False
        if border and self.p.border_pieces:
            return True  # beyond a frame line two panels share: a panel, however short
        largest = max((s.h if axis == 0 else s.w) for s in siblings)
        if extent < p.loose_share * largest:
            return False
        ref = self._reference()
        return axis == 1 or ref is None or extent >= p.loose_row_share * ref[0]

    def _reference(self) -> tuple[float, float] | None:
        """(height, width) of the page's typical framed panel: the median over the large,
        nearly rectangular solid blocks of the mask. None when the page has none."""
        if self._ref_done:
            return self._ref
        self._ref_done = True
        st = self._mask_components().astype(np.float64)
        if len(st) == 0:
            return None
        bw, bh, area = st[:, 2], st[:, 3], st[:, 4]
        ok = (np.minimum(bw, bh) >= self.min_side) & (area >= 0.85 * bw * bh)
        ok &= bw * bh <= 0.6 * self.page_area
        if ok.any():
            self._ref = (float(np.median(bh[ok])), float(np.median(bw[ok])))
        return self._ref

    def _mask_components(self) -> np.ndarray:
        """``[x, y, w, h, area]`` of the content mask's connected components (computed once)."""
        if self._blobs is None:
            _, _, stats, _ = self.cv2.connectedComponentsWithStats(self.mask, connectivity=8)
            self._blobs = stats[1:].astype(np.int64)
        return self._blobs

    def _lettering_only(self, pc: _Piece) -> bool:
        """True when the marks in the piece are letters, short pointer lines and outlines
        (balloons, caption boxes) smaller than a panel around lettering, give or take a few
        small other strokes (a curly tail, a squiggle: at most ``p.other_ink`` of the ink).
        One mark of panel size that is not an outline (a figure, a blob) makes it art."""
        st = self._ink_components()
        x, y, w, h, area = st[:, 0], st[:, 1], st[:, 2], st[:, 3], st[:, 4]
        cx, cy = x + w / 2.0, y + h / 2.0
        inside = (cx >= pc.x0) & (cy >= pc.y0) & (cx < pc.x1) & (cy < pc.y1) & (area >= 4)
        if self.p.art_through and self._art_through(pc, int(area[inside].sum())):
            return False
        if not inside.any():
            return True
        letter = self.p.letter_size * self.long_side
        x, y, w, h, area = x[inside], y[inside], w[inside], h[inside], area[inside]
        long, short = np.maximum(w, h), np.minimum(w, h)
        rest = ~((h <= letter) & (w <= 3 * letter))  # not a letter or a word
        rest &= ~((long < self.min_side) & (short <= letter / 3))  # nor a short thin stroke (a tail)
        for k in np.flatnonzero(rest & (short < self.min_side)):
            kx, ky, kw, kh, ka = int(x[k]), int(y[k]), int(w[k]), int(h[k]), int(area[k])
            filled = self._mass(ky, ky + kh, kx, kx + kw)
            if filled >= 0.6 * kw * kh and ka <= 0.4 * filled:
                rest[k] = False  # an outline around lettering
        if (rest & (long >= self.min_side)).any():
            return False  # art
        return int(area[rest].sum()) <= self.p.other_ink * int(area.sum())

    def _art_through(self, pc: _Piece, counted: int) -> bool:
        """Whether three quarters of the ink inside the piece (away from its border, where frames
        run; at least 5 % of it inked) belongs to marks centred elsewhere: art joined to the frames of a page whose line work
        is one connected web (manga), which the per-mark test above cannot see."""
        pad = max(2, int(0.01 * self.long_side))
        y0, y1, x0, x1 = pc.y0 + pad, pc.y1 - pad, pc.x0 + pad, pc.x1 - pad
        if y1 <= y0 or x1 <= x0:
            return False
        ii = self.ink_ii
        interior = int(ii[y1, x1] - ii[y0, x1] - ii[y1, x0] + ii[y0, x0])
        return interior > 0 and counted < 0.25 * interior and interior >= 0.05 * (y1 - y0) * (x1 - x0)

    def _ink_components(self) -> np.ndarray:
        """Bounding boxes and sizes of the ink's connected components (computed once)."""
        if self._components is None:
            _, _, stats, _ = self.cv2.connectedComponentsWithStats(self.ink, connectivity=8)
            self._components = stats[1:].astype(np.int64)
        return self._components

    @staticmethod
    def _nearest(pieces: list[_Piece], i: int, axis: int) -> int:
        if i == 0:
            return 1
        if i == len(pieces) - 1:
            return i - 1
        lo, hi = pieces[i].span(axis)
        before = lo - pieces[i - 1].span(axis)[1]
        after = pieces[i + 1].span(axis)[0] - hi
        return i - 1 if before <= after else i + 1

    def _union(self, a: _Piece, b: _Piece, region: _Piece, axis: int) -> _Piece:
        if axis == 0:
            raw = _Piece(min(a.y0, b.y0), max(a.y1, b.y1), region.x0, region.x1, 0)
        else:
            raw = _Piece(region.y0, region.y1, min(a.x0, b.x0), max(a.x1, b.x1), 0)
        return self._trim(raw) or raw

    def _blocks(self, region: _Piece) -> list[_Piece]:
        """Several large solid blocks that no straight gutter separates (slanted gutters)."""
        if region.area < 2 * self.min_side ** 2:
            return []
        st = self._mask_components()
        x, y, bw, bh, area = st[:, 0], st[:, 1], st[:, 2], st[:, 3], st[:, 4]
        pick = (x >= region.x0) & (y >= region.y0) & (x + bw <= region.x1) & (y + bh <= region.y1)
        pick &= (np.minimum(bw, bh) >= self.min_side) & (area >= 0.45 * bw * bh)
        pick &= area >= 0.5 * self.min_side ** 2
        if pick.sum() < 2 or st[pick, 4].sum() < 0.6 * region.mass:
            return []  # mostly loose content (frameless): leave it whole
        found = [_Piece(int(y[k]), int(y[k] + bh[k]), int(x[k]), int(x[k] + bw[k]), int(area[k]))
                 for k in np.flatnonzero(pick)]
        if self.p.block_sides:
            found = [b for b in found if self._sides_drawn(b) >= self.p.block_sides]
            if len(found) < 2:
                return []
        if self.p.blocks_apart:
            for i, a in enumerate(found):
                for b in found[i + 1:]:
                    iw = min(a.x1, b.x1) - max(a.x0, b.x0)
                    ih = min(a.y1, b.y1) - max(a.y0, b.y0)
                    if iw > 0 and ih > 0 and iw * ih >= 0.5 * min(a.area, b.area):
                        return []  # one lies half inside the other's box: parts of one panel
        if self.p.blocks_rest:
            rest = self._rest_of_blocks(region, found)
            if rest is not None:
                found.append(rest)
        return _reading_order(found, self.rtl)

    def _sides_drawn(self, b: _Piece) -> int:
        """How many sides of the block's box content runs along (``0.8`` of it, within 3 px)."""
        m = self.mask
        sides = (m[b.y0:b.y0 + 3, b.x0:b.x1].max(axis=0), m[b.y1 - 3:b.y1, b.x0:b.x1].max(axis=0),
                 m[b.y0:b.y1, b.x0:b.x0 + 3].max(axis=1), m[b.y0:b.y1, b.x1 - 3:b.x1].max(axis=1))
        return sum(float(v.mean()) >= 0.8 for v in sides)

    def _rest_of_blocks(self, region: _Piece, blocks: list[_Piece]) -> _Piece | None:
        """The largest mass of content in ``region`` outside its solid blocks (strokes a
        percent of the page apart taken together), as one piece, when it is panel-sized and
        lies mostly outside the blocks' boxes (a white panel bleeding off the page beside
        framed ones, whose inside is the gutter's colour); else None."""
        cv2 = self.cv2
        rest = self.mask[region.y0:region.y1, region.x0:region.x1].copy()
        for b in blocks:
            rest[b.y0 - region.y0:b.y1 - region.y0, b.x0 - region.x0:b.x1 - region.x0] = 0
        if int(rest.sum()) < 0.5 * self.min_side ** 2:
            return None
        reach = max(3, int(0.01 * self.long_side))  # strokes of one drawing a little apart
        joined = cv2.dilate(rest, np.ones((2 * reach + 1, 2 * reach + 1), np.uint8))
        n, _, st, _ = cv2.connectedComponentsWithStats(joined, connectivity=8)
        if n < 2:
            return None
        x, y, bw, bh, _ = (int(v) for v in st[1 + int(np.argmax(st[1:n, 4]))])
        box = _Piece(region.y0 + y, region.y0 + y + bh, region.x0 + x, region.x0 + x + bw, 0)
        if self._inside_blocks(box, blocks):
            return None
        piece = self._trim(box)
        if piece is None or min(piece.h, piece.w) < self.min_side:
            return None
        return piece

    @staticmethod
    def _inside_blocks(piece: _Piece, blocks: list[_Piece]) -> bool:
        """Whether half of ``piece``'s box or more lies inside one of ``blocks``' boxes."""
        for b in blocks:
            iw = min(piece.x1, b.x1) - max(piece.x0, b.x0)
            ih = min(piece.y1, b.y1) - max(piece.y0, b.y0)
            if iw > 0 and ih > 0 and iw * ih >= 0.5 * piece.area:
                return True
        return False

    def _finish(self, leaf: _Piece) -> _Piece:
        """A leaf's final extent: solid leaves lose thin protrusions (balloons over the frame)."""
        p = self.p
        if leaf.fill < p.solid_fill:
            return leaf
        y0, y1, x0, x1 = leaf.y0, leaf.y1, leaf.x0, leaf.x1
        for axis in (0, 1):
            cur = _Piece(y0, y1, x0, x1, 0)
            prof = self._profile(cur, axis).astype(np.float32)
            if len(prof) == 0:
                break
            strong = np.flatnonzero(prof >= p.trim_share * prof.max())
            lo, hi = int(strong[0]), int(strong[-1]) + 1
            if axis == 0:
                y0, y1 = y0 + lo, y0 + hi
            else:
                x0, x1 = x0 + lo, x0 + hi
        if p.to_frame:
            x0, x1 = self._to_frame(y0, y1, x0, x1)
        return _Piece(y0, y1, x0, x1, self._mass(y0, y1, x0, x1))

    def _to_frame(self, y0: int, y1: int, x0: int, x1: int) -> tuple[int, int]:
        """A framed leaf's left and right ends clipped to its frame: within a fifth of its
        width, the outermost column its content fills (``p.frame_full``), when beyond it
        content fills less than ``p.frame_beyond``, a frame line shows there, and the leaf
        does not reach the page's edge (a tall balloon poking sideways over the frame into the
        gutter, not art that runs on)."""
        p = self.p
        n = x1 - x0
        if n < 8 or y1 <= y0:
            return x0, x1
        # per-column fill of the mask and of the ink, from the integral images
        fill = np.diff(self.ii[y1, x0:x1 + 1] - self.ii[y0, x0:x1 + 1]) / float(y1 - y0)
        cover = np.diff(self.ink_ii[y1, x0:x1 + 1] - self.ink_ii[y0, x0:x1 + 1]) / float(y1 - y0)
        lim = max(1, n // 5)
        full = np.flatnonzero(fill >= p.frame_full)
        if len(full) == 0:
            return x0, x1
        lo, hi = int(full[0]), int(full[-1]) + 1
        mw = self.mask.shape[1]
        if not (2 < lo <= lim and x0 > 2 and float(fill[:lo].mean()) < p.frame_beyond
                and float(cover[lo:lo + 3].max()) >= 0.3):
            lo = 0
        if not (n - lim <= hi < n - 2 and x1 < mw - 2 and float(fill[hi:].mean()) < p.frame_beyond
                and float(cover[max(0, hi - 3):hi].max()) >= 0.3):
            hi = n
        return x0 + lo, x0 + hi


# -- helpers ----------------------------------------------------------------------------------
def _line_cover(padded: np.ndarray, q0: np.ndarray, q1: np.ndarray, rows: np.ndarray, n: int,
                low: bool) -> np.ndarray:
    """Share of each straight line down the rows of an array (given with one column of padding
    each side, ``np.pad(a, ((0, 0), (1, 1)))``; from column ``q0`` at row 0 to ``q1`` at row
    ``n - 1``, sampled at ``rows``) that is set, a pixel of wobble allowed: the line may pass
    beside a set pixel (``low``, for gaps) or hit one beside it (for lines)."""
    pos = np.rint(q0[:, None] + (q1 - q0)[:, None] * rows[None, :] / max(1, n - 1)).astype(np.int64) + 1
    pos = pos.clip(1, padded.shape[1] - 2)
    r = rows[None, :]
    mid, left, right = padded[r, pos], padded[r, pos - 1], padded[r, pos + 1]
    hit = np.minimum(mid, np.minimum(left, right)) if low else np.maximum(mid, np.maximum(left, right))
    return hit.mean(axis=1)


def _window_max(values: np.ndarray, k: int) -> float:
    """The largest mean of ``k`` consecutive values."""
    c = np.concatenate([[0.0], np.cumsum(values, dtype=np.float64)])
    return float((c[k:] - c[:-k]).max() / k)


def _colour_bins(px: np.ndarray) -> np.ndarray:
    """One bin number per pixel (rows of one or three channels): 16 levels a channel."""
    q = px.astype(np.int32) >> 4
    return q[:, 0] if q.shape[1] == 1 else (q[:, 0] << 8) | (q[:, 1] << 4) | q[:, 2]


def _distance(cv2: Any, img: np.ndarray, colour: np.ndarray) -> np.ndarray:
    """Each pixel's distance from ``colour`` (one value per channel): its largest channel
    difference, as a 2-D uint8 array (OpenCV's scalar absdiff and per-channel max: a third of
    numpy's time)."""
    h, w = img.shape[:2]
    ref = np.clip(np.round(colour), 0, 255).astype(np.uint8).reshape(-1)
    if img.ndim == 3 and img.shape[2] == 3:
        return _brightest(cv2, cv2.absdiff(img, tuple(float(v) for v in ref) + (0.0,)))
    return cv2.absdiff(img.reshape(h, w), np.full((h, w), ref[0], np.uint8))


def _brightest(cv2: Any, img: np.ndarray) -> np.ndarray:
    """Each pixel's brightest channel (the image itself when grey), as a 2-D uint8 array."""
    if img.ndim == 3 and img.shape[2] >= 3:
        b, g, r = cv2.split(img)[:3]
        return cv2.max(cv2.max(b, g), r)
    return np.ascontiguousarray(img.reshape(img.shape[0], img.shape[1]))


def _runs(flags: np.ndarray) -> list[tuple[int, int]]:
    """``(start, end)`` of every run of True values."""
    if len(flags) == 0:
        return []
    padded = np.concatenate([[False], flags, [False]]).astype(np.int8)
    edges = np.flatnonzero(np.diff(padded))
    return list(zip(edges[0::2].tolist(), edges[1::2].tolist()))


def _drop_nested(pieces: list[_Piece], share: float = 0.7) -> list[_Piece]:
    """Without the pieces lying mostly (``share`` of their area) inside a larger one: an
    inset is part of the panel it sits on."""
    keep = []
    for i, a in enumerate(pieces):
        nested = False
        for j, b in enumerate(pieces):
            if i == j or b.area < a.area or (b.area == a.area and j > i):
                continue
            iw = min(a.x1, b.x1) - max(a.x0, b.x0)
            ih = min(a.y1, b.y1) - max(a.y0, b.y0)
            if iw > 0 and ih > 0 and iw * ih >= share * a.area:
                nested = True
                break
        if not nested:
            keep.append(a)
    return keep


def _band_order(columns: list[list[_Piece]], cross: float) -> list[_Piece]:
    """The leaves of columns (each in reading order, the columns in theirs) read band by band:
    a band boundary is a line that no leaf crosses by more than ``cross`` of its height on
    the shorter side; inside a band the leaves keep their order (column by column). With one
    band (a tall panel beside a stack) this is plain column order."""
    leaves = [lf for col in columns for lf in col]
    if len(columns) < 2 or len(leaves) < 3:
        return leaves
    column = [k for k, col in enumerate(columns) for _ in col]

    def clean(y: float) -> bool:
        return all(min(y - lf.y0, lf.y1 - y) <= cross * lf.h for lf in leaves if lf.y0 < y < lf.y1)

    centres = sorted((lf.y0 + lf.y1) / 2.0 for lf in leaves)
    edges = sorted({v for lf in leaves for v in (lf.y0, lf.y1)})
    cuts: list[float] = []
    for lo, hi in zip(centres, centres[1:]):
        if hi <= lo:
            continue
        # a clean line between two neighbouring centres, the one nearest their middle
        options = [y for y in edges if lo < y < hi and clean(y)]
        options += [y for y in ((lo + hi) / 2.0,) if clean(y)]
        if options:
            cuts.append(min(options, key=lambda y: abs(y - (lo + hi) / 2.0)))
    if not cuts:
        return leaves
    band = [sum((lf.y0 + lf.y1) / 2.0 > c for c in cuts) for lf in leaves]
    if any(len({column[i] for i in range(len(leaves)) if band[i] == b}) < 2 for b in set(band)):
        return leaves  # a band in one column only: the columns are columns
    return [leaves[i] for i in sorted(range(len(leaves)), key=lambda i: (band[i], i))]


def _reading_order(pieces: list[_Piece], rtl: bool) -> list[_Piece]:
    """Rows top to bottom (a piece joins a row when it overlaps the row's band by half its
    height), each row left to right (right to left when ``rtl``)."""
    rows: list[list[_Piece]] = []
    for pc in sorted(pieces, key=lambda q: (q.y0 + q.y1) / 2):
        if rows:
            band0 = min(q.y0 for q in rows[-1])
            band1 = max(q.y1 for q in rows[-1])
            overlap = min(band1, pc.y1) - max(band0, pc.y0)
            if overlap >= 0.5 * min(pc.h, band1 - band0):
                rows[-1].append(pc)
                continue
        rows.append([pc])
    out = []
    for row in rows:
        out.extend(sorted(row, key=lambda q: q.x0, reverse=rtl))
    return out
