"""Test and benchmark data for the standard-profile features: real pages, rendered text, re-scans.

Everything is made here from the shared fixtures or drawn with Pillow; nothing is downloaded.
"""

from __future__ import annotations

import io
import random
import sys
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from helpers import captain_science_pages, fixtures_dir

FONT_CANDIDATES = (
    "/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf",
    "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/TTF/DejaVuSans-Bold.ttf",
    "/Library/Fonts/Arial.ttf",
    "C:/Windows/Fonts/arial.ttf",
)

WORDS = ["rocket", "moon", "science", "captain", "danger", "secret", "planet", "robot", "laser", "atom", "city", "night", "river", "monster", "doctor", "friend", "escape", "bridge", "storm", "engine", "signal", "island", "tower", "shadow", "crystal", "professor", "villain", "spaceship", "orbit", "gravity", "machine", "museum", "harbour", "jungle", "desert", "comet"]


def font(size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    """A scalable TTF that exists here, else Pillow's bundled default font at that size."""
    for path in FONT_CANDIDATES:
        if Path(path).is_file():
            return ImageFont.truetype(path, size)
    return ImageFont.load_default(size=size)


def xkcd_dir() -> Path:
    return fixtures_dir() / "pages" / "xkcd"


def xkcd_pages() -> dict[str, Image.Image]:
    """The seven xkcd strips (real lettering), RGB."""
    out = {}
    for p in sorted(xkcd_dir().iterdir()):
        if p.suffix.lower() in (".png", ".jpg"):
            with Image.open(p) as im:
                out[p.name] = im.convert("RGB")
    return out


def captain_science() -> list[Image.Image]:
    out = []
    for p in captain_science_pages():
        with Image.open(p) as im:
            out.append(im.convert("RGB"))
    return out


def sklearn_photo(name: str) -> Image.Image:
    """``china.jpg`` or ``flower.jpg``, the two CC-BY photos scikit-learn ships (a dependency of
    sentence-transformers, which the MiniLM weights package requires), found without importing
    scikit-learn."""
    import importlib.util

    spec = importlib.util.find_spec("sklearn")
    assert spec is not None and spec.submodule_search_locations, "scikit-learn is not installed"
    path = Path(next(iter(spec.submodule_search_locations))) / "datasets" / "images" / name
    with Image.open(path) as im:
        return im.convert("RGB")


def gutter_panels(page: Image.Image, min_width: int = 40) -> list[list[int]]:
    """Panels of a one-row strip, split at blank columns ("gutters"), trimmed to their ink."""
    grey = np.asarray(page.convert("L"), dtype=np.uint8)
    ink = grey < 200
    cols = ink.mean(0) > 0.004
    boxes = []
    x = 0
    W = grey.shape[1]
    while x < W:
        if not cols[x]:
            x += 1
            continue
        start = x
        while x < W and cols[x]:
            x += 1
        if x - start >= min_width:
            rows = np.nonzero(ink[:, start:x].mean(1) > 0.002)[0]
            if len(rows):
                boxes.append([start, int(rows[0]), x - start, int(rows[-1] - rows[0] + 1)])
    return boxes


def rescan(image: Image.Image, quality: int = 75, scale: float = 0.9) -> Image.Image:
    """What a second scan of a page looks like here: JPEG at ``quality`` and a ``scale`` resize."""
    w, h = image.size
    small = image.resize((max(1, round(w * scale)), max(1, round(h * scale))), Image.BICUBIC)
    buf = io.BytesIO()
    small.convert("RGB").save(buf, "JPEG", quality=quality)
    buf.seek(0)
    with Image.open(buf) as im:
        return im.convert("RGB")


def scale_box(box, scale: float, jitter: int = 0, rng: random.Random | None = None) -> list[int]:
    """A box on the resized page, each edge moved by up to ``jitter`` pixels (a re-detected box)."""
    x, y, w, h = (v * scale for v in box)
    if jitter and rng is not None:
        dx0, dy0, dx1, dy1 = (rng.randint(-jitter, jitter) for _ in range(4))
    else:
        dx0 = dy0 = dx1 = dy1 = 0
    x0, y0 = round(x) + dx0, round(y) + dy0
    x1, y1 = round(x + w) + dx1, round(y + h) + dy1
    return [x0, y0, max(1, x1 - x0), max(1, y1 - y0)]


def render_text_page(lines: list[str], size=(1000, 700), font_size: int = 44, seed: int = 0):
    """Black lettering on a page-like cream background with a frame; returns (image, boxes)."""
    rng = random.Random(seed)
    img = Image.new("RGB", size, (246, 241, 226))
    d = ImageDraw.Draw(img)
    d.rectangle([10, 10, size[0] - 11, size[1] - 11], outline=(20, 20, 20), width=4)
    f = font(font_size)
    boxes = []
    y = 60
    for text in lines:
        x = 50 + rng.randint(0, 40)
        l, t, r, b = d.textbbox((x, y), text, font=f)
        d.text((x, y), text, fill=(15, 15, 15), font=f)
        boxes.append([l, t, r - l, b - t])
        y = b + int(font_size * 0.9)
    return img, boxes


def synthetic_page(seed: int, size=(800, 1200), rows: int = 3, cols: int = 2):
    """A comic-like page: a grid of panels with random shapes, colours and a lettered balloon.

    Returns (page, panel boxes [x, y, w, h])."""
    page, boxes, _ = synthetic_page_with_text(seed, size, rows, cols)
    return page, boxes


def synthetic_page_with_text(seed: int, size=(800, 1200), rows: int = 3, cols: int = 2):
    """:func:`synthetic_page` and the lettering of each panel ("" when it has no balloon)."""
    rng = random.Random(seed)
    W, H = size
    img = Image.new("RGB", size, "white")
    d = ImageDraw.Draw(img)
    margin, gutter = 30, 16
    pw = (W - 2 * margin - (cols - 1) * gutter) // cols
    ph = (H - 2 * margin - (rows - 1) * gutter) // rows
    boxes, texts = [], []
    f = font(22)
    for r in range(rows):
        for c in range(cols):
            x0 = margin + c * (pw + gutter)
            y0 = margin + r * (ph + gutter)
            # some rows merge two panels into one wide panel
            if cols == 2 and c == 1 and rng.random() < 0.25 and boxes and boxes[-1][1] == y0:
                continue
            w = pw if not (cols == 2 and c == 0 and rng.random() < 0.25) else 2 * pw + gutter
            bg = tuple(rng.randint(120, 255) for _ in range(3))
            d.rectangle([x0, y0, x0 + w, y0 + ph], fill=bg)
            for _ in range(rng.randint(3, 9)):
                col = tuple(rng.randint(0, 255) for _ in range(3))
                a, b = rng.randint(x0, x0 + w), rng.randint(y0, y0 + ph)
                e, g = rng.randint(x0, x0 + w), rng.randint(y0, y0 + ph)
                kind = rng.random()
                box = [min(a, e), min(b, g), max(a, e), max(b, g)]
                if kind < 0.4:
                    d.ellipse(box, fill=col, outline="black", width=2)
                elif kind < 0.7:
                    d.rectangle(box, fill=col)
                else:
                    d.line([a, b, e, g], fill=col, width=rng.randint(2, 9))
            text = ""
            if rng.random() < 0.8:
                text = " ".join(rng.choice(WORDS) for _ in range(rng.randint(2, 4))).upper()
                bx, by = x0 + 10, y0 + 10
                l, t, rr, bb = d.textbbox((bx + 10, by + 8), text, font=f)
                d.ellipse([l - 16, t - 12, rr + 16, bb + 12], fill="white", outline="black", width=2)
                d.text((bx + 10, by + 8), text, fill="black", font=f)
            d.rectangle([x0, y0, x0 + w, y0 + ph], outline="black", width=4)
            boxes.append([x0, y0, w + 1, ph + 1])
            texts.append(text)
    return img, boxes, texts
