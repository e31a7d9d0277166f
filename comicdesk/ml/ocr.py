"""Text detection and recognition for the standard profile, over RapidOCR's bundled ONNX models.

The models are the ones the ``rapidocr`` wheel ships in ``rapidocr/models/`` (PP-OCRv6 small
detector and recogniser; the recogniser's character list is stored in its ONNX metadata). They are
found with ``importlib`` and run here with ``onnxruntime`` directly: rapidocr's own engine is
never imported, so its model downloader can never run, and this module controls threads,
batching, sizes and what is skipped.

Pass 1, :meth:`TextOcr.detect`: where text is and how much. The page is resized so its long side
is ``det_max_side`` (960) pixels (dimensions rounded to multiples of 32), the DB probability map is
thresholded, each connected region becomes a rotated rectangle scored by its mean probability and
grown by the DB "unclip" ratio, then mapped back to page pixels. Output: the boxes and the
fraction of the page they cover.

Pass 2, :meth:`TextOcr.recognise`: the text of each detected line. Each line is cut from the
full-resolution page (rotated lines are straightened), resized to 48 pixels high and run through
the CTC recogniser in batches of lines of similar aspect ratio (less padding). What cannot change
an answer is skipped: lines shorter than ``min_line_height`` page pixels or thinner than
``min_line_width``, and beyond ``max_lines`` per page the smallest lines; recognised lines whose
mean character confidence is under ``min_score`` are dropped. The 180-degree orientation
classifier is not used (lettering is upright); tall boxes are rotated to horizontal only when
``vertical_text`` is set.

Coordinates: every box is ``[x, y, w, h]`` in pixels of the page image given; ``quad`` is the
rotated rectangle's four corners (clockwise from top-left) in the same pixels.

onnxruntime and cv2 are imported on first use; each session is created the first time its pass
runs (pass 1 never loads the recogniser).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from comicdesk.ml.efficientnet import ModelUnavailable

if TYPE_CHECKING:  # pragma: no cover
    import numpy as np
    from PIL import Image

    ImageLike = Image.Image | np.ndarray

WEIGHTS_PACKAGE = "rapidocr"
DET_MODEL = "PP-OCRv6_det_small.onnx"
REC_MODEL = "PP-OCRv6_rec_small.onnx"


def models_dir() -> Path:
    """``rapidocr/models`` of the installed wheel, found without importing rapidocr."""
    import importlib.util

    spec = importlib.util.find_spec("rapidocr")
    if spec is None or not spec.submodule_search_locations:
        raise ModelUnavailable(f"the OCR models are not installed: pip install {WEIGHTS_PACKAGE}")
    path = Path(next(iter(spec.submodule_search_locations))) / "models"
    for name in (DET_MODEL, REC_MODEL):
        if not (path / name).is_file():
            raise ModelUnavailable(
                f"{path / name} is missing: install a {WEIGHTS_PACKAGE} wheel that bundles it"
            )
    return path


def default_threads() -> int:
    """Intra-op threads per session when none are given: 1.

    A second thread made detection ~1.7x faster on an idle two-core machine but slower (0.46 s
    against 0.30 s) while other work shared the cores, which is how the pipeline runs: decoding,
    the torch models and the OCR sessions all at once. Pass ``threads=2`` to a :class:`TextOcr`
    that has the machine to itself.
    """
    return 1


@dataclass(frozen=True)
class OcrConfig:
    """Every knob of detection and recognition (defaults measured in ``docs/features.md``)."""

    # detection (pass 1)
    det_max_side: int = 960
    #: Small pages are enlarged at most this much for detection (a 160-px thumbnail is not
    #: blown up 6x into noise).
    det_max_upscale: float = 2.0
    det_thresh: float = 0.3
    box_thresh: float = 0.5
    unclip_ratio: float = 1.6
    max_candidates: int = 1000
    # recognition (pass 2)
    rec_height: int = 48
    rec_batch: int = 8
    #: Lines batch together only when their aspect ratios are within this factor (less padding).
    rec_batch_spread: float = 1.15
    #: A line wider than this many heights is squeezed to that width (very rare).
    rec_max_ratio: float = 40.0
    min_line_height: int = 8
    min_line_width: int = 4
    max_lines: int = 96
    min_score: float = 0.5
    vertical_text: bool = False


@dataclass(frozen=True)
class TextBox:
    """A detected text line: axis-aligned ``box`` and rotated ``quad`` in page pixels."""

    box: tuple[int, int, int, int]
    quad: tuple[tuple[float, float], ...]
    score: float

    @property
    def height(self) -> float:
        """The line's thickness (short side of the rotated rectangle), in page pixels."""
        (x0, y0), (x1, y1), (x2, y2) = self.quad[0], self.quad[1], self.quad[2]
        return min(math.hypot(x1 - x0, y1 - y0), math.hypot(x2 - x1, y2 - y1))

    @property
    def length(self) -> float:
        (x0, y0), (x1, y1), (x2, y2) = self.quad[0], self.quad[1], self.quad[2]
        return max(math.hypot(x1 - x0, y1 - y0), math.hypot(x2 - x1, y2 - y1))


