"""Evaluation of the standard page classifier (and of the head learnt from corrections).

    python tests/bench/eval_pages.py [--real DIR[=LABELS]]... [--t 0.9] [--no-synthetic] [--show-real]
                                     [--books 10] [--seed 7] [--no-cache] [--l2 1.0]

1. **Real books first.** Each book goes through ``comicdesk index`` (the real standard models:
   RapidOCR, EfficientNet-Lite0, MiniLM, the panel detector, image statistics) in a library of its
   own under ``$TMPDIR/comicdesk-eval-pages/``, and its page signals are read back from that cache
   exactly as ``pages`` and the re-scorer read them (cached by the book's bytes and the panel
   detector's version). Default set: Science Comics #1 (``../shared/fixtures/real/
   science-comics-001``) and the public-domain pages with our own labels
   (``tests/data/page_labels_public_domain.json``) — training figures: the cues were looked at
   on them. ``--real DIR`` scores any folder of books with a ``labels.json`` beside them
   (``{"<book file name>": ["cover", ...]}``, one class per page). Reported: per-class
   precision/recall/F1, accuracy with story kinds merged (a back cover called an ad counts
   right), what a story-only export keeps and drops under the sure rule
   (``core.pages.page_drop``: a page is dropped only when p(classes dropped) >= t), ad precision,
   the confusion matrix, a reliability table, the sweep of t (story pages lost / non-story pages
   dropped at t = 0.50 ... 0.95), a robustness variant (the same book read from its first to its
   last story page), and a simulated person correcting one wrong page after another (head
   retrained after each: which untouched pages became right or wrong).
2. **Synthetic books** (a second table, named so) with known classes, drawn with Pillow (600x900
   pages): covers, first pages, story pages, ads, text pages, text stories, credits, pin-ups,
   back covers, through the same real models; pass 1 (layout only) and pass 2 (words, sentence
   similarity, repetition); corrections on half of the books, the other half scored.
3. **Shared fixtures** (Captain Science #001 thumbnails in three formats, xkcd strips; labels in
   ``tests/bench/fixture_labels.json``).

Prints the figures and one JSON line.
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import io
import json
import pickle
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "tests"))

from comicdesk.core.pages import PAGE_CLASSES
from comicdesk.core.signals import PageSignals

GEN_VERSION = "eval-pages-4"
W, H = 600, 900

# -- text corpora ----------------------------------------------------------------------------
DIALOGUE = [
    "LOOK OUT! HE'S GETTING AWAY!", "I'LL STOP HIM!", "NOT SO FAST, CAPTAIN!", "TAKE THAT!",
    "WHAT WAS THAT NOISE?", "QUICK, THIS WAY!", "WE HAVE TO HURRY!", "IT'S A TRAP!",
    "YOU'LL NEVER WIN!", "HELP! SOMEBODY HELP ME!", "STAND BACK, EVERYONE!", "I DON'T BELIEVE IT!",
    "THE SHIP IS LANDING!", "WHERE ARE THEY TAKING US?", "HOLD ON TIGHT!", "THAT'S THE LAST OF THEM.",
    "MEANWHILE, AT THE LAB...", "LATER THAT NIGHT...", "COME BACK HERE!", "RUN FOR IT!",
    "THE CREATURE IS ALIVE!", "WE'RE TOO LATE!", "GET DOWN!", "NOW WE'VE GOT YOU!",
]
TITLES = ["THE MENACE FROM BEYOND", "RETURN OF THE IRON SKULL", "NIGHT OF THE COMET", "THE LOST CITY",
          "DOOM PATROL STRIKES", "SECRET OF THE SPHINX", "THE SILENT PLANET", "ATTACK OF THE MOLE MEN"]
SERIES = ["CAPTAIN ROCKET", "STARLIGHT COMICS", "MYSTERY TALES", "THE PHANTOM RIDER", "SPACE ACE",
          "JUNGLE QUEEN", "WEIRD WORLDS", "THUNDER GIRL", "ATOMIC MAN", "GHOST STORIES"]
NAMES = ["JOHN SMITH", "JACK KIRBY", "MARY BROWN", "AL WILLIAMS", "RAY DOYLE", "ANN LEE", "SAM FISHER"]
AD_PRODUCTS = [
    ("X-RAY SPECS", "SEE THROUGH WALLS!", "$1.98"), ("SEA MONKEYS", "INSTANT LIFE!", "$1.25"),
    ("BODY BUILDING COURSE", "BE A REAL MAN!", "$2.00"), ("LUCKY SKULL RING", "GLOWS IN THE DARK", "98¢"),
    ("MAGIC TRICKS KIT", "AMAZE YOUR FRIENDS", "$1.49"), ("ROCKET MODEL", "REALLY FLIES!", "$3.95"),
    ("STAMP COLLECTION", "300 STAMPS FREE", "25¢"), ("TOY SOLDIERS", "204 PIECES", "$1.98"),
    ("CANDY BAR", "DELICIOUS AND NEW", "5¢"), ("BICYCLE", "WIN A NEW BIKE", "FREE"),
]
AD_COPY = ["SEND NO MONEY! PAY POSTMAN ON DELIVERY.", "MONEY BACK GUARANTEE IF NOT SATISFIED.",
           "ORDER NOW WHILE SUPPLIES LAST!", "RUSH COUPON TODAY FOR FREE CATALOG.",
           "ENCLOSE CHECK OR MONEY ORDER. NO C.O.D.", "ALLOW 4 TO 6 WEEKS FOR DELIVERY.",
           "AT YOUR FAVORITE STORE NOW!", "SPECIAL OFFER FOR READERS OF THIS MAGAZINE."]
LETTERS = [
    "Dear Editor, I have been reading your magazine for two years and the last issue was the best yet.",
    "Keep up the good work! I especially liked the story about the lost city. Sincerely, a fan.",
    "Dear Editor, why don't you bring back the old villain? He was the best. Your reader, Tom.",
    "P.S. Please print more stories with the space patrol. Write to us at the address below.",
    "We read every letter that comes in, and we thank you readers for your kind words.",
    "Next issue: the return of the Phantom! Don't miss it, on sale next month everywhere.",
    "Dear Editors, I found a mistake on page six of the last issue. Did anyone else notice it?",
    "Letters to the editor should be sent to the editorial offices. We try to answer them all.",
]
PROSE = [
    "The night was dark and cold as the old man walked slowly down the lonely road toward town.",
    "He had not seen the stranger in years, and yet he knew at once that something was wrong.",
    "She opened the door and stepped into the silent room, remembering her father's words.",
    "Outside, the wind howled through the trees, and far away a dog began to bark.",
    "For a long moment nobody spoke. Then the captain turned and looked out of the window.",
    "It was the last time anyone in the village would see the lighthouse keeper alive.",
    "The letter had arrived that morning, without a stamp and without a name on the envelope.",
    "They walked for hours across the desert before they saw the lights of the city ahead.",
]
INDICIA = [
    "Published monthly by Starlight Comics Group Inc., 575 Madison Avenue, New York.",
    "Copyright 1954 by Starlight Comics Group Inc. All rights reserved. Printed in U.S.A.",
    "Entered as second class matter at the post office. Subscription rate $1.50 for 12 issues.",
    "All characters are fictitious; any similarity to real persons is purely coincidental.",
    "The name and character are trademarks of the publisher.",
]
CREDIT_ROLES = ["Writer", "Penciller", "Inker", "Colorist", "Letterer", "Editor", "Editor in Chief", "Cover"]


def font(size: int):
    from PIL import ImageFont

    return ImageFont.load_default(size=size)


def wrap(draw, text: str, fnt, width: int) -> list[str]:
    out, line = [], ""
    for word in text.split():
        trial = (line + " " + word).strip()
        if draw.textlength(trial, font=fnt) <= width or not line:
            line = trial
        else:
            out.append(line)
            line = word
    if line:
        out.append(line)
    return out


def para(draw, x: int, y: int, text: str, size: int, width: int, fill=(20, 20, 20), gap: float = 1.3) -> int:
    fnt = font(size)
    for ln in wrap(draw, text, fnt, width):
        draw.text((x, y), ln, font=fnt, fill=fill)
        y += int(size * gap)
    return y


def colour(rng, lo=0, hi=256):
    return tuple(int(v) for v in rng.integers(lo, hi, 3))


def art(draw, rng, box, colourful=True):
    x0, y0, x1, y1 = box
    if x1 - x0 < 20 or y1 - y0 < 20:
        return
    for _ in range(int(rng.integers(3, 7))):
        cx, cy = rng.integers(x0, x1), rng.integers(y0, y1)
        r = int(rng.integers(8, max(10, (x1 - x0) // 3)))
        c = colour(rng, 30, 230) if colourful else (30, 30, 30)
        shape = rng.integers(0, 3)
        bb = [max(x0, cx - r), max(y0, cy - r), min(x1, cx + r), min(y1, cy + r)]
        if bb[2] <= bb[0] or bb[3] <= bb[1]:
            continue
        if shape == 0:
            draw.ellipse(bb, fill=c if colourful else None, outline=(10, 10, 10), width=2)
        elif shape == 1:
            draw.rectangle(bb, fill=c if colourful else None, outline=(10, 10, 10), width=2)
        else:
            draw.polygon([(bb[0], bb[3]), ((bb[0] + bb[2]) // 2, bb[1]), (bb[2], bb[3])],
                         fill=c if colourful else None, outline=(10, 10, 10))
    # a figure
    fx = int(rng.integers(x0 + 10, max(x0 + 11, x1 - 10)))
    base = y1 - 5
    hgt = int((y1 - y0) * 0.6)
    draw.ellipse([fx - 8, base - hgt, fx + 8, base - hgt + 16], outline=(10, 10, 10), width=2,
                 fill=(230, 190, 150) if colourful else None)
    draw.line([fx, base - hgt + 16, fx, base - hgt // 3], fill=(10, 10, 10), width=3)
    draw.line([fx, base - hgt // 3, fx - 10, base], fill=(10, 10, 10), width=3)
    draw.line([fx, base - hgt // 3, fx + 10, base], fill=(10, 10, 10), width=3)


def balloon(draw, rng, box, text: str):
    x0, y0, x1, y1 = box
    fnt = font(15)
    bw = min(x1 - x0 - 10, 190)
    if bw < 60:
        return
    lines = wrap(draw, text, fnt, bw - 24)[:3]
    bh = 20 * len(lines) + 18
    bx = int(rng.integers(x0 + 5, max(x0 + 6, x1 - bw - 5)))
    by = y0 + 6
    if by + bh > y1 - 10:
        return
    draw.ellipse([bx, by, bx + bw, by + bh], fill=(255, 255, 255), outline=(10, 10, 10), width=2)
    draw.polygon([(bx + bw // 3, by + bh - 3), (bx + bw // 3 + 14, by + bh - 3), (bx + bw // 3 - 5, by + bh + 15)],
                 fill=(255, 255, 255), outline=(10, 10, 10))
    for k, ln in enumerate(lines):
        tw = draw.textlength(ln, font=fnt)
        draw.text((bx + (bw - tw) / 2, by + 9 + 20 * k), ln, font=fnt, fill=(10, 10, 10))


def grid(rng, box, rows=None):
    x0, y0, x1, y1 = box
    rows = rows or int(rng.integers(2, 4))
    g = 10
    cells = []
    rh = (y1 - y0 - g * (rows - 1)) // rows
    for r in range(rows):
        cols = int(rng.integers(1, 4))
        cw = (x1 - x0 - g * (cols - 1)) // cols
        for c in range(cols):
            cells.append((x0 + c * (cw + g), y0 + r * (rh + g), x0 + c * (cw + g) + cw, y0 + r * (rh + g) + rh))
    return cells


def panels_page(img, draw, rng, box, colourful=True, talk=0.8):
    for cell in grid(rng, box):
        draw.rectangle(cell, fill=(255, 255, 255) if not colourful or rng.random() < 0.5 else colour(rng, 170, 250),
                       outline=(10, 10, 10), width=3)
        inner = (cell[0] + 6, cell[1] + 6, cell[2] - 6, cell[3] - 6)
        art(draw, rng, (inner[0], inner[1] + (inner[3] - inner[1]) // 3, inner[2], inner[3]), colourful)
        if rng.random() < talk:
            balloon(draw, rng, inner, str(rng.choice(DIALOGUE)) + (" " + str(rng.choice(DIALOGUE)) if rng.random() < 0.4 else ""))


def new_page(bg=(255, 255, 255)):
    from PIL import Image, ImageDraw

    img = Image.new("RGB", (W, H), bg)
    return img, ImageDraw.Draw(img)


def centred(draw, y, text, size, fill=(10, 10, 10), stroke=0, stroke_fill=(0, 0, 0)):
    fnt = font(size)
    tw = draw.textlength(text, font=fnt)
    while tw > W - 40 and size > 12:
        size -= 4
        fnt = font(size)
        tw = draw.textlength(text, font=fnt)
    draw.text(((W - tw) / 2, y), text, font=fnt, fill=fill, stroke_width=stroke, stroke_fill=stroke_fill)
    return y + int(size * 1.2)


def draw_cover(rng, book):
    img, d = new_page(colour(rng, 60, 230))
    art(d, rng, (20, 250, W - 20, H - 40), True)
    art(d, rng, (60, 300, W - 60, H - 80), True)
    centred(d, 30, book["series"], 78, fill=colour(rng, 200, 256), stroke=3)
    d.rectangle([W - 110, 20, W - 20, 110], fill=(255, 255, 255), outline=(0, 0, 0), width=3)
    d.text((W - 95, 35), f"No.{book['number']}", font=font(22), fill=(0, 0, 0))
    d.text((W - 88, 68), "10¢", font=font(26), fill=(0, 0, 0))
    if rng.random() < 0.7:
        centred(d, H - 110, str(rng.choice(TITLES)), 34, fill=(255, 255, 0), stroke=2)
    return img


def draw_first(rng, book):
    img, d = new_page()
    d.rectangle([20, 20, W - 20, 380], fill=colour(rng, 150, 250), outline=(0, 0, 0), width=3)
    art(d, rng, (30, 200, W - 30, 370), True)
    y = centred(d, 40, book["title"], 44, fill=(200, 0, 0), stroke=2)
    d.text((40, y + 10), f"STORY BY {rng.choice(NAMES)}  ART BY {rng.choice(NAMES)}", font=font(16), fill=(0, 0, 0))
    panels_page(img, d, rng, (20, 395, W - 20, H - 20))
    return img


def draw_story(rng, book):
    img, d = new_page()
    panels_page(img, d, rng, (20, 20, W - 20, H - 20), colourful=book["colour"])
    return img


def draw_last_story(rng, book):
    img = draw_story(rng, book)
    from PIL import ImageDraw

    d = ImageDraw.Draw(img)
    d.rectangle([W - 170, H - 60, W - 30, H - 25], fill=(255, 255, 255), outline=(0, 0, 0))
    d.text((W - 150, H - 55), "THE END", font=font(24), fill=(0, 0, 0))
    return img


def ad_image(seed: int, coloured: bool = False):
    """An ad drawn from its design seed only: a reprinted ad is the same picture in every book."""
    rng = np.random.default_rng(seed)
    img, d = new_page(colour(rng, 120, 250) if coloured else (255, 255, 255))
    product, slogan, price = AD_PRODUCTS[seed % len(AD_PRODUCTS)]
    style = seed % 3
    y = centred(d, 25, product, 52 if len(product) < 14 else 40, fill=(180, 0, 0) if coloured else (0, 0, 0))
    y = centred(d, y + 5, slogan, 30)
    if style == 1:  # ad told in panels
        for k, cell in enumerate(grid(rng, (30, y + 10, W - 30, 560), rows=2)):
            d.rectangle(cell, outline=(0, 0, 0), width=3, fill=(255, 255, 255))
            art(d, rng, (cell[0] + 5, cell[1] + 40, cell[2] - 5, cell[3] - 5), coloured)
            d.text((cell[0] + 8, cell[1] + 8), str(rng.choice(["WOW!", "IT WORKS!", "GEE!", "ONLY " + price])),
                   font=font(16), fill=(0, 0, 0))
    else:
        art(d, rng, (60, y + 20, W - 60, 560), True)
        d.ellipse([W - 190, y + 40, W - 40, y + 150], fill=(255, 230, 0), outline=(0, 0, 0), width=3)
        d.text((W - 165, y + 75), f"ONLY {price}", font=font(26), fill=(0, 0, 0))
    y = 580
    for line in rng.choice(AD_COPY, size=2, replace=False):
        y = para(d, 40, y, str(line), 18, W - 80)
    # coupon
    top = max(y + 15, 680)
    for x in range(30, W - 30, 16):
        d.line([x, top, x + 8, top], fill=(0, 0, 0), width=2)
    d.rectangle([40, top + 12, W - 40, H - 25], outline=(0, 0, 0), width=2, fill=(255, 255, 255))
    yy = para(d, 55, top + 20, f"Dept. {seed % 90 + 10}, Box {seed * 7 % 900 + 100}. Rush me the {product.lower()} "
                               f"for only {price} plus 25¢ postage.", 15, W - 110)
    for label in ("NAME", "ADDRESS", "CITY            STATE        ZIP"):
        if yy > H - 50:
            break
        d.text((55, yy + 4), label, font=font(15), fill=(0, 0, 0))
        d.line([150, yy + 20, W - 60, yy + 20], fill=(0, 0, 0), width=1)
        yy += 26
    return img


def draw_text_page(rng, book):
    img, d = new_page()
    kind = rng.integers(0, 3)
    if kind == 0:
        y = centred(d, 25, "LETTERS TO THE EDITOR", 36)
    elif kind == 1:
        y = centred(d, 25, "THE EDITOR'S PAGE", 36)
    else:
        y = centred(d, 25, "NEXT ISSUE AND NEWS", 36)
    y += 15
    for k in range(9):
        if y > H - 80:
            break
        y = para(d, 40, y, " ".join(str(t) for t in rng.choice(LETTERS, size=2, replace=False)), 17, W - 80) + 14
    return img


def draw_textstory(rng, book):
    img, d = new_page((250, 248, 240))
    y = centred(d, 25, str(rng.choice(TITLES)).title(), 34)
    d.rectangle([W // 2 - 90, y + 10, W // 2 + 90, y + 140], outline=(0, 0, 0), width=2)
    art(d, rng, (W // 2 - 85, y + 15, W // 2 + 85, y + 135), False)
    y0 = y + 160
    for col in range(2):
        yy = y0
        x = 30 + col * (W // 2)
        while yy < H - 60:
            yy = para(d, x, yy, " ".join(str(t) for t in rng.choice(PROSE, size=3, replace=False)), 14, W // 2 - 50) + 6
    return img


def draw_credits(rng, book):
    img, d = new_page()
    y = centred(d, 60, book["series"], 40)
    y += 30
    for role in CREDIT_ROLES[: int(rng.integers(5, 9))]:
        y = centred(d, y, f"{role}: {rng.choice(NAMES).title()}", 22) + 6
    y = max(y + 40, 560)
    for t in INDICIA[: int(rng.integers(3, 6))]:
        y = para(d, 50, y, t, 14, W - 100) + 6
    return img


def draw_art(rng, book):
    img, d = new_page(colour(rng, 40, 200))
    art(d, rng, (20, 20, W - 20, H - 20), True)
    art(d, rng, (60, 100, W - 60, H - 60), True)
    art(d, rng, (100, 200, W - 100, H - 100), True)
    if rng.random() < 0.5:
        d.text((W - 160, H - 40), "PIN-UP", font=font(18), fill=(255, 255, 255))
    return img


def plan_book(rng, b: int, n_ad_pool: int) -> list[tuple[str, dict]]:
    """The book's pages as (class, drawing instructions)."""
    pages: list[tuple[str, dict]] = [("cover", {})]
    r = rng.random()
    if r < 0.35:
        pages.append(("credits", {}))
    elif r < 0.6:
        pages.append(("advertisement", {"ad": int(rng.integers(0, n_ad_pool))}))
    pages.append(("first-page", {}))
    n_story = int(rng.integers(8, 15))
    ad_slots = set(int(x) for x in rng.choice(np.arange(3, n_story), size=min(2, n_story - 3), replace=False))
    for k in range(n_story):
        last = k == n_story - 1
        pages.append(("story", {"end": last}))
        if k in ad_slots:
            for _ in range(int(rng.integers(1, 3))):
                reprint = rng.random() < 0.5
                pages.append(("advertisement", {"ad": int(rng.integers(0, n_ad_pool)) if reprint
                                                else 1000 + b * 50 + len(pages)}))
    if rng.random() < 0.6:
        pages.append(("text", {}))
    if rng.random() < 0.4:
        pages += [("textstory", {}), ("textstory", {})] if rng.random() < 0.5 else [("textstory", {})]
    if rng.random() < 0.4:
        pages.append(("art", {}))
    if rng.random() < 0.5:
        pages.append(("advertisement", {"ad": int(rng.integers(0, n_ad_pool))}))
    if rng.random() < 0.4:  # a second short story
        pages.append(("first-page", {}))
        pages += [("story", {}) for _ in range(int(rng.integers(2, 5)))]
    pages.append(("back_cover", {"ad": 500 + b if rng.random() < 0.7 else None}))
    return pages


