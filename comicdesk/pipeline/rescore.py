"""Learning from labels: retrain the library's page-class heads and re-score its pages.

What teaches a head (one per page-class model: ``standard-1``, and ``cosmo-v4`` once the cosmo
profile classified a book; :data:`HEAD_MODELS`):

- the person's labels (``user.sqlite``, keyed by content key + page), weight 1 each;
- explicit page types in the books' own ComicInfo.xml (recorded by the scanner, read with
  :func:`comicdesk.library.labels.comicinfo_page_types`; collections tagged in ComicRack or
  ComicTagger), weight :data:`COMICINFO_WEIGHT` each, at most :data:`COMICINFO_PER_CLASS` pages
  of one class per book (spread over the book; the other typed pages of the class neither teach
  nor anchor), from at most :data:`COMICINFO_MAX_BOOKS` books. ComicInfo's ``Story`` stands for
  every story kind (first pages and text stories are written ``Story`` too), so it teaches the
  story kind the base classifier finds likeliest for that page. A book written by
  ``comicdesk export`` (the export marker in its ZIP comment, :func:`written_by_comicdesk`) never
  teaches: its page types are comicdesk's own labels. Nor does a CBZ that cannot be read to tell.
  The person's label wins over ComicInfo's on the same page.

After the person labels pages (``comicdesk label``, the app), :func:`relabel`:

1. gathers those labels, finds the catalogued books with their content keys, and rebuilds their
   pages' signals from the cache (:func:`comicdesk.pipeline.signals.signals_from_cache`) —
   exactly what the pipeline saw — and each model's base probabilities (``standard-1``: the
   classifier run again; ``cosmo-v4``: the softmax of the logits the cosmo stage stored,
   ``vectors:cosmo-v4/page_logits``, with its SigLIP page vectors as the look-alike cue);
2. trains each head (:func:`comicdesk.ml.page_head.train_head`) and stores it in the data dir
   (``user.sqlite`` ``heads``, with a digest of what it learnt from; never in the cache, which
   the person may clear);
3. re-scores every classified book of the library (``page_outputs`` of each model with its head
   applied, source ``model``, version ``<stage fingerprint> +head<n>``) while holding the
   library's writer lock. When the lock is taken (an index run is writing), the heads are stored
   and marked pending (:data:`PENDING_KEY` in the library's settings).

:func:`rescore_pending` — called by the runner at the end of every index run, holding the lock —
keeps the heads in step with the library: it retrains a head that is stale (made by another
``HEAD_VERSION`` or with other features: ``PageHead.from_bytes`` refuses it and
:func:`comicdesk.pipeline.heads.load_head` gives None, so the run classified without it), or
whose training labels or their books' analyses changed (new ComicInfo-typed books, a labelled book
analysed for the first time or again); applies a pending head; and applies the cosmo head to
books the cosmo stage classified afresh (that stage does not apply a head itself).

The person's label itself is never written to the catalogue: it lives in the data dir and wins
when labels are read (``comicdesk.library.labels``), so a re-score or a re-run cannot overwrite it.
This lives in ``pipeline`` (not ``library``) because it needs the models' code (``ml``), which
``library`` may not import.
"""

from __future__ import annotations

import hashlib
import time
import zipfile
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, replace
from pathlib import Path

from comicdesk.pipeline.stage import STANDARD_MODEL
from comicdesk.library.repeats import hashed_pages

#: The library setting that says a stored head still has to be applied to the catalogue.
PENDING_KEY = "page_head_pending"
#: The cosmo profile's page-class model (``comicdesk.pipeline.stages.cosmo.COSMO_MODEL``) and
#: the arrays its classes stage stores: the logits (the base probabilities of its head) and the
#: SigLIP page vectors (its look-alike cue).
COSMO_MODEL = "cosmo-v4"
COSMO_LOGITS = "page_logits"
COSMO_VISUAL = "page_visual"
#: Page-class models that get a head, each its own (base probabilities and page vectors differ).
HEAD_MODELS: tuple[str, ...] = (STANDARD_MODEL, COSMO_MODEL)
#: Weight of one page typed in a book's ComicInfo.xml (a page the person labelled weighs 1): the
#: tagger may have typed whole ranges at once, or kept a default, so it counts less than a look.
COMICINFO_WEIGHT = 0.3
#: At most this many typed pages of one class teach from one book (spread over the book): a
#: collection typing every page ``Story`` must not swamp the rest.
COMICINFO_PER_CLASS = 5
#: At most this many ComicInfo-typed books teach (the first by content key): training and the
#: stored head stay small in a library tagged throughout.
COMICINFO_MAX_BOOKS = 50