@dataclass(frozen=True)
class Detection:
    """Pass 1 of one page: its text boxes (reading order) and how much of the page they cover."""

    width: int
    height: int
    boxes: tuple[TextBox, ...]
    #: Fraction of the page area inside the union of the text boxes (0..1).
    coverage: float
    #: The size the detector actually ran at.
    det_size: tuple[int, int] = (0, 0)

    @property
    def count(self) -> int:
        return len(self.boxes)


@dataclass(frozen=True)
class TextLine:
    """Pass 2: one recognised line."""

    text: str
    score: float
    box: tuple[int, int, int, int]
    quad: tuple[tuple[float, float], ...]
    det_score: float


def _to_rgb(image: ImageLike):
    """A PIL image (any mode) or an RGB/greyscale uint8 array -> an RGB uint8 array.

    The models were trained on BGR (OpenCV) input; channels are swapped only on the small arrays
    that reach them, never on the full page (a 6-megapixel swap cost ~45 ms).
    """
    import numpy as np

    if isinstance(image, np.ndarray):
        arr = image
        if arr.dtype != np.uint8:
            raise ValueError("OCR expects 8-bit images")
        if arr.ndim == 2:
            arr = np.repeat(arr[:, :, None], 3, axis=2)
        elif arr.shape[2] == 4:
            arr = arr[:, :, :3]
    else:
        if image.mode != "RGB":
            image = image.convert("RGB")
        arr = np.asarray(image)
    return arr


def _order_quad(pts):
    """Four corners in clockwise order starting top-left."""
    import numpy as np

    pts = np.asarray(pts, dtype=np.float32).reshape(4, 2)
    s = pts.sum(1)
    d = pts[:, 1] - pts[:, 0]
    tl, br = pts[np.argmin(s)], pts[np.argmax(s)]
    tr, bl = pts[np.argmin(d)], pts[np.argmax(d)]
    quad = np.stack([tl, tr, br, bl])
    if len({tuple(p) for p in quad.tolist()}) < 4:  # degenerate (a 45-degree square)
        c = pts.mean(0)
        ang = np.arctan2(pts[:, 1] - c[1], pts[:, 0] - c[0])
        quad = pts[np.argsort(ang)]
        start = int(np.argmin(quad.sum(1)))
        quad = np.roll(quad, -start, axis=0)
    return quad


def reading_order(boxes: Sequence[TextBox], line_tol: float = 0.5) -> list[int]:
    """Indices of ``boxes`` top-to-bottom, and left-to-right within a row.

    Boxes whose vertical centres are closer than ``line_tol`` times the smaller height are one row.
    """
    items = sorted(range(len(boxes)), key=lambda i: boxes[i].box[1] + boxes[i].box[3] / 2)
    rows: list[list[int]] = []
    for i in items:
        _, y, _, h = boxes[i].box
        cy = y + h / 2
        if rows:
            j = rows[-1][-1]
            _, yj, _, hj = boxes[j].box
            if abs(cy - (yj + hj / 2)) < line_tol * min(h, hj):
                rows[-1].append(i)
                continue
        rows.append([i])
    return [i for row in rows for i in sorted(row, key=lambda k: boxes[k].box[0])]