def draw_book(b: int, seed: int, n_ad_pool: int = 6):
    rng = np.random.default_rng(seed * 1000 + b)
    book = {"series": SERIES[b % len(SERIES)], "number": int(rng.integers(1, 99)),
            "title": str(rng.choice(TITLES)), "colour": bool(rng.random() < 0.7)}
    plan = plan_book(rng, b, n_ad_pool)
    images, labels = [], []
    for k, (cls, spec) in enumerate(plan):
        prng = np.random.default_rng(seed * 100000 + b * 100 + k)
        if cls == "cover":
            im = draw_cover(prng, book)
        elif cls == "first-page":
            im = draw_first(prng, book)
        elif cls == "story":
            im = draw_last_story(prng, book) if spec.get("end") else draw_story(prng, book)
        elif cls == "advertisement":
            im = ad_image(spec["ad"], coloured=bool(spec["ad"] % 2))
        elif cls == "text":
            im = draw_text_page(prng, book)
        elif cls == "textstory":
            im = draw_textstory(prng, book)
        elif cls == "credits":
            im = draw_credits(prng, book)
        elif cls == "art":
            im = draw_art(prng, book)
        elif cls == "back_cover":
            im = ad_image(spec["ad"], coloured=True) if spec.get("ad") is not None else draw_art(prng, book)
        else:
            raise ValueError(cls)
        images.append(im)
        labels.append(cls)
    return images, labels


