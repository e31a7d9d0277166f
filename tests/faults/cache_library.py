"""A small analysed library for the cache fault tests (issue 20): real CBZs scanned for real, and
fake stages in place of the models (a whole-page panel, page and panel vectors made from the page's
pixels), so ``comicdesk index`` runs in a second and its vectors do not depend on book ids.

``World`` drives the command line in this process (``cli.main``) with the fake stages installed.
"""

from __future__ import annotations

import hashlib
import io
import json
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from comicdesk import cli
from comicdesk.pipeline.stage import IMAGE, PANELS, StageSpec, VectorOutput

PAGE_DIMS = 1280
PANEL_DIMS = 8


def jpeg(w: int, h: int, color) -> bytes:
    from PIL import Image

    out = io.BytesIO()
    Image.new("RGB", (w, h), color).save(out, "JPEG", quality=90)
    return out.getvalue()


def make_library(root: Path, books: int = 5, pages: int = 4) -> list[Path]:
    """``LIB/Book 00.cbz`` ... each page a distinct flat colour (portrait: one panel a page)."""
    out = []
    for b in range(books):
        path = root / f"Book {b:02d}.cbz"
        path.parent.mkdir(parents=True, exist_ok=True)
        with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as zf:
            for i in range(pages):
                zf.writestr(f"{i:03d}.jpg", jpeg(60 + b, 90, ((b * 47 + i * 13) % 256, (i * 61) % 256, 120)))
        out.append(path)
    return out


def _seed(image) -> int:
    return int.from_bytes(hashlib.blake2b(image.tobytes()[:4096], digest_size=8).digest(), "little")


_CENTER: list = []


def _center() -> np.ndarray:
    if not _CENTER:
        from comicdesk.ml.panel_embed import image_center

        _CENTER.append(image_center())
    return _CENTER[0]


def fake_stages() -> list[StageSpec]:
    """Panels (the whole page) and the standard profile's page and panel vectors: a shared
    direction plus a little of the page's own, so every page is like every other (cosine ~0.9)."""
    page_vec = VectorOutput("standard-1", "page_image", PAGE_DIMS, level="page",
                            group_attrs={"model": "fake", "revision": "1"})
    panel_vec = VectorOutput("standard-1", "panel_emb", PANEL_DIMS, level="panel", normalised=True)
    common_page = np.random.default_rng(1).random(PAGE_DIMS).astype(np.float32)
    common_panel = np.ones(PANEL_DIMS, np.float32)

    def load_panels(ctx):
        def run(pages):
            return [{PANELS: [(0, 0, p.image.size[0], p.image.size[1])]} for p in pages]
        return run

    def load_vectors(ctx):
        center = _center()

        def run(pages):
            out = []
            for p in pages:
                rng = np.random.default_rng(_seed(p.image))
                page = center + common_page + 0.3 * rng.random(PAGE_DIMS).astype(np.float32)
                panel = common_panel + 0.3 * rng.standard_normal(PANEL_DIMS).astype(np.float32)
                out.append({page_vec.kind: page, panel_vec.kind: panel[None, :]})
            return out
        return run

    return [
        StageSpec("panels", 1, (IMAGE,), (PANELS,), load_panels, "fake-cache-panels-1", batchable=True),
        StageSpec("fake_vectors", 1, (IMAGE, PANELS), (page_vec.kind, panel_vec.kind), load_vectors,
                  "fake-cache-vectors-1", batchable=True, vectors=(page_vec, panel_vec)),
    ]


@dataclass
class Result:
    code: int
    out: str
    err: str

    def rows(self) -> list[dict]:
        return [json.loads(line) for line in self.out.splitlines() if line.strip()]


class World:
    """A library, its cache and data roots, and the command line with the fake stages."""

    def __init__(self, tmp_path: Path, monkeypatch, capsys, books: int = 5, pages: int = 4):
        from comicdesk.pipeline import registry

        self.root = tmp_path / "LIB"
        self.books = make_library(self.root, books, pages)
        self.cache_root = tmp_path / "cache"
        self.data_root = tmp_path / "data"
        self.capsys = capsys
        monkeypatch.setattr(registry, "_STAGES", {s.name: s for s in fake_stages()})

    def cli(self, *argv: str) -> Result:
        self.capsys.readouterr()
        code = cli.main([*argv, "--cache-dir", str(self.cache_root), "--data-dir", str(self.data_root)])
        out, err = self.capsys.readouterr()
        return Result(code, out, err)

    def index(self) -> Result:
        r = self.cli("index", str(self.root), "--json")
        assert r.code == 0, r.err
        return r

    def similar(self, book: int, *rest: str) -> Result:
        return self.cli("similar", str(self.books[book]), *rest, "--json")

    @property
    def cache(self) -> Path:
        from comicdesk.core.settings import Settings
        from comicdesk.library.service import locate_library

        settings = Settings.resolve(self.cache_root, self.data_root, env={})
        return settings.library_cache_dir(locate_library(self.root, settings, register=False).id)

    @property
    def data(self) -> Path:
        from comicdesk.core.settings import Settings
        from comicdesk.library.service import locate_library

        settings = Settings.resolve(self.cache_root, self.data_root, env={})
        return settings.library_data_dir(locate_library(self.root, settings, register=False).id)

    def resolved(self, i: int) -> str:
        return str(self.books[i].resolve())

    def book_rows(self, model_id: str, array: str) -> dict[int, list[int]]:
        """Zarr rows of each book (by index into ``books``) in one array."""
        from comicdesk.library.catalog import Catalog

        with Catalog.open(self.cache, readonly=True) as cat:
            ids = {cat.book_by_path(b.resolve()).id: i for i, b in enumerate(self.books)}
            out: dict[int, list[int]] = {}
            for b, _p, _n, r in cat.vector_rows(model_id, array):
                out.setdefault(ids[b], []).append(r)
        return out
