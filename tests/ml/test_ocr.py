"""OCR over RapidOCR's bundled ONNX models: detection (pass 1), recognition (pass 2), panels."""

from __future__ import annotations

import re
import socket
import subprocess
import sys

import numpy as np
import pytest
from feat_data import captain_science, render_text_page, xkcd_pages
from feat_models import ocr as shared_ocr
from PIL import Image

from comicdesk.ml import ocr as mod
from comicdesk.ml.ocr import OcrConfig, TextBox, TextLine, TextOcr

LINES = ["CAPTAIN SCIENCE RETURNS", "The rocket is ready, Doctor!", "WHERE ARE THE ROBOTS?"]


def words(text: str) -> set[str]:
    return set(re.findall(r"[a-z0-9]+", text.lower()))


def iou(a, b) -> float:
    ax, ay, aw, ah = a
    bx, by, bw, bh = b
    ix = max(0, min(ax + aw, bx + bw) - max(ax, bx))
    iy = max(0, min(ay + ah, by + bh) - max(ay, by))
    inter = ix * iy
    return inter / (aw * ah + bw * bh - inter)


@pytest.fixture(scope="module")
def ocr() -> TextOcr:
    return shared_ocr()


@pytest.fixture(scope="module")
def strip() -> Image.Image:
    return xkcd_pages()["xkcd2434.jpg"]


def test_models_ship_inside_the_rapidocr_wheel():
    d = mod.models_dir()
    assert (d / mod.DET_MODEL).stat().st_size > 1_000_000
    assert (d / mod.REC_MODEL).stat().st_size > 1_000_000