# -- features --------------------------------------------------------------------------------
class Models:
    def __init__(self, precision: str = "float32"):
        import torch

        from comicdesk.ml.efficientnet import EfficientNetLite0
        from comicdesk.ml.minilm import MiniLM
        from comicdesk.ml.ocr import TextOcr

        torch.set_num_threads(1)
        self.ocr = TextOcr(threads=1)
        self.effnet = EfficientNetLite0(threads=1, precision=precision)
        self.minilm = MiniLM(threads=1, precision=precision)


def signals_for_images(images, models: Models) -> list[dict]:
    """Per image, what the standard stages compute (as plain data, without position or repeats)."""
    from comicdesk.ml.ocr import assign_to_panels, join_lines
    from comicdesk.ml.page_stats import image_stats
    from comicdesk.ml.panel_net import detect_panels_refined as detect_panels
    from comicdesk.ml.phash import phash

    out = []
    feats = models.effnet.features(images)
    for im, f in zip(images, feats):
        rgb = im.convert("RGB")
        det = models.ocr.detect(rgb)
        lines = models.ocr.recognise(rgb, det)
        panels = [tuple(int(v) for v in getattr(p, "box", p)) for p in detect_panels(rgb)]
        text = join_lines(lines)
        out.append({
            "width": rgb.width, "height": rgb.height, "panels": panels or [(0, 0, rgb.width, rgb.height)],
            "text_boxes": [tuple(int(v) for v in b.box) for b in det.boxes], "coverage": float(det.coverage),
            "lines": [ln.text for ln in lines], "line_panels": assign_to_panels([ln.box for ln in lines], panels),
            "stats": image_stats(rgb), "phash": phash(rgb), "image_vec": np.asarray(f, np.float16),
            "text": text,
        })
    texts = [o["text"] for o in out]
    vecs = models.minilm.encode(texts)
    for o, v in zip(out, vecs):
        o["text_vec"] = v.astype(np.float16)
    return out


