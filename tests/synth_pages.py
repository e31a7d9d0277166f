"""Synthetic comic pages drawn with Pillow, for the pipeline's tests and benchmark: story pages
(bordered panels with picture content and speech balloons holding lettering), covers (full-bleed
picture, big title), advertisements (prices, coupon, order form; the same ad for the same seed) and
text pages (columns of small lettering). Deterministic for a given numpy Generator / seed.
"""

from __future__ import annotations

WORDS = ["THE", "WHAT", "WHERE", "CAPTAIN", "SCIENCE", "ROCKET", "MOON", "QUICK", "LOOK", "OUT", "BEHIND", "YOU", "NEVER", "FEAR", "PLANET", "ATTACK", "ROBOT", "HELP", "WE", "MUST", "STOP", "THEM", "NOW", "GREAT", "SCOTT", "IT", "IS", "ALIVE", "RUN", "TONIGHT", "SECRET", "BASE", "POWER"]


def _font(size: int):
    from PIL import ImageFont

    try:
        return ImageFont.load_default(size=size)
    except TypeError:  # Pillow < 10.1
        return ImageFont.load_default()


def _picture(rng, w: int, h: int):
    """Smooth colourful content (a stand-in for drawn art) with a few ink strokes."""
    import numpy as np
    from PIL import Image, ImageDraw

    small = rng.integers(0, 255, (max(2, h // 120), max(2, w // 120), 3), dtype=np.uint8)
    im = Image.fromarray(small).resize((w, h), Image.BICUBIC)
    d = ImageDraw.Draw(im)
    for _ in range(int(rng.integers(4, 10))):
        pts = [(int(rng.integers(0, w)), int(rng.integers(0, h))) for _ in range(2)]
        d.line(pts, fill=(0, 0, 0), width=int(rng.integers(2, 7)))
    return im


def _lines(rng, n: int, words: tuple[int, int] = (2, 5)) -> list[str]:
    return [" ".join(rng.choice(WORDS, int(rng.integers(*words)))) for _ in range(n)]


def story_page(rng, w: int, h: int):
    from PIL import Image, ImageDraw

    page = Image.new("RGB", (w, h), (250, 250, 245))
    d = ImageDraw.Draw(page)
    margin, gap = int(w * 0.05), int(w * 0.02)
    rows = int(rng.integers(2, 4))
    font = _font(max(14, w // 45))
    y = margin
    row_h = (h - 2 * margin - (rows - 1) * gap) // rows
    for _ in range(rows):
        cols = int(rng.integers(1, 3))
        col_w = (w - 2 * margin - (cols - 1) * gap) // cols
        x = margin
        for _ in range(cols):
            page.paste(_picture(rng, col_w, row_h), (x, y))
            d.rectangle((x, y, x + col_w, y + row_h), outline=(0, 0, 0), width=5)
            bw, bh = int(col_w * 0.55), int(row_h * 0.28)
            bx, by = x + int(rng.integers(10, max(11, col_w - bw - 10))), y + 12
            d.ellipse((bx, by, bx + bw, by + bh), fill=(255, 255, 255), outline=(0, 0, 0), width=3)
            ty = by + bh // 5
            for line in _lines(rng, int(rng.integers(2, 4))):
                d.text((bx + bw // 8, ty), line, fill=(0, 0, 0), font=font)
                ty += int(font.size * 1.2) if hasattr(font, "size") else 14
            x += col_w + gap
        y += row_h + gap
    return page


def cover_page(rng, w: int, h: int, number: int):
    from PIL import ImageDraw

    page = _picture(rng, w, h)
    d = ImageDraw.Draw(page)
    d.rectangle((0, 0, w, int(h * 0.16)), fill=(200, 30, 30))
    d.text((int(w * 0.06), int(h * 0.03)), "CAPTAIN BENCH", fill=(255, 255, 0), font=_font(w // 10))
    d.text((int(w * 0.75), int(h * 0.18)), f"No. {number}", fill=(255, 255, 255), font=_font(w // 18))
    return page


def ad_page(seed: int, w: int, h: int):
    import numpy as np
    from PIL import Image, ImageDraw

    rng = np.random.default_rng(1000 + seed)
    page = Image.new("RGB", (w, h), (255, 250, 230))
    d = ImageDraw.Draw(page)
    page.paste(_picture(rng, int(w * 0.8), int(h * 0.35)), (int(w * 0.1), int(h * 0.1)))
    big, small = _font(w // 14), _font(w // 40)
    d.text((int(w * 0.1), int(h * 0.02)), ["AMAZING OFFER", "SEA MONKEYS", "X-RAY SPECS"][seed % 3],
           fill=(0, 0, 0), font=big)
    y = int(h * 0.5)
    for line in ["ONLY $1.98 POSTPAID", "SEND NO MONEY NOW", "MONEY BACK GUARANTEE",
                 "RUSH COUPON TODAY", "NAME ____________", "ADDRESS ____________", "CITY ______ STATE __"]:
        d.text((int(w * 0.1), y), line, fill=(0, 0, 0), font=small)
        y += int(h * 0.045)
    d.rectangle((int(w * 0.06), int(h * 0.75), int(w * 0.94), int(h * 0.95)), outline=(0, 0, 0), width=4)
    return page


def text_page(rng, w: int, h: int):
    from PIL import Image, ImageDraw

    page = Image.new("RGB", (w, h), (252, 252, 248))
    d = ImageDraw.Draw(page)
    font = _font(max(12, w // 60))
    d.text((int(w * 0.08), int(h * 0.03)), "LETTERS TO THE EDITOR", fill=(0, 0, 0), font=_font(w // 20))
    for col in range(2):
        y = int(h * 0.1)
        while y < h * 0.94:
            d.text((int(w * (0.06 + 0.47 * col)), y), " ".join(rng.choice(WORDS, 5)).lower(), fill=(0, 0, 0), font=font)
            y += int(font.size * 1.5) if hasattr(font, "size") else 16
    return page
