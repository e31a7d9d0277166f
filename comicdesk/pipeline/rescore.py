"""Learning from the person's labels: retrain the library's page-class head and re-score its pages.

After the person labels pages (``comicdesk label``, the app), :func:`relabel`:

1. reads every label of the library (``user.sqlite``, keyed by content key + page), finds the
   catalogued books with those content keys, and rebuilds their pages' signals from the cache
   (:func:`comicdesk.pipeline.signals.signals_from_cache`) — exactly what the pipeline saw;
2. trains the head (:func:`comicdesk.ml.page_head.train_head`) on those pages' base
   probabilities and stores it in the data dir (``user.sqlite`` ``heads``; never in the cache,
   which the person may clear);
3. re-scores every classified book of the library (``page_outputs`` of ``standard-1`` with the
   head applied, source ``model``) while holding the library's writer lock. When the lock is
   taken (an index run is writing), the head is stored and marked pending
   (:data:`PENDING_KEY` in the library's settings); :func:`rescore_pending`, called by the next
   writer, applies it.

The person's label itself is never written to the catalogue: it lives in the data dir and wins
when labels are read (``comicdesk.library.labels``), so a re-score or a re-run cannot overwrite it.
This lives in ``pipeline`` (not ``library``) because it needs the models' code (``ml``), which
``library`` may not import.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from comicdesk.pipeline.stage import STANDARD_MODEL
from comicdesk.search.duplicates import hashed_pages

#: The library setting that says a stored head still has to be applied to the catalogue.
PENDING_KEY = "page_head_pending"


@dataclass
class RelabelResult:
    labels: int = 0  # labels in the library
    used: int = 0  # labels on pages the cache has analysed (what the head learnt from)
    rescored_books: int = 0
    rescored_pages: int = 0
    pending: bool = False  # the head is stored; the catalogue is re-scored by the next writer
    reason: str | None = None  # why the catalogue was not re-scored


def labels_digest(labels: Iterable[tuple[str, int, str]]) -> str:
    h = hashlib.sha256()
    for key, page, label in sorted(labels):
        h.update(f"{key}\0{page}\0{label}\n".encode())
    return h.hexdigest()[:16]


def _classified_books(catalog) -> list:
    """Live books with a ``standard-1`` model output."""
    out = []
    for book in catalog.all_books():
        outputs = catalog.page_outputs(book.id)
        if any(o.model_id == STANDARD_MODEL and o.source == "model" for rows in outputs.values() for o in rows):
            out.append(book)
    return out


def _open_store(cache_dir: Path, catalog):
    from comicdesk.cache.vectors import VECTORS_DIR, VectorStore

    if not (Path(cache_dir) / VECTORS_DIR).is_dir():
        return None
    return VectorStore(cache_dir, catalog, readonly=True, durable=False, owns_catalog=False)


def training_books(catalog, store, labels: list[tuple[str, int, str]], all_hashes=None) -> list:
    """The labelled books as :class:`~comicdesk.ml.page_head.LabelledBook` (pages from the cache,
    base probabilities recomputed), one per content key the catalogue knows."""
    from comicdesk.ml.page_classes import classify_book
    from comicdesk.ml.page_head import LabelledBook
    from comicdesk.pipeline.signals import repeats_for_book, signals_from_cache

    by_key: dict[str, dict[int, str]] = {}
    for key, page, label in labels:
        by_key.setdefault(key, {})[page] = label
    out = []
    for key, marks in by_key.items():
        books = [b for b in catalog.books_by_key(key) if b.id is not None]
        book = next((b for b in books if catalog.page_features(b.id)), books[0] if books else None)
        if book is None:
            continue
        pages = signals_from_cache(catalog, book.id, store,
                                   repeats=repeats_for_book(catalog, book.id, all_hashes=all_hashes))
        if not any(p.stats or p.panels or p.text_boxes for p in pages):
            continue  # not analysed yet: nothing to learn from
        out.append(LabelledBook(pages, classify_book(pages), {p: c for p, c in marks.items() if p < len(pages)}))
    return out


def retrain(cache_dir: Path, data_dir: Path) -> tuple[object, RelabelResult]:
    """Train the head from every label of the library and store it (marked pending). Returns the
    head and a result with ``labels`` / ``used`` filled in."""
    from comicdesk.library.catalog import CATALOG_FILE, Catalog
    from comicdesk.library.userdata import UserData
    from comicdesk.ml.page_head import HEAD_VERSION, PageHead, train_head

    result = RelabelResult()
    with UserData(data_dir) as user:
        labels = user.all_labels()
        result.labels = len(labels)
        books = []
        if labels and (Path(cache_dir) / CATALOG_FILE).is_file():
            with Catalog.open(cache_dir, readonly=True) as catalog:
                store = _open_store(cache_dir, catalog)
                hashes = hashed_pages(catalog)
                books = training_books(catalog, store, labels, hashes)
        head = train_head(books) if books else PageHead()
        result.used = head.n_labels
        digest = labels_digest(labels)
        user.set_head(STANDARD_MODEL, HEAD_VERSION, head.to_bytes(), head.n_labels, digest)
        user.set_setting(PENDING_KEY, digest)
    return head, result


def rescore_catalog(cache_dir: Path, head, *, catalog=None, book_ids: Iterable[int] | None = None,
                    should_stop: Callable[[], bool] | None = None) -> tuple[int, int]:
    """Re-classify the classified books (or these) from the cache with ``head`` applied and write
    ``page_outputs``; the caller holds the library lock. Returns (books, pages) re-scored."""
    from comicdesk.library.catalog import Catalog
    from comicdesk.ml.page_classes import classify_book, top_label
    from comicdesk.pipeline.signals import repeats_for_book, signals_from_cache

    own = catalog is None
    cat = Catalog.open(cache_dir) if own else catalog
    try:
        store = _open_store(cache_dir, cat)
        books = _classified_books(cat)
        if book_ids is not None:
            wanted = set(book_ids)
            books = [b for b in books if b.id in wanted]
        hashes = hashed_pages(cat)
        n_books = n_pages = 0
        for book in books:
            if should_stop is not None and should_stop():
                break
            pages = signals_from_cache(cat, book.id, store, repeats=repeats_for_book(cat, book.id, all_hashes=hashes))
            probs = classify_book(pages)
            if head is not None:
                probs = head.apply(pages, probs)
            outputs = cat.page_outputs(book.id)
            now = time.time()
            with cat.transaction():
                for s, p in zip(pages, probs):
                    old = next((o for o in outputs.get(s.index, ()) if o.model_id == STANDARD_MODEL), None)
                    if s.bad or old is None:
                        continue
                    version = old.version.split(" +head")[0]
                    if head is not None and not head.identity:
                        version += f" +head{head.n_labels}"
                    cat.set_page_output(book.id, s.index, STANDARD_MODEL, version, top_label(p), p, "model", now)
                    n_pages += 1
            n_books += 1
        return n_books, n_pages
    finally:
        if own:
            cat.close()


def rescore_pending(cache_dir: Path, data_dir: Path) -> tuple[int, int] | None:
    """Apply a stored head the catalogue has not seen yet (the caller holds the library lock):
    the next writer after a :func:`relabel` that found the library busy. None when nothing is
    pending."""
    from comicdesk.library.userdata import USER_FILE, UserData, load_head

    if not (Path(data_dir) / USER_FILE).is_file():
        return None
    with UserData(data_dir) as user:
        pending = user.setting(PENDING_KEY)
        if not pending:
            return None
        done = rescore_catalog(cache_dir, load_head(data_dir))
        if user.setting(PENDING_KEY) == pending:
            user.set_setting(PENDING_KEY, None)
    return done


def relabel(cache_dir: Path, data_dir: Path, *, lock_timeout: float = 2.0) -> RelabelResult:
    """Retrain the head from the person's labels, store it, and re-score the library's pages
    (when the writer lock can be had within ``lock_timeout`` seconds; else ``pending``)."""
    from comicdesk.library.catalog import CATALOG_FILE
    from comicdesk.library.errors import LibraryBusy
    from comicdesk.library.lock import LibraryLock
    from comicdesk.library.userdata import UserData

    head, result = retrain(cache_dir, data_dir)
    if not (Path(cache_dir) / CATALOG_FILE).is_file():
        result.reason = "the library has not been analysed yet"
        return result
    try:
        lock = LibraryLock(cache_dir, timeout=lock_timeout)
        lock.acquire()
    except LibraryBusy as exc:
        result.pending, result.reason = True, exc.reason
        return result
    try:
        result.rescored_books, result.rescored_pages = rescore_catalog(cache_dir, head)
        with UserData(data_dir) as user:
            if user.setting(PENDING_KEY) == labels_digest(user.all_labels()):
                user.set_setting(PENDING_KEY, None)
    finally:
        lock.release()
    return result


def relabel_library(settings, library_id: str, **kwargs) -> RelabelResult:
    """:func:`relabel` for a library of these settings."""
    return relabel(settings.library_cache_dir(library_id), settings.library_data_dir(library_id), **kwargs)
