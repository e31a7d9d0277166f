"""Quality floors of the panel detector on real pages with panels drawn by people.

The floors are the figures ``tests/bench/bench_panels.py`` measured for the shipped detector
(``DETECTOR_VERSION``) minus 0.02: a change that loses quality on real pages fails here. They
are quality floors, not timings. Sets and split: ``tests/ml/panel_real.py`` (dev: craphound
pages 1-6, chapters tojime_no_siora and balloon_dream, our Golden Age labels; held out:
craphound 7-11 and tencho_isoro). Reading order is checked on the real pages whose panels are
all found: it must be the order the people who drew the frames gave them (craphound's ACBF
frame order, OpenMantra's frame order, ours), right to left for manga.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from panel_real import RealScore, real_sets  # noqa: E402
from panel_synth import match  # noqa: E402

from comicdesk.ml.panel_net import detect_panels_refined  # noqa: E402
from helpers import fixtures_dir  # noqa: E402

# (F1 at IoU 0.5, F1 at IoU 0.8): measured minus 0.02, for the shipped detector
# "classic-11+refine-5" (the classical detector, then the learned refiner; measured with
# `bench_panels.py --real-only`, held out read once at the end: as "classic-10+refine-4" to four
# places on every set but tencho, 0.8960/0.8160 -> 0.9037/0.8235). "classic-10+refine-4" had the
# same figures as "classic-9+refine-4", "classic-8+refine-4" and
# "classic-7+refine-3" to four places on every set, held out read once at the end; measured with
# `bench_panels.py --real-only`: 0.9851/0.8657, 0.9399/0.8881, 1.000/1.000 on 33 Golden Age
# pages, 0.8571/0.8254, 0.8960/0.8160 (held out read once, at the end); "classic-6+refine-3"
# had the same but tencho 0.8930/0.8075; "classic-5+refine-2" had 0.9851/0.8657,
# 0.9338/0.8771, 1.000/1.000, 0.8571/0.8254, 0.8930/0.8075; "classic-5+refine-1" had
# 0.9231/0.8615, 0.9336/0.8768, 1.000/1.000, 0.8571/0.8254, 0.8901/0.8043; the classical
# detector alone, classic-5: as refine-1 but openmantra dev 0.9200/0.8650 and tencho
# 0.8641/0.7772; classic-6 alone on dev: 0.9231/0.8615, 0.9212/0.8687, 1.000/1.000).
FLOORS = {
    "craphound dev (p1-6)": (0.965, 0.845),
    "openmantra dev (tojime, balloon)": (0.919, 0.868),
    "golden-age dev (ours)": (0.980, 0.980),
    "craphound held-out (p7-11)": (0.837, 0.805),
    "openmantra held-out (tencho)": (0.883, 0.803),
}


def detect_boxes(image, *, rtl=False):
    """The shipped detector's boxes (what the pipeline and `comicdesk panels` give)."""
    return [p.box for p in detect_panels_refined(image, rtl=rtl)]


@pytest.fixture(scope="module")
def results() -> dict:
    """Per set: [(page, truth, found)], each page detected once."""
    out = {}
    for name, pages in real_sets(fixtures_dir()).items():
        rows = []
        for page in pages:
            image = np.asarray(page.load())
            rows.append((page, page.truth, detect_boxes(image, rtl=page.rtl), image))
        out[name] = rows
    return out


def test_every_real_set_is_there(results):
    assert set(results) == set(FLOORS)
    for name, rows in results.items():
        assert rows, name
        assert all(page.truth for page, *_ in rows), name
    assert len(results["golden-age dev (ours)"]) >= 33  # our labels: 28 Science Comics, 5 others


@pytest.mark.parametrize("name", list(FLOORS))
def test_real_set_f1_floors(results, name):
    score = RealScore()
    for _, truth, found, _ in results[name]:
        score.add(truth, found)
    f5, f8 = score.prf(0.5)[2], score.prf(0.8)[2]
    floor5, floor8 = FLOORS[name]
    assert f5 >= floor5, f"{name}: F1@0.5 {f5:.3f} below its floor {floor5}"
    assert f8 >= floor8, f"{name}: F1@0.8 {f8:.3f} below its floor {floor8}"


# Pages whose drawn frame order is not the reading order (checked by eye): there the detector's
# order is the right one.
ORDER_DISPUTES = {
    "tojime_no_siora/012.jpg": "the bottom row is listed middle, right, left; read right to left "
                               "it is right, middle, left (the panels stand side by side)",
    "balloon_dream/034.jpg": "two framed faces down the left, a frameless bleed of space and the "
                             "earth over the whole right side; the people drew the bleed from the "
                             "earth down (y 283) and read it last, right to left reads the "
                             "full-height right panel first (ambiguous; found whole only by the "
                             "refiner)",
}


