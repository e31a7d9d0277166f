"""The hard modern-Western synthetic pages (``tests/synth_modern.py``; **synthetic**, not real)
and a quality floor of the classical detector on them (`classic-7`)."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from synth_modern import PHENOMENA, make_modern  # noqa: E402
from synth_scan import label_map  # noqa: E402

from panel_synth import Score  # noqa: E402

from comicdesk.ml.panels import PanelParams, detect_boxes  # noqa: E402


@pytest.mark.parametrize("seed", [0, 7, 31])
def test_same_seed_same_page_and_truth_inside_it(seed):
    a, b = make_modern(seed), make_modern(seed)
    assert np.array_equal(a.image, b.image) and a.boxes == b.boxes and a.phenomena == b.phenomena
    h, w = a.image.shape[:2]
    assert a.image.dtype == np.uint8 and a.image.shape[2] == 3
    assert len(a.boxes) >= 2 and a.phenomena <= set(PHENOMENA)
    for x, y, bw, bh in a.boxes:
        assert 0 <= x and 0 <= y and bw > 20 and bh > 20 and x + bw <= w and y + bh <= h
    assert len(a.polys) == len(a.boxes)
    assert not np.array_equal(make_modern(seed + 1).image[:50, :50], a.image[:50, :50]) or \
        make_modern(seed + 1).boxes != a.boxes


def test_each_phenomenon_is_drawn_when_asked():
    for ph in PHENOMENA:
        got = [ph in make_modern(s, only=ph).phenomena for s in range(6)]
        assert sum(got) >= 4, (ph, got)  # a layout may lack the pair a phenomenon needs
        assert all(make_modern(s, only=ph).phenomena <= {ph} for s in range(3))


def test_overlap_truth_keeps_the_hidden_panel_whole_and_labels_in_drawing_order():
    """The panel drawn over its neighbour: truth boxes overlap; the label map (the refiner's
    training target) shows the panel on top whole, its edge band across the one beneath."""
    page = next(p for p in (make_modern(s, only="overlap") for s in range(10)) if "overlap" in p.phenomena)
    boxes = page.boxes
    inter = [(i, j) for i in range(len(boxes)) for j in range(i + 1, len(boxes))
             if min(boxes[i][0] + boxes[i][2], boxes[j][0] + boxes[j][2]) - max(boxes[i][0], boxes[j][0]) > 10
             and min(boxes[i][1] + boxes[i][3], boxes[j][1] + boxes[j][3]) - max(boxes[i][1], boxes[j][1]) > 10]
    assert inter, boxes
    lab = label_map(page.to_scan(), (page.image.shape[1] // 4, page.image.shape[0] // 4))
    assert set(np.unique(lab)) == {0, 1, 2}
    top = page.polys[-1]  # drawn last: on top
    cx, cy = int(top[:, 0].mean() / 4), int(top[:, 1].mean() / 4)
    assert lab[cy, cx] == 2


#: classic-7 alone, F1 at IoU 0.5 on seeds 0-19: achieved 0.919 - 0.02 (synthetic).
FLOOR = 0.899


def test_classic_detector_floor_on_hard_modern_pages():
    """Synthetic floor (classic-7 alone, seeds 0-19 of the hard modern set): F1 at IoU 0.5
    achieved 0.919 (`classic-6` 0.874: panels drawn over a neighbour and slanted gutters a
    caption blocks were merged), floor achieved - 0.02."""
    new, old = Score(), Score()
    for s in range(20):
        page = make_modern(s)
        new.add(page.boxes, detect_boxes(page.image))
        old.add(page.boxes, detect_boxes(page.image, params=PanelParams(dark_lines=False, blocked_slants=False)))
    assert new.f1 >= FLOOR, (new.f1, old.f1)
    assert new.f1 > old.f1

