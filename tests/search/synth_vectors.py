"""Clustered test vectors (the shape of real embeddings, unlike uniform noise)."""

from __future__ import annotations

import numpy as np


def clustered(n: int, dim: int = 32, *, seed: int = 0, clusters: int = 200, spread: float = 0.5,
              dtype=np.float16) -> np.ndarray:
    """Unit rows around ``clusters`` random centres (a Gaussian mixture on the sphere), with a few
    near-duplicates: the shape of real embeddings, unlike uniform noise."""
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((clusters, dim))
    centres /= np.linalg.norm(centres, axis=1, keepdims=True)
    sizes = np.minimum(rng.zipf(1.5, clusters), 100).astype(float)  # a few big series, many small
    assign = rng.choice(clusters, n, p=sizes / sizes.sum())
    x = centres[assign] + spread / np.sqrt(dim) * rng.standard_normal((n, dim))
    dup = rng.choice(n, n // 20, replace=False)
    x[dup] = x[rng.choice(n, len(dup))] + 0.01 / np.sqrt(dim) * rng.standard_normal((len(dup), dim))
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    return x.astype(dtype)


def make_cache(cache, *, books: int = 4, pages: int = 5, panels: int = 3, dim: int = 32, seed: int = 0,
               model_id: str = "standard-1", array: str = "panel_emb", series=None):
    """A catalogue of ``books`` fake books (page 100×150, ``panels`` boxes per page) with clustered
    panel vectors in ``model_id/array`` (page vectors when ``panels`` is 0): ``(writer store, book
    ids)``."""
    from comicdesk.cache.vectors import VectorStore
    from comicdesk.library.catalog import BookRow, Catalog, PageRow

    with Catalog.open(cache) as cat, cat.transaction():
        ids = []
        for b in range(books):
            s = series[b] if series else None
            book_id = cat.insert_book(
                BookRow(None, f"/lib/b{b}.cbz", f"key{b}", "zip", 1, 1, pages, f"b{b}", s, None),
                [PageRow(i, f"{i}.jpg", 1, 100, 150) for i in range(pages)], 0.0)
            cat.replace_panels(book_id, {p: [(10 * n, 0, 10, 20) for n in range(panels)] for p in range(pages)})
            ids.append(book_id)
    store = VectorStore.open(cache, durable=False)
    store.ensure_array(model_id, array, dim, normalised=panels > 0)
    for j, b in enumerate(ids):
        # panels == 0: page-level rows (panel -1), raw (not normalised) like page features
        keys = [(b, p, n) for p in range(pages) for n in range(panels)] if panels else [(b, p) for p in range(pages)]
        vecs = clustered(len(keys), dim, seed=seed + j)
        store.append(model_id, array, vecs if panels else vecs * 3.0 + 0.5, keys)
    return store, ids