def _fully_found(truth, found):
    m = match(truth, found, 0.5)
    if len(m) == len(truth) == len(found):
        return [j for _, j, _ in sorted(m)]
    return None


def test_reading_order_on_real_pages(results):
    """On every real page whose panels are all found, the order is the people's order:
    uneven rows, tall side panels and insets on the Western pages, right to left on manga."""
    checked = 0
    wrong = []
    for name, rows in results.items():
        for page, truth, found, _ in rows:
            order = _fully_found(truth, found)
            if order is None or len(truth) < 2:
                continue
            checked += 1
            if order != sorted(order) and page.name not in ORDER_DISPUTES:
                wrong.append((name, page.name, order))
    assert checked >= 60, checked
    assert not wrong, wrong


def test_manga_read_left_to_right_is_wrong(results):
    """The right-to-left order is what makes the manga pages right: read left to right, the
    same pages come out in another order (the order test above is not vacuous)."""
    changed = checked = 0
    for name, rows in results.items():
        if not name.startswith("openmantra dev"):
            continue
        for page, truth, found, image in rows:
            if _fully_found(truth, found) is None or len(truth) < 3:
                continue
            checked += 1
            ltr = _fully_found(truth, detect_boxes(image, rtl=False))
            changed += ltr is not None and ltr != sorted(ltr)
            if checked >= 12:
                break
    assert checked >= 10
    assert changed >= checked // 2, (changed, checked)


# Golden Age pages (our labels) that `classic-5` got right where `classic-4` did not: every
# panel found at IoU 0.8, nothing extra, in the story's order.
CLASSIC5_PAGES = {
    "public-domain-pages/Bobby-Make-Believe_1915__0.jpg": "a row cut off a title panel along a "
    "slanted line is split again (two panels 6 px apart)",
    "public-domain-pages/Bobby-Make-Believe_1915__2.jpg": "two frame lines facing across a 4 px band",
    "public-domain-pages/Bobby-Make-Believe_1915__3.jpg": "staggered rows read row by row",
    "science-comics-001/science_comics_001.cbz:Science_Comics_(Ace)_no.1_194601_pg10.jpeg":
        "a frameless panel's nested masses are one panel",
    "science-comics-001/science_comics_001.cbz:Science_Comics_(Ace)_no.1_194601_pg18.jpeg":
        "a caption box inside a framed panel is no cut",
    "science-comics-001/science_comics_001.cbz:Science_Comics_(Ace)_no.1_194601_pg24.jpeg":
        "staggered rows read row by row",
    "science-comics-001/science_comics_001.cbz:Science_Comics_(Ace)_no.1_194601_pg28.jpeg":
        "staggered rows read row by row",
}


@pytest.mark.parametrize("key", list(CLASSIC5_PAGES))
def test_golden_age_pages_classic5_got_right(results, key):
    rows = {page.name: (truth, found) for page, truth, found, _ in results["golden-age dev (ours)"]}
    truth, found = rows[key]
    m = match(truth, found, 0.8)
    assert len(m) == len(truth) == len(found), (CLASSIC5_PAGES[key], found)
    assert [j for _, j, _ in sorted(m)] == list(range(len(truth))), CLASSIC5_PAGES[key]


# Dev pages (OpenMantra, measuring only) whose panels `classic-6+refine-3` finds where
# `classic-5+refine-2` merged them: (page, truth panels now matched at IoU 0.8, what changed).
CLASSIC6_REFINE3_PAGES = [
    ("tojime_no_siora/036.jpg", (1, 2), "classic-6: the middle row's shared line has screentone "
     "beside it"),
    ("tojime_no_siora/023.jpg", (1, 2), "refine-3: stacked strips whose shared line the maps see "
     "from end to end"),
    ("balloon_dream/012.jpg", (5, 6), "refine-3: a narrow strip beside a panel, parted along the "
     "line the maps see"),
]


@pytest.mark.parametrize("name,panels,why", CLASSIC6_REFINE3_PAGES)
def test_openmantra_dev_pages_classic6_refine3_got_right(results, name, panels, why):
    rows = {page.name: (truth, found) for page, truth, found, _ in results["openmantra dev (tojime, balloon)"]}
    truth, found = rows[name]
    matched = {i for i, _, _ in match(truth, found, 0.8)}
    assert set(panels) <= matched, (why, found)


def _tinted(image: np.ndarray) -> np.ndarray:
    """The page on yellowed paper: blue falls most, as old newsprint's does."""
    out = image.astype(np.float32) * np.array([0.97, 0.92, 0.78]) + np.array([5.0, 8.0, 10.0])
    return np.clip(out, 0, 255).astype(np.uint8)