def to_signals(raw: list[dict], repeats: dict[int, dict] | None, pass_no: int) -> list[PageSignals]:
    n = len(raw)
    out = []
    for i, r in enumerate(raw):
        rep = (repeats or {}).get(i, {})
        out.append(PageSignals(
            index=i, n_pages=n, width=r["width"], height=r["height"], panels=list(r["panels"]),
            text_boxes=list(r["text_boxes"]), text_coverage=r["coverage"],
            lines=list(r["lines"]) if pass_no == 2 else None, stats=dict(r["stats"]), phash=r["phash"],
            image_vec=r["image_vec"].astype(np.float32),
            text_vec=r["text_vec"].astype(np.float32) if pass_no == 2 else None,
            repeats_other_books=int(rep.get("other_books", 0)) if pass_no == 2 else 0,
            repeats_within_book=int(rep.get("within_book", 0)) if pass_no == 2 else 0))
    return out


class HashCatalog:
    """Just enough of a catalogue for ``repeats_for_book``: books and their page hashes."""

    def __init__(self, books: list[tuple[str, list[int]]]):
        from comicdesk.ml.phash import to_int64

        self.keys = {i + 1: key for i, (key, _) in enumerate(books)}
        self.rows = [(i + 1, p, to_int64(h)) for i, (_, hashes) in enumerate(books) for p, h in enumerate(hashes)]

    def all_page_hashes(self):
        return list(self.rows)

    def book(self, book_id):
        from types import SimpleNamespace

        return SimpleNamespace(id=book_id, content_key=self.keys[book_id])

    def books_by_key(self, key):
        from types import SimpleNamespace

        return [SimpleNamespace(id=b) for b, k in self.keys.items() if k == key]


def repeats_all(books_raw: list[list[dict]], keys: list[str]) -> list[dict]:
    from comicdesk.pipeline.signals import repeats_for_book

    cat = HashCatalog([(k, [r["phash"] for r in raw]) for k, raw in zip(keys, books_raw)])
    rows = cat.all_page_hashes()
    return [repeats_for_book(cat, i + 1, all_hashes=rows) for i in range(len(books_raw))]


# -- metrics ---------------------------------------------------------------------------------------
def metrics(truth: list[str], pred: list[str]) -> dict:
    k = len(PAGE_CLASSES)
    idx = {c: i for i, c in enumerate(PAGE_CLASSES)}
    conf = np.zeros((k, k), dtype=int)
    for t, p in zip(truth, pred):
        conf[idx[t], idx[p]] += 1
    f1 = {}
    for c, i in idx.items():
        tp = conf[i, i]
        fp = conf[:, i].sum() - tp
        fn = conf[i, :].sum() - tp
        if conf[i, :].sum() == 0:
            continue
        f1[c] = round(float(2 * tp / max(1, 2 * tp + fp + fn)), 3)
    acc = float(np.trace(conf) / max(1, conf.sum()))
    return {"n": int(conf.sum()), "accuracy": round(acc, 3), "f1": f1,
            "macro_f1": round(float(np.mean(list(f1.values()))) if f1 else 0.0, 3), "confusion": conf.tolist()}


def print_metrics(title: str, m: dict) -> None:
    print(f"\n== {title}: {m['n']} pages, accuracy {m['accuracy']:.3f}, macro F1 {m['macro_f1']:.3f}")
    print("   F1: " + ", ".join(f"{c} {v:.2f}" for c, v in m["f1"].items()))
    short = [c[:6] for c in PAGE_CLASSES]
    print("   truth \\ predicted " + " ".join(f"{s:>6}" for s in short))
    for c, row in zip(PAGE_CLASSES, m["confusion"]):
        if sum(row):
            print(f"   {c:<17} " + " ".join(f"{v:>6}" for v in row))


def classify(books, pass_no: int, repeats, head=None) -> list[list[str]]:
    from comicdesk.ml.page_classes import classify_book, top_label

    out = []
    for raw, rep in zip(books, repeats):
        pages = to_signals(raw, rep, pass_no)
        probs = classify_book(pages)
        if head is not None:
            probs = head.apply(pages, probs)
        out.append([top_label(p) for p in probs])
    return out


