"""Panel shapes the `classic-2` and `classic-3` cuts are for, each on a small drawn page:
panels sharing one border line, slanted gutters and slanted shared lines, panels starting at
uneven heights with art poking into the gutter, touching coloured panels of uneven heights
(`classic-3`), and what must stay one panel (a caption box or a horizon across a framed panel;
since `classic-4`, a dirty gap that the panel's own border runs across).
Most of these clean drawings hold for `classic-1` too (behaviour checks); the
colour-art-across-a-gutter page does not, nor (on `classic-2`) the uneven touching panels. What
each version gains shows on real pages (``tests/ml/test_panels_real.py``)."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from comicdesk.core.geometry import iou
from comicdesk.ml.panels import PanelParams, detect_boxes

W, H = 800, 1200


def page() -> np.ndarray:
    return np.full((H, W, 3), 255, np.uint8)


def art(img: np.ndarray, x0: int, y0: int, x1: int, y1: int, seed: int, tone: bool = False) -> None:
    """Some drawn content inside a panel: filled shapes and strokes, kept off its frame; with
    ``tone``, on a light grey tone that fills the panel (a bleeding panel's art reaches the
    page's edge)."""
    rng = np.random.default_rng(seed)
    if tone:  # a gradient, as screentone shading is: no one colour to take for a gutter's
        ya, yb, xa, xb = max(0, y0 + 3), min(H, y1 - 2), max(0, x0 + 3), min(W, x1 - 2)
        shade = np.linspace(120, 225, (yb - ya) + (xb - xa))
        grid = shade[np.arange(yb - ya)[:, None] + np.arange(xb - xa)[None, :]]
        img[ya:yb, xa:xb] = grid.astype(np.uint8)[:, :, None]
    for _ in range(6):
        r = int(rng.integers(15, max(16, min(x1 - x0, y1 - y0) // 5)))
        cx = int(rng.integers(x0 + r + 10, x1 - r - 10))
        cy = int(rng.integers(y0 + r + 10, y1 - r - 10))
        colour = tuple(int(v) for v in rng.integers(40, 200, 3))
        cv2.circle(img, (cx, cy), r, colour, -1)
        cv2.line(img, (cx - r, cy + r), (cx + r, cy - r), (0, 0, 0), 2)


def frame(img: np.ndarray, x0: int, y0: int, x1: int, y1: int) -> None:
    cv2.rectangle(img, (x0, y0), (x1, y1), (0, 0, 0), 3)


def matched(found, truth, at=0.8) -> bool:
    return len(found) == len(truth) and all(max(iou(t, f) for f in found) >= at for t in truth)


def test_two_panels_sharing_one_border_line_are_two():
    """Two panels bleeding off the left and right edges, one line between them (no gutter)."""
    img = page()
    for y in (40, 560, 1160):  # the middle one is the only line between the panels
        cv2.line(img, (0, y), (W, y), (0, 0, 0), 3)
    art(img, -4, 40, W + 4, 560, 1, tone=True)
    art(img, -4, 560, W + 4, 1160, 2, tone=True)
    truth = [(0, 40, W, 521), (0, 561, W, 600)]
    found = detect_boxes(img)
    assert matched(found, truth), found


def test_panels_sharing_border_lines_in_a_row_read_right_to_left():
    """Three panels bleeding off the top and bottom, one line between neighbours."""
    img = page()
    for x in (40, 280, 520, 760):
        cv2.line(img, (x, 0), (x, H), (0, 0, 0), 3)
    for k, (a, b) in enumerate(((40, 280), (280, 520), (520, 760))):
        art(img, a, -4, b, H + 4, 10 + k, tone=True)
    found = detect_boxes(img, rtl=True)
    assert len(found) == 3, found
    assert [b[0] for b in found] == sorted((b[0] for b in found), reverse=True)
    assert detect_boxes(img) == found[::-1]


def test_a_caption_box_or_a_horizon_across_a_framed_panel_keeps_it_one():
    img = page()
    frame(img, 40, 40, 760, 1160)
    cv2.line(img, (40, 200), (760, 200), (0, 0, 0), 3)  # a caption box's bottom edge
    cv2.putText(img, "MEANWHILE, IN THE CITY", (70, 140), cv2.FONT_HERSHEY_SIMPLEX, 1.0, (0, 0, 0), 2)
    cv2.line(img, (40, 900), (760, 900), (0, 0, 0), 2)  # a horizon
    art(img, 40, 200, 760, 900, 3)
    found = detect_boxes(img)
    assert matched(found, [(40, 40, 721, 1121)]), found


def test_slanted_gutter_between_two_framed_panels():
    img = page()
    # Two quadrilaterals with a white gutter slanting from (380, 40) down to (440, 1160).
    left = np.array([[40, 40], [370, 40], [430, 1160], [40, 1160]], np.int32)
    right = np.array([[390, 40], [760, 40], [760, 1160], [450, 1160]], np.int32)
    for poly, seed in ((left, 4), (right, 5)):
        cv2.fillPoly(img, [poly], (230, 220, 200))
        cv2.polylines(img, [poly], True, (0, 0, 0), 3)
    art(img, 60, 100, 360, 1100, 4)
    art(img, 470, 100, 740, 1100, 5)
    found = detect_boxes(img)
    assert len(found) == 2, found
    assert found[0][0] < found[1][0]  # left to right
    assert detect_boxes(img, rtl=True) == found[::-1]


def test_slanted_shared_line_between_two_panels():
    """Two panels bleeding off the left and right edges, one slanted line between them."""
    img = page()
    art(img, -4, 40, W + 4, 1160, 0, tone=True)
    for y in (40, 1160):
        cv2.line(img, (0, y), (W, y), (0, 0, 0), 3)
    cv2.line(img, (0, 520), (W, 640), (0, 0, 0), 3)  # one slanted border, no gutter
    art(img, 0, 40, W, 500, 6)
    art(img, 0, 660, W, 1160, 7)
    found = detect_boxes(img)
    assert len(found) == 2, found
    assert found[0][1] < found[1][1]
    assert found[0][1] + found[0][3] <= 660 and found[1][1] >= 500


def test_dirty_gutter_under_panels_starting_at_uneven_heights():
    img = page()
    frame(img, 40, 40, 760, 500)
    art(img, 40, 40, 760, 500, 8)
    # Bottom row: three framed panels whose tops are at uneven heights, and a figure poking up
    # from the middle one into the gutter (no clean line runs under the top panel).
    tops = (520, 530, 515)
    for k, (a, b) in enumerate(((40, 270), (285, 515), (530, 760))):
        frame(img, a, tops[k], b, 1160)
        art(img, a, tops[k], b, 1160, 20 + k)
    cv2.circle(img, (400, 525), 30, (60, 90, 150), -1)
    found = detect_boxes(img)
    assert len(found) == 4, found


def test_colour_art_across_a_gutter_does_not_join_the_rows():
    """A colour page (craphound p3's case): a figure in colour reaches from the lower row across
    the gutter into the upper panel. Only a frame (dark ink) crossing a gutter keeps it from
    being cut; colour art does not (`classic-1` kept these rows together)."""
    img = page()
    cv2.rectangle(img, (40, 40), (760, 500), (170, 140, 90), -1)
    frame(img, 40, 40, 760, 500)
    tops = (530, 540, 525)
    for k, (a, b) in enumerate(((40, 270), (285, 515), (530, 760))):
        cv2.rectangle(img, (a, tops[k]), (b, 1160), (110, 160, 200), -1)
        frame(img, a, tops[k], b, 1160)
    cv2.ellipse(img, (400, 540), (40, 70), 0, 0, 360, (90, 200, 90), -1)  # the figure's head
    found = detect_boxes(img)
    assert len(found) == 4, found
    assert matched(found[:1], [(40, 40, 721, 461)], at=0.9), found


# -- classic-3 --------------------------------------------------------------------------------
def colour_art(img: np.ndarray, x0: int, y0: int, x1: int, y1: int, colour, seed: int) -> None:
    """A coloured Western panel: colour nearly everywhere, some darker shapes, and a few pale
    streaks (highlights, a bright sky) where the paper shows through."""
    cv2.rectangle(img, (x0, y0), (x1, y1), colour, -1)
    for y in range(y0 + 25 + 7 * (seed % 3), y1 - 10, 60):
        img[y:y + 8, x0 + 4:x1 - 3] = 250
    art(img, x0, y0, x1, y1, seed)


def test_touching_panels_of_uneven_heights_with_colour_art_are_two():
    """craphound p1's middle row: two coloured panels share one vertical border, the left one
    shorter than the right (gutter above and below it). Art on both sides keeps ink from
    thinning beside the line; the gutter beside it along a stretch shows it is a border."""
    img = page()
    colour_art(img, 40, 40, 760, 330, (150, 170, 200), 30)
    frame(img, 40, 40, 760, 330)
    colour_art(img, 40, 480, 420, 900, (120, 180, 120), 31)
    colour_art(img, 420, 360, 760, 1000, (90, 140, 190), 32)
    frame(img, 40, 480, 420, 900)
    frame(img, 420, 360, 760, 1000)
    colour_art(img, 40, 1030, 760, 1160, (200, 160, 120), 33)
    frame(img, 40, 1030, 760, 1160)
    truth = [(40, 40, 721, 291), (40, 480, 381, 421), (420, 360, 341, 641), (40, 1030, 721, 131)]
    found = detect_boxes(img)
    assert len(found) == 4, found
    assert matched(found, truth, at=0.8), found



# -- classic-4 --------------------------------------------------------------------------------
def _bleeding_top_row(img: np.ndarray, border_across: bool) -> None:
    """A top row bleeding off the top and right edges: two masses of art with a narrow band
    between them holding a few marks (a dirty gutter by its profile), above a border line
    along the bottom: one line across the band, or each half ending at the band. Below it, two
    framed panels."""
    cv2.rectangle(img, (40, 0), (385, 498), (110, 110, 110), -1)
    cv2.rectangle(img, (415, 0), (W, 498), (150, 150, 150), -1)
    for y in (60, 200, 340):
        cv2.line(img, (400, y), (400, y + 30), (0, 0, 0), 3)
    if border_across:
        cv2.line(img, (40, 500), (W, 500), (0, 0, 0), 3)
    else:
        cv2.line(img, (40, 500), (385, 500), (0, 0, 0), 3)
        cv2.line(img, (415, 500), (W, 500), (0, 0, 0), 3)
    for x0 in (40, 420):
        frame(img, x0, 560, x0 + 340, 1160)
        cv2.circle(img, (x0 + 170, 860), 100, (60, 60, 60), -1)


def test_a_dirty_gap_that_the_panels_own_border_runs_across_is_inside_one_panel():
    """balloon_dream 027's top panel: it bleeds off the page's top and right, its one border
    runs along its bottom across a band of sparse art between two dark masses. The border
    across the band says the band is inside the panel, not a gutter (as for clean gaps)."""
    img = page()
    _bleeding_top_row(img, border_across=True)
    truth = [(40, 0, W - 40, 502), (40, 560, 341, 601), (420, 560, 341, 601)]
    found = detect_boxes(img)
    assert matched(found, truth, at=0.8), found


def test_the_same_band_with_the_border_broken_at_it_is_a_gutter():
    """The same page with each half's border ending at the band: two panels, cut there."""
    img = page()
    _bleeding_top_row(img, border_across=False)
    truth = [(40, 0, 346, 502), (415, 0, W - 415, 502), (40, 560, 341, 601), (420, 560, 341, 601)]
    found = detect_boxes(img)
    assert matched(found, truth, at=0.8), found


# -- classic-5 --------------------------------------------------------------------------------
def _staggered_rows(img: np.ndarray) -> list[tuple[int, int, int, int]]:
    """Two columns of two framed panels whose row gutters do not meet (the left one 40 px
    above the right one): no gutter crosses the page, the column gutter is clean."""
    boxes = [(40, 40, 390, 500), (420, 40, 760, 560), (40, 530, 390, 1160), (420, 590, 760, 1160)]
    for k, (x0, y0, x1, y1) in enumerate(boxes):
        frame(img, x0, y0, x1, y1)
        art(img, x0, y0, x1, y1, 30 + k)
    return [(x0, y0, x1 - x0 + 1, y1 - y0 + 1) for x0, y0, x1, y1 in boxes]


def _order(found, truth) -> list[int]:
    return [max(range(len(truth)), key=lambda i: iou(truth[i], f)) for f in found]


def test_columns_whose_panels_line_up_in_rows_are_read_row_by_row():
    """Science Comics #1 pp. 24 and 28, Bobby Make-Believe p. 3: row gutters a few pixels
    apart across the columns. The panels are read row by row, left to right (right to left
    for manga), not column by column."""
    img = page()
    truth = _staggered_rows(img)
    found = detect_boxes(img)
    assert matched(found, truth), found
    assert _order(found, truth) == [0, 1, 2, 3]
    assert _order(detect_boxes(img, rtl=True), truth) == [1, 0, 3, 2]


def test_a_tall_panel_beside_a_stack_is_read_column_by_column():
    """A tall panel on the left and two stacked on the right: no row runs across both
    columns, so the tall one comes first, then the stack top to bottom."""
    img = page()
    boxes = [(40, 40, 390, 1160), (420, 40, 760, 560), (420, 590, 760, 1160)]
    for k, (x0, y0, x1, y1) in enumerate(boxes):
        frame(img, x0, y0, x1, y1)
        art(img, x0, y0, x1, y1, 40 + k)
    truth = [(x0, y0, x1 - x0 + 1, y1 - y0 + 1) for x0, y0, x1, y1 in boxes]
    found = detect_boxes(img)
    assert matched(found, truth), found
    assert _order(found, truth) == [0, 1, 2]
    assert _order(detect_boxes(img, rtl=True), truth) == [1, 2, 0]


def _caption_row(img: np.ndarray) -> list[tuple[int, int, int, int]]:
    """A wide framed panel above a row of three framed panels, each opening with a filled
    caption box of lettering across its width (its bottom line runs from frame to frame); the
    top lines of the row are worn away over half their width (an old scan)."""
    frame(img, 40, 40, 760, 600)
    art(img, 40, 40, 760, 600, 3)
    for k, x0 in enumerate((40, 290, 540)):
        x1 = x0 + 220
        cv2.line(img, (x0, 660), (x0 + 130, 660), (0, 0, 0), 3)
        for a, b in (((x0, 660), (x0, 1160)), ((x1, 660), (x1, 1160)), ((x0, 1160), (x1, 1160))):
            cv2.line(img, a, b, (0, 0, 0), 3)
        cv2.rectangle(img, (x0 + 2, 662), (x1 - 2, 800), (170, 225, 240), -1)
        cv2.line(img, (x0, 800), (x1, 800), (0, 0, 0), 3)
        for r in range(5):
            cv2.putText(img, "FIRE IS THE RES", (x0 + 8, 690 + 22 * r), cv2.FONT_HERSHEY_PLAIN,
                        1.0, (20, 20, 20), 1)
        art(img, x0, 800, x1, 1160, 11 + k)
    return [(40, 40, 721, 561)] + [(x0, 660, 221, 501) for x0 in (40, 290, 540)]


def test_a_caption_box_across_a_framed_panel_is_part_of_it():
    """Science Comics #1 p. 18: a caption box's bottom line across a framed panel is found as
    a (square) slanted frame line; the piece above it holds only lettering, so it is no cut."""
    img = page()
    truth = _caption_row(img)
    found = detect_boxes(img)
    assert matched(found, truth), found


def test_blocks_that_nest_are_one_frameless_panel():
    """Science Comics #1 p. 10: a frameless panel whose art is separate solid masses (a figure,
    an object half inside the figure's box) is one panel, not one per mass."""
    img = page()
    pts = np.array([[60, 200], [420, 200], [420, 430], [740, 430], [740, 600], [60, 600]], np.int32)
    cv2.fillPoly(img, [pts], (70, 70, 70))
    cv2.ellipse(img, (600, 220), (110, 100), 0, 0, 360, (40, 40, 160), -1)
    frame(img, 40, 660, 760, 1160)
    art(img, 40, 660, 760, 1160, 7)
    truth = [(60, 120, 681, 481), (40, 660, 721, 501)]
    found = detect_boxes(img)
    assert matched(found, truth), found


def test_figures_standing_free_in_a_frameless_panel_are_one_panel():
    """classic-11, craphound p6 scanned at 0.8 and 1.6 times its size: a frameless panel
    holding two solid figures side by side, no gutter straight or slanted between them, came
    out as one panel per figure (solid blocks). A block is a panel only when content runs along
    a side of its box, as a frame does; a figure touches its box at a few short stretches."""
    img = page()
    frame(img, 40, 40, 760, 150)
    figures = ([[190, 200], [310, 200], [420, 340], [420, 460], [310, 600], [190, 600], [80, 460], [80, 340]],
               [[500, 420], [620, 420], [730, 550], [730, 670], [620, 800], [500, 800], [390, 670], [390, 550]])
    for pts, colour in zip(figures, ((60, 90, 140), (150, 80, 60))):
        cv2.fillPoly(img, [np.array(pts, np.int32)], colour)
    cv2.ellipse(img, (420, 230), (120, 22), 0, 0, 360, (0, 0, 0), 3)  # a balloon
    frame(img, 40, 860, 760, 1160)
    truth = [(40, 40, 721, 111), (80, 200, 651, 601), (40, 860, 721, 301)]
    found = detect_boxes(img)
    assert matched(found, truth), found
    old = detect_boxes(img, params=PanelParams(block_sides=0))
    assert len(old) == 4  # classic-10: one panel per figure


def test_two_frames_facing_across_a_narrow_band_are_two_panels():
    """Bobby Make-Believe 1915 pp. 0 and 2: two panels, white inside, their frames 4 px apart,
    their outer sides broken (the paper inside is the gutter's colour and joins it), ink spilt
    into the band at its ends. Two lines running the whole height facing each other across a
    band clean along a line are a gutter, however little the panels beside it hold."""
    img = np.full((1000, 700, 3), 255, np.uint8)  # long side 1000: the working copy is the page
    rng = np.random.default_rng(4)
    for x0, x1 in ((40, 346), (352, 660)):
        cv2.rectangle(img, (x0, 40), (x1 - 1, 42), (0, 0, 0), -1)
        cv2.rectangle(img, (x0, 478), (x1 - 1, 480), (0, 0, 0), -1)
        cv2.rectangle(img, (x0, 40), (x0 + 1, 480), (0, 0, 0), -1)
        cv2.rectangle(img, (x1 - 2, 40), (x1 - 1, 480), (0, 0, 0), -1)
        for _ in range(25):
            a = (int(rng.integers(x0 + 20, x1 - 20)), int(rng.integers(60, 460)))
            b = (int(np.clip(a[0] + rng.integers(-60, 60), x0 + 10, x1 - 10)),
                 int(np.clip(a[1] + rng.integers(-60, 60), 50, 470)))
            cv2.line(img, a, b, (0, 0, 0), 2)
        img[300:476, x0 + 4:x1 - 4] = 150  # a grey ground along the bottom half
    img[200:260, 40:42] = 255
    img[200:260, 658:660] = 255
    img[40:52, 346] = 0
    img[40:52, 349] = 0
    img[468:481, 348] = 0
    cv2.rectangle(img, (40, 540), (660, 960), (0, 0, 0), 2)
    art(img, 40, 540, 660, 960, 9)
    truth = [(40, 40, 306, 441), (352, 40, 308, 441), (40, 540, 621, 421)]
    found = detect_boxes(img)
    assert len(found) == 3 and all(max(iou(t, f) for f in found) >= 0.9 for t in truth), found


def test_a_white_panel_beside_solid_blocks_is_kept():
    """tojime 023's bottom row: two coloured panels cut apart by a slanted gutter (solid
    blocks) and a white panel beside them bleeding off the page, open at the bottom, so its
    inside is the gutter's colour: its drawing is a panel of its own, not dropped."""
    img = page()
    left = np.array([(40, 40), (300, 40), (260, 1160), (40, 1160)], np.int32)
    mid = np.array([(320, 40), (540, 40), (500, 1160), (280, 1160)], np.int32)
    for poly, tone in ((left, (120, 140, 160)), (mid, (90, 110, 150))):
        cv2.fillPoly(img, [poly], tone)
        cv2.polylines(img, [poly], True, (0, 0, 0), 3)
    cv2.line(img, (560, 40), (520, 1160), (0, 0, 0), 3)  # its own left border
    cv2.line(img, (560, 40), (W, 40), (0, 0, 0), 3)
    rng = np.random.default_rng(5)
    a = (680, 80)
    for k in range(120):  # one drawing: each stroke starts where the last one ended
        b = (int(np.clip(a[0] + rng.integers(-60, 61), 580, 780)),
             int(np.clip(a[1] + rng.integers(-30, 51) if k < 100 else a[1] + rng.integers(-60, 61), 70, 1130)))
        cv2.line(img, a, b, (0, 0, 0), 2)
        a = b
    truth = [(40, 40, 261, 1121), (280, 40, 261, 1121), (520, 40, W - 520, 1121)]
    found = detect_boxes(img)
    assert len(found) == 3 and all(max(iou(t, f) for f in found) >= 0.75 for t in truth), found


def _screentone(img: np.ndarray, x0: int, y0: int, x1: int, y1: int, density: float, seed: int) -> None:
    """Random black dots over ``density`` of the box: a manga screentone, which at the
    detector's working size inks most lines across it in part and, spread by a pixel, all."""
    rng = np.random.default_rng(seed)
    dots = rng.random((y1 - y0, x1 - x0)) < density
    img[y0:y1, x0:x1][dots] = (0, 0, 0)


def _toned_row(transpose: bool, seed: int) -> tuple[np.ndarray, list]:
    img = page()
    frame(img, 40, 40, 760, 400)
    art(img, 40, 40, 760, 400, 5)
    art(img, 40, 430, 400, 1160, 3)  # a white panel, closed by its frame
    _screentone(img, 400, 430, 600, 1160, 0.4, seed)  # tone up to the line, off the right
    art(img, 420, 500, 740, 1100, 4)
    for x in (40, 400):
        cv2.line(img, (x, 430), (x, 1160), (0, 0, 0), 3)
    for y in (430, 1160):
        cv2.line(img, (40, y), (W, y), (0, 0, 0), 3)  # the lower row bleeds off the right
    truth = [(40, 40, 721, 361), (40, 430, 361, 731), (400, 430, 400, 731)]
    if transpose:
        img = np.ascontiguousarray(np.transpose(img, (1, 0, 2)))
        truth = [(y, x, h, w) for x, y, w, h in truth]
    return img, truth


@pytest.mark.parametrize("transpose", [False, True])
@pytest.mark.parametrize("seed", [1, 4, 7])
def test_a_shared_line_with_screentone_beside_it_parts_two_panels(transpose, seed):
    """`classic-6`: the tone's dots run on up to the line two panels share, so the lines that
    ink covers (a pixel of wobble allowed) make a band wider than a frame line; the line is
    the thin run covered by ink as it is at the band's end (*tojime* 036's middle row). The
    new rule parts every seed 1-8 either way round; the old one, by the luck of the dots, some
    of them (not these three)."""
    img, truth = _toned_row(transpose, seed)
    found = detect_boxes(img)
    assert matched(found, truth), found
    assert not matched(detect_boxes(img, params=PanelParams(toned_lines=False)), truth)


def _colour_panel(img: np.ndarray, x0: int, y0: int, x1: int, y1: int, top, bottom, frame: int,
                  seed: int) -> None:
    """A framed panel of modern colour art: a graded field up to the frame, filled shapes."""
    img[y0:y1, x0:x1] = 0
    t = np.linspace(0.0, 1.0, y1 - y0 - 2 * frame)[:, None, None]
    field = np.asarray(top, np.float32) * (1 - t) + np.asarray(bottom, np.float32) * t
    img[y0 + frame:y1 - frame, x0 + frame:x1 - frame] = field.astype(np.uint8)
    rng = np.random.default_rng(seed)
    for _ in range(4):
        cx, cy = int(rng.integers(x0 + 40, x1 - 40)), int(rng.integers(y0 + 60, y1 - 40))
        colour = tuple(int(v) for v in rng.integers(60, 220, 3))
        cv2.ellipse(img, (cx, cy), (int(rng.integers(15, 40)), int(rng.integers(15, 40))), 0, 0, 360, colour, -1)


def _overlapping_row(transpose: bool, seed: int):
    """Two colour panels in a row, the right one drawn over the left one's side (no gutter
    between them where they meet: one frame line, colour art on both sides of it), above a
    full-width panel across a white gutter."""
    img = page()
    f = 4
    _colour_panel(img, 40, 40, 430, 560, (230, 190, 150), (200, 150, 110), f, seed)
    _colour_panel(img, 360, 40, 760, 560, (150, 200, 235), (110, 170, 220), f, seed + 1)
    _colour_panel(img, 40, 600, 760, 1160, (200, 230, 170), (160, 200, 130), f, seed + 2)
    truth = [(40, 40, 390, 520), (360, 40, 400, 520), (40, 600, 720, 560)]
    if transpose:
        img = np.ascontiguousarray(img.transpose(1, 0, 2))
        truth = [(y, x, h, w) for x, y, w, h in truth]
    return img, truth


@pytest.mark.parametrize("transpose", [False, True])
@pytest.mark.parametrize("seed", [1, 2])
def test_colour_panels_sharing_a_frame_line_part_on_dark_ink(transpose, seed):
    """`classic-7`: a panel drawn over its neighbour's side (modern Western overlap; the hard
    modern synthetic set's ``overlap`` merges): colour art fills both panels to the frame line
    they share, so content covers both sides of it and the shared-line test (ink thinning
    beside the line) refused it; on dark ink the line stands alone. The visible part of the
    panel underneath is found (IoU 0.82 with its whole frame box)."""
    img, truth = _overlapping_row(transpose, seed)
    found = detect_boxes(img)
    assert len(found) == 3, found
    assert matched(found, truth, at=0.75), found
    old = detect_boxes(img, params=PanelParams(dark_lines=False))
    assert len(old) == 2, old  # the row as one box: the merge the rule is for


def test_a_black_horizon_across_a_colour_panel_keeps_it_whole():
    """`classic-7`'s dark line is no cut where the same colour runs on across it (a horizon
    drawn in black across a sky), nor inside a framed panel with a white inside (a ground
    line: content does not cover both sides)."""
    img = page()
    _colour_panel(img, 40, 40, 760, 1160, (150, 200, 235), (150, 200, 235), 4, 3)
    cv2.line(img, (44, 600), (755, 600), (0, 0, 0), 3)
    assert len(detect_boxes(img)) == 1
    img = page()
    cv2.rectangle(img, (40, 40), (760, 1160), (0, 0, 0), 4)
    cv2.line(img, (44, 600), (755, 600), (0, 0, 0), 3)
    cv2.circle(img, (300, 300), 60, (0, 0, 0), 3)
    cv2.circle(img, (400, 900), 60, (0, 0, 0), 3)
    assert len(detect_boxes(img)) == 1


def _colour_quad(img: np.ndarray, poly, top, bottom, frame: int, seed: int) -> None:
    """A framed colour panel with slanted sides: black polygon, graded colour inside it."""
    mask = np.zeros(img.shape[:2], np.uint8)
    cv2.fillPoly(mask, [np.asarray(poly, np.int32)], 255)
    inner = cv2.erode(mask, np.ones((2 * frame + 1, 2 * frame + 1), np.uint8))
    img[mask > 0] = 0
    ys = np.arange(img.shape[0], dtype=np.float32)[:, None, None] / img.shape[0]
    field = (np.asarray(top, np.float32) * (1 - ys) + np.asarray(bottom, np.float32) * ys).astype(np.uint8)
    field = np.broadcast_to(field, img.shape)
    img[inner > 0] = field[inner > 0]
    rng = np.random.default_rng(seed)
    xs, ys_ = np.nonzero(inner.T)
    for _ in range(3):
        k = int(rng.integers(0, len(xs)))
        colour = tuple(int(v) for v in rng.integers(60, 220, 3))
        cv2.circle(img, (int(xs[k]), int(ys_[k])), 18, colour, -1)
    img[(mask > 0) & (inner == 0)] = 0


@pytest.mark.parametrize("transpose", [False, True])
def test_a_slanted_gutter_a_caption_blocks_still_parts_its_panels(transpose):
    """`classic-7`: two colour panels of a row part along a slanted gutter that a caption box
    sitting across it blocks (the hard modern synthetic set's ``trapezoid`` pages with
    captions, balloons or breakouts on the gutter): no straight line from one end of the
    gutter to the other is clean, but most of it is, between two parallel frames."""
    img = page()
    _colour_quad(img, [(40, 40), (450, 40), (380, 600), (40, 600)], (230, 190, 150), (200, 150, 110), 4, 1)
    _colour_quad(img, [(462, 40), (760, 40), (760, 600), (392, 600)], (150, 200, 235), (110, 170, 220), 4, 2)
    _colour_panel(img, 40, 630, 760, 1160, (200, 230, 170), (160, 200, 130), 4, 3)
    cv2.rectangle(img, (330, 260), (520, 330), (160, 240, 255), -1)  # the caption on the gutter
    cv2.rectangle(img, (330, 260), (520, 330), (0, 0, 0), 2)
    cv2.putText(img, "MEANWHILE", (345, 305), cv2.FONT_HERSHEY_SIMPLEX, 0.8, (0, 0, 0), 2)
    truth = [(40, 40, 410, 560), (392, 40, 368, 560), (40, 630, 720, 530)]
    if transpose:
        img = np.ascontiguousarray(img.transpose(1, 0, 2))
        truth = [(y, x, h, w) for x, y, w, h in truth]
    found = detect_boxes(img)
    assert len(found) == 3, found
    assert matched(found, truth, at=0.8), found
    assert len(detect_boxes(img, params=PanelParams(blocked_slants=False))) == 2


def test_white_streaks_between_speed_lines_are_no_blocked_gutter():
    """`classic-7`'s blocked slanted gutter wants a strip of one width between parallel
    frames: the white streaks between spreading speed lines (a colour band across them) widen
    down the page, so the rule adds no cut (*tojime* 025's sound-effect panel was cut along
    such a streak while the rule lacked that condition; here, without it, one cut more)."""
    img = page()
    for k in range(-9, 10):  # dark strokes spreading downwards, white streaks between them
        x_top, x_bot = 400 + k * 30, 400 + k * 40
        pts = np.array([(x_top, 40), (x_top + 18, 40), (x_bot + 25, 1160), (x_bot, 1160)], np.int32)
        cv2.fillPoly(img, [pts], (0, 0, 0))
    cv2.rectangle(img, (40, 500), (760, 700), (90, 160, 220), -1)
    found = detect_boxes(img)
    assert len(found) == len(detect_boxes(img, params=PanelParams(blocked_slants=False))), found
    assert len(detect_boxes(img, params=PanelParams(slant_width_spread=1000.0))) > len(found)


def _tilted_panels_grid(tilt: float) -> tuple[np.ndarray, list]:
    """A 2 x 3 grid of framed panels on a square layout, narrow gutters (6 px), each panel
    turned ``tilt`` degrees about its own centre."""
    img = page()
    truth = []
    xs, ys = [(40, 397), (403, 760)], [(40, 405), (411, 776), (782, 1160)]
    for k, (y0, y1) in enumerate(ys):
        for j, (x0, x1) in enumerate(xs):
            cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
            half = np.array([[x0 - cx, y0 - cy], [x1 - cx, y0 - cy], [x1 - cx, y1 - cy], [x0 - cx, y1 - cy]])
            a = np.radians(tilt)
            rot = np.array([[np.cos(a), -np.sin(a)], [np.sin(a), np.cos(a)]])
            poly = (half @ rot.T + [cx, cy]).round().astype(np.int32)
            cv2.fillPoly(img, [poly], (0, 0, 0))
            inner = (half * [(x1 - x0 - 8) / (x1 - x0), (y1 - y0 - 8) / (y1 - y0)]) @ rot.T + [cx, cy]
            cv2.fillPoly(img, [inner.round().astype(np.int32)], (235, 225, 200))
            art(img, x0 + 12, y0 + 12, x1 - 12, y1 - 12, 10 * k + j)
            truth.append((x0, y0, x1 - x0, y1 - y0))
    return img, truth


def test_a_scan_tilt_is_still_undone():
    """`classic-8` also splits a page measured as tilted less than ``skew_sure`` as it is, and
    keeps the reading with more panels (``tests/ml/test_panels_real.py``: a tint that no scan's
    tilt); a page scanned at a tilt (gutters turned too) is still turned back, its boxes tight."""
    img, truth = _tilted_panels_grid(0.0)
    m = cv2.getRotationMatrix2D((W / 2, H / 2), 0.5, 1.0)
    img = cv2.warpAffine(img, m, (W, H), borderValue=(255, 255, 255))
    found = detect_boxes(img)
    assert len(found) == len(truth), found
    assert matched(found, truth, at=0.8), found


def _balloon(img: np.ndarray, cx: int, cy: int, rx: int, ry: int) -> None:
    cv2.ellipse(img, (cx, cy), (rx, ry), 0, 0, 360, (255, 255, 255), -1, cv2.LINE_AA)
    cv2.ellipse(img, (cx, cy), (rx, ry), 0, 0, 360, (0, 0, 0), 2, cv2.LINE_AA)
    for k in range(2):
        cv2.line(img, (cx - rx // 2, cy - 8 + 12 * k), (cx + rx // 2, cy - 8 + 12 * k), (20, 20, 20), 3)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_a_narrow_gutter_that_balloons_cross_parts_the_rows(seed):
    """`classic-9`: framed colour panels in two rows, 3 px apart (2 px at the working size once
    the frames' antialiasing and the reduction eat into it), two balloons on the row gutter
    (hard modern synthetic pages: narrow gutters, balloons on gutters). The balloons join every
    panel into one mass, and a blocked gutter needed ``min_gap`` (3 px): the page came out as a
    solid block of three panels. A gutter between solid blocks may now be 2 px."""
    rng = np.random.default_rng(seed)
    img = page()
    cols = [tuple(int(v) for v in rng.integers(120, 230, 3)) for _ in range(10)]
    top = [(30, 30, 330, 561), (336, 30, 770, 561)]
    bottom = [(30, 564, 290, 1170), (296, 564, 520, 1170), (526, 564, 770, 1170)]
    for k, (x0, y0, x1, y1) in enumerate(top + bottom):
        _colour_panel(img, x0, y0, x1, y1, cols[2 * k], cols[2 * k + 1], 3, seed * 10 + k)
    _balloon(img, 180, 562, 75, 40)
    _balloon(img, 560, 562, 80, 40)
    truth = [(x0, y0, x1 - x0, y1 - y0) for x0, y0, x1, y1 in top + bottom]
    found = detect_boxes(img)
    assert matched(found, truth, at=0.8), found
    old = detect_boxes(img, params=PanelParams(blocked_min_px=3))
    assert len(old) < len(truth), old  # the merge the rule is for


@pytest.mark.parametrize("seed", [1, 2])
def test_a_narrow_colour_panel_under_its_neighbour_is_a_panel(seed):
    """`classic-9`: a tall narrow colour panel (under a fifth of the page wide) with the panel
    beside it drawn over its side. The dark shared line was found, but the narrow panel was
    taken for a filled caption strip (a mostly inked band under two least panel sides across)
    and the row stayed one box; title and caption strips run across the page, not down it, so
    a column of colour is art from one least panel side across."""
    img = page()
    _colour_panel(img, 40, 40, 230, 560, (230, 190, 150), (200, 150, 110), 4, seed)
    _colour_panel(img, 190, 40, 760, 560, (150, 200, 235), (110, 170, 220), 4, seed + 1)
    _colour_panel(img, 40, 600, 760, 1160, (200, 230, 170), (160, 200, 130), 4, seed + 2)
    truth = [(40, 40, 190, 520), (190, 40, 570, 520), (40, 600, 720, 560)]
    found = detect_boxes(img)
    assert len(found) == 3, found
    assert matched(found, truth, at=0.75), found
    old = detect_boxes(img, params=PanelParams(solid_column=2.0))
    assert len(old) == 2, old  # the row as one box


@pytest.mark.parametrize("seed", [1, 2])
def test_panels_sharing_a_colour_along_part_of_their_line_still_part(seed):
    """`classic-9`: two panels of one scene share a colour along part of the dark line between
    them (here a green mass on both sides along 18 % of it); the art-across test refused the
    line from 10 %. For the dark-line rule it now takes 25 % (a black horizon across one sky has
    the sky's colour on both sides along all of it: still one panel, the test above)."""
    img, truth = _overlapping_row(False, seed)
    cv2.rectangle(img, (300, 200), (359, 293), (60, 160, 70), -1)
    cv2.rectangle(img, (366, 200), (430, 293), (60, 160, 70), -1)
    found = detect_boxes(img)
    assert len(found) == 3, found
    assert matched(found, truth, at=0.75), found
    old = detect_boxes(img, params=PanelParams(dark_crossed=0.1))
    assert len(old) == 2, old


def _caption_box(img: np.ndarray, x0: int, y0: int, x1: int, y1: int) -> None:
    """A filled caption box with its outline and three words of lettering."""
    cv2.rectangle(img, (x0, y0), (x1, y1), (170, 230, 250), -1)
    cv2.rectangle(img, (x0, y0), (x1, y1), (0, 0, 0), 2)
    for k in range(3):
        cx = x0 + 12 + k * (x1 - x0 - 20) // 3
        cv2.putText(img, "ABC", (cx, (y0 + y1) // 2 + 6), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (10, 10, 10), 2)


@pytest.mark.parametrize("seed", [1, 2])
def test_caption_boxes_across_a_gutter_do_not_make_it_a_frame(seed):
    """`classic-9`: two colour panels side by side, a narrow white gutter between them that two
    caption boxes cross (top and bottom). A straight line of dark ink crossing a blocked
    gutter and running on past both sides is a panel's frame, so the gutter was refused and the
    row stayed one box; a caption box's top and bottom lines, a short way apart with lettering
    between them on one flat colour, are no frame."""
    img = page()
    _colour_panel(img, 40, 40, 392, 1160, (230, 190, 150), (200, 150, 110), 3, seed)
    _colour_panel(img, 400, 40, 760, 1160, (150, 200, 235), (110, 170, 220), 3, seed + 1)
    _caption_box(img, 300, 120, 500, 165)
    _caption_box(img, 290, 900, 480, 945)
    truth = [(40, 40, 352, 1120), (400, 40, 360, 1120)]
    found = detect_boxes(img)
    assert matched(found, truth, at=0.8), found
    old = detect_boxes(img, params=PanelParams(caption_across=False))
    assert len(old) == 1, old



def test_a_frame_line_at_the_page_edge_is_no_scan_strip():
    """`classic-9` clears a scanner's dark strip along the page's edge
    (``tests/ml/test_panels_real.py``); a panel whose frame is the page's edge (a crop, a web
    comic) keeps its frame: a dark line thinner than ``margin_min`` is no such strip."""
    img = page()
    frame(img, 0, 0, W - 1, 590)
    art(img, 0, 0, W - 1, 590, 3)
    frame(img, 0, 610, W - 1, H - 1)
    art(img, 0, 610, W - 1, H - 1, 4)
    found = detect_boxes(img)
    assert matched(found, [(0, 0, W, 591), (0, 610, W, H - 610)], at=0.9), found


@pytest.mark.parametrize("seed", [1, 2])
def test_an_underexposed_page_keeps_its_dark_shared_line(seed):
    """`classic-9`: the page of the `classic-7` overlap test scanned underexposed (every value
    times 0.6: the paper at 153). Dark ink was a fixed 128 or below, so the colour art beside
    the shared line counted as dark too and the line no longer stood alone; dark is now half
    the paper's brightness, as on white paper (128 from paper at 230 up)."""
    img, truth = _overlapping_row(False, seed)
    img = (img.astype(np.float32) * 0.6).astype(np.uint8)
    found = detect_boxes(img)
    assert len(found) == 3 and matched(found, truth, at=0.75), found
    assert len(detect_boxes(img, params=PanelParams(relative_dark=False))) == 2


def _newsprint_grid(seed: int) -> tuple[np.ndarray, list[tuple[int, int, int, int]]]:
    """A Golden Age page: cream paper, six framed panels in three rows with art."""
    img = np.empty((H, W, 3), np.uint8)
    img[:] = (238, 224, 186)  # cream newsprint, RGB
    truth = []
    for r, (y0, y1) in enumerate(((40, 400), (420, 780), (800, 1160))):
        for c, (x0, x1) in enumerate(((40, 390), (410, 760))):
            frame(img, x0, y0, x1, y1)
            art(img, x0, y0, x1, y1, seed + 2 * r + c)
            truth.append((x0, y0, x1 - x0 + 1, y1 - y0 + 1))
    return img, truth


def _on_bed(img: np.ndarray, angle: float, bed: tuple[int, int, int]) -> np.ndarray:
    m = cv2.getRotationMatrix2D((W / 2, H / 2), angle, 1.0)
    return cv2.warpAffine(img, m, (W, H), flags=cv2.INTER_LINEAR, borderValue=bed)


@pytest.mark.parametrize("angle, bed", [(1.0, (255, 255, 255)), (-0.7, (255, 255, 255)), (1.0, (12, 12, 12))])
def test_a_page_turned_on_a_scanners_bed_is_split_on_its_paper(angle, bed):
    """`classic-10`: cream paper turned on a scanner's bed of another colour (a white lid, a
    black one). On real scans the edge ring read the bed's wedges, or no one colour at all, the
    paper was all content and the page one panel (``tests/ml/test_panels_real.py``); here the
    ring reads the paper and the wedges join the corner panels, whose boxes ran out to the
    image's edge. The bed is washed out in the paper's colour first."""
    img, truth = _newsprint_grid(7)
    turned = _on_bed(img, angle, bed)
    found = detect_boxes(turned)
    assert matched(found, truth, at=0.9), found
    old = detect_boxes(turned, params=PanelParams(page_on_bed=False))
    assert not matched(old, truth, at=0.9), old


def test_one_panel_on_a_black_page_is_not_a_page_on_a_bed():
    """A single panel of pale art on a black page looks like pale paper on a dark bed; washed
    out, it does not split, so the black stays the gutter and the panel its box."""
    img = np.zeros((H, W, 3), np.uint8)
    t = np.linspace(0.0, 1.0, 1100)[:, None, None]
    img[50:1150, 50:750] = (np.array([150, 175, 150]) * (1 - t) + np.array([180, 210, 180]) * t).astype(np.uint8)
    art(img, 50, 50, 750, 1150, 3)
    found = detect_boxes(img)
    assert matched(found, [(50, 50, 700, 1100)], at=0.9), found