#: onnxruntime's provider for NVIDIA GPUs: in the ``onnxruntime-gpu`` wheel, which installs the same
#: ``onnxruntime`` module as the CPU wheel (swap one for the other: docs/models.md, "OCR on a GPU").
CUDA_PROVIDER = "CUDAExecutionProvider"
CPU_PROVIDER = "CPUExecutionProvider"


def ocr_providers(device: str | None = "cpu") -> list:
    """The onnxruntime execution providers for a resolved device (``comicdesk.ml.device``): on
    ``cuda``/``cuda:N``, CUDA (that GPU) then the CPU, when the installed onnxruntime has the CUDA
    provider (``onnxruntime.get_available_providers()``, asked at run time); else, and on every
    other device (MPS included), the CPU only, silently."""
    import onnxruntime as ort

    kind, _, index = (device or "cpu").partition(":")
    if kind == "cuda" and CUDA_PROVIDER in ort.get_available_providers():
        return [(CUDA_PROVIDER, {"device_id": int(index or 0)}), CPU_PROVIDER]
    return [CPU_PROVIDER]


@dataclass
class TextOcr:
    """RapidOCR's PP-OCRv6 detector and recogniser on onnxruntime, with capped threads.

    ``device``: the run's resolved device; on ``cuda`` the sessions use onnxruntime's CUDA
    provider when the installed onnxruntime has it (:func:`ocr_providers`), else the CPU."""

    config: OcrConfig = field(default_factory=OcrConfig)
    threads: int | None = None
    model_path: Path | None = None
    device: str = "cpu"
    _det: Any = field(default=None, init=False, repr=False)
    _rec: Any = field(default=None, init=False, repr=False)
    _chars: list[str] | None = field(default=None, init=False, repr=False)

    def __post_init__(self) -> None:
        self.model_path = Path(self.model_path) if self.model_path else models_dir()
        if self.threads is None:
            self.threads = default_threads()

    # -- sessions --------------------------------------------------------------------------------
    def _session(self, name: str):
        import onnxruntime as ort

        opts = ort.SessionOptions()
        opts.intra_op_num_threads = int(self.threads)
        opts.inter_op_num_threads = 1
        opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        # ONNX Runtime's memory arena keeps its largest size (input shapes change with every page
        # and line), but without it every large buffer is a fresh mmap and its page faults: on the
        # pipeline bench's pages detection takes 95-110 ms instead of 129, recognition 650 instead
        # of 720-760 ms a page, with the same peak RSS.
        opts.enable_cpu_mem_arena = True
        opts.log_severity_level = 3
        if int(self.threads) > 1:
            # Idle worker threads sleep instead of spinning: the cores are shared.
            opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
        path = Path(self.model_path) / name
        if not path.is_file():
            raise ModelUnavailable(f"{path} is missing: reinstall {WEIGHTS_PACKAGE}")
        return ort.InferenceSession(str(path), sess_options=opts, providers=ocr_providers(self.device))

    @property
    def det_session(self):
        if self._det is None:
            self._det = self._session(DET_MODEL)
        return self._det

    @property
    def rec_session(self):
        if self._rec is None:
            sess = self._session(REC_MODEL)
            meta = sess.get_modelmeta().custom_metadata_map
            if "character" not in meta:
                raise ModelUnavailable(f"{REC_MODEL} carries no character list")
            # CTC classes: blank, the dictionary, then the space the model was trained with.
            self._chars = ["", *meta["character"].splitlines(), " "]
            self._rec = sess
        return self._rec

    # -- pass 1 ----------------------------------------------------------------------------------
    def _det_size(self, w: int, h: int) -> tuple[int, int]:
        cfg = self.config
        scale = min(cfg.det_max_side / max(w, h), cfg.det_max_upscale)
        dw = max(32, round(w * scale / 32) * 32)
        dh = max(32, round(h * scale / 32) * 32)
        return dw, dh

    def probability_map(self, image: ImageLike):
        """The detector's (H', W') text probability map at the detection size."""
        import cv2
        import numpy as np

        rgb = _to_rgb(image)
        h, w = rgb.shape[:2]
        dw, dh = self._det_size(w, h)
        small = cv2.resize(rgb, (dw, dh), interpolation=cv2.INTER_AREA if dw < w else cv2.INTER_LINEAR)
        x = (small[:, :, ::-1].astype(np.float32) * (2.0 / 255.0) - 1.0).transpose(2, 0, 1)[None]
        sess = self.det_session
        out = sess.run(None, {sess.get_inputs()[0].name: np.ascontiguousarray(x)})[0]
        return out[0, 0]

    def detect(self, image: ImageLike, page_size: tuple[int, int] | None = None) -> Detection:
        """Text boxes of a page (reading order) and the fraction of the page they cover.

        ``page_size``: the page's full ``(width, height)`` when ``image`` is a reduced decode of
        it (e.g. JPEG draft mode at 1/2 scale, plenty for the 960-px detector): boxes are then in
        full-page pixels. Without it, boxes are in ``image`` pixels.
        """
        import cv2
        import numpy as np

        cfg = self.config
        if isinstance(image, np.ndarray):
            h, w = image.shape[:2]
        else:
            w, h = image.size
        if page_size is not None:
            w, h = int(page_size[0]), int(page_size[1])
        prob = self.probability_map(image)
        ph, pw = prob.shape
        sx, sy = w / pw, h / ph
        mask = (prob > cfg.det_thresh).astype(np.uint8)
        mask = cv2.dilate(mask, np.ones((2, 2), np.uint8))
        contours, _ = cv2.findContours(mask, cv2.RETR_LIST, cv2.CHAIN_APPROX_SIMPLE)
        found: list[TextBox] = []
        cover = np.zeros((ph, pw), np.uint8)
        for contour in contours[: cfg.max_candidates]:
            (cx, cy), (rw, rh), angle = cv2.minAreaRect(contour)
            if min(rw, rh) < 3:
                continue
            pts = cv2.boxPoints(((cx, cy), (rw, rh), angle))
            x0 = int(max(0, math.floor(pts[:, 0].min())))
            x1 = int(min(pw - 1, math.ceil(pts[:, 0].max())))
            y0 = int(max(0, math.floor(pts[:, 1].min())))
            y1 = int(min(ph - 1, math.ceil(pts[:, 1].max())))
            region = np.zeros((y1 - y0 + 1, x1 - x0 + 1), np.uint8)
            cv2.fillPoly(region, [np.round(pts - (x0, y0)).astype(np.int32)], 1)
            score = float(cv2.mean(prob[y0 : y1 + 1, x0 : x1 + 1], region)[0])
            if score < cfg.box_thresh:
                continue
            # DB "unclip": grow the shrunk text kernel by area * ratio / perimeter on every side.
            grow = rw * rh * cfg.unclip_ratio / (2 * (rw + rh))
            rw2, rh2 = rw + 2 * grow, rh + 2 * grow
            if min(rw2, rh2) < 5:
                continue
            big = cv2.boxPoints(((cx, cy), (rw2, rh2), angle))
            cv2.fillPoly(cover, [np.round(big).astype(np.int32)], 1)
            page_pts = big * np.array([sx, sy], dtype=np.float32)
            page_pts[:, 0] = np.clip(page_pts[:, 0], 0, w)
            page_pts[:, 1] = np.clip(page_pts[:, 1], 0, h)
            quad = _order_quad(page_pts)
            bx0, by0 = np.floor(quad.min(0)).astype(int)
            bx1, by1 = np.ceil(quad.max(0)).astype(int)
            if bx1 - bx0 < 2 or by1 - by0 < 2:
                continue
            found.append(
                TextBox(
                    box=(int(bx0), int(by0), int(bx1 - bx0), int(by1 - by0)),
                    quad=tuple((float(px), float(py)) for px, py in quad),
                    score=score,
                )
            )
        ordered = tuple(found[i] for i in reading_order(found))
        return Detection(
            width=w, height=h, boxes=ordered, coverage=float(cover.mean()), det_size=(pw, ph)
        )

    # -- pass 2 ----------------------------------------------------------------------------------
    def _crop(self, rgb, tb: TextBox, scale: tuple[float, float] = (1.0, 1.0)):
        """The line's pixels from ``rgb``, whose pixels are ``scale`` times the box coordinates."""
        import cv2
        import numpy as np

        fx, fy = scale
        quad = np.asarray(tb.quad, dtype=np.float32) * np.array([fx, fy], dtype=np.float32)
        top = np.linalg.norm(quad[1] - quad[0])
        side = np.linalg.norm(quad[3] - quad[0])
        cw, ch = max(1, round(float(top))), max(1, round(float(side)))
        x, y, w, h = tb.box
        # Nearly axis-aligned: a plain slice of the page (no resampling).
        if abs(quad[1][1] - quad[0][1]) <= 1.0 and abs(quad[3][0] - quad[0][0]) <= 1.0:
            x0, y0 = math.floor(x * fx), math.floor(y * fy)
            x1, y1 = math.ceil((x + w) * fx), math.ceil((y + h) * fy)
            crop = rgb[y0 : max(y1, y0 + 1), x0 : max(x1, x0 + 1)]
        else:
            dst = np.array([[0, 0], [cw, 0], [cw, ch], [0, ch]], dtype=np.float32)
            m = cv2.getPerspectiveTransform(quad, dst)
            crop = cv2.warpPerspective(rgb, m, (cw, ch), flags=cv2.INTER_CUBIC,
                                       borderMode=cv2.BORDER_REPLICATE)
        if self.config.vertical_text and crop.shape[0] >= 1.5 * crop.shape[1]:
            crop = np.rot90(crop)
        return crop

    def _prepare(self, crop, width: int):
        import cv2
        import numpy as np

        H = self.config.rec_height
        h, w = crop.shape[:2]
        rw = max(1, min(width, math.ceil(H * w / max(h, 1))))
        resized = cv2.resize(crop, (rw, H), interpolation=cv2.INTER_AREA if h > H else cv2.INTER_LINEAR)
        out = np.zeros((3, H, width), np.float32)
        bgr = resized[:, :, ::-1].astype(np.float32)
        out[:, :, :rw] = (bgr * (2.0 / 255.0) - 1.0).transpose(2, 0, 1)
        return out

    def _decode(self, probs) -> tuple[str, float]:

        ids = probs.argmax(1)
        conf = probs.max(1)
        keep = ids != 0
        keep[1:] &= ids[1:] != ids[:-1]
        chars = [self._chars[i] for i in ids[keep]]
        text = "".join(chars).strip()
        score = float(conf[keep].mean()) if keep.any() else 0.0
        return text, score

    def select_lines(self, detection: Detection) -> list[int]:
        """Indices of the boxes worth recognising (size floor, then the ``max_lines`` largest)."""
        cfg = self.config
        idx = [
            i for i, b in enumerate(detection.boxes)
            if b.height >= cfg.min_line_height and b.length >= cfg.min_line_width
        ]
        if len(idx) > cfg.max_lines:
            idx = sorted(idx, key=lambda i: -detection.boxes[i].height * detection.boxes[i].length)
            idx = sorted(idx[: cfg.max_lines])
        return idx

    def recognise(self, image: ImageLike, detection: Detection | None = None) -> list[TextLine]:
        """Recognised lines (reading order) of a page; runs :meth:`detect` when not given.

        ``image`` may be the page at another scale than the one ``detection`` was given in (say
        a 1/2-scale decode): lines are cut at the matching place, boxes stay in page pixels.
        Size rules (``min_line_height``) apply in the detection's page pixels.
        """
        cfg = self.config
        if detection is None:
            detection = self.detect(image)
        chosen = self.select_lines(detection)
        if not chosen:
            return []
        rgb = _to_rgb(image)
        scale = (rgb.shape[1] / detection.width, rgb.shape[0] / detection.height)
        crops = [self._crop(rgb, detection.boxes[i], scale) for i in chosen]
        texts = self.recognise_crops(crops)
        lines = []
        for i, (text, score) in zip(chosen, texts):
            if not text or score < cfg.min_score:
                continue
            b = detection.boxes[i]
            lines.append(TextLine(text=text, score=score, box=b.box, quad=b.quad, det_score=b.score))
        return lines

    def recognise_crops(self, crops: Sequence[Any]) -> list[tuple[str, float]]:
        """(text, confidence) for line images (RGB uint8 arrays), batched by aspect ratio."""
        import numpy as np

        cfg = self.config
        sess = self.rec_session
        name = sess.get_inputs()[0].name
        H = cfg.rec_height
        ratios = [min(cfg.rec_max_ratio, max(1.0, c.shape[1] / max(1, c.shape[0]))) for c in crops]
        order = sorted(range(len(crops)), key=lambda i: ratios[i])
        # The recogniser's cost is proportional to the padded width, so a batch only takes lines
        # within rec_batch_spread of the narrowest one's aspect ratio.
        batches: list[list[int]] = []
        for i in order:
            if (
                batches
                and len(batches[-1]) < cfg.rec_batch
                and ratios[i] <= ratios[batches[-1][0]] * cfg.rec_batch_spread
            ):
                batches[-1].append(i)
            else:
                batches.append([i])
        results: list[tuple[str, float]] = [("", 0.0)] * len(crops)
        for batch in batches:
            ratio = max(ratios[i] for i in batch)
            width = math.ceil(H * ratio / 8.0) * 8
            x = np.stack([self._prepare(crops[i], width) for i in batch])
            probs = sess.run(None, {name: x})[0]
            for k, i in enumerate(batch):
                results[i] = self._decode(probs[k])
        return results

    def read(self, image: ImageLike) -> tuple[Detection, list[TextLine]]:
        """Both passes on one page."""
        det = self.detect(image)
        return det, self.recognise(image, det)