def corrections_curve(books, labels, repeats, steps=(5, 20), l2: float | None = None, pass_no: int = 2) -> dict:
    """A person corrects the first wrong page of the training books (first half), one at a time;
    the head is retrained after each; the held-out books are scored at each step."""
    from comicdesk.ml.page_classes import classify_book, top_label
    from comicdesk.ml.page_head import LabelledBook, train_head

    half = max(1, len(books) // 2)
    train = list(range(half))
    test = list(range(half, len(books)))
    from comicdesk.ml.page_head import L2

    l2 = L2 if l2 is None else l2
    sig = {b: to_signals(books[b], repeats[b], pass_no) for b in range(len(books))}
    base = {b: classify_book(sig[b]) for b in range(len(books))}
    marks: dict[int, dict[int, str]] = {b: {} for b in train}
    head = None
    results = {}

    def score(head):
        truth, pred = [], []
        for b in test:
            probs = head.apply(sig[b], base[b]) if head is not None else base[b]
            truth += labels[b]
            pred += [top_label(p) for p in probs]
        return metrics(truth, pred)

    results[0] = score(None)
    n = 0
    for target in sorted(steps):
        while n < target:
            wrong = None
            for b in train:
                probs = head.apply(sig[b], base[b]) if head is not None else base[b]
                for i, p in enumerate(probs):
                    if i not in marks[b] and top_label(p) != labels[b][i]:
                        wrong = (b, i)
                        break
                if wrong:
                    break
            if wrong is None:
                break
            marks[wrong[0]][wrong[1]] = labels[wrong[0]][wrong[1]]
            n += 1
            head = train_head([LabelledBook(sig[b], base[b], marks[b]) for b in train if marks[b]], l2=l2)
        results[target] = score(head)
        results[target]["corrections"] = n
    return results


# -- fixtures ------------------------------------------------------------------------------------------
def fixture_books() -> list[tuple[str, str, list, list[str]]]:
    """(name, content key, images, labels) of the labelled shared-fixture books."""
    from helpers import fixtures_dir
    from PIL import Image

    from comicdesk.archive import open_book

    labels = json.loads((Path(__file__).with_name("fixture_labels.json")).read_text())
    out = []
    for entry in labels["books"]:
        path = fixtures_dir() / entry["path"]
        if path.is_dir():
            files = sorted(p for p in path.iterdir() if p.suffix.lower() in (".jpg", ".png"))
            images = [Image.open(p).convert("RGB") for p in files]
        else:
            images = []
            with open_book(path) as book:
                for _, data in book.iter_page_bytes():
                    images.append(Image.open(io.BytesIO(data)).convert("RGB"))
        out.append((entry["path"], entry["key"], images, entry["labels"]))
    return out


# -- real books ------------------------------------------------------------------------------------
REAL_DIR = REPO.parent / "shared" / "fixtures" / "real"
#: The default real set: (folder, labels file or None for ``folder/labels.json``).
REAL_DEFAULT = (
    (REAL_DIR / "science-comics-001", None),
    (REAL_DIR / "public-domain-pages", REPO / "tests" / "data" / "page_labels_public_domain.json"),
)
#: Bump when what a real book's cached signals hold changes (the panel detector's version is in the key).
REAL_SIGNALS_VERSION = "real-1"
ARCHIVES = (".cbz", ".cbr", ".cb7", ".cbt", ".zip", ".rar", ".7z", ".tar", ".pdf", ".epub")
IMAGES = (".jpg", ".jpeg", ".png", ".webp", ".gif", ".bmp", ".tif", ".tiff")


def _natural(path: Path) -> list:
    """Sort key: page2 before page10."""
    import re

    return [int(part) if part.isdigit() else part.lower() for part in re.split(r"(\d+)", path.name)]


def real_books(folder: Path, labels_file: Path | None = None) -> list[tuple[str, list[Path], list[str]]]:
    """``(name, files, labels)`` per labelled book of a folder. ``labels.json`` (beside the books,
    or ``labels_file``): ``{"<book file name>": ["cover", ...]}``, one class per page in page order;
    a key may also be a glob of image files (in natural order: one book of those pages); keys starting with
    ``_`` are notes. The fixtures' own format (``{"pages": [{"label": ...}, ...]}`` beside a single
    archive) is read too."""
    labels_file = labels_file or folder / "labels.json"
    data = json.loads(labels_file.read_text())
    out = []
    if isinstance(data.get("pages"), list):
        archives = sorted(p for p in folder.iterdir() if p.suffix.lower() in ARCHIVES)
        if len(archives) != 1:
            raise SystemExit(f"{labels_file}: a page list needs exactly one book beside it, found {len(archives)}")
        out.append((archives[0].name, archives, [str(p["label"]) for p in data["pages"]]))
        return out
    for key, labels in data.items():
        if key.startswith("_"):
            continue
        bad = [c for c in labels if c not in PAGE_CLASSES]
        if bad:
            raise SystemExit(f"{labels_file}: {key}: unknown page classes {bad}")
        path = folder / key
        if path.is_file() and path.suffix.lower() in ARCHIVES:
            files = [path]
        else:
            files = sorted((p for p in folder.glob(key) if p.suffix.lower() in IMAGES), key=_natural)
        if not files:
            raise SystemExit(f"{labels_file}: no book or images named {key!r} in {folder}")
        if len(files) > 1 and len(files) != len(labels):
            raise SystemExit(f"{labels_file}: {key}: {len(files)} images but {len(labels)} labels")
        out.append((key, files, list(labels)))
    return out


def _digest(files: list[Path]) -> str:
    from comicdesk.ml.panel_net import panels_version

    DETECTOR_VERSION = panels_version()

    h = hashlib.sha1(f"{REAL_SIGNALS_VERSION}\0{DETECTOR_VERSION}".encode())
    for f in files:
        h.update(f.name.encode() + b"\0" + hashlib.sha1(f.read_bytes()).digest())
    return h.hexdigest()[:16]


def real_signals(name: str, files: list[Path], cache_dir: Path, no_cache: bool = False,
                 width: int | None = None) -> list[PageSignals]:
    """The book's page signals exactly as ``comicdesk index`` computes and stores them (the real
    standard models, a library of its own under ``cache_dir``), read back with
    ``signals_from_cache``; cached by the files' bytes and the panel detector's version.
    ``width``: the pages scaled down to this width first (JPEG, quality 85: a lower-resolution
    scan of the same book)."""
    import shutil
    import subprocess
    import zipfile

    from comicdesk.library.catalog import Catalog
    from comicdesk.pipeline.rescore import _open_store
    from comicdesk.pipeline.signals import signals_from_cache

    key = _digest(files) + (f"-w{width}" if width else "")
    cached = cache_dir / f"real-{key}.pkl"
    if cached.exists() and not no_cache:
        return pickle.loads(cached.read_bytes())
    work = cache_dir / f"real-{key}"
    shutil.rmtree(work, ignore_errors=True)
    lib = work / "library"
    lib.mkdir(parents=True)
    if width:
        from PIL import Image

        from comicdesk.archive import open_book

        pages = []
        if len(files) == 1 and files[0].suffix.lower() in ARCHIVES:
            with open_book(files[0]) as book:
                pages = [Image.open(io.BytesIO(data)) for _, data in book.iter_page_bytes()]
        else:
            pages = [Image.open(f) for f in files]
        with zipfile.ZipFile(lib / "book.cbz", "w", zipfile.ZIP_STORED) as z:
            for k, im in enumerate(pages):
                im = im.convert("RGB")
                im = im.resize((width, max(1, round(im.height * width / im.width))), Image.LANCZOS)
                buf = io.BytesIO()
                im.save(buf, "JPEG", quality=85)
                z.writestr(f"{k:04d}.jpg", buf.getvalue())
    elif len(files) == 1 and files[0].suffix.lower() in ARCHIVES:
        (lib / files[0].name).symlink_to(files[0].resolve())
    else:  # loose images: one stored CBZ of them, bytes unchanged
        with zipfile.ZipFile(lib / "book.cbz", "w", zipfile.ZIP_STORED) as z:
            for f in files:
                z.write(f, f.name)
    cmd = [sys.executable, "-m", "comicdesk.cli", "index", "--cache-dir", str(work / "cache"),
           "--data-dir", str(work / "data"), str(lib)]
    t0 = time.perf_counter()
    run = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True)
    if run.returncode != 0:
        raise SystemExit(f"{name}: comicdesk index failed ({run.returncode}): {run.stderr.strip()[-500:]}")
    print(f"{name}: indexed with the real models in {time.perf_counter() - t0:.0f} s", file=sys.stderr)
    libs = [d for d in (work / "cache" / "libraries").iterdir() if d.is_dir()]
    with Catalog.open(libs[0], readonly=True) as cat:
        store = _open_store(libs[0], cat)
        books = cat.all_books()
        pages = signals_from_cache(cat, books[0].id, store)
    (work / "index.log").write_text(run.stdout + run.stderr)
    if not any(p.stats or p.panels for p in pages):
        raise SystemExit(f"{name}: comicdesk index stored no page signals (see {work / 'index.log'}):\n{run.stdout[-800:]}")
    cached.write_bytes(pickle.dumps(pages))
    return pages