#: A field of the catalogue's ``comicinfo`` JSON by which a scanner may record whether the book is
#: comicdesk's own export (true/false); without it the book's ZIP comment is read here.
EXPORT_FIELD = "comicdesk_export"

_HEAD_SUFFIX = " +head"


@dataclass
class RelabelResult:
    labels: int = 0  # the person's labels in the library
    used: int = 0  # labels on pages the cache has analysed (what the standard head learnt from)
    comicinfo: int = 0  # of ``used``: ComicInfo page types (after the per-book cap)
    exports_skipped: int = 0  # typed books left out because comicdesk's export wrote them
    rescored_books: int = 0
    rescored_pages: int = 0
    pending: bool = False  # the head is stored; the catalogue is re-scored by the next writer
    reason: str | None = None  # why the catalogue was not re-scored


@dataclass(frozen=True)
class TrainingLabel:
    """One page's class as a head learns it."""

    label: str
    weight: float = 1.0
    source: str = "user"  # "user" | "comicinfo"


def labels_digest(labels: Iterable[tuple[str, int, str]]) -> str:
    h = hashlib.sha256()
    for key, page, label in sorted(labels):
        h.update(f"{key}\0{page}\0{label}\n".encode())
    return h.hexdigest()[:16]


# -- what teaches ---------------------------------------------------------------------------------
def written_by_comicdesk(path: str | Path) -> bool | None:
    """True when this file is a CBZ written by ``comicdesk export`` (the export marker in its ZIP
    comment, :func:`comicdesk.archive.comicbookinfo.is_export_comment`: today's ComicBookInfo
    form or the earlier text line), False when it is another ZIP, None when it cannot be read to
    tell (offline, damaged)."""
    from comicdesk.archive.comicbookinfo import is_export_comment

    try:
        with zipfile.ZipFile(path) as zf:
            return is_export_comment(zf.comment)
    except (OSError, zipfile.BadZipFile, ValueError):
        return None


def cap_per_class(types: Mapping[int, str], cap: int = COMICINFO_PER_CLASS) -> dict[int, str]:
    """At most ``cap`` pages of each class, spread evenly over the pages of that class (its first
    and last kept)."""
    by_class: dict[str, list[int]] = {}
    for page, cls in sorted(types.items()):
        by_class.setdefault(cls, []).append(page)
    out: dict[int, str] = {}
    for cls, pages in by_class.items():
        if len(pages) > cap:
            pages = pages[:cap] if cap <= 1 else sorted(
                {pages[round(i * (len(pages) - 1) / (cap - 1))] for i in range(cap)})
        out.update({p: cls for p in pages})
    return out


def comicinfo_labels(catalog, *, max_books: int = COMICINFO_MAX_BOOKS) -> tuple[dict[str, dict[int, str]], int]:
    """``({content key: {page: class}}, exports skipped)``: the explicit ComicInfo page types of the
    catalogued books that may teach (every typed page; :func:`cap_per_class` picks the ones that
    do), comicdesk's own exports and unreadable CBZs left out."""
    from comicdesk.core.pages import PAGE_CLASSES
    from comicdesk.library.labels import comicinfo_page_types

    typed = []
    for book in catalog.all_books():
        if not book.content_key or book.error:
            continue
        n = book.pages if book.pages is not None else 1 << 30
        types = {p: c for p, c in comicinfo_page_types(book).items() if 0 <= p < n and c in PAGE_CLASSES}
        if types:
            typed.append((book.content_key, book, types))
    out: dict[str, dict[int, str]] = {}
    skipped = 0
    for key, book, types in sorted(typed, key=lambda t: (t[0], t[1].path)):
        if key in out or len(out) >= max_books:
            continue
        recorded = (book.comicinfo or {}).get(EXPORT_FIELD)
        if recorded is not None:  # the scanner said (no need to reach the file)
            if recorded:
                skipped += 1
                continue
        elif book.format == "zip":
            mine = written_by_comicdesk(book.path)
            if mine is None:
                continue
            if mine:
                skipped += 1
                continue
        out[key] = types
    return out, skipped