def test_a_small_tilt_that_is_no_scans_keeps_the_panels(results):
    """`classic-8`: *Bobby Make-Believe* p. 2 (hand-drawn frames, narrow gutters) measures as
    tilted 0.28 degrees on yellowed paper and not at all as scanned; turned back, its title
    strip and first row merge and so does its last row. Below ``skew_sure`` the page is split
    as it is too and the reading with more panels kept: the tinted page gives the page's
    panels."""
    from comicdesk.ml.panels import PanelParams
    from comicdesk.ml.panels import detect_boxes as classic_boxes

    rows = {page.name: (truth, image) for page, truth, _, image in results["golden-age dev (ours)"]}
    truth, image = rows["public-domain-pages/Bobby-Make-Believe_1915__2.jpg"]
    tinted = _tinted(np.asarray(image.convert("RGB")) if hasattr(image, "convert") else image)
    for found in (classic_boxes(tinted), detect_boxes(tinted)):
        assert len(match(truth, found, 0.8)) == len(truth) == len(found), found
    turned = classic_boxes(tinted, params=PanelParams(skew_sure=0.0))
    assert len(turned) <= len(truth) - 3, turned  # what the page gave before the rule


@pytest.mark.parametrize("kind", ["margin", "spine"])
def test_golden_age_pages_with_a_scanners_strip_or_a_bindings_shadow(results, kind):
    """`classic-9`: our 33 Golden Age pages as scans with the scanner's lid along the outer
    edge (a near-black strip, 2.5 % of the width) or the binding's shadow on the inner one (6 %
    of the width, darkening to 35 %): the strip crossed every row gutter and took the ring the
    gutter colour is read from, the shadow made the paper beside the panels content. The
    classical part now clears the strip and lifts the shadow; before, it lost most panels."""
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))
    from bench_panels_robust import variant

    from comicdesk.ml.panels import PanelParams
    from comicdesk.ml.panels import detect_boxes as classic_boxes

    new, old = RealScore(), RealScore()
    for page, truth, _, image in results["golden-age dev (ours)"]:
        img, _ = variant(np.asarray(image.convert("RGB")) if hasattr(image, "convert") else image, kind)
        new.add(truth, classic_boxes(img))
        old.add(truth, classic_boxes(img, params=PanelParams(scan_margins=False)))
    assert new.prf(0.8)[2] >= GOLDEN_SCAN_FLOORS[kind], new.prf(0.8)
    assert old.prf(0.8)[2] < new.prf(0.8)[2] - 0.1, (old.prf(0.8), new.prf(0.8))


#: F1 at IoU 0.8 of the classical part (classic-9) on the Golden Age pages so scanned, minus 0.02.
GOLDEN_SCAN_FLOORS = {"margin": 0.955, "spine": 0.98}  # achieved 0.976, 1.000 (before: 0.632, 0.707)


@pytest.mark.parametrize("kind", ["tilt1", "tilt1k", "bed"])
def test_golden_age_pages_on_a_scanners_bed(results, kind):
    """`classic-10`: our 33 Golden Age pages, cream newsprint, turned 1 degree on a white bed
    or a black one, or lying whole on a white bed (3 % of it showing round the page) turned
    half a degree: the edge ring read the bed (or no one colour), the paper was all content
    and most pages came out as one panel. The bed is now washed out in the paper's colour."""
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))
    from bench_panels_robust import back, variant

    from comicdesk.ml.panels import PanelParams
    from comicdesk.ml.panels import detect_boxes as classic_boxes

    new, old = RealScore(), RealScore()
    for page, truth, _, image in results["golden-age dev (ours)"]:
        img, f = variant(np.asarray(image.convert("RGB")) if hasattr(image, "convert") else image, kind)
        new.add(truth, [back(b, f) for b in classic_boxes(img)])
        old.add(truth, [back(b, f) for b in classic_boxes(img, params=PanelParams(page_on_bed=False))])
    assert new.prf(0.8)[2] >= GOLDEN_BED_FLOORS[kind], new.prf(0.8)
    assert old.prf(0.8)[2] < new.prf(0.8)[2] - 0.3, (old.prf(0.8), new.prf(0.8))


#: F1 at IoU 0.8 of the classical part (classic-10) on the Golden Age pages so scanned, minus 0.02.
GOLDEN_BED_FLOORS = {"tilt1": 0.89, "tilt1k": 0.875, "bed": 0.92}  # achieved 0.910, 0.895, 0.943 (before: 0.437, 0.211, 0.329)
