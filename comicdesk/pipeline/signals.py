"""Building :class:`~comicdesk.core.signals.PageSignals` — what the page classifier sees — from a
running book's stage outputs or from the cache, so a re-score after the person's correction
sees exactly what the pipeline saw.

- :func:`signals_from_book`: a :class:`~comicdesk.pipeline.stage.BookData` as a book-level stage
  gets it (``PAGE_STATS``, ``PANELS``, ``TEXT_BOXES``, ``TEXT_LINES``, ``PAGE_REPEATS`` and the
  ``vectors:standard-1/page_image`` / ``page_text`` rows in each page's outputs).
- :func:`signals_from_cache`: a catalogued book, each kind read through its declaration in
  :mod:`comicdesk.pipeline.outputs` (``page_stats``, ``panels``, ``text_boxes``, ``text_lines``,
  ``page_repeats``; the vector store's ``standard-1/page_image`` and ``page_text`` rows through
  :func:`~comicdesk.pipeline.outputs.page_rows`).
- :func:`repeats_for_book`: ``{page: {"other_books": n, "within_book": n}}`` from the catalogue's
  perceptual hashes (the runner's ``PAGE_REPEATS`` loader).

Recognised text: a page's ``lines`` is None until recognition ran on it (pass 2). From the cache,
a page with a ``page_text`` vector (written by pass 2, zero when the page has no text) or with any
recognised line counts as recognised.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from comicdesk.core.signals import PageSignals
from comicdesk.pipeline.stage import (
    PAGE_REPEATS,
    PAGE_STATS,
    PANELS,
    STANDARD_MODEL,
    TEXT_BOXES,
    TEXT_LINES,
    BookData,
    vectors_kind,
)

PAGE_IMAGE = "page_image"
PAGE_TEXT = "page_text"
IMAGE_KIND = vectors_kind(STANDARD_MODEL, PAGE_IMAGE)
TEXT_KIND = vectors_kind(STANDARD_MODEL, PAGE_TEXT)
TEXT_READ = "text_read"  # the stage (comicdesk.pipeline.stages.text_read.NAME)

#: Two pages are "the same page" for repetition when their 64-bit perceptual hashes differ in at
#: most this many bits: comicdesk.ml.phash's default (re-encodes, resizes, brightness and most
#: small crops stay within it; distinct real pages were >= 20 bits apart, docs/features.md).
REPEAT_MAX_DISTANCE = 10
#: Another book sharing more than this share of this book's pages (and at least
#: :data:`SAME_ISSUE_MIN` of them) is another copy of the same issue (a re-scan, another format),
#: not another issue reprinting an ad: its matches do not count.
SAME_ISSUE_SHARE = 0.3
SAME_ISSUE_MIN = 4


def _box(b: Any) -> tuple[int, int, int, int]:
    b = getattr(b, "box", b)
    return (int(b[0]), int(b[1]), int(b[2]), int(b[3]))


def _stats(value: Any) -> tuple[int | None, dict[str, float]]:
    if not isinstance(value, dict):
        return None, {}
    h = value.get("phash")
    return (int(h) if h is not None else None), dict(value.get("stats") or {})


def signals_from_book(book: BookData) -> list[PageSignals]:
    """One :class:`PageSignals` per page of a running book (bad pages included, flagged)."""
    n = len(book.pages)
    out = []
    for p in book.pages:
        o = p.outputs
        phash, stats = _stats(o.get(PAGE_STATS))
        tb = o.get(TEXT_BOXES)
        boxes = [_box(b) for b in (tb.get("boxes") or ())] if isinstance(tb, dict) else []
        coverage = float(tb["coverage"]) if isinstance(tb, dict) and tb.get("coverage") is not None else None
        lines = None
        if TEXT_LINES in o and o[TEXT_LINES] is not None:
            lines = [str(ln.get("text")) for ln in o[TEXT_LINES] if ln.get("text")]
        rep = o.get(PAGE_REPEATS) or {}
        out.append(PageSignals(
            index=p.index, n_pages=n, width=p.width, height=p.height, bad=p.bad,
            panels=[_box(b) for b in (o.get(PANELS) or ())], text_boxes=boxes, text_coverage=coverage,
            lines=lines, stats=stats, phash=phash, image_vec=o.get(IMAGE_KIND), text_vec=o.get(TEXT_KIND),
            repeats_other_books=int(rep.get("other_books", 0)), repeats_within_book=int(rep.get("within_book", 0))))
    return out


def page_vectors(store, model_id: str, array: str, book_id: int, pages: Iterable[int]) -> dict[int, Any]:
    """``{page: row}`` (float32) for the pages of a book that have a row in ``<model_id>/<array>``
    (none without a store or such an array): :func:`comicdesk.pipeline.outputs.page_rows`."""
    from comicdesk.pipeline.outputs import page_rows

    return page_rows(store, model_id, array, book_id, pages)


def _vectors(store, array: str, book_id: int, pages: Iterable[int]) -> dict[int, Any]:
    """``{page: row}`` for the pages that have a row in ``standard-1/<array>``."""
    return page_vectors(store, STANDARD_MODEL, array, book_id, pages)


def signals_from_cache(catalog, book_id: int, store=None, *,
                       repeats: dict[int, dict[str, int]] | None = None) -> list[PageSignals]:
    """One :class:`PageSignals` per catalogued page of a book, from the cache (``store``: an open
    :class:`~comicdesk.cache.vectors.VectorStore` on the same catalogue, or None to leave the
    vectors out; ``repeats``: computed with :func:`repeats_for_book` when not given). Each kind is
    read through its declaration (:mod:`comicdesk.pipeline.outputs`), as the runner's loaders
    read it for a stage."""
    from comicdesk.pipeline import outputs

    reader = outputs.CacheReader(catalog, store)
    pages = catalog.pages(book_id)
    n = len(pages)
    stats = outputs.load(PAGE_STATS, reader, book_id)
    panels = outputs.load(PANELS, reader, book_id)
    boxes = outputs.load(TEXT_BOXES, reader, book_id)
    lines = outputs.load(TEXT_LINES, reader, book_id)
    idx = [p.index for p in pages]
    image = _vectors(store, PAGE_IMAGE, book_id, idx)
    text = _vectors(store, PAGE_TEXT, book_id, idx)
    if repeats is None:
        repeats = outputs.load(PAGE_REPEATS, reader, book_id)
    # Text was read for every page once text_read is done (a page without text has no rows).
    run = catalog.runs([book_id]).get(book_id, {}).get(TEXT_READ)
    read_done = run is not None and run.status == "done"
    out = []
    for p in pages:
        phash, page_stats = _stats(stats.get(p.index))
        rows = lines.get(p.index, [])
        recognised = read_done or p.index in text or any(ln["text"] is not None for ln in rows)
        tb = boxes.get(p.index)
        rep = repeats.get(p.index, {})
        out.append(PageSignals(
            index=p.index, n_pages=n, width=p.width, height=p.height, bad=p.bad,
            panels=list(panels.get(p.index, [])),
            text_boxes=[tuple(ln["box"]) for ln in rows],
            text_coverage=tb["coverage"] if tb is not None else None,
            lines=[ln["text"] for ln in rows if ln["text"]] if recognised else None,
            stats=page_stats, phash=phash,
            image_vec=image.get(p.index), text_vec=text.get(p.index),
            repeats_other_books=int(rep.get("other_books", 0)),
            repeats_within_book=int(rep.get("within_book", 0))))
    return out


def repeats_for_book(catalog, book_id: int, *, max_distance: int = REPEAT_MAX_DISTANCE,
                     all_hashes: list[tuple[int, int, int]] | None = None) -> dict[int, dict[str, int]]:
    """For each hashed page of the book: how many *other* books hold a page within
    ``max_distance`` bits, and how many other pages of this book do. Books that are another copy
    of the same issue (the same content key, or sharing more than :data:`SAME_ISSUE_SHARE` of the
    pages) do not count. ``all_hashes``: ``comicdesk.library.repeats.hashed_pages(catalog)`` when the caller has it
    (one query for a whole library)."""
    import numpy as np

    from comicdesk.ml.phash import as_array, hamming_matrix

    from comicdesk.library.repeats import hashed_pages

    rows = all_hashes if all_hashes is not None else hashed_pages(catalog)
    mine = [(p, h) for b, p, h in rows if b == book_id]
    if not mine:
        return {}
    others = [(b, h) for b, p, h in rows if b != book_id]
    me = catalog.book(book_id)
    key = getattr(me, "content_key", None)
    same_key = set()
    if key:
        same_key = {b.id for b in catalog.books_by_key(key)}
    a = as_array([h for _, h in mine])
    within = hamming_matrix(a) <= max_distance
    np.fill_diagonal(within, False)
    result = {p: {"other_books": 0, "within_book": int(within[i].sum())} for i, (p, _) in enumerate(mine)}
    if not others:
        return result
    other_books = np.array([b for b, _ in others])
    hits: dict[int, set[int]] = {}  # other book -> my pages it matches
    per_page: list[set[int]] = [set() for _ in mine]
    ob = as_array([h for _, h in others])
    for start in range(0, len(ob), 65536):
        d = hamming_matrix(a, ob[start:start + 65536]) <= max_distance
        for i, j in zip(*np.nonzero(d)):
            b = int(other_books[start + j])
            if b in same_key:
                continue
            per_page[i].add(b)
            hits.setdefault(b, set()).add(i)
    limit = max(SAME_ISSUE_MIN, SAME_ISSUE_SHARE * len(mine))
    copies = {b for b, pages in hits.items() if len(pages) >= limit}
    for i, (p, _) in enumerate(mine):
        result[p]["other_books"] = len(per_page[i] - copies)
    return result
