"""Helpers of the engine tests: scanning a library into a cache, and a cache's whole content."""

from __future__ import annotations

from pathlib import Path

from comicdesk.core.settings import Settings
from comicdesk.library.catalog import Catalog
from comicdesk.library.service import ScanOptions, scan_library


def scanned(root: Path, cache_root: Path, data_root: Path) -> tuple[Settings, Path]:
    settings = Settings.resolve(cache_root, data_root, "standard", env={})
    res = scan_library(root, settings, options=ScanOptions(executor="inline", lock_timeout=5.0))
    return settings, settings.library_cache_dir(res.library_id)


def contents(cache: Path) -> dict:
    """Per book path: pages, panels, outputs, text, run records and vectors, as plain values."""
    from comicdesk.cache.vectors import VectorStore

    out: dict = {}
    with Catalog.open(cache, readonly=True) as cat:
        books = {b.id: b for b in cat.all_books()}
        runs = cat.runs(list(books))
        for bid, b in books.items():
            name = Path(b.path).name
            out[name] = {
                "pages": [(p.index, p.width, p.height, p.bad, p.content_hash) for p in cat.pages(bid)],
                "panels": cat.panels(bid),
                "outputs": {page: [(o.model_id, o.label, o.probs) for o in outs]
                            for page, outs in cat.page_outputs(bid).items()},
                "text": {page: [(r.box, r.text, r.panel) for r in rows]
                         for page, rows in cat.text_lines(bid).items()},
                "runs": {s: (r.status, r.version) for s, r in runs.get(bid, {}).items()},
                "vectors": {},
            }
        arrays = sorted(cat.vector_arrays())
        if arrays:
            with VectorStore.open(cache, catalog=cat, readonly=True) as store:
                for model_id, array in arrays:
                    keys, vecs = store.load(model_id, array)
                    for (bid, page, panel), vec in zip(keys.tolist(), vecs):
                        name = Path(books[bid].path).name
                        out[name]["vectors"][(model_id, array, page, panel)] = vec
    return out