STORY = ("story", "first-page", "textstory")
_T = 0.9  # the threshold evaluate_real runs at (for the corrections' story-only count)


def merged(c: str) -> str:
    """Story kinds as one; a back cover (usually an ad) and an ad as one."""
    from comicdesk.core.pages import STORY_KINDS

    return "story" if c in STORY_KINDS else "advertisement" if c == "back_cover" else c


def is_right(truth: str, pred: str) -> bool:
    """Right with story kinds merged; a back cover may be called an advertisement (both are dropped
    by story-only)."""
    return merged(truth) == merged(pred) or (truth == "back_cover" and pred == "advertisement")


def dropped(probs: dict[str, float], t: float) -> bool:
    """Whether a story-only export drops a model-labelled page at threshold ``t`` (core.pages's rule)."""
    from comicdesk.core.pages import STORY_KINDS, page_drop
    from comicdesk.ml.page_classes import top_label

    return page_drop(top_label(probs), probs, "model", STORY_KINDS, t=t) == "drop"


def real_metrics(truth: list[str], probs: list[dict[str, float]], t: float) -> dict:
    from comicdesk.core.pages import STORY_KINDS
    from comicdesk.ml.page_classes import top_label

    pred = [top_label(p) for p in probs]
    m = metrics(truth, pred)
    k = len(PAGE_CLASSES)
    conf = np.array(m["confusion"])
    prf = {}
    for i, c in enumerate(PAGE_CLASSES):
        tp, col, row = conf[i, i], conf[:, i].sum(), conf[i, :].sum()
        if row or col:
            prf[c] = {"p": round(float(tp / col), 3) if col else None, "r": round(float(tp / row), 3) if row else None,
                      "f1": round(float(2 * tp / max(1, row + col)), 3), "n": int(row)}
    story = [i for i, c in enumerate(truth) if c in STORY_KINDS]
    non = [i for i, c in enumerate(truth) if c not in STORY_KINDS]
    ads_covers = [i for i, c in enumerate(truth) if c in ("advertisement", "cover", "back_cover")]
    drops = [dropped(p, t) for p in probs]
    pred_ads = [i for i, c in enumerate(pred) if c == "advertisement"]
    ad_right = sum(1 for i in pred_ads if truth[i] in ("advertisement", "back_cover"))
    return {
        "n": len(truth), "accuracy": m["accuracy"], "merged_accuracy": round(sum(map(is_right, truth, pred)) / max(1, len(truth)), 3),
        "prf": prf, "confusion": m["confusion"], "t": t,
        "story_pages": len(story), "story_lost": sum(drops[i] for i in story),
        "story_kept": round(1 - sum(drops[i] for i in story) / max(1, len(story)), 3),
        "non_story_pages": len(non), "non_story_dropped": round(sum(drops[i] for i in non) / max(1, len(non)), 3),
        "ads_covers_dropped": round(sum(drops[i] for i in ads_covers) / max(1, len(ads_covers)), 3),
        "ad_predicted": len(pred_ads), "ad_precision": round(ad_right / len(pred_ads), 3) if pred_ads else None,
    }


def print_real(title: str, m: dict) -> None:
    print(f"\n== {title}: {m['n']} pages; accuracy {m['accuracy']:.3f}, with story kinds merged "
          f"{m['merged_accuracy']:.3f}")
    print(f"   story-only export at t = {m['t']:.2f}: story-kind pages kept {m['story_kept']:.3f} "
          f"({m['story_lost']} of {m['story_pages']} lost); non-story dropped {m['non_story_dropped']:.3f} "
          f"(ads and covers {m['ads_covers_dropped']:.3f}); ad precision "
          + (f"{m['ad_precision']:.3f} ({m['ad_predicted']} called ads)" if m["ad_precision"] is not None else "- (none called ads)"))
    print(f"   {'class':<14} {'P':>6} {'R':>6} {'F1':>6} {'pages':>6}")
    for c, v in m["prf"].items():
        fmt = lambda x: "-" if x is None else f"{x:.2f}"  # noqa: E731
        print(f"   {c:<14} {fmt(v['p']):>6} {fmt(v['r']):>6} {fmt(v['f1']):>6} {v['n']:>6}")
    short = [c[:6] for c in PAGE_CLASSES]
    print("   truth \\ predicted " + " ".join(f"{s:>6}" for s in short))
    for c, row in zip(PAGE_CLASSES, m["confusion"]):
        if sum(row):
            print(f"   {c:<17} " + " ".join(f"{v:>6}" for v in row))


def reliability(truth: list[str], probs: list[dict[str, float]]) -> dict:
    """Two reliability tables: the top label's probability vs how often it is right (with story
    kinds merged), and p(non-story) vs how often the page is not a story kind."""
    from comicdesk.core.pages import NON_STORY, STORY_KINDS
    from comicdesk.ml.page_classes import top_label

    edges = [0.0, 0.3, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 1.0001]
    top, side = [], []
    for lo, hi in zip(edges, edges[1:]):
        a = [(p[top_label(p)], is_right(t, top_label(p))) for t, p in zip(truth, probs) if lo <= p[top_label(p)] < hi]
        b = [(sum(p[c] for c in NON_STORY), t not in STORY_KINDS) for t, p in zip(truth, probs)
             if lo <= sum(p[c] for c in NON_STORY) < hi]
        top.append({"bin": [lo, min(hi, 1.0)], "n": len(a), "mean_p": round(float(np.mean([x for x, _ in a])), 3) if a else None,
                    "right": round(float(np.mean([y for _, y in a])), 3) if a else None})
        side.append({"bin": [lo, min(hi, 1.0)], "n": len(b), "mean_p": round(float(np.mean([x for x, _ in b])), 3) if b else None,
                     "right": round(float(np.mean([y for _, y in b])), 3) if b else None})
    return {"top": top, "non_story": side}


def print_reliability(rel: dict) -> None:
    print("\n   reliability (predicted probability vs how often right)")
    print(f"   {'bin':<11} {'top label: pages':>16} {'mean p':>7} {'right':>6}   {'p(non-story): pages':>19} {'mean p':>7} {'non-story':>9}")
    for a, b in zip(rel["top"], rel["non_story"]):
        f = lambda v: "-" if v is None else f"{v:.2f}"  # noqa: E731
        print(f"   {a['bin'][0]:.2f}-{a['bin'][1]:.2f}  {a['n']:>16} {f(a['mean_p']):>7} {f(a['right']):>6}   "
              f"{b['n']:>19} {f(b['mean_p']):>7} {f(b['right']):>9}")


def threshold_sweep(truth: list[str], probs: list[dict[str, float]]) -> list[dict]:
    from comicdesk.core.pages import STORY_KINDS

    out = []
    story = [i for i, c in enumerate(truth) if c in STORY_KINDS]
    non = [i for i, c in enumerate(truth) if c not in STORY_KINDS]
    for t in [round(0.5 + 0.05 * k, 2) for k in range(10)]:
        d = [dropped(p, t) for p in probs]
        out.append({"t": t, "story_lost": sum(d[i] for i in story), "story_kept": round(1 - sum(d[i] for i in story) / max(1, len(story)), 3),
                    "non_story_dropped": round(sum(d[i] for i in non) / max(1, len(non)), 3)})
    return out


def choose_t(sweep: list[dict], keep: float = 0.99) -> float | None:
    """The lowest t at which a story-only export keeps >= ``keep`` of the story-kind pages at t
    and at t - 0.05 too (a t that works only at one exact value is fitted, not robust)."""
    ok = {round(r["t"], 2): r["story_kept"] >= keep for r in sweep}
    for r in sweep:
        t = round(r["t"], 2)
        if ok[t] and ok.get(round(t - 0.05, 2), False):
            return t
    return None


