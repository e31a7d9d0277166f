"""The classical panel detector: boxes, reading order, hard layouts, bad input, the CLI.

Quality is measured on synthetic pages with known boxes (``panel_synth``) and on the xkcd strips
of the shared fixtures (panel counts judged by eye). The figures for a larger set are in
``tests/bench/bench_panels.py``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import numpy as np
import pytest
from helpers import fixtures_dir

sys.path.insert(0, str(Path(__file__).resolve().parent))

import cv2  # a dependency of comicdesk: its absence must fail these tests, not skip them
from panel_synth import KINDS, Score, iou, make_page, match

from comicdesk.core.geometry import Panel
from comicdesk.ml.panels import (
    DETECTOR_VERSION,
    PanelParams,
    detect_boxes,
    detect_panels,
)


def boxes_of(image, **kw) -> list[tuple[int, int, int, int]]:
    return [p.box for p in detect_panels(image, **kw)]


def grid_page(w: int = 600, h: int = 900, rows: int = 3, cols: int = 2, gutter: int = 20,
              margin: int = 30, bg=(255, 255, 255), frame=(0, 0, 0)) -> tuple[np.ndarray, list]:
    """A plain framed grid with a figure in each panel; boxes in reading order."""
    img = np.empty((h, w, 3), np.uint8)
    img[:] = bg
    pw = (w - 2 * margin - (cols - 1) * gutter) // cols
    ph = (h - 2 * margin - (rows - 1) * gutter) // rows
    boxes = []
    for r in range(rows):
        for c in range(cols):
            x, y = margin + c * (pw + gutter), margin + r * (ph + gutter)
            img[y:y + ph, x:x + pw] = (255, 255, 255)
            cv2.rectangle(img, (x, y), (x + pw - 1, y + ph - 1), frame, 3)
            cv2.circle(img, (x + pw // 2, y + ph // 3), ph // 8, (30, 30, 30), 2)
            cv2.line(img, (x + 10, y + ph - 20), (x + pw - 10, y + ph - 20), (30, 30, 30), 2)
            boxes.append((x, y, pw, ph))
    return img, boxes


# -- API --------------------------------------------------------------------------------------
def test_api_shape_version_and_order():
    img, truth = grid_page()
    panels = detect_panels(img)
    assert DETECTOR_VERSION == "classic-11"
    assert all(isinstance(p, Panel) for p in panels)
    assert [p.order for p in panels] == list(range(len(panels)))
    for p in panels:
        assert all(isinstance(v, int) for v in p.box)
        x, y, w, h = p.box
        assert 0 <= x < 600 and 0 <= y < 900 and w >= 1 and h >= 1 and x + w <= 600 and y + h <= 900
    assert len(panels) == 6
    for p, t in zip(panels, truth):  # rows top to bottom, left to right
        assert iou(p.box, t) >= 0.9
    assert detect_boxes(img) == [p.box for p in panels]
    assert boxes_of(img) == boxes_of(img)  # deterministic


def test_right_to_left_reads_each_row_from_the_right():
    img, truth = grid_page(rows=2, cols=3)
    found = boxes_of(img, rtl=True)
    expected = [truth[2], truth[1], truth[0], truth[5], truth[4], truth[3]]
    assert len(found) == 6
    assert all(iou(f, t) >= 0.9 for f, t in zip(found, expected))


def test_threads_setting_is_restored():
    before = cv2.getNumThreads()
    detect_panels(grid_page()[0])
    assert cv2.getNumThreads() == before
    detect_panels(grid_page()[0], params=PanelParams(threads=None))
    assert cv2.getNumThreads() == before


# -- synthetic pages --------------------------------------------------------------------------
@pytest.mark.parametrize("seed", [0, 10, 20, 30, 40, 50])
def test_clean_framed_pages_every_panel_tight_and_nothing_extra(seed):
    page = make_page(seed, "framed")
    found = detect_boxes(page.image)
    assert len(found) == len(page.boxes), (found, page.boxes)
    pairs = match(page.boxes, found, threshold=0.8)
    assert len(pairs) == len(page.boxes), (found, page.boxes)
    # Reading order: the i-th panel found is the i-th panel of the page.
    assert all(i == j for i, j, _ in pairs)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_right_to_left_order_on_synthetic_layouts(seed):
    page = make_page(seed, "framed")
    found = detect_boxes(page.image, rtl=True)
    expected = [page.boxes[i] for i in page.rtl_order]
    assert len(found) == len(expected)
    assert all(iou(f, t) >= 0.8 for f, t in zip(found, expected)), (found, expected)


@pytest.mark.parametrize("seed", [3, 13, 23, 33, 43])
def test_frameless_panels_are_not_split_at_balloon_gaps(seed):
    # Each frameless panel has a balloon above its art, apart by up to 0.9 gutter widths.
    page = make_page(seed, "frameless")
    found = detect_boxes(page.image)
    assert len(found) == len(page.boxes), (found, page.boxes)
    pairs = match(page.boxes, found)
    assert len(pairs) == len(page.boxes)
    assert np.mean([v for _, _, v in pairs]) >= 0.8


@pytest.mark.parametrize("seed", [4, 14, 34, 44, 64])
def test_balloons_crossing_gutters_neither_merge_nor_split_panels(seed):
    page = make_page(seed, "balloons")
    assert page.notes["crossing"] >= 1
    found = detect_boxes(page.image)
    pairs = match(page.boxes, found)
    assert len(found) == len(page.boxes) == len(pairs), (found, page.boxes)


def test_blocked_gutter_between_two_panels():
    img, truth = grid_page(rows=2, cols=2, gutter=24)
    # A balloon over the gutter between the two left panels, one over the right column's.
    for cx, cy in ((165, 447), (440, 447)):
        cv2.ellipse(img, (cx, cy), (70, 40), 0, 0, 360, (255, 255, 255), -1)
        cv2.ellipse(img, (cx, cy), (70, 40), 0, 0, 360, (0, 0, 0), 2)
        cv2.putText(img, "HEY YOU", (cx - 45, cy + 5), cv2.FONT_HERSHEY_SIMPLEX, 0.6, (0, 0, 0), 2)
    found = boxes_of(img)
    assert len(found) == 4, found
    assert all(iou(f, t) >= 0.8 for f, t in zip(found, truth)), (found, truth)


@pytest.mark.parametrize("kind", ["black", "colour", "bleed", "scan", "jpeg", "mixed"])
def test_gutter_colours_bleeds_scans_and_artefacts(kind):
    score = Score()
    for seed in range(3):
        page = make_page(100 + seed * len(KINDS) + KINDS.index(kind), kind)
        score.add(page.boxes, detect_boxes(page.image))
    assert score.f1 >= 0.9, score.as_dict()
    assert score.mean_iou >= 0.85, score.as_dict()


@pytest.mark.parametrize("seed", [4, 13, 48])
def test_tilted_scan_boxes_follow_the_tilt(seed):
    page = make_page(seed, "scan")
    assert abs(page.notes["angle"]) > 1.0
    found = detect_boxes(page.image)
    pairs = match(page.boxes, found, threshold=0.8)
    assert len(pairs) == len(page.boxes) == len(found), (found, page.boxes)


def test_splash_pages():
    full = next(make_page(s, "splash") for s in range(40) if make_page(s, "splash").boxes[0][:2] == (0, 0))
    h, w = full.image.shape[:2]
    assert boxes_of(full.image) == [(0, 0, w, h)]
    framed = next(make_page(s, "splash") for s in range(40) if make_page(s, "splash").boxes[0][:2] != (0, 0))
    found = boxes_of(framed.image)
    assert len(found) == 1 and iou(found[0], framed.boxes[0]) >= 0.9


def test_synthetic_set_quality():
    score = Score()
    for seed in range(200, 211):
        page = make_page(seed)
        score.add(page.boxes, detect_boxes(page.image))
    assert score.f1 >= 0.95, score.as_dict()
    assert score.mean_iou >= 0.9, score.as_dict()


# -- real strips ------------------------------------------------------------------------------
def xkcd_strips():
    base = fixtures_dir() / "pages"
    counts = json.loads((base / "panel_counts.json").read_text())["counts"]
    return [(base / "xkcd" / name, n) for name, n in sorted(counts.items())]


@pytest.mark.parametrize("path,count", xkcd_strips(), ids=lambda v: getattr(v, "name", str(v)))
def test_xkcd_panel_counts_and_sanity(path, count):
    from PIL import Image

    im = Image.open(path)
    im.load()
    panels = detect_panels(im)
    assert len(panels) == count, [p.box for p in panels]
    w, h = im.size
    boxes = [p.box for p in panels]
    for a in boxes:
        assert a[2] >= 0.05 * w and a[3] >= 0.15 * h  # a panel, not a speck
    for i, a in enumerate(boxes):
        for b in boxes[i + 1:]:
            assert iou(a, b) < 0.05  # panels do not overlap
    # Reading order: each next panel is to the right in the same row, or in a lower row.
    for (ax, ay, aw, ah), (bx, by, bw, bh) in zip(boxes, boxes[1:]):
        assert bx > ax or by >= ay + ah - 0.05 * h
    # Almost all the ink lies in some panel.
    ink = np.asarray(im.convert("L")) < 128
    inside = np.zeros_like(ink)
    for x, y, bw, bh in boxes:
        inside[y:y + bh, x:x + bw] = True
    assert (ink & inside).sum() >= 0.97 * ink.sum()


# -- bad input --------------------------------------------------------------------------------
@pytest.mark.parametrize("value", [0, 255, 37])
def test_blank_pages_are_one_whole_page_panel(value):
    img = np.full((1200, 800, 3), value, np.uint8)
    assert boxes_of(img) == [(0, 0, 800, 1200)]


def test_speck_on_a_blank_page_is_still_the_whole_page():
    img = np.full((1200, 800), 255, np.uint8)
    img[600:603, 400:403] = 0
    assert boxes_of(img) == [(0, 0, 800, 1200)]


@pytest.mark.parametrize("shape", [(5, 5), (5, 5, 3), (1, 1), (3, 400), (20, 20, 4)])
def test_tiny_pages(shape):
    img = np.zeros(shape, np.uint8)
    assert boxes_of(img) == [(0, 0, shape[1], shape[0])]


def test_gigantic_page_is_fast_and_right():
    h, w = 18000, 12000
    img = np.full((h, w), 255, np.uint8)
    truth = []
    for r in range(3):
        for c in range(2):
            x0, y0 = 400 + c * 5800, 400 + r * 5800
            x1, y1 = x0 + 5400, y0 + 5200
            img[y0:y1, x0:x1] = 0
            img[y0 + 60:y1 - 60, x0 + 60:x1 - 60] = 255
            img[y0 + 2000:y0 + 2600, x0 + 1500:x0 + 3500] = 90  # some art
            truth.append((x0, y0, x1 - x0, y1 - y0))
    t0 = time.perf_counter()
    found = boxes_of(img)
    elapsed = time.perf_counter() - t0
    assert elapsed < 2.0, elapsed
    assert len(found) == 6 and all(iou(f, t) >= 0.95 for f, t in zip(found, truth)), found


def test_one_core_speed_on_a_full_size_page():
    page = make_page(7, "framed", size=(1500, 2300))
    detect_boxes(page.image)  # warm up (imports)
    t0 = time.perf_counter()
    for _ in range(3):
        detect_boxes(page.image)
    per_page = (time.perf_counter() - t0) / 3
    assert per_page < 0.25, per_page  # the benchmark's figure is ~30 ms; this only catches blow-ups


def test_pillow_modes_and_array_types_give_the_same_boxes():
    from PIL import Image

    img, _ = grid_page()
    rgb = Image.fromarray(img)
    reference = boxes_of(rgb)
    assert len(reference) == 6
    grey = np.asarray(rgb.convert("L"))
    variants = {
        "L": rgb.convert("L"),
        "P": rgb.convert("P", palette=Image.Palette.ADAPTIVE, colors=16),
        "RGBA": rgb.convert("RGBA"),
        "LA": rgb.convert("LA"),
        "1": rgb.convert("L").point(lambda v: 255 if v > 128 else 0).convert("1"),
        "I;16": Image.fromarray(grey.astype(np.uint16) * 257),
        "F": Image.fromarray(grey.astype(np.float32) / 255.0),
        "grey array": grey,
        "grey (H, W, 1)": grey[:, :, None],
        "float array": img.astype(np.float32) / 255.0,
        "uint16 array": img.astype(np.uint16) * 257,
        "bool array": grey > 128,
        "rgba array": np.dstack([img, np.full(grey.shape, 255, np.uint8)]),
    }
    for name, value in variants.items():
        found = boxes_of(value)
        assert len(found) == 6, name
        assert all(iou(a, b) >= 0.95 for a, b in zip(found, reference)), (name, found)


@pytest.mark.parametrize("mode", ["RGB", "L", "P", "1", "I;16", "RGBA"])
def test_large_pillow_pages_in_any_mode(mode):
    # Pillow's fast reduction does not exist for every mode: the others take the array way.
    from PIL import Image

    img, truth = grid_page(w=1400, h=2100, gutter=40, margin=60)
    rgb = Image.fromarray(img)
    if mode == "P":
        page = rgb.convert("P", palette=Image.Palette.ADAPTIVE, colors=16)
    elif mode == "I;16":
        page = Image.fromarray(np.asarray(rgb.convert("L")).astype(np.uint16) * 257)
    else:
        page = rgb.convert(mode)
    found = boxes_of(page)
    assert len(found) == 6 and all(iou(f, t) >= 0.95 for f, t in zip(found, truth)), (mode, found)


def test_transparent_pixels_count_as_white():
    img, _ = grid_page()
    rgba = np.dstack([img, np.full(img.shape[:2], 255, np.uint8)])
    rgba[:20, :, :3] = 0  # black but fully transparent: a reader shows white
    rgba[:20, :, 3] = 0
    assert len(boxes_of(rgba)) == 6


@pytest.mark.parametrize("bad", [np.zeros(10), np.zeros((0, 10)), np.zeros((4, 4, 7)), "page.png"])
def test_not_an_image(bad):
    with pytest.raises(ValueError):
        detect_panels(bad)


# -- command line -----------------------------------------------------------------------------
def _png(img: np.ndarray) -> bytes:
    ok, buf = cv2.imencode(".png", img)
    assert ok
    return buf.tobytes()


def run_cli(*args, tmp_path: Path, rc: int = 0, capsys=None):
    """``comicdesk panels ARGS``: in this process when ``capsys`` is given (fast), else as a
    real subprocess, the way a person runs it."""
    env = dict(os.environ, COMICDESK_CACHE_DIR=str(tmp_path / "cache"), COMICDESK_DATA_DIR=str(tmp_path / "data"))
    env.pop("COMICDESK_DEBUG", None)
    argv = ["panels", *map(str, args)]
    if capsys is not None:
        from comicdesk.cli import main

        capsys.readouterr()
        old = dict(os.environ)
        os.environ.update(env)
        os.environ.pop("COMICDESK_DEBUG", None)
        try:
            code = main(argv)
        finally:
            os.environ.clear()
            os.environ.update(old)
        out, err = capsys.readouterr()
        proc = subprocess.CompletedProcess(argv, code, out, err)
    else:
        proc = subprocess.run([sys.executable, "-m", "comicdesk", *argv], capture_output=True, text=True,
                              env=env, timeout=120)
    assert proc.returncode == rc, (proc.returncode, proc.stdout, proc.stderr)
    assert "Traceback" not in proc.stderr
    return proc


def test_cli_single_image_json_and_table(tmp_path, capsys):
    img, truth = grid_page(rows=2, cols=2)
    path = tmp_path / "page.png"
    path.write_bytes(_png(img))
    proc = run_cli(path, "--json", tmp_path=tmp_path)
    rows = [json.loads(line) for line in proc.stdout.splitlines()]
    assert len(rows) == 1 and list(rows[0]) == ["index", "width", "height", "panels"]
    row = rows[0]
    assert (row["index"], row["width"], row["height"]) == (0, 600, 900)
    assert len(row["panels"]) == 4 and all(iou(b, t) >= 0.9 for b, t in zip(row["panels"], truth))
    rtl = json.loads(run_cli(path, "--json", "--rtl", tmp_path=tmp_path, capsys=capsys).stdout)
    assert [tuple(b) for b in rtl["panels"]] == [tuple(row["panels"][i]) for i in (1, 0, 3, 2)]
    table = run_cli(path, tmp_path=tmp_path, capsys=capsys)
    assert "600x900" in table.stdout and "1 page (image)" in table.stderr


def test_cli_book_with_a_bad_page_and_manga_order(tmp_path, capsys):
    img, truth = grid_page(rows=2, cols=2)
    book = tmp_path / "book.cbz"
    with zipfile.ZipFile(book, "w") as z:
        z.writestr("ComicInfo.xml", "<?xml version='1.0'?><ComicInfo><Manga>YesAndRightToLeft</Manga></ComicInfo>")
        z.writestr("p1.png", _png(img))
        z.writestr("p2.jpg", b"\xff\xd8\xff\xe0 this is not a jpeg")
        z.writestr("p3.png", _png(np.full((300, 200, 3), 255, np.uint8)))
    proc = run_cli(book, "--json", tmp_path=tmp_path, capsys=capsys)
    rows = [json.loads(line) for line in proc.stdout.splitlines()]
    assert [r["index"] for r in rows] == [0, 1, 2]
    assert all(list(r) == ["index", "width", "height", "panels"] for r in rows)
    # Manga=YesAndRightToLeft: each row is read from the right.
    assert all(iou(b, truth[i]) >= 0.9 for b, i in zip(rows[0]["panels"], (1, 0, 3, 2)))
    assert rows[1] == {"index": 1, "width": None, "height": None, "panels": None}
    assert rows[2]["panels"] == [[0, 0, 200, 300]]  # a blank page is one whole-page panel
    assert len(proc.stderr.strip().splitlines()) == 1 and "p2.jpg" in proc.stderr


def test_cli_unreadable_input_is_one_line_and_exit_1(tmp_path, capsys):
    missing = run_cli(tmp_path / "nope.cbz", tmp_path=tmp_path, rc=1, capsys=capsys)
    assert len(missing.stderr.strip().splitlines()) == 1
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"\x89PNG\r\n\x1a\n" + b"\0" * 40)
    proc = run_cli(broken, "--json", tmp_path=tmp_path, rc=1, capsys=capsys)
    assert proc.stdout == "" and len(proc.stderr.strip().splitlines()) == 1
    text = tmp_path / "notes.txt"
    text.write_text("hello")
    proc = run_cli(text, tmp_path=tmp_path, rc=1, capsys=capsys)
    assert len(proc.stderr.strip().splitlines()) == 1


def test_cli_one_page_book_as_folder(tmp_path, capsys):
    folder = tmp_path / "One Page"
    folder.mkdir()
    img, _ = grid_page(rows=1, cols=3, h=400)
    (folder / "001.png").write_bytes(_png(img))
    rows = [json.loads(line) for line in run_cli(folder, "--json", tmp_path=tmp_path, capsys=capsys).stdout.splitlines()]
    assert len(rows) == 1 and len(rows[0]["panels"]) == 3