# -- lines and panels ------------------------------------------------------------------------------
def assign_to_panels(
    boxes: Sequence[Sequence[float]], panels: Sequence[Sequence[float]]
) -> list[int]:
    """For each ``[x, y, w, h]`` box, the index of the panel it overlaps most (-1: none).

    Ties go to the smaller panel (an inset panel wins over the panel around it), then the lower
    index.
    """
    out = []
    for bx, by, bw, bh in boxes:
        best, best_area, best_size = -1, 0.0, math.inf
        for j, (px, py, pw, ph) in enumerate(panels):
            ix = min(bx + bw, px + pw) - max(bx, px)
            iy = min(by + bh, py + ph) - max(by, py)
            if ix <= 0 or iy <= 0:
                continue
            area = ix * iy
            size = pw * ph
            if area > best_area + 1e-9 or (abs(area - best_area) <= 1e-9 and size < best_size):
                best, best_area, best_size = j, area, size
        out.append(best)
    return out


def lines_by_panel(lines: Sequence[TextLine], panels: Sequence[Sequence[float]]) -> list[list[TextLine]]:
    """Lines grouped per panel (same order as ``panels``); lines outside every panel are dropped."""
    groups: list[list[TextLine]] = [[] for _ in panels]
    for line, j in zip(lines, assign_to_panels([ln.box for ln in lines], panels)):
        if j >= 0:
            groups[j].append(line)
    return groups


def join_lines(lines: Sequence[TextLine]) -> str:
    """The text of lines as one string for the sentence encoder.

    A line ending in a hyphen right after a letter continues on the next line without a space
    (``LOW-`` + ``RISK`` -> ``LOW-RISK``; the hyphen stays, since lettering hyphenates compounds
    at least as often as it breaks words).
    """
    parts: list[str] = []
    for line in lines:
        t = line.text.strip()
        if not t:
            continue
        if parts and parts[-1].endswith("-") and len(parts[-1]) > 1 and parts[-1][-2].isalpha():
            parts[-1] = parts[-1] + t
        else:
            parts.append(t)
    return " ".join(parts)
