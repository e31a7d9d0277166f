"""The learned panel refiner (comicdesk/ml/panel_net.py): the network's shapes with a tiny
randomly initialised model, the refiner's split / tighten / extend / drop / add rules on drawn
pages with maps drawn from their truth, and the shipped weights (offline) on synthetic pages."""

from __future__ import annotations

import socket
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from synth_scan import ScanPage, label_map, make_scan  # noqa: E402

from comicdesk.core.geometry import Panel, iou  # noqa: E402
from comicdesk.ml import panel_net  # noqa: E402
from comicdesk.ml.panels import detect_boxes  # noqa: E402


@pytest.fixture(scope="module")
def tiny():
    import torch

    torch.manual_seed(0)
    model = panel_net.build_model((4, 4, 8, 8))
    model.eval()
    return model


def _page(boxes, size=(600, 900), shared=False):
    """A white page with framed panels at ``boxes`` (x, y, w, h) and some art in each."""
    import cv2

    w, h = size
    img = np.full((h, w, 3), 255, np.uint8)
    for i, (x, y, bw, bh) in enumerate(boxes):
        cv2.rectangle(img, (x, y), (x + bw - 1, y + bh - 1), (10, 10, 10), 3)
        cv2.circle(img, (x + bw // 2, y + bh // 2), min(bw, bh) // 4, (40 + 50 * i, 90, 160), -1)
    polys = [np.array([[x, y], [x + bw, y], [x + bw, y + bh], [x, y + bh]], float) for x, y, bw, bh in boxes]
    return ScanPage(img, polys, "drawn", 0)


def _maps_from_truth(page: ScanPage, extra_outside=()) -> np.ndarray:
    """Perfect maps at the size the refiner expects (half the network's input)."""
    h, w = page.image.shape[:2]
    s = panel_net.INPUT_LONG / max(h, w)
    mw, mh = (round(w * s) + 1) // 2, (round(h * s) + 1) // 2
    lab = label_map(page, (mw, mh))
    maps = np.zeros((3, mh, mw), np.float32)
    for c in range(3):
        maps[c][lab == c] = 1.0
    return maps


def _best(truth, found):
    return [max((iou(t, f) for f in found), default=0.0) for t in truth]


# -- the network ------------------------------------------------------------------------------
@pytest.mark.parametrize("make", [
    lambda a: a,                                   # RGB array
    lambda a: a[..., 0],                           # grey array
    lambda a: Image.fromarray(a).convert("L"),     # Pillow grey
    lambda a: Image.fromarray(a).convert("RGBA"),  # Pillow with alpha
    lambda a: a.astype(np.float32) / 255.0,        # float 0..1
])
def test_maps_shape_and_probabilities(tiny, make):
    page = _page([(20, 20, 560, 400), (20, 440, 560, 440)], size=(600, 900))
    maps = panel_net.predict_maps(make(page.image), tiny)
    # 900 px tall -> 384, 600 wide -> 256; maps at half: 192 x 128.
    assert maps.shape == (3, 192, 128)
    assert np.allclose(maps.sum(axis=0), 1.0, atol=1e-4)
    assert (maps >= 0).all()


def test_maps_cut_the_padding(tiny):
    # 1000 x 700: reduced to 384 x 269, padded to 384 x 272; maps 192 x 135 (not 136).
    img = np.full((700, 1000, 3), 255, np.uint8)
    maps = panel_net.predict_maps(img, tiny)
    assert maps.shape == (3, 135, 192)


def test_not_an_image_is_a_value_error(tiny):
    with pytest.raises(ValueError):
        panel_net.predict_maps(np.zeros((5,), np.uint8), tiny)


def test_weights_round_trip(tiny, tmp_path):
    import torch

    path = tmp_path / "w.npz"
    panel_net.save_weights(tiny, path, {"data": "test"})
    assert panel_net.read_meta(path)["data"] == "test"
    x = torch.rand(1, 3, 64, 48)
    back = panel_net.build_model((4, 4, 8, 8))
    # load_model reads channels from meta; the tiny net's differ from CHANNELS, so build by hand.
    with np.load(path) as z:
        back.load_state_dict({k: torch.from_numpy(z[k].astype(np.float32) if z[k].dtype.kind == "f" else z[k])
                              for k in z.files if k != "meta"})
    back.eval()
    with torch.inference_mode():
        assert torch.allclose(back(x), tiny(x), atol=0.05)


def test_unreadable_weights_are_one_value_error(tmp_path):
    bad = tmp_path / "bad.npz"
    bad.write_bytes(b"not a zip")
    with pytest.raises(ValueError, match="weights unreadable"):
        panel_net.load_model(bad)


# -- the refiner's rules (maps drawn from the truth) ------------------------------------------
TWO = [(30, 30, 540, 400), (30, 440, 540, 430)]


def test_split_a_merged_pair():
    page = _page(TWO)
    merged = [(30, 30, 540, 840)]
    out = panel_net.refine(page.image, merged, maps=_maps_from_truth(page))
    assert len(out) == 2
    assert min(_best(TWO, out)) > 0.9
    assert out[0][1] < out[1][1]  # top first


def _faint(maps: np.ndarray, rows: slice) -> np.ndarray:
    """``maps`` with the interior bridged across ``rows`` (the map's rows): the network sees
    the line between two panels only faintly (interior 0.5, edge band 0.3)."""
    maps = maps.copy()
    maps[panel_net.INTERIOR][rows, 2:-2] = 0.5
    maps[panel_net.EDGE][rows, 2:-2] = 0.3
    maps[panel_net.OUTSIDE][rows, 2:-2] = 0.2
    return maps


def test_a_big_box_splits_along_a_faint_line_and_a_small_one_does_not():
    """refine-2: a classical box over half the page or more whose interior the maps join
    across a faint line (a frame drawn over art, craphound p4's layout) is looked at again
    with interior only where the edge band is faint (< 0.1): split. A smaller box is not."""
    truth = [(30, 30, 540, 420), (30, 452, 540, 418)]
    page = _page(truth)
    maps = _maps_from_truth(page)
    mh = maps.shape[1]
    line = int(round(450 / 900 * mh))
    faint = _faint(maps, slice(line - 3, line + 3))
    merged = [(30, 30, 540, 840)]  # 84 % of the page
    assert len(panel_net.refine(page.image, merged, maps=faint,
                                params=panel_net.RefineParams(big_box=1.0))) == 1
    out = panel_net.refine(page.image, merged, maps=faint)
    assert len(out) == 2 and min(_best(truth, out)) > 0.85
    assert out[0][1] < out[1][1]
    # The same faint line inside a box under half the page: one panel, as refine-1 had it.
    truth = [(30, 30, 540, 200), (30, 236, 540, 200)]
    page = _page(truth)
    maps = _maps_from_truth(page)
    line = int(round(233 / 900 * mh))
    faint = _faint(maps, slice(line - 3, line + 3))
    small = [(30, 30, 540, 406)]  # 41 % of the page
    assert len(panel_net.refine(page.image, small, maps=faint)) == 1
    assert len(panel_net.refine(page.image, small, maps=faint,
                                params=panel_net.RefineParams(big_box=0.4))) == 2


def test_a_region_the_maps_join_across_a_faint_frame_is_split_with_its_box():
    """refine-5: a box being split (it holds two regions or more) also splits each region that
    falls apart into panels where interior counts only below 0.1 of edge band: two framed
    panels whose shared frame a balloon crosses, which the maps see faintly there (seen on hard
    modern-Western synthetic pages: a panel drawn over its neighbour's corner). Not when the
    faint part is a broad stretch of the region (over a tenth of it): art, not a frame line."""
    truth = [(30, 30, 540, 400), (30, 446, 260, 424), (310, 446, 260, 424)]
    page = _page(truth)
    maps = _maps_from_truth(page)
    mh, mw = maps.shape[1:]
    y0, y1 = int(430 / 900 * mh) - 1, int(446 / 900 * mh) + 2
    x0, x1 = int(40 / 600 * mw), int(280 / 600 * mw)

    def bridged(rows: slice) -> np.ndarray:
        out = maps.copy()  # the top panel's inside runs into the bottom left one's
        out[:, rows, x0:x1] = 0.0
        out[panel_net.INTERIOR][rows, x0:x1] = 0.5
        out[panel_net.EDGE][rows, x0:x1] = 0.3
        out[panel_net.OUTSIDE][rows, x0:x1] = 0.2
        return out

    merged = [(30, 30, 540, 840)]
    faint = bridged(slice(y0, y1))
    before = panel_net.refine(page.image, merged, maps=faint, params=panel_net.RefineParams(strict_parts=2.0))
    assert len(before) == 2  # refine-4: the joined pair stays one box beside the third panel
    out = panel_net.refine(page.image, merged, maps=faint)
    assert len(out) == 3 and min(_best(truth, out)) > 0.85, out
    assert out[0][1] < out[1][1] and out[1][0] < out[2][0]  # top, then left to right
    broad = bridged(slice(y0 - 30, y1))  # faint over a third of the top panel's height
    assert len(panel_net.refine(page.image, merged, maps=broad)) == 2
    assert len(panel_net.refine(page.image, merged, maps=broad, params=panel_net.RefineParams(strict_parts=0.0))) == 3


def _line_with_a_break(maps: np.ndarray, row: int, edge: float, gap: slice) -> np.ndarray:
    """``maps`` with the edge band along ``row`` (probability ``edge``) except at ``gap``,
    where the interior runs across it (a balloon over the shared frame line): the two
    interiors are one region, the border shows along nearly all of the line."""
    maps = maps.copy()
    maps[:, row - 1:row + 1, 2:-2] = 0.0
    maps[panel_net.EDGE][row - 1:row + 1, 2:-2] = edge
    maps[panel_net.INTERIOR][row - 1:row + 1, 2:-2] = 1.0 - edge
    maps[:, row - 1:row + 1, gap] = 0.0
    maps[panel_net.INTERIOR][row - 1:row + 1, gap] = 1.0
    return maps


def test_a_box_splits_along_a_border_the_maps_see_from_end_to_end():
    """refine-3: a box the interiors do not part (a break in the line joins them) is split
    along a straight line of the maps across it whose mean edge band probability reaches
    ``line_edge`` (0.95): stacked strips sharing a frame line (*tojime* 023), a narrow strip
    beside a panel (*balloon_dream* 012). A fainter line, a line with a gutter beside it (the
    regions split those where nothing crosses them), or one too near the box's edge to leave
    a panel beside it, leaves the box whole."""
    truth = [(30, 30, 540, 200), (30, 230, 540, 200)]
    page = _page(truth)
    base = _maps_from_truth(_page([(30, 30, 540, 400)]))  # one interior over both strips
    mh, mw = base.shape[1:]
    row = int(round(230 / 900 * mh))
    gap = slice(mw // 2 - 2, mw // 2 + 2)
    merged = [(30, 30, 540, 400)]  # 40 % of the page: the big-box look does not apply
    seen = _line_with_a_break(base, row, 1.0, gap)
    old = panel_net.RefineParams(line_edge=2.0)
    assert len(panel_net.refine(page.image, merged, maps=seen, params=old)) == 1
    out = panel_net.refine(page.image, merged, maps=seen)
    assert len(out) == 2 and min(_best(truth, out)) > 0.9, out
    assert out[0][1] < out[1][1]
    assert len(panel_net.refine(page.image, merged, maps=_line_with_a_break(base, row, 0.8, gap))) == 1
    gutter = seen.copy()  # the edge of a gutter a balloon crosses: the regions' business
    for cols in (slice(2, gap.start), slice(gap.stop, mw - 2)):
        gutter[:, row + 1:row + 3, cols] = 0.0
        gutter[panel_net.OUTSIDE][row + 1:row + 3, cols] = 1.0
    assert len(panel_net.refine(page.image, merged, maps=gutter)) == 1
    near = int(round(60 / 900 * mh))  # 30 px into the box: no panel above it
    assert len(panel_net.refine(page.image, merged, maps=_line_with_a_break(base, near, 1.0, gap))) == 1
    # Side by side (the same maps transposed), right to left for manga.
    cols = np.ascontiguousarray(np.transpose(seen, (0, 2, 1)))
    side = np.full((600, 900, 3), 255, np.uint8)
    ltr = panel_net.refine(side, [(30, 30, 400, 540)], maps=cols)
    rtl = panel_net.refine(side, [(30, 30, 400, 540)], maps=cols, rtl=True)
    assert len(ltr) == len(rtl) == 2 and ltr == rtl[::-1] and ltr[0][0] < ltr[1][0]


def test_split_side_by_side_reads_right_to_left_for_manga():
    truth = [(30, 30, 260, 840), (310, 30, 260, 840)]
    page = _page(truth)
    merged = [(30, 30, 540, 840)]
    ltr = panel_net.refine(page.image, merged, maps=_maps_from_truth(page))
    rtl = panel_net.refine(page.image, merged, rtl=True, maps=_maps_from_truth(page))
    assert len(ltr) == len(rtl) == 2
    assert ltr[0][0] < ltr[1][0] and rtl[0][0] > rtl[1][0]


def test_tighten_a_box_stretched_over_a_margin_and_extend_one_cut_short():
    page = _page(TWO)
    maps = _maps_from_truth(page)
    stretched = (0, 0, 600, 430)        # panel 0 stretched to the page's edges
    short = (30, 440, 540, 330)         # panel 1 cut 100 px short
    both = panel_net.RefineParams(shrink_only=False)
    out = panel_net.refine(page.image, [stretched, short], maps=maps, params=both)
    assert len(out) == 2
    assert iou(out[0], TWO[0]) > 0.93 > iou(stretched, TWO[0])
    assert iou(out[1], TWO[1]) > 0.93 > iou(short, TWO[1])
    # By default edges only move in, over strips the maps call outside (the dev pages' choice).
    out = panel_net.refine(page.image, [stretched, short], maps=maps)
    assert iou(out[0], TWO[0]) > 0.93
    assert out[1] == short


def test_edges_already_right_stay_to_the_pixel():
    page = _page(TWO)
    out = panel_net.refine(page.image, TWO, maps=_maps_from_truth(page))
    assert [tuple(b) for b in out] == TWO


def test_drop_a_box_without_interior_and_add_a_missed_panel():
    page = _page(TWO)
    maps = _maps_from_truth(page)
    text_column = (580, 100, 18, 700)   # in the right margin: no interior
    out = panel_net.refine(page.image, [TWO[0], text_column], maps=maps,
                           params=panel_net.RefineParams(add=True))
    assert text_column not in out
    assert len(out) == 2 and min(_best(TWO, out)) > 0.9   # panel 1 was added back
    off = panel_net.refine(page.image, [TWO[0], text_column], maps=maps,
                           params=panel_net.RefineParams(drop=False, add=False))
    assert off == [TWO[0], text_column]
    assert panel_net.refine(page.image, [TWO[0], text_column], maps=maps) == [TWO[0]]  # add off by default


def test_a_framed_box_the_interior_map_doubts_is_kept():
    """refine-4: a box with no interior region is dropped only when the maps see no frame
    around it either (a framed diagram on pale paper whose inside the network doubted, Science
    Comics p. 24 scanned at twice the size, was dropped; a margin strip has no frame)."""
    page = _page(TWO)
    maps = _maps_from_truth(page)
    y0 = int(TWO[1][1] * maps.shape[1] / page.image.shape[0])
    doubted = maps.copy()  # panel 2's inside read as outside, its frame still seen
    box = (slice(y0, None), slice(None))
    gone = doubted[panel_net.INTERIOR][box] > 0.5
    doubted[panel_net.INTERIOR][box][gone] = 0.05
    doubted[panel_net.OUTSIDE][box][gone] = 0.95
    out = panel_net.refine(page.image, TWO, maps=doubted)
    assert len(out) == 2 and min(_best(TWO, out)) > 0.9
    old = panel_net.refine(page.image, TWO, maps=doubted, params=panel_net.RefineParams(drop_framed=2.0))
    assert len(old) == 1  # refine-3 dropped it


def test_never_empty():
    page = _page(TWO)
    maps = np.zeros_like(_maps_from_truth(page))
    maps[panel_net.OUTSIDE] = 1.0
    out = panel_net.refine(page.image, TWO, maps=maps)
    assert out == [(0, 0, 600, 900)]


def test_refined_panels_have_detect_panels_shape(tiny):
    page = _page(TWO)
    panels = panel_net.detect_panels_refined(page.image, model=tiny)
    assert panels and all(isinstance(p, Panel) for p in panels)
    assert [p.order for p in panels] == list(range(len(panels)))
    for p in panels:
        x, y, w, h = p.box
        assert 0 <= x and 0 <= y and w >= 1 and h >= 1 and x + w <= 600 and y + h <= 900


# -- the shipped weights ----------------------------------------------------------------------
@pytest.fixture(scope="module")
def shipped():
    real_connect = socket.socket.connect

    def refuse(*a, **k):
        raise OSError("network used while loading the panel refiner")

    socket.socket.connect = refuse
    try:
        panel_net.load_model.cache_clear()
        model = panel_net.load_model()
    finally:
        socket.socket.connect = real_connect
    return model


def test_shipped_weights_are_small_and_say_what_made_them():
    assert panel_net.WEIGHTS.is_file()
    assert panel_net.WEIGHTS.stat().st_size < 2_000_000
    meta = panel_net.read_meta()
    assert "synthetic" in meta["data"] and "craphound" in meta["data"]  # ... "no craphound"
    assert meta["channels"] == list(panel_net.CHANNELS)


def test_shipped_weights_split_a_merged_pair(shipped):
    """A drawn page with two stacked panels a narrow gutter apart, offered as one box. (With
    no gutter at all, one frame line shared, the shipped refiner splits them at an interior
    threshold of 0.5 but not at its default 0.4, the dev pages' choice: docs/panels.md.)"""
    import cv2

    img = np.full((1200, 800, 3), 250, np.uint8)
    truth = [(40, 40, 720, 520), (40, 576, 720, 584)]
    rng = np.random.default_rng(3)
    for x, y, w, h in truth:
        img[y:y + h, x:x + w] = rng.integers(150, 240, 3)
        for _ in range(6):
            cv2.circle(img, (int(rng.integers(x + 60, x + w - 60)), int(rng.integers(y + 60, y + h - 60))),
                       int(rng.integers(20, 60)), tuple(int(v) for v in rng.integers(0, 200, 3)), -1)
        cv2.rectangle(img, (x, y), (x + w - 1, y + h - 1), (10, 10, 10), 4)
    merged = [(40, 40, 720, 1120)]
    out = panel_net.refine(img, merged, model=shipped)
    assert len(out) == 2
    assert min(_best(truth, out)) > 0.85


def test_shipped_weights_improve_synthetic_scans(shipped):
    """Synthetic scans (not seen in training: seeds from 100000) with each page's first two
    panels that share a row or column offered merged: refined boxes match the truth better."""
    from panel_synth import match

    before = after = pairs = 0
    for seed in range(100000, 100012):
        page = make_scan(seed)
        truth = page.boxes
        if len(truth) < 2:
            continue
        pairs += 1
        a, b = truth[0], truth[1]
        x0, y0 = min(a[0], b[0]), min(a[1], b[1])
        x1, y1 = max(a[0] + a[2], b[0] + b[2]), max(a[1] + a[3], b[1] + b[3])
        proposals = [(x0, y0, x1 - x0, y1 - y0)] + list(truth[2:])
        before += len(match(truth, proposals, 0.5))
        after += len(match(truth, panel_net.refine(page.image, proposals, rtl=page.rtl, model=shipped), 0.5))
    # Most merged pairs split back (a random network splits none: checked by hand, 57 -> 57).
    assert pairs >= 8
    assert after - before >= 0.75 * pairs


def test_shipped_refiner_keeps_the_classic_result_on_a_clean_page(shipped):
    page = _page([(30, 30, 260, 400), (310, 30, 260, 400), (30, 460, 540, 410)])
    classic = detect_boxes(page.image)
    refined = [p.box for p in panel_net.detect_panels_refined(page.image)]
    assert len(refined) == len(classic) == 3
    assert min(_best(classic, refined)) > 0.95


def test_shipped_refiner_end_to_end_on_synthetic_scans(shipped):
    """detect_panels_refined against the classical detector alone on six synthetic scans (not
    trained on): the classical detector merges panels across shared lines, spine strips and
    dark margins there (when written: 21 of 33 panels found at IoU 0.5; refined: 31)."""
    from panel_synth import match

    classic = refined = total = 0
    for seed in range(100000, 100006):
        page = make_scan(seed)
        total += len(page.boxes)
        classic += len(match(page.boxes, detect_boxes(page.image, rtl=page.rtl), 0.5))
        boxes = [p.box for p in panel_net.detect_panels_refined(page.image, rtl=page.rtl)]
        refined += len(match(page.boxes, boxes, 0.5))
    assert refined >= 0.85 * total
    assert refined > classic


# -- the synthetic pages: framed panels drawn over an art panel ------------------------------
def test_synthetic_pages_draw_framed_panels_over_an_art_panel():
    """Some synthetic scans hold a frameless art panel that framed panels overlap (craphound
    p4's layout, drawn by our generator): each overlapping panel is a panel of its own, its
    outline an edge band where it runs through the art's interior, and the art's own outline
    where a panel hides it is no edge."""
    import cv2

    pages = [p for p in (make_scan(s, overlap=True) for s in range(40)) if "under" in p.notes]
    assert len(pages) >= 3
    checked = 0
    for page in pages:
        h, w = page.image.shape[:2]
        lab = label_map(page, (w, h))
        under = page.notes["under"]
        art = np.zeros((h, w), np.uint8)
        cv2.fillPoly(art, [np.round(page.polys[under]).astype(np.int32)], 1)
        art = cv2.erode(art, np.ones((9, 9), np.uint8))  # well inside the art
        over = []
        for i, poly in enumerate(page.polys):
            m = np.zeros((h, w), np.uint8)
            cv2.fillPoly(m, [np.round(poly).astype(np.int32)], 1)
            if i != under and (m & art).sum() > 400:
                over.append(m)
        # (none when no neighbour reached in and no corner panel was drawn: a frameless panel)
        for m in over:
            # Its outline inside the art: an edge band (within a pixel).
            ring = (cv2.dilate(m, np.ones((3, 3), np.uint8)) - cv2.erode(m, np.ones((3, 3), np.uint8))) > 0
            ring &= art > 0
            near_edge = cv2.dilate((lab == 1).astype(np.uint8), np.ones((3, 3), np.uint8)) > 0
            if ring.sum() > 20:
                assert near_edge[ring].mean() > 0.95, page.seed
                checked += 1
            # Inside it no edge band (the art's outline hidden under it is not drawn).
            inner = cv2.erode(m, np.ones((9, 9), np.uint8)) > 0
            assert (lab[inner] == 1).mean() < 0.01, page.seed
    assert checked >= 3


def test_synthetic_pages_without_overlap_are_as_before():
    """The overlapping layout is off by default and has its own random stream: a page without
    it draws exactly as it did before (seed 0's panels and pixel sum as the generator of commit
    0be9524 drew them; the shipped weights were trained on those pages)."""
    page = make_scan(0)
    assert "under" not in page.notes
    assert page.boxes == [(49, 79, 634, 953)]
    assert int(page.image.astype(np.int64).sum()) == 98795922
    again = make_scan(0)
    assert np.array_equal(again.image, page.image)
    plain = [s for s in range(12) if "under" not in make_scan(s, overlap=True).notes]
    assert len(plain) >= 8
    assert all("under" not in make_scan(s).notes for s in range(12))  # off by default


def test_training_samples_at_a_closer_zoom_line_up_with_their_labels():
    """`train_panel_net.py --zoom` (an option tried and not shipped): a sample drawn closer shows
    the page larger, with labels drawn from the polygons at its own scale: where they say
    outside every panel lies the page's white paper, brighter than the panels' insides, in
    every sample that shows both (a label map shifted or scaled against its image would not)."""
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))
    import train_panel_net as T

    rng = np.random.default_rng(0)
    for seed in (2, 3):  # a manga page and a western one, on white paper
        item = T.reduce_zoomable(make_scan(seed), 2.0)
        assert max(item[0].shape[:2]) == 2 * panel_net.INPUT_LONG
        for share in (0.0, 1.0):  # the whole page, then closer looks
            both = brighter = 0
            for _ in range(8):
                x, y = T.zoomed_window(rng, item, 2.0, share)
                assert x.shape == (3, panel_net.INPUT_LONG, T.WIDTH)
                assert y.shape == (panel_net.INPUT_LONG // 2, T.WIDTH // 2)
                assert set(np.unique(y)) <= {0, 1, 2}
                lab = np.kron(y, np.ones((2, 2), y.dtype))
                grey = x.mean(axis=0)
                if (lab == 0).sum() > 200 and (lab == 2).sum() > 200:
                    both += 1
                    brighter += float(grey[lab == 0].mean()) > float(grey[lab == 2].mean()) + 0.2
            assert both >= 3 and brighter == both, (seed, share, both, brighter)