def training_labels(user_labels: Iterable[tuple[str, int, str]],
                    comicinfo: Mapping[str, Mapping[int, str]] | None = None) -> dict[str, dict[int, TrainingLabel]]:
    """``{content key: {page: TrainingLabel}}``: every typed ComicInfo page (weight
    :data:`COMICINFO_WEIGHT`; the cap is applied when the book's pages are known) under the
    person's labels (weight 1), which win on the same page."""
    out: dict[str, dict[int, TrainingLabel]] = {}
    for key, types in (comicinfo or {}).items():
        out[key] = {p: TrainingLabel(c, COMICINFO_WEIGHT, "comicinfo") for p, c in types.items()}
    for key, page, label in user_labels:
        out.setdefault(key, {})[page] = TrainingLabel(label)
    return out


# -- base probabilities from the cache ------------------------------------------------------------
def _softmax_rows(rows: Mapping[int, object]) -> dict[int, dict[str, float]] | None:
    import numpy as np

    from comicdesk.core.pages import PAGE_CLASSES
    from comicdesk.ml.page_classes import probs_to_dicts

    if not rows:
        return {}
    pages = sorted(rows)
    z = np.stack([np.asarray(rows[p], np.float64).reshape(-1) for p in pages])
    if z.shape[1] != len(PAGE_CLASSES):
        return None  # a model with other classes: no head for it
    z = np.exp(z - z.max(1, keepdims=True))
    return dict(zip(pages, probs_to_dicts(z / z.sum(1, keepdims=True))))


def book_scores(catalog, book_id: int, store, all_hashes=None, model: str = STANDARD_MODEL):
    """``(pages, base probabilities)`` of a catalogued book for ``model``'s head, from the cache;
    None when the cache has nothing for it (not analysed, or not by that model). For
    ``cosmo-v4`` a page without stored logits is flagged bad (it has no class to re-score)."""
    from comicdesk.pipeline.signals import page_vectors, repeats_for_book, signals_from_cache

    pages = signals_from_cache(catalog, book_id, store,
                               repeats=repeats_for_book(catalog, book_id, all_hashes=all_hashes))
    if model == STANDARD_MODEL:
        from comicdesk.ml.page_classes import classify_book

        if not any(p.stats or p.panels or p.text_boxes for p in pages):
            return None
        return pages, classify_book(pages)
    if model != COSMO_MODEL:
        return None
    idx = [p.index for p in pages]
    probs = _softmax_rows(page_vectors(store, model, COSMO_LOGITS, book_id, idx))
    if not probs:
        return None
    visual = page_vectors(store, model, COSMO_VISUAL, book_id, idx)
    from comicdesk.core.pages import PAGE_CLASSES

    flat = {c: 1.0 / len(PAGE_CLASSES) for c in PAGE_CLASSES}
    pages = [replace(p, image_vec=visual.get(p.index), bad=p.bad or p.index not in probs) for p in pages]
    return pages, [probs.get(p.index, flat) for p in pages]


def _by_key(labels) -> dict[str, dict[int, TrainingLabel]]:
    if isinstance(labels, Mapping):
        return {k: dict(v) for k, v in labels.items()}
    out: dict[str, dict[int, TrainingLabel]] = {}
    for key, page, label in labels:
        out.setdefault(key, {})[page] = TrainingLabel(label)
    return out


def _book_for_key(catalog, key: str, model: str):
    """The catalogued book of this content key whose ``model`` outputs a head learns from."""
    books = [b for b in catalog.books_by_key(key) if b.id is not None]
    have = [b for b in books if any(o.model_id == model and o.source == "model"
                                    for rows in catalog.page_outputs(b.id).values() for o in rows)]
    if model == STANDARD_MODEL:  # the classifier runs again: any analysed copy will do
        return next((b for b in have + books if catalog.page_features(b.id)), books[0] if books else None)
    return have[0] if have else None