def real_corrections(sig: list[PageSignals], truth: list[str], steps: int = 5) -> list[dict]:
    """A person fixes the first wrong page (its exact class: a first page called story counts),
    then the next, on one book; the head is retrained on the book's labels after each. Per step,
    among the pages the person did not touch: how many are right, which became right and which
    became wrong since no correction (exact classes, and with story kinds merged)."""
    from comicdesk.ml.page_classes import classify_book, top_label
    from comicdesk.ml.page_head import LabelledBook, train_head

    base = classify_book(sig)
    first = [top_label(p) for p in base]
    marks: dict[int, str] = {}
    out = []
    now = first
    for step in range(1, steps + 1):
        wrong = next((i for i, (t, p) in enumerate(zip(truth, now)) if t != p and i not in marks), None)
        if wrong is None:
            break
        marks[wrong] = truth[wrong]
        probs = train_head([LabelledBook(sig, base, dict(marks))]).apply(sig, base)
        now = [top_label(p) for p in probs]
        untouched = [i for i in range(len(truth)) if i not in marks]
        out.append({
            "step": step, "fixed_page": wrong, "label": truth[wrong], "was": first[wrong],
            "right_untouched": sum(truth[i] == now[i] for i in untouched), "untouched": len(untouched),
            "became_right": [i for i in untouched if truth[i] == now[i] != first[i]],
            "became_wrong": [i for i in untouched if truth[i] == first[i] != now[i]],
            "became_wrong_merged": [i for i in untouched if is_right(truth[i], first[i]) and not is_right(truth[i], now[i])],
            "lost_in_story_only": [i for i in untouched if truth[i] in STORY and dropped(probs[i], _T)],
        })
    return out


def evaluate_real(sets, cache_dir: Path, no_cache: bool, t: float, show: bool, lowres: int = 0) -> dict:
    from comicdesk.ml.page_classes import classify_book, top_label

    global _T
    _T = t

    books, lowres_books = [], []
    for folder, labels_file in sets:
        for name, files, labels in real_books(folder, labels_file):
            sig = real_signals(name, files, cache_dir, no_cache)
            if len(sig) != len(labels):
                raise SystemExit(f"{name}: {len(sig)} pages but {len(labels)} labels")
            books.append((f"{folder.name}/{name}", sig, labels))
            if lowres and len(labels) >= 8:
                low = real_signals(name, files, cache_dir, no_cache, width=lowres)
                lowres_books.append((f"{folder.name}/{name} [scaled to {lowres} px wide]", low, labels))
    # Robustness: the same pages read as a book that opens and ends on story (a collection, a
    # modern book): from the first to the last story-kind page, positions renumbered.
    # (reported apart, not in the totals: the same pages twice)
    variants = []
    for name, sig, labels in books:
        story_at = [i for i, c in enumerate(labels) if c in STORY]
        if len(labels) >= 8 and story_at and (story_at[0] > 0 or story_at[-1] < len(labels) - 1):
            a, b = story_at[0], story_at[-1] + 1
            cut = [dataclasses.replace(p, index=p.index - a, n_pages=b - a) for p in sig[a:b]]
            variants.append((f"{name} [pages {a}-{b - 1} read as a book that opens and ends on story]", cut, labels[a:b]))
    variants += lowres_books
    truth, probs = [], []
    per_book = {}
    for name, sig, labels in books + variants:
        pr = classify_book(sig)
        per_book[name] = real_metrics(labels, pr, t)
        if (name, sig, labels) in variants:
            per_book[name]["variant"] = True
        else:
            truth += labels
            probs += pr
        if show:
            from comicdesk.core.pages import NON_STORY

            print(f"\n{name}:")
            for i, (c, p) in enumerate(zip(labels, pr)):
                top = sorted(p.items(), key=lambda kv: -kv[1])[:3]
                mark = "" if is_right(c, top_label(p)) else "  WRONG"
                drop = "  DROPPED" if dropped(p, t) else ""
                print(f"   {i:>3} {c:<14} -> " + ", ".join(f"{k} {v:.2f}" for k, v in top)
                      + f"  p(non-story) {sum(p[k] for k in NON_STORY):.2f}{mark}{drop}")
    allm = real_metrics(truth, probs, t)
    for name, m in per_book.items():
        print(f"   {'robustness: ' if m.get('variant') else ''}{name}: {m['n']} pages, merged accuracy "
              f"{m['merged_accuracy']:.3f}, story kept {m['story_kept']:.3f} ({m['story_lost']} lost), "
              f"non-story dropped {m['non_story_dropped']:.3f}")
    default = list(sets) == list(REAL_DEFAULT)
    print_real(f"REAL books ({'training figures: these labelled pages were looked at while setting the cues' if default else ', '.join(str(f) for f, _ in sets)}), "
               f"{len(books)} books", allm)
    rel = reliability(truth, probs)
    print_reliability(rel)
    sweep = threshold_sweep(truth, probs)
    print("\n   sure threshold t: story-kind pages lost / non-story pages dropped by a story-only export")
    print("   " + "  ".join(f"t={r['t']:.2f}: {r['story_lost']} lost, {r['non_story_dropped']:.2f} dropped" for r in sweep))
    best = choose_t(sweep)
    print(f"   lowest t keeping >= 99 % of story-kind pages at t and t - 0.05: {best}")
    corr = {}
    for name, sig, labels in books:
        steps = real_corrections(sig, labels)
        if not steps:
            continue
        corr[name] = steps
        print(f"\n   corrections on {name} (a person fixes the first wrong page, then the next; head retrained):")
        for s in steps:
            print(f"     {s['step']}: page {s['fixed_page']} {s['was']} -> {s['label']}: untouched pages right "
                  f"{s['right_untouched']}/{s['untouched']}; since no correction became right {s['became_right']}, "
                  f"became wrong {s['became_wrong']} (story kinds merged: {s['became_wrong_merged']}); "
                  f"story pages a story-only export would drop: {s['lost_in_story_only']}")
    return {"books": len(books), "pages": len(truth), "metrics": {k: v for k, v in allm.items() if k != "confusion"},
            "per_book": {n: {k: m.get(k, False) for k in ("n", "merged_accuracy", "story_kept", "story_lost",
                                                         "non_story_dropped", "variant")}
                         for n, m in per_book.items()},
            "sweep": sweep, "t_suggested": best, "reliability": rel,
            "corrections": {n: [{k: s[k] for k in ("step", "fixed_page", "label", "became_right", "became_wrong",
                                                    "became_wrong_merged", "lost_in_story_only")} for s in v]
                            for n, v in corr.items()}}


