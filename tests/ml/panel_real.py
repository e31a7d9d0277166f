"""Real comic pages with panels drawn by people, for the panel bench and the quality floors.

Sets (all boxes converted to ours, ``[x, y, w, h]`` in pixels of the page as decoded):

- ``craphound``: *Craphound* pages 1-11 (``fixtures/real/craphound/panels.json``, boxes
  ``[x0, y0, x1, y1]`` from the book's ACBF file; CC BY-NC-SA: measuring only).
- ``openmantra``: three manga chapters (``fixtures/real/openmantra/annotation.json``, frames
  ``{x, y, w, h}``; CC BY-NC: measuring only), read right to left.
- ``golden-age``: public-domain Golden Age pages (Science Comics #1 and
  ``fixtures/real/public-domain-pages``) whose panels **we** drew by eye
  (``tests/data/panels_public_domain.json``, ours, MIT).

The split is fixed (issue 17): **dev** = craphound pages 1-6, chapters *tojime_no_siora* and
*balloon_dream*, and the Golden Age pages; **held out** = craphound pages 7-11 and chapter
*tencho_isoro*, never used to choose anything.
"""

from __future__ import annotations

import io
import json
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

from panel_synth import match

DATA = Path(__file__).resolve().parents[1] / "data" / "panels_public_domain.json"


@dataclass
class RealPage:
    set: str          # e.g. "craphound dev"
    name: str
    load: object      # () -> PIL image (RGB)
    truth: list       # [x, y, w, h] in reading order
    rtl: bool = False


def _open(path: Path):
    from PIL import Image

    return lambda: Image.open(path).convert("RGB")


def craphound(fixtures: Path, pages: range) -> list[RealPage]:
    base = fixtures / "real" / "craphound"
    data = json.loads((base / "panels.json").read_text())["pages"]
    out = []
    for n in pages:
        name = f"page{n}.jpg"
        truth = [[x0, y0, x1 - x0, y1 - y0] for x0, y0, x1, y1 in data[name]["panels"]]
        out.append(RealPage("craphound", name, _open(base / name), truth))
    return out


def openmantra(fixtures: Path, books: tuple[str, ...]) -> list[RealPage]:
    base = fixtures / "real" / "openmantra"
    out = []
    for book in json.loads((base / "annotation.json").read_text()):
        if book["book_title"] not in books:
            continue
        for page in book["pages"]:
            rel = page["image_paths"]["ja"]
            truth = [[f["x"], f["y"], f["w"], f["h"]] for f in page["frame"]]
            out.append(RealPage("openmantra", f"{book['book_title']}/{Path(rel).name}",
                                _open(base / rel), truth, rtl=True))
    return out


def golden_age(fixtures: Path) -> list[RealPage]:
    """Our own by-eye labels of public-domain pages (``tests/data/panels_public_domain.json``)."""
    if not DATA.is_file():
        return []
    data = json.loads(DATA.read_text())
    out = []
    for key, entry in data["pages"].items():
        source, _, member = key.partition(":")
        path = fixtures / "real" / source
        if member:
            def load(path=path, member=member):
                from PIL import Image

                with zipfile.ZipFile(path) as z:
                    return Image.open(io.BytesIO(z.read(member))).convert("RGB")
        else:
            load = _open(path)
        out.append(RealPage("golden-age", key, load, [list(b) for b in entry],
                            rtl=False))
    return out


DEV_CRAPHOUND = range(1, 7)
HELD_CRAPHOUND = range(7, 12)
DEV_BOOKS = ("tojime_no_siora", "balloon_dream")
HELD_BOOKS = ("tencho_isoro",)


def real_sets(fixtures: Path) -> dict[str, list[RealPage]]:
    """The named real sets, dev first, then held out."""
    return {
        "craphound dev (p1-6)": craphound(fixtures, DEV_CRAPHOUND),
        "openmantra dev (tojime, balloon)": openmantra(fixtures, DEV_BOOKS),
        "golden-age dev (ours)": golden_age(fixtures),
        "craphound held-out (p7-11)": craphound(fixtures, HELD_CRAPHOUND),
        "openmantra held-out (tencho)": openmantra(fixtures, HELD_BOOKS),
    }


@dataclass
class RealScore:
    """Precision/recall/F1 at IoU 0.5 and 0.8 over a set of pages, plus reading order."""

    pages: int = 0
    truth: int = 0
    found: int = 0
    tp: dict = field(default_factory=lambda: {0.5: 0, 0.8: 0})
    order_pages: int = 0   # pages where every true panel is matched at 0.5 and counts agree
    order_ok: int = 0      # ... and the order is the truth's
    ms: list = field(default_factory=list)

    def add(self, truth: list, found: list) -> None:
        self.pages += 1
        self.truth += len(truth)
        self.found += len(found)
        for t in self.tp:
            self.tp[t] += len(match(truth, found, t))
        m = match(truth, found, 0.5)
        if len(m) == len(truth) == len(found):
            self.order_pages += 1
            by_truth = [j for _, j, _ in sorted(m)]
            self.order_ok += by_truth == sorted(by_truth)

    def prf(self, t: float) -> tuple[float, float, float]:
        p = self.tp[t] / self.found if self.found else 1.0
        r = self.tp[t] / self.truth if self.truth else 1.0
        return p, r, (2 * p * r / (p + r) if p + r else 0.0)

    def as_dict(self) -> dict:
        out = {"pages": self.pages, "panels": self.truth, "found": self.found}
        for t in (0.5, 0.8):
            p, r, f = self.prf(t)
            out[f"iou{t}"] = {"precision": round(p, 4), "recall": round(r, 4), "f1": round(f, 4)}
        out["order_right"] = f"{self.order_ok}/{self.order_pages}"
        if self.ms:
            s = sorted(self.ms)
            out["ms_median"] = round(s[len(s) // 2], 1)
        return out