def training_books(catalog, store, labels, all_hashes=None, *, model: str = STANDARD_MODEL) -> list:
    """The labelled books as :class:`~comicdesk.ml.page_head.LabelledBook` (pages from the cache,
    base probabilities recomputed), one per content key the catalogue knows. ``labels``: the
    person's ``(content key, page, class)`` triples, or :func:`training_labels`."""
    from comicdesk.core.pages import STORY_KINDS
    from comicdesk.ml.page_head import LabelledBook

    out = []
    for key, marks in _by_key(labels).items():
        book = _book_for_key(catalog, key, model)
        if book is None:
            continue
        scored = book_scores(catalog, book.id, store, all_hashes, model)
        if scored is None:
            continue  # not analysed yet: nothing to learn from
        pages, probs = scored
        marks = {p: m for p, m in marks.items() if 0 <= p < len(pages)}
        typed = {p: m.label for p, m in marks.items() if m.source == "comicinfo"}
        chosen = cap_per_class(typed)
        # typed pages over the cap neither teach nor anchor (their class is known: the anchor
        # would pull them towards the base classifier's answer)
        left_out = set(typed) - set(chosen)
        if left_out:
            pages = [replace(p, bad=True) if p.index in left_out else p for p in pages]
        labels_, weights = {}, {}
        for p, m in marks.items():
            if m.source == "comicinfo" and p not in chosen:
                continue
            label = m.label
            if m.source == "comicinfo" and label == "story":  # ComicInfo's Story: any story kind
                label = max(sorted(STORY_KINDS), key=lambda c: probs[p].get(c, 0.0))
            labels_[p] = label
            if m.weight != 1.0:
                weights[p] = m.weight
        if labels_:
            out.append(LabelledBook(pages, probs, labels_, weights or None))
    return out


# -- training -------------------------------------------------------------------------------------
def _open_store(cache_dir: Path, catalog):
    from comicdesk.cache.vectors import VECTORS_DIR, VectorStore

    if not (Path(cache_dir) / VECTORS_DIR).is_dir():
        return None
    return VectorStore(cache_dir, catalog, readonly=True, durable=False, owns_catalog=False)


def _has_model(catalog, model: str) -> bool:
    """Whether any book may carry ``model``'s classes (cheap: no page is read)."""
    if model == STANDARD_MODEL:
        return True
    return catalog.vector_array(model, COSMO_LOGITS) is not None


def _analysis(catalog, key: str, model: str) -> str:
    """What the cache holds for this book's ``model`` classes (the stage versions, head left
    out): a labelled book analysed again changes its head's digest."""
    book = _book_for_key(catalog, key, model)
    if book is None:
        return ""
    versions = {o.version.split(_HEAD_SUFFIX)[0] for rows in catalog.page_outputs(book.id).values()
                for o in rows if o.model_id == model and o.source == "model"}
    return ",".join(sorted(versions))


def training_digest(catalog, labels: Mapping[str, Mapping[int, TrainingLabel]], model: str) -> str:
    """A digest of what ``model``'s head learns from: the labels of the books that model
    classified, and the versions of those classes."""
    h = hashlib.sha256()
    for key in sorted(labels):
        analysis = _analysis(catalog, key, model) if catalog is not None else ""
        if not analysis:
            continue
        h.update(f"{key}\0{analysis}\n".encode())
        for page, m in sorted(labels[key].items()):
            h.update(f"{page}\0{m.label}\0{m.weight:g}\0{m.source}\n".encode())
    return h.hexdigest()[:16]


@dataclass
class _Gathered:
    user: list[tuple[str, int, str]]
    labels: dict[str, dict[int, TrainingLabel]]
    exports_skipped: int
    models: tuple[str, ...]


def _gather(catalog, user) -> _Gathered:
    user_labels = user.all_labels()
    if catalog is None:
        return _Gathered(user_labels, training_labels(user_labels), 0, (STANDARD_MODEL,))
    typed, skipped = comicinfo_labels(catalog)
    models = tuple(m for m in HEAD_MODELS if _has_model(catalog, m) or user.head(m) is not None)
    return _Gathered(user_labels, training_labels(user_labels, typed), skipped, models)


def _train(catalog, store, gathered: _Gathered, user, models: Iterable[str], result: RelabelResult) -> dict:
    """Train and store the heads of these models (marked pending); returns ``{model: head}``."""
    from comicdesk.ml.page_head import HEAD_VERSION, PageHead, train_head

    heads = {}
    hashes = hashed_pages(catalog) if catalog is not None else None
    digests = []
    for model in models:
        books = training_books(catalog, store, gathered.labels, hashes, model=model) if catalog is not None else []
        head = train_head(books) if books else PageHead()
        digest = training_digest(catalog, gathered.labels, model)
        user.set_head(model, HEAD_VERSION, head.to_bytes(), head.n_labels, digest)
        heads[model] = head
        digests.append(digest)
        if model == STANDARD_MODEL:
            result.used = head.n_labels
            result.comicinfo = sum(1 for b in books for p in b.labels if (b.weights or {}).get(p, 1.0) != 1.0)
    user.set_setting(PENDING_KEY, "+".join(digests))
    return heads