def test_importing_the_feature_modules_loads_no_heavy_library():
    code = (
        "import sys, comicdesk.ml.ocr, comicdesk.ml.minilm, comicdesk.ml.efficientnet, "
        "comicdesk.ml.phash, comicdesk.ml.panel_embed\n"
        "heavy = [m for m in ('torch', 'onnxruntime', 'cv2', 'transformers', 'rapidocr', "
        "'tokenizers', 'safetensors') if m in sys.modules]\n"
        "print(','.join(heavy))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


def test_runs_without_network_and_never_imports_rapidocr(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("network access attempted")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    page, _ = render_text_page(["NO NETWORK HERE"], size=(600, 200))
    _, lines = TextOcr(threads=1).read(page)
    assert "NETWORK" in " ".join(ln.text for ln in lines)
    code = ("import sys; from PIL import Image; from comicdesk.ml.ocr import TextOcr; "
            "TextOcr(threads=1).read(Image.new('RGB', (64, 64), 'white')); "
            "print('rapidocr' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_thread_count_is_applied_to_the_sessions():
    o = TextOcr(threads=1)
    assert o.det_session.get_session_options().intra_op_num_threads == 1
    assert o._rec is None  # pass 1 does not load the recogniser
    assert mod.default_threads() == 1
    two = TextOcr(threads=2)
    assert two.det_session.get_session_options().intra_op_num_threads == 2


def test_recognises_rendered_lettering_with_boxes_in_page_pixels(ocr):
    # A page larger than the detection size: boxes must come back in page pixels.
    page, truth = render_text_page(LINES, size=(2000, 1100), font_size=64)
    det, lines = ocr.read(page)
    assert det.det_size[0] == 960
    assert len(lines) == len(LINES)
    for line, text, box in zip(lines, LINES, truth):  # reading order = drawing order
        assert words(line.text) == words(text), (line.text, text)
        assert iou(line.box, box) > 0.5, (line.box, box)
        assert line.score > 0.8


def test_numpy_and_greyscale_input_give_the_same_answer(ocr):
    page, _ = render_text_page(LINES[:1], size=(900, 300))
    a = ocr.read(page)[1]
    b = ocr.read(np.asarray(page.convert("L")))[1]
    assert [ln.text for ln in a] == [ln.text for ln in b]


def test_blank_page_has_no_text(ocr):
    det, lines = ocr.read(Image.new("RGB", (1200, 1800), (250, 248, 240)))
    assert det.count == 0 and det.coverage == 0.0 and lines == []


def test_coverage_tracks_the_lettered_area(ocr):
    page, truth = render_text_page(LINES, size=(1000, 700))
    det = ocr.detect(page)
    inked = sum(w * h for _, _, w, h in truth) / (1000 * 700)
    assert 0.7 * inked < det.coverage < 2.5 * inked
    one = ocr.detect(render_text_page(LINES[:1], size=(1000, 700))[0])
    assert one.coverage < det.coverage


def test_real_lettering_on_an_xkcd_strip(ocr, strip):
    det = ocr.detect(strip)
    assert det.count >= 30
    assert 0.2 < det.coverage < 0.7
    for b in det.boxes:
        x, y, w, h = b.box
        assert 0 <= x and 0 <= y and x + w <= strip.width and y + h <= strip.height
    # Recognise the fourth panel only (x > 600) to keep the test fast.
    right = [b for b in det.boxes if b.box[0] > 600]
    sub = mod.Detection(det.width, det.height, tuple(right), det.coverage)
    text = " ".join(ln.text for ln in ocr.recognise(strip, sub))
    assert {"horse", "second", "dose", "mask", "coming"} <= words(text)


def test_detection_matches_rapidocr_own_pipeline(ocr, strip):
    # The same ONNX detector through rapidocr's engine, at the same size: the boxes agree.
    from rapidocr import RapidOCR

    engine = RapidOCR(params={"Global.log_level": "error", "Det.limit_type": "max",
                              "Det.limit_side_len": 960, "Global.use_cls": False})
    ref = engine(np.asarray(strip)[:, :, ::-1].copy(), use_det=True, use_cls=False, use_rec=False)
    ref_boxes = []
    for quad in ref.boxes:
        q = np.asarray(quad)
        x0, y0 = q.min(0)
        x1, y1 = q.max(0)
        ref_boxes.append((x0, y0, x1 - x0, y1 - y0))
    ours = [b.box for b in ocr.detect(strip).boxes]
    assert abs(len(ours) - len(ref_boxes)) <= 0.1 * len(ref_boxes)
    matched = sum(max(iou(o, r) for r in ref_boxes) > 0.6 for o in ours)
    assert matched >= 0.9 * len(ours)


def test_captain_science_cover_title_is_found(ocr):
    pages = captain_science()  # 114x160 scans: only the cover's title is big enough
    det = ocr.detect(pages[0])
    assert det.det_size == (224, 320)  # enlarged at most 2x
    assert any(b.box[1] < pages[0].height / 3 for b in det.boxes)
    lines = ocr.recognise(pages[0], det)
    assert any("APTAIN" in ln.text.upper() for ln in lines)


def test_skips_tiny_boxes_and_caps_lines_per_page(ocr):
    page, _ = render_text_page(["BIG LINE ONE", "BIG LINE TWO", "BIG LINE THREE"], size=(900, 600))
    det = ocr.detect(page)
    tiny = TextBox(box=(5, 5, 30, 4), quad=((5, 5), (35, 5), (35, 9), (5, 9)), score=0.9)
    det2 = mod.Detection(det.width, det.height, det.boxes + (tiny,), det.coverage)
    assert len(det2.boxes) - 1 not in ocr.select_lines(det2)
    capped = TextOcr(OcrConfig(max_lines=2), threads=1, model_path=ocr.model_path)
    capped._rec, capped._chars = ocr.rec_session, ocr._chars
    keep = capped.select_lines(det)
    assert len(keep) == 2
    areas = [det.boxes[i].height * det.boxes[i].length for i in range(det.count)]
    assert sorted(keep) == sorted(np.argsort(areas)[-2:].tolist())
    assert len(capped.recognise(page, det)) == 2


def test_batched_recognition_equals_one_line_at_a_time(ocr, strip):
    det = ocr.detect(strip)
    boxes = det.boxes[:12]
    rgb = np.asarray(strip)
    crops = [ocr._crop(rgb, b) for b in boxes]
    together = ocr.recognise_crops(crops)
    alone = [ocr.recognise_crops([c])[0] for c in crops]
    assert [t for t, _ in together] == [t for t, _ in alone]


def test_assign_lines_to_panels_by_largest_overlap():
    panels = [[0, 0, 100, 100], [100, 0, 100, 100], [20, 20, 30, 30]]
    boxes = [
        [10, 60, 50, 10],    # inside panel 0 only
        [80, 10, 60, 10],    # 20 px in panel 0, 40 px in panel 1 -> 1
        [25, 25, 10, 10],    # inside panel 0 and the inset panel 2: tie -> smaller panel 2
        [300, 300, 10, 10],  # outside everything
    ]
    assert mod.assign_to_panels(boxes, panels) == [0, 1, 2, -1]
    assert mod.assign_to_panels([], panels) == []
    line = TextLine("HI", 0.9, (80, 10, 60, 10), ((80, 10), (140, 10), (140, 20), (80, 20)), 0.9)
    groups = mod.lines_by_panel([line], panels)
    assert [len(g) for g in groups] == [0, 1, 0]


def test_join_lines_continues_hyphenated_line_ends():
    def ln(t):
        return TextLine(t, 0.9, (0, 0, 1, 1), ((0, 0), (1, 0), (1, 1), (0, 1)), 0.9)

    assert mod.join_lines([ln("UNVACCINATED LOW-"), ln("RISK PEOPLE"), ln(""), ln("OK")]) == \
        "UNVACCINATED LOW-RISK PEOPLE OK"
    assert mod.join_lines([ln("WAIT -"), ln("WHAT?")]) == "WAIT - WHAT?"


def test_a_half_scale_decode_gives_boxes_in_full_page_pixels(ocr):
    page, truth = render_text_page(LINES, size=(2000, 1100), font_size=64)
    half = page.resize((1000, 550), Image.LANCZOS)  # what JPEG draft mode hands back at 1/2
    det = ocr.detect(half, page_size=page.size)
    assert (det.width, det.height) == page.size
    lines = ocr.recognise(half, det)
    assert [words(ln.text) for ln in lines] == [words(t) for t in LINES]
    for line, box in zip(lines, truth):
        assert iou(line.box, box) > 0.5
    # and the same detection recognised on the full-size page reads the same
    assert [ln.text for ln in ocr.recognise(page, det)] == [ln.text for ln in lines]
