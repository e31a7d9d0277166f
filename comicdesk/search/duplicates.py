"""Pages repeated within and across books: the same ad in 40 issues, a cover scanned twice.

Two pages are "the same page" when their 64-bit perceptual hashes (``page_features.phash``,
computed in pass 1) differ in at most :data:`~comicdesk.ml.phash.DEFAULT_MAX_DISTANCE` bits and,
where both have page features (``standard-1/page_image``), those agree (cosine at least
:data:`~comicdesk.ml.phash.DEFAULT_MIN_COSINE`): the hash alone links some unrelated pages that
share a layout. Pages too uniform to hash meaningfully (blank or single-colour pages: their hash is
noise around a flat image) are left out of both.

- :func:`hashed_pages` — the pages worth comparing, also used by the page classifier's repeat
  count (``comicdesk.pipeline.signals.repeats_for_book``).
- :func:`duplicate_groups` — ``comicdesk duplicates``: every group of two or more pages, over all
  pairs in tiles (fine to ~100k pages; a 1M-page library takes minutes, documented).
"""

from __future__ import annotations

from dataclasses import dataclass

# The pages worth comparing are the library's to say (the page classifier counts repeats too).
from comicdesk.library.repeats import FLAT_STD, hashed_pages  # noqa: F401


def _page_vectors(catalog, keys):
    """Page features for these (book, page) keys (unit rows), or None without a vector cache."""
    import numpy as np

    from comicdesk.core.models import STANDARD_MODEL

    if catalog.vector_array(STANDARD_MODEL, "page_image") is None:
        return None
    from comicdesk.cache.vectors import VectorStore

    cache_dir = catalog.path.parent
    mapped = {}
    books = sorted({k[0] for k in keys})
    for i in range(0, len(books), 500):
        for b, p, _, r in catalog.vector_rows(STANDARD_MODEL, "page_image", book_ids=books[i:i + 500]):
            mapped[(b, p)] = r
    if not mapped:
        return None
    with VectorStore.open(cache_dir, catalog=catalog, readonly=True) as store:
        have = [k for k in keys if k in mapped]
        data, bad = store.read_checked(STANDARD_MODEL, "page_image", [mapped[k] for k in have])
        data = data.astype(np.float32)
    if bad is not None:  # damaged chunks (recorded for the next run): those pages compare by hash only
        from comicdesk.library.db import HEALTH

        keep = ~bad
        lost = len({k[0] for k, b in zip(have, bad) if b})
        have, data = [k for k, ok in zip(have, keep) if ok], data[keep]
        HEALTH.warning(f"the page vectors of {lost} book{'s' if lost != 1 else ''} are damaged in the cache: "
                       f"their pages are compared by their hashes only; the next comicdesk index "
                       f"analyses {'them' if lost != 1 else 'it'} again")
    out = np.full((len(keys), data.shape[1] if len(data) else 1), np.nan, dtype=np.float32)
    index = {k: i for i, k in enumerate(keys)}
    if len(have):
        norms = np.linalg.norm(data, axis=1, keepdims=True)
        out[[index[k] for k in have]] = data / np.maximum(norms, 1e-12)
    return out


@dataclass(frozen=True)
class DuplicateGroup:
    pages: list[tuple[int, int]]  # (book_id, page), sorted


def duplicate_groups(catalog, book_ids=None, *, max_distance: int | None = None,
                     min_cosine: float | None = None) -> list[DuplicateGroup]:
    """Groups of the same page among these books (all live books when None), largest first."""
    import numpy as np

    from comicdesk.ml import phash as ph

    rows = hashed_pages(catalog, book_ids)
    if len(rows) < 2:
        return []
    keys = [(r[0], r[1]) for r in rows]
    hashes = ph.as_array([r[2] for r in rows])
    vectors = _page_vectors(catalog, keys)
    limit = ph.DEFAULT_MAX_DISTANCE if max_distance is None else max_distance
    cos = ph.DEFAULT_MIN_COSINE if min_cosine is None else min_cosine
    if vectors is not None and np.isnan(vectors).any():
        # Pages without features (another profile's pass 1, a failed stage) are linked by their
        # hash alone; pages with features need both.
        has = ~np.isnan(vectors).any(axis=1)
        groups = _groups(hashes, limit, vectors, cos, has)
    else:
        groups = ph.group_duplicates(hashes, limit, embeddings=vectors, min_cosine=cos)
    result = [DuplicateGroup(sorted(keys[i] for i in g)) for g in groups]
    result.sort(key=lambda g: (-len(g.pages), g.pages[0]))
    return result


def _groups(hashes, limit, vectors, cos, has):
    """Union of: groups among pages with features (hash + cosine), and hash-only links that
    involve a page without features."""
    import numpy as np

    from comicdesk.ml import phash as ph

    n = len(hashes)
    parent = list(range(n))

    def find(i):
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    def union(i, j):
        ri, rj = find(i), find(j)
        if ri != rj:
            parent[max(ri, rj)] = min(ri, rj)

    idx = np.nonzero(has)[0]
    for g in ph.group_duplicates(hashes[idx], limit, embeddings=vectors[idx], min_cosine=cos):
        for a in g[1:]:
            union(int(idx[g[0]]), int(idx[a]))
    missing = np.nonzero(~has)[0]
    for s in range(0, len(missing), 1024):
        part = missing[s:s + 1024]
        d = ph.hamming_matrix(hashes[part], hashes)
        for i, j in zip(*np.nonzero(d <= limit)):
            if part[i] != j:
                union(int(part[i]), int(j))
    groups: dict[int, list[int]] = {}
    for i in range(n):
        groups.setdefault(find(i), []).append(i)
    return [g for g in groups.values() if len(g) > 1]