def _stored_heads(user, models: Iterable[str]) -> dict:
    """The stored heads these models have (identity for none or a stale one)."""
    from comicdesk.ml.page_head import HEAD_VERSION, PageHead

    out = {}
    for model in models:
        stored = user.head(model)
        head = None
        if stored is not None and stored[0] == HEAD_VERSION:
            try:
                head = PageHead.from_bytes(stored[1])
            except ValueError:
                head = None
        out[model] = head if head is not None else PageHead()
    return out


def retrain(cache_dir: Path, data_dir: Path) -> tuple[object, RelabelResult]:
    """Train every head from the person's labels and the books' ComicInfo page types and store
    them (marked pending). Returns the ``standard-1`` head and a result with ``labels`` /
    ``used`` / ``comicinfo`` filled in."""
    heads, result = _retrain(cache_dir, data_dir)
    return heads[STANDARD_MODEL], result


def _retrain(cache_dir: Path, data_dir: Path) -> tuple[dict, RelabelResult]:
    from comicdesk.library.catalog import CATALOG_FILE, Catalog
    from comicdesk.library.userdata import UserData

    result = RelabelResult()
    with UserData(data_dir) as user:
        if (Path(cache_dir) / CATALOG_FILE).is_file():
            with Catalog.open(cache_dir, readonly=True) as catalog:
                gathered = _gather(catalog, user)
                store = _open_store(cache_dir, catalog)
                heads = _train(catalog, store, gathered, user, gathered.models, result)
        else:
            gathered = _gather(None, user)
            heads = _train(None, None, gathered, user, gathered.models, result)
        result.labels = len(gathered.user)
        result.exports_skipped = gathered.exports_skipped
    return heads, result


# -- re-scoring -----------------------------------------------------------------------------------
def _classified_books(catalog, model: str = STANDARD_MODEL) -> list:
    """Live books with a ``model`` output."""
    out = []
    for book in catalog.all_books():
        outputs = catalog.page_outputs(book.id)
        if any(o.model_id == model and o.source == "model" for rows in outputs.values() for o in rows):
            out.append(book)
    return out


def _head_suffix(head) -> str:
    return "" if head is None or head.identity else f"{_HEAD_SUFFIX}{head.n_labels}"


def rescore_catalog(cache_dir: Path, head, *, catalog=None, book_ids: Iterable[int] | None = None,
                    should_stop: Callable[[], bool] | None = None,
                    model: str = STANDARD_MODEL) -> tuple[int, int]:
    """Re-classify the books ``model`` classified (or these of them) from the cache with ``head``
    applied and write ``page_outputs``; the caller holds the library lock. Returns (books,
    pages) re-scored."""
    from comicdesk.library.catalog import Catalog
    from comicdesk.ml.page_classes import top_label

    own = catalog is None
    cat = Catalog.open(cache_dir) if own else catalog
    try:
        store = _open_store(cache_dir, cat)
        books = _classified_books(cat, model)
        if book_ids is not None:
            wanted = set(book_ids)
            books = [b for b in books if b.id in wanted]
        hashes = hashed_pages(cat) if books else None
        n_books = n_pages = 0
        suffix = _head_suffix(head)
        for book in books:
            if should_stop is not None and should_stop():
                break
            scored = book_scores(cat, book.id, store, hashes, model)
            if scored is None:
                continue
            pages, probs = scored
            if head is not None:
                probs = head.apply(pages, probs)
            outputs = cat.page_outputs(book.id)
            now = time.time()
            with cat.transaction():
                for s, p in zip(pages, probs):
                    old = next((o for o in outputs.get(s.index, ()) if o.model_id == model), None)
                    if s.bad or old is None:
                        continue
                    version = old.version.split(_HEAD_SUFFIX)[0] + suffix
                    cat.set_page_output(book.id, s.index, model, version, top_label(p), p, "model", now)
                    n_pages += 1
            n_books += 1
        return n_books, n_pages
    finally:
        if own:
            cat.close()


def _rescore_all(cache_dir: Path, heads: Mapping[str, object], **kwargs) -> tuple[int, int]:
    books = pages = 0
    for model, head in heads.items():
        b, p = rescore_catalog(cache_dir, head, model=model, **kwargs)
        books, pages = books + b, pages + p
    return books, pages


