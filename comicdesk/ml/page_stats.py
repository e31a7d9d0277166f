"""Cheap image statistics of a page, for the page classifier (numpy + Pillow only).

Computed on a copy whose long side is :data:`WORK_SIZE` pixels (a few milliseconds for any page),
all values in 0..1 except where said:

=================  ==========================================================================
``mean``           mean luminance (Rec. 601 luma / 255)
``std``            luminance standard deviation (a blank page is ~0)
``white``          share of pixels with luma > 235 (paper, gutters, text pages)
``dark``           share of pixels with luma < 40 (heavy inks, night scenes, black covers)
``saturation``     mean HSV saturation (a full-colour ad or cover is high; a letters page ~0)
``colourfulness``  Hasler & Süsstrunk's M (sqrt of rg/yb variances + 0.3 x means), / 100
``colours``        share of the 512 RGB bins (3 bits a channel) that hold >= 0.1 % of pixels
``edges``          share of pixels whose luma gradient exceeds 32 (line art, text, detail)
``entropy``        luma histogram entropy in bits / 8
``aspect``         height / width of the page (not 0..1: 1.54 for a US comic page)
=================  ==========================================================================

Changing anything here changes stored features: bump :data:`VERSION`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:  # pragma: no cover
    from PIL import Image

VERSION = "stats-1"
WORK_SIZE = 256
NAMES = ("mean", "std", "white", "dark", "saturation", "colourfulness", "colours", "edges",
         "entropy", "aspect")


def image_stats(image: "Image.Image") -> dict[str, float]:
    """The statistics above for a page image (any mode)."""
    from PIL import Image as PILImage

    w, h = image.size
    aspect = h / w if w else 0.0
    small = image.convert("RGB") if image.mode != "RGB" else image
    scale = WORK_SIZE / max(w, h)
    if scale < 1:
        small = small.resize((max(1, round(w * scale)), max(1, round(h * scale))), PILImage.BILINEAR,
                             reducing_gap=2.0)
    rgb = np.asarray(small, dtype=np.float32)
    r, g, b = rgb[..., 0], rgb[..., 1], rgb[..., 2]
    luma = 0.299 * r + 0.587 * g + 0.114 * b
    n = luma.size
    hi = rgb.max(axis=2)
    lo = rgb.min(axis=2)
    sat = np.where(hi > 0, (hi - lo) / np.maximum(hi, 1e-6), 0.0)
    rg = r - g
    yb = 0.5 * (r + g) - b
    colourfulness = (np.sqrt(rg.var() + yb.var()) + 0.3 * np.sqrt(rg.mean() ** 2 + yb.mean() ** 2)) / 100.0
    bins = (rgb.astype(np.uint16) >> 5)
    codes = (bins[..., 0] << 6) | (bins[..., 1] << 3) | bins[..., 2]
    counts = np.bincount(codes.ravel(), minlength=512)
    colours = float(np.count_nonzero(counts >= max(1, 0.001 * n))) / 512.0
    gy = np.abs(np.diff(luma, axis=0))
    gx = np.abs(np.diff(luma, axis=1))
    edges = (np.count_nonzero(gy > 32) + np.count_nonzero(gx > 32)) / max(1, gy.size + gx.size)
    hist = np.bincount(np.clip(luma, 0, 255).astype(np.uint8).ravel(), minlength=256) / n
    nz = hist[hist > 0]
    entropy = float(-(nz * np.log2(nz)).sum()) / 8.0
    out = {
        "mean": float(luma.mean() / 255.0),
        "std": float(luma.std() / 255.0),
        "white": float(np.count_nonzero(luma > 235) / n),
        "dark": float(np.count_nonzero(luma < 40) / n),
        "saturation": float(sat.mean()),
        "colourfulness": float(colourfulness),
        "colours": colours,
        "edges": float(edges),
        "entropy": entropy,
        "aspect": float(aspect),
    }
    return {k: round(v, 5) for k, v in out.items()}