# -- main ------------------------------------------------------------------------------------------
def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--books", type=int, default=10)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--no-cache", action="store_true")
    ap.add_argument("--precision", default="float32", choices=("float32", "bfloat16", "auto"),
                    help="EfficientNet's and MiniLM's precision (the pipeline's stages use auto: bfloat16 where native and faster)")
    ap.add_argument("--l2", type=float, default=None, help="the head's L2 strength (default: page_head.L2)")
    ap.add_argument("--show", type=int, default=0, help="print the first N synthetic books' pages with labels")
    ap.add_argument("--real", action="append", metavar="DIR[=LABELS]",
                    help="a folder of books with a labels.json beside them (or the labels file after =); "
                         "repeatable; default: Science Comics #1 and the public-domain pages (our labels)")
    ap.add_argument("--t", type=float, default=None, help="the sure threshold (default: core.pages.SURE_AT)")
    ap.add_argument("--show-real", action="store_true", help="print every real page with its probabilities")
    ap.add_argument("--no-synthetic", action="store_true", help="real books only")
    ap.add_argument("--lowres", type=int, default=320, metavar="PX",
                    help="also score each real book of 8+ pages scaled down to this width (a robustness "
                         "variant; 0: not)")
    ap.add_argument("--write-image-mean", action="store_true",
                    help="write comicdesk/ml/page_image_mean.npy from the default real set (public domain) and stop")
    args = ap.parse_args()
    cache_dir = Path(tempfile.gettempdir()) / "comicdesk-eval-pages"
    cache_dir.mkdir(exist_ok=True)
    from comicdesk.core.pages import SURE_AT
    from comicdesk.ml.page_classes import classify_book
    from comicdesk.ml.panel_net import panels_version

    DETECTOR_VERSION = panels_version()

    t = SURE_AT if args.t is None else args.t
    sets = REAL_DEFAULT
    if args.real:
        sets = []
        for spec in args.real:
            folder, _, lab = spec.partition("=")
            sets.append((Path(folder).resolve(), Path(lab).resolve() if lab else None))
    print(f"panel detector: {DETECTOR_VERSION}; sure threshold t = {t}")
    if args.write_image_mean:
        from comicdesk.ml.page_head import IMAGE_MEAN_FILE

        vecs = [np.asarray(p.image_vec, np.float32) for folder, lab in REAL_DEFAULT
                for name, files, _ in real_books(folder, lab)
                for p in real_signals(name, files, cache_dir, args.no_cache) if p.image_vec is not None]
        np.save(IMAGE_MEAN_FILE, np.mean(vecs, axis=0).astype(np.float16))
        print(f"wrote {IMAGE_MEAN_FILE} (mean of {len(vecs)} real public-domain pages)")
        return
    real = evaluate_real(sets, cache_dir, args.no_cache, t, args.show_real, args.lowres)
    if args.no_synthetic:
        print(json.dumps({"bench": "eval_pages", "detector": DETECTOR_VERSION, "real": real}))
        return
    print("\n######## SYNTHETIC books (our own generator; says the cues work as designed, not that real books do)")
    cache_file = cache_dir / (f"signals-{GEN_VERSION}-s{args.seed}"
                              + ("" if args.precision == "float32" else f"-{args.precision}") + ".pkl")
    cache = {} if args.no_cache or not cache_file.exists() else pickle.loads(cache_file.read_bytes())
    models = None
    t0 = time.perf_counter()
    computed = 0

    def raw_for(key, images):
        nonlocal models, computed
        if key not in cache:
            if models is None:
                models = Models(args.precision)
            cache[key] = signals_for_images(images, models)
            computed += len(images)
            cache_file.write_bytes(pickle.dumps(cache))
        return cache[key]

    books, labels, keys = [], [], []
    for b in range(args.books):
        key = f"synth-{b}"
        if key in cache:
            raw = cache[key]
            _, lab = draw_book(b, args.seed) if f"labels-{key}" not in cache else (None, cache[f"labels-{key}"])
        else:
            images, lab = draw_book(b, args.seed)
            raw = raw_for(key, images)
        cache[f"labels-{key}"] = lab
        books.append(raw)
        labels.append(lab)
        keys.append(key)
        print(f"book {b}: {len(lab)} pages", file=sys.stderr)
    cache_file.write_bytes(pickle.dumps(cache))
    feat_s = time.perf_counter() - t0
    reps = repeats_all(books, keys)

    t1 = time.perf_counter()
    pred1 = classify(books, 1, reps)
    pred2 = classify(books, 2, reps)
    cls_s = time.perf_counter() - t1
    truth = [c for lab in labels for c in lab]
    m1 = metrics(truth, [c for p in pred1 for c in p])
    m2 = metrics(truth, [c for p in pred2 for c in p])
    for b in range(min(args.show, len(books))):
        print(f"book {b}: " + " ".join(f"{t[:5]}/{p[:5]}" + ("" if t == p else "*")
                                        for t, p in zip(labels[b], pred2[b])))
    print_metrics("synthetic, pass 1 (layout, text amount, image statistics)", m1)
    print_metrics("synthetic, pass 2 (+ words, sentence similarity, repetition)", m2)
    curves = {}
    for pass_no in (1, 2):
        curve = corrections_curve(books, labels, reps, l2=args.l2, pass_no=pass_no)
        curves[pass_no] = curve
        for k, m in curve.items():
            n = m.get("corrections", 0)
            note = f" (asked for {k}; no wrong page left in the training books)" if n < k else ""
            print_metrics(f"synthetic, pass {pass_no}, held-out books after {n} corrections{note}", m)

    # shared fixtures
    fx = fixture_books()
    fx_raw = [raw_for(f"fixture-{hashlib.sha1(name.encode()).hexdigest()[:10]}", images) for name, _, images, _ in fx]
    fx_reps = repeats_all(books + fx_raw, keys + [k for _, k, _, _ in fx])[len(books):]
    fx_pred = classify(fx_raw, 2, fx_reps)
    fx_pred1 = classify(fx_raw, 1, fx_reps)
    fx_truth = [c for *_, lab in fx for c in lab]
    mf = metrics(fx_truth, [c for p in fx_pred for c in p])
    mf1 = metrics(fx_truth, [c for p in fx_pred1 for c in p])
    for (name, _, _, lab), pred in zip(fx, fx_pred):
        print(f"{name}: " + " ".join(f"{t}/{p}" + ("" if t == p else "*") for t, p in zip(lab, pred)))
    print_metrics("shared fixtures (112x160 thumbnails, xkcd), pass 1", mf1)
    print_metrics("shared fixtures (112x160 thumbnails, xkcd), pass 2", mf)
    # what a story-only export keeps under the sure rule, pass 2
    story_only = {}
    for name, raws, labs, reps_ in (("synthetic", books, labels, reps), ("shared fixtures", fx_raw,
                                                                          [lab for *_, lab in fx], fx_reps)):
        probs_ = [p for raw, rep in zip(raws, reps_) for p in classify_book(to_signals(raw, rep, 2))]
        m = real_metrics([c for lab in labs for c in lab], probs_, t)
        story_only[name] = {k: m[k] for k in ("story_kept", "story_lost", "story_pages", "non_story_dropped",
                                              "ads_covers_dropped", "ad_precision")}
        print(f"   {name}, pass 2, story-only export at t = {t}: story-kind pages kept {m['story_kept']:.3f} "
              f"({m['story_lost']} of {m['story_pages']} lost), non-story dropped {m['non_story_dropped']:.3f} "
              f"(ads and covers {m['ads_covers_dropped']:.3f})")
    print(f"\nfeatures: {computed} pages computed in {feat_s:.1f} s (cache: {cache_file}); "
          f"classifying {len(truth)} pages twice: {cls_s * 1000:.0f} ms")
    summary = {
        "bench": "eval_pages", "detector": DETECTOR_VERSION, "real": real,
        "synthetic_books": len(books), "pages": len(truth),
        "pass1": {"accuracy": m1["accuracy"], "macro_f1": m1["macro_f1"], "f1": m1["f1"]},
        "pass2": {"accuracy": m2["accuracy"], "macro_f1": m2["macro_f1"], "f1": m2["f1"]},
        "corrections": {f"pass{p}": {str(k): {"corrections": m.get("corrections", 0), "accuracy": m["accuracy"],
                                              "macro_f1": m["macro_f1"]} for k, m in c.items()}
                        for p, c in curves.items()},
        "story_only_pass2": story_only,
        "fixtures": {"pages": mf["n"], "pass1_accuracy": mf1["accuracy"], "pass2_accuracy": mf["accuracy"],
                     "f1": mf["f1"]},
        "classify_ms_per_page": round(cls_s * 1000 / max(1, 2 * len(truth)), 3),
    }
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