def _unheaded_books(catalog, model: str, head) -> list[int]:
    """Books whose ``model`` classes were written without this head (a fresh run of a stage that
    does not apply it)."""
    suffix = _head_suffix(head)
    out = []
    for book in _classified_books(catalog, model):
        mine = [o for rows in catalog.page_outputs(book.id).values() for o in rows
                if o.model_id == model and o.source == "model"]
        if any(not o.version.endswith(suffix) or (not suffix and _HEAD_SUFFIX in o.version) for o in mine):
            out.append(book.id)
    return out


def rescore_pending(cache_dir: Path, data_dir: Path) -> tuple[int, int] | None:
    """Keep the stored heads in step with the library (the caller holds the library lock; the
    runner calls this at the end of every index run): retrain a head that is stale (another
    ``HEAD_VERSION`` or other features) or whose training labels or labelled books' analyses
    changed, apply a pending head to the whole catalogue, and the cosmo head to books the cosmo
    stage classified without it. Returns (books, pages) re-scored, or None when nothing was to
    do."""
    from comicdesk.library.catalog import CATALOG_FILE, Catalog
    from comicdesk.library.userdata import USER_FILE, UserData
    from comicdesk.pipeline.heads import HEAD_STALE, head_state

    if not (Path(cache_dir) / CATALOG_FILE).is_file():
        return None
    if not (Path(data_dir) / USER_FILE).is_file():
        with Catalog.open(cache_dir, readonly=True) as catalog:
            typed, _ = comicinfo_labels(catalog)
        if not typed:
            return None  # no labels of any kind, nothing stored: the heads are the identity
        Path(data_dir).mkdir(parents=True, exist_ok=True)
    with Catalog.open(cache_dir) as catalog:
        with UserData(data_dir) as user:
            gathered = _gather(catalog, user)
            stale = []
            for model in gathered.models:
                stored = user.head(model)
                if stored is None:
                    if any(_analysis(catalog, key, model) for key in gathered.labels):
                        stale.append(model)
                elif head_state(data_dir, model) == HEAD_STALE \
                        or stored[3] != training_digest(catalog, gathered.labels, model):
                    stale.append(model)
            if stale:
                store = _open_store(cache_dir, catalog)
                _train(catalog, store, gathered, user, stale, RelabelResult())
            pending = user.setting(PENDING_KEY)
            heads = _stored_heads(user, gathered.models)
            if pending:
                done = _rescore_all(cache_dir, heads, catalog=catalog)
                if user.setting(PENDING_KEY) == pending:
                    user.set_setting(PENDING_KEY, None)
                return done
            # the cosmo stage writes its classes without the head: apply it to what it wrote
            books = pages = 0
            for model, head in heads.items():
                if model == STANDARD_MODEL:
                    continue  # its stages apply the head themselves
                ids = _unheaded_books(catalog, model, head)
                if ids:
                    b, p = rescore_catalog(cache_dir, head, catalog=catalog, book_ids=ids, model=model)
                    books, pages = books + b, pages + p
            return (books, pages) if books else None


def relabel(cache_dir: Path, data_dir: Path, *, lock_timeout: float = 2.0) -> RelabelResult:
    """Retrain the heads from the person's labels (and the books' ComicInfo page types), store
    them, and re-score the library's pages (when the writer lock can be had within
    ``lock_timeout`` seconds; else ``pending``)."""
    from comicdesk.library.catalog import CATALOG_FILE
    from comicdesk.library.errors import LibraryBusy
    from comicdesk.library.lock import LibraryLock
    from comicdesk.library.userdata import UserData

    heads, result = _retrain(cache_dir, data_dir)
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
        with UserData(data_dir) as user:
            pending = user.setting(PENDING_KEY)
        result.rescored_books, result.rescored_pages = _rescore_all(cache_dir, heads)
        with UserData(data_dir) as user:
            if user.setting(PENDING_KEY) == pending:
                user.set_setting(PENDING_KEY, None)
    finally:
        lock.release()
    return result


def relabel_library(settings, library_id: str, **kwargs) -> RelabelResult:
    """:func:`relabel` for a library of these settings."""
    return relabel(settings.library_cache_dir(library_id), settings.library_data_dir(library_id), **kwargs)
