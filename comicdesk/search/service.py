"""Similar panels and pages across a library: the service ``comicdesk similar`` and the app call.

- :class:`SearchService` answers queries by panel (:meth:`~SearchService.similar_to_panel`), by
  page (:meth:`~SearchService.similar_to_page`) and by text (:meth:`~SearchService.similar_to_text`)
  against one library's cache, with :class:`Filters` (other books only, page classes or groups,
  series). Results (:class:`Hit`) carry the book's absolute path, page, panel (None for a page
  result), box and score (cosine), best first.
- :func:`update_indexes` — what the runner calls after a run, holding the library lock: every
  searchable array of the cache gets its index built or brought up to date and saved.

Which arrays answer which query (:data:`PROFILES`): standard — panels ``standard-1/panel_emb``,
pages ``standard-1/page_image`` (centred on the EfficientNet BatchNorm mean, then unit length),
text MiniLM against ``standard-1/panel_text`` (panels), else ``page_text`` (pages); cosmo — panels
``panel-encoder-v1/panel_emb``, pages ``cosmo-v4/page_visual`` (unit length), text
``encode_text_only`` against ``panel-encoder-v1/panel_text`` when stored, else ``panel_emb``.

Readers never wait for the writer: the persisted index is loaded, brought up to date in memory
when the cache moved on, and saved only when the library lock could be taken without waiting.
Every hit is checked against the catalogue before it is returned (its row still mapped, its book
not removed), so an index that lags behind never shows a deleted panel.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from comicdesk.core.errors import ComicdeskError
from comicdesk.search.index import (
    UNIT,
    CorruptIndex,
    SyncReport,
    Transform,
    VectorIndex,
    index_dir,
)

if TYPE_CHECKING:  # pragma: no cover
    from comicdesk.cache.vectors import VectorStore
    from comicdesk.library.catalog import Catalog

log = logging.getLogger(__name__)


#: A first build of at least this many rows is announced (it takes seconds to minutes).
BUILD_NOTICE_ROWS = 200_000


class SearchError(ComicdeskError):
    kind = "search"


class NotIndexed(SearchError):
    kind = "not-indexed"


# -- what is searched ------------------------------------------------------------------------------
def _effnet_center():
    from comicdesk.ml.panel_embed import image_center

    return image_center()


EFFNET_CENTERED = Transform("center-effnet-bn-unit-v1", center=_effnet_center)


@dataclass(frozen=True)
class Target:
    model_id: str
    array: str
    level: str  # "panel" | "page"
    transform: Transform = UNIT


PROFILES: dict[str, dict[str, tuple[Target, ...]]] = {
    "standard": {
        "panel": (Target("standard-1", "panel_emb", "panel"),),
        "page": (Target("standard-1", "page_image", "page", EFFNET_CENTERED),),
        "text": (Target("standard-1", "panel_text", "panel"), Target("standard-1", "page_text", "page")),
    },
    "cosmo": {
        "panel": (Target("panel-encoder-v1", "panel_emb", "panel"),),
        "page": (Target("cosmo-v4", "page_visual", "page"),),
        "text": (Target("panel-encoder-v1", "panel_text", "panel"),
                 Target("panel-encoder-v1", "panel_emb", "panel")),
    },
}


def searchable_targets() -> dict[tuple[str, str], Target]:
    """Every array an index is kept for, by ``(model_id, array)``."""
    out: dict[tuple[str, str], Target] = {}
    for kinds in PROFILES.values():
        for targets in kinds.values():
            for t in targets:
                out.setdefault((t.model_id, t.array), t)
    return out


# -- filters and results ---------------------------------------------------------------------------
def parse_classes(values: Iterable[str] | None) -> frozenset[str] | None:
    """Class and group names (``story-only``, ``no-ads``), comma- or space-separated → classes."""
    from comicdesk.core.pages import GROUPS, PAGE_CLASSES

    if not values:
        return None
    out: set[str] = set()
    for value in values:
        for name in str(value).replace(",", " ").split():
            key = name.casefold()
            if key in GROUPS:
                out |= GROUPS[key]
            elif key in PAGE_CLASSES:
                out.add(key)
            else:
                raise SearchError(f"unknown class {name!r}: use {', '.join(PAGE_CLASSES)} or a group "
                                  f"({', '.join(GROUPS)})")
    return frozenset(out) or None


@dataclass(frozen=True)
class Filters:
    other_books: bool = False  # leave out the query's book (and other copies of it)
    classes: frozenset[str] | None = None  # page labels allowed (user > comicinfo > model)
    series: frozenset[str] | None = None  # series names allowed (case-insensitive)


@dataclass(frozen=True)
class Hit:
    book_id: int
    book: str  # absolute path
    page: int
    panel: int | None  # None: a page result
    box: list[int] | None  # [x, y, w, h]; a page result: the whole page, None when its size is unknown
    score: float
    #: text queries only: "words" (the text holds the query's words; ``score`` is BM25 mapped into
    #: 0..1) or "meaning" (``score`` is the cosine); None for panel and page queries
    match: str | None = None
    text: str = ""  # a words match: the text that holds the words (not in the JSON)

    def as_dict(self) -> dict:
        out = {"book": self.book, "page": self.page, "panel": self.panel, "box": self.box,
               "score": round(float(self.score), 4)}
        if self.match is not None:
            out["match"] = self.match
        return out


#: Two results are one panel in copies of a book when their pages' 64-bit perceptual hashes differ
#: in at most this many bits (a re-encode or a re-scan moves a few) ...
COPY_MAX_BITS = 6
#: ... and their scores differ by at most this much.
COPY_MAX_GAP = 0.02


@dataclass
class CopyGroup:
    """A result and the same panel (or page) in other copies of its book (:meth:`SearchService.group_copies`)."""

    best: Hit
    copies: list[Hit]


def _same_page(a, b, max_bits: int) -> bool:
    """``a``, ``b``: ``(content hash, signed perceptual hash)`` of two pages, or None."""
    from comicdesk.ml.phash import hamming

    if a is None or b is None:
        return False
    if a[1] is not None and b[1] is not None:
        return hamming(a[1], b[1]) <= max_bits
    return a[0] is not None and a[0] == b[0]


# -- the service -------------------------------------------------------------------------------------
class SearchService:
    """Queries against one library's cache (catalogue and vector store opened read-only by
    :meth:`open`). ``text_encoder``: ``str -> vector`` for text queries (the CLI and the app pass
    the profile's encoder; loaded only when a text query comes)."""

    def __init__(self, cache_dir: Path, catalog: Catalog, store: VectorStore, *,
                 profile: str = "standard", user_data=None,
                 text_encoder: Callable[[str], np.ndarray] | None = None, persist: str = "try-lock",
                 notify: Callable[[str], None] | None = None, owns: bool = False):
        if profile not in PROFILES:
            raise SearchError(f"unknown profile {profile!r}")
        self.cache_dir = Path(cache_dir)
        self.catalog = catalog
        self.store = store
        self.profile = profile
        self.user_data = user_data
        self.text_encoder = text_encoder
        self.persist = persist  # "try-lock" | "never" | "locked" (the caller holds the lock)
        self.notify = notify  # one line for the person before long work (a first build)
        self._owns = owns
        self._indexes: dict[tuple[str, str], VectorIndex] = {}
        self._labels: dict[int, dict[int, str | None]] = {}
        self._books: dict[int, object] = {}
        self._panel_cache: dict[int, dict] = {}
        self._size_cache: dict[int, dict[int, tuple[int, int]]] = {}
        self._hash_cache: dict[int, dict[int, tuple]] = {}
        self._said_damaged: set[int] = set()
        self._text = None  # the word index (search.text_index.TextIndex), opened on the first words query

    def forget_labels(self) -> None:
        """Labels changed (a relabel, more analysis): read them again on the next class filter —
        and what else the analysis moves on (panels, page sizes, page hashes), on the next use."""
        for cache in (self._labels, self._books, self._panel_cache, self._size_cache, self._hash_cache):
            cache.clear()

    @classmethod
    def open(cls, cache_dir: Path, **kwargs) -> SearchService:
        from comicdesk.cache.vectors import VectorStore
        from comicdesk.library.catalog import CATALOG_FILE, Catalog

        cache_dir = Path(cache_dir)
        if not (cache_dir / CATALOG_FILE).is_file():
            raise NotIndexed("this library is not indexed yet: run comicdesk index first")
        catalog = Catalog.open(cache_dir, readonly=True)
        store = VectorStore.open(cache_dir, catalog=catalog, readonly=True)
        return cls(cache_dir, catalog, store, owns=True, **kwargs)

    def close(self) -> None:
        if self._text is not None:
            self._text.close()
            self._text = None
        if self._owns:
            self.store.close()
            self.catalog.close()

    def __enter__(self) -> SearchService:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # -- indexes
    def available(self, kind: str) -> Target | None:
        """The first target of this query kind whose array holds rows."""
        for t in PROFILES[self.profile][kind]:
            info = self.catalog.vector_array(t.model_id, t.array)
            if info is not None and info.length > 0:
                return t
        return None

    def index(self, target: Target) -> VectorIndex:
        """The index of ``target``, loaded, brought up to date, and saved when allowed."""
        info = self.catalog.vector_array(target.model_id, target.array)
        if info is None:
            raise NotIndexed(f"nothing is indexed for {target.model_id}/{target.array} yet: "
                             f"run comicdesk index first")
        key = (target.model_id, target.array)
        idx = self._indexes.get(key)
        folder = index_dir(self.cache_dir, target.model_id)
        if idx is None:
            try:
                idx = VectorIndex.load(folder, target.model_id, target.array, info.dims, target.transform)
            except CorruptIndex as exc:
                if (folder / f"{target.array}.manifest.json").exists():
                    log.info("rebuilding the %s/%s index: %s", target.model_id, target.array, exc.reason)
                idx = VectorIndex(target.model_id, target.array, info.dims, target.transform)
        if (idx.generation != info.generation or idx.length != info.length
                or idx.cache_id != self.catalog.cache_id):  # made for another catalogue, or unstamped
            if idx.generation < 0 and info.length >= BUILD_NOTICE_ROWS and self.notify is not None:
                self.notify(f"building the search index of {info.length:,} {target.level} vectors "
                            f"(once; later runs keep it up to date)")
            idx.sync(self.catalog, self.store)
        if idx.dirty and self.persist != "never":
            _save_if_locked(idx, folder, self.cache_dir, locked=self.persist == "locked")
        self._indexes[key] = idx
        self._say_damage()
        return idx

    def _say_damage(self) -> None:
        """One line naming the books a read had to leave out because their vectors are damaged
        (recorded in the cache by the store: the next index run analyses them again)."""
        books = {b for _chunks, bs in getattr(self.store, "damage", {}).values() for b in bs}
        new = books - self._said_damaged
        if not new:
            return
        self._said_damaged |= new
        names = []
        for b in sorted(new):
            row = self._book(b)
            names.append(Path(row.path).name if row is not None else f"book {b}")
        names.sort()
        shown = ", ".join(names[:5]) + (f" and {len(names) - 5} more" if len(names) > 5 else "")
        line = (f"left out {len(names)} book{'s' if len(names) != 1 else ''} whose vectors in the "
                f"cache are damaged ({shown}); the next comicdesk index analyses "
                f"{'them' if len(names) != 1 else 'it'} again")
        if self.notify is not None:
            self.notify(line)
        else:
            from comicdesk.library.db import HEALTH

            HEALTH.warning(line)

    # -- queries
    def similar_to_panel(self, book_id: int, page: int, panel: int, k: int = 10,
                         filters: Filters = Filters()) -> list[Hit]:
        target = self.available("panel")
        if target is None:
            raise NotIndexed("no panel is indexed in this library yet: run comicdesk index first")
        return self._by_key(target, (book_id, page, panel), k, filters)

    def similar_to_page(self, book_id: int, page: int, k: int = 10,
                        filters: Filters = Filters()) -> list[Hit]:
        target = self.available("page")
        if target is None:
            raise NotIndexed("no page is indexed in this library yet: run comicdesk index first")
        return self._by_key(target, (book_id, page, -1), k, filters)

    def similar_to_text(self, query: str, k: int = 10, filters: Filters = Filters(), *,
                        query_book: int | None = None) -> list[Hit]:
        """Panels (or pages) close in meaning to ``query`` (the profile's text vectors), best
        first, with ``match="meaning"``; ``query_book`` as in :meth:`words`."""
        if not query or not query.strip():
            raise SearchError("the text to search for is empty")
        target = self.available("text")
        if target is None:
            return []
        if self.text_encoder is None:
            raise SearchError("no text encoder was given for text queries")
        vec = np.asarray(self.text_encoder(query), dtype=np.float32).reshape(-1)
        idx = self.index(target)
        if vec.shape[0] != idx.dims:
            raise SearchError(f"the text encoder gives {vec.shape[0]}-d vectors; "
                              f"{target.model_id}/{target.array} holds {idx.dims}-d")
        vec = UNIT.apply(vec[None, :])  # a query vector is only made unit length, never centred
        if not np.any(vec):
            return []
        hits = self._search(target, idx, vec[0], k, filters, query_book=query_book, exclude=None)
        return [replace(h, match="meaning") for h in hits]

    def has_words(self) -> bool:
        """Some page of the library has recognised text (a words query can find something)."""
        self._words_index()
        return self._text.has_any()

    def _words_index(self):
        from comicdesk.search.text_index import TextIndex

        if self._text is None:
            self._text = TextIndex(self.cache_dir, self.catalog)
        self._text.refresh()
        return self._text

    def words(self, query: str, k: int = 10, filters: Filters = Filters(), *,
              query_book: int | None = None) -> list[Hit]:
        """Panels (else pages) whose recognised text holds every word of ``query`` (whole words,
        case- and accent-insensitive; :mod:`comicdesk.search.text_index`), best first, with
        ``match="words"``. ``query_book``: the book ``filters.other_books`` leaves out (with its
        copies); a text query from the command line has none."""
        if not query or not query.strip():
            raise SearchError("the text to search for is empty")
        index = self._words_index()
        allowed = self._allowed_books(filters, query_book)
        k = max(1, int(k))
        ask = k * 2 + 8
        while True:
            found = index.search(query, ask, allowed)
            hits = []
            seen = set()
            for w in found:
                if filters.classes is not None and self._page_label(w.book_id, w.page) not in filters.classes:
                    continue
                panel = w.panel
                if panel is not None and panel >= len(self._panels(w.book_id).get(w.page) or ()):
                    panel = None  # lines of a panel the catalogue no longer has: the page
                if (w.book_id, w.page, panel) in seen:
                    continue
                seen.add((w.book_id, w.page, panel))
                h = self._hit(w.book_id, w.page, -1 if panel is None else panel, w.score)
                hits.append(replace(h, match="words", text=w.text))
                if len(hits) >= k:
                    return hits
            if len(found) < ask:
                return hits
            ask *= 4

    def _allowed_books(self, filters: Filters, query_book: int | None) -> set[int] | None:
        """The books a filter keeps (None: every book), for the words index."""
        if not (filters.other_books and query_book is not None) and not filters.series:
            return None
        books = self.catalog.all_books()
        ok = {b.id for b in books}
        if filters.other_books and query_book is not None:
            ok.discard(query_book)
            row = self._book(query_book)
            if row is not None and row.content_key:
                ok -= {b.id for b in self.catalog.books_by_key(row.content_key)}
        if filters.series:
            wanted = {s.casefold() for s in filters.series}
            ok &= {b.id for b in books if b.series and b.series.casefold() in wanted}
        return ok

    def _by_key(self, target: Target, key: tuple[int, int, int], k: int, filters: Filters) -> list[Hit]:
        from comicdesk.cache.vectors import VectorsDamaged

        try:  # the query's own vector first: when it is damaged, that is the one line to say
            stored = self.store.read_keys(target.model_id, target.array, [key])
        except KeyError:
            raise NotIndexed(self._not_indexed_reason(key, target)) from None
        except VectorsDamaged:
            book = self._book(key[0])
            name = book.path if book is not None else f"book {key[0]}"
            raise SearchError(f"{name}: its vectors in the cache are damaged; the next comicdesk "
                              f"index analyses it again") from None
        idx = self.index(target)
        vec = target.transform.apply(stored)
        if not np.any(vec):
            return []
        return self._search(target, idx, vec[0], k, filters, query_book=key[0], exclude=key)

    def _not_indexed_reason(self, key, target: Target) -> str:
        book = self.catalog.book(key[0])
        name = book.path if book is not None else f"book {key[0]}"
        if self.catalog.vector_rows(target.model_id, target.array, book_ids=[key[0]]):
            what = f"panel {key[2]} of page {key[1]}" if key[2] >= 0 else f"page {key[1]}"
            return f"{name}: {what} has no vector (it may be a bad page)"
        return f"{name} is not indexed yet: run comicdesk index first"

    # -- the search loop: widen until k hits pass every check
    def _search(self, target: Target, idx: VectorIndex, vec: np.ndarray, k: int, filters: Filters,
                *, query_book: int | None, exclude) -> list[Hit]:
        k = max(1, int(k))
        keys = idx.table[:, :3]
        allowed = self._book_mask(idx, filters, query_book)
        live = idx.live_count if allowed is None else int(np.sum(allowed & (idx.table[:, 5] == 1)))
        want = k + (1 if exclude is not None else 0)
        ask = min(max(want * 2, want + 8), max(1, live))
        classes_done = filters.classes is None
        hits: list[Hit] = []
        while True:
            scores, pos = idx.search(vec, ask, allowed)
            scores, pos = scores[0], pos[0]
            ok = pos >= 0
            scores, pos = scores[ok], pos[ok]
            valid = self._still_mapped(target, idx, pos)
            hits = []
            for s, p, good in zip(scores, pos, valid):
                if not good:
                    continue
                b, pg, pn = (int(x) for x in keys[p])
                if exclude is not None and (b, pg, pn) == tuple(exclude):
                    continue
                if not classes_done and self._page_label(b, pg) not in filters.classes:
                    continue
                hits.append(self._hit(b, pg, pn, float(s)))
                if len(hits) >= k:
                    return hits
            if ask >= live:
                return hits
            if not classes_done and ask >= 16 * want:
                # A selective class filter: label every page once and filter inside the index.
                mask = self._class_mask(idx, filters.classes)
                allowed = mask if allowed is None else allowed & mask
                live = int(np.sum(allowed & (idx.table[:, 5] == 1)))
                classes_done = True
            ask = min(ask * 4, max(1, live))

    def _book_mask(self, idx: VectorIndex, filters: Filters, query_book: int | None) -> np.ndarray | None:
        if not filters.other_books and not filters.series:
            return None
        books = idx.table[:, 0]
        mask = np.ones(len(books), bool)
        if filters.other_books and query_book is not None:
            same = {query_book}
            row = self._book(query_book)
            if row is not None and row.content_key:
                same |= {b.id for b in self.catalog.books_by_key(row.content_key)}
            mask &= ~np.isin(books, np.asarray(sorted(same), dtype=np.int64))
        if filters.series:
            wanted = {s.casefold() for s in filters.series}
            ok = [b.id for b in self.catalog.all_books() if b.series and b.series.casefold() in wanted]
            mask &= np.isin(books, np.asarray(ok, dtype=np.int64))
        return mask

    def _class_mask(self, idx: VectorIndex, classes: frozenset[str]) -> np.ndarray:
        mask = np.zeros(len(idx.table), bool)
        books = idx.table[:, 0]
        for b in np.unique(books[idx.table[:, 5] == 1]):
            labels = self._labels_of(int(b))
            good = np.asarray([p for p, lab in labels.items() if lab in classes], dtype=np.int64)
            sel = books == b
            if len(good):
                mask[sel] = np.isin(idx.table[sel, 1], good)
        return mask

    def _still_mapped(self, target: Target, idx: VectorIndex, pos: np.ndarray) -> np.ndarray:
        """Per position: is its row still mapped to its key, in a book that is not removed?"""
        if not len(pos):
            return np.zeros(0, bool)
        books = sorted({int(b) for b in idx.table[pos, 0]})
        live = {(b, p, n, r) for b, p, n, r in
                self.catalog.vector_rows(target.model_id, target.array, book_ids=books)}
        return np.asarray([tuple(int(x) for x in idx.table[q, :4]) in live for q in pos], bool)

    # -- copies of one book among the results
    def group_copies(self, hits: list[Hit], *, query: tuple[int, int, int | None] | None = None,
                     max_bits: int = COPY_MAX_BITS, max_gap: float = COPY_MAX_GAP) -> tuple[list[CopyGroup], int]:
        """Fold hits that are the same panel (or page) in copies of one book — another format of
        the same issue, a re-scan — under the best of them: same panel index (both page results),
        scores within ``max_gap``, and their pages' perceptual hashes within ``max_bits`` bits
        (identical bytes where a page has no hash). With ``query`` (book, page, panel or None),
        hits that are the query itself in another copy are left out and counted.

        Returns ``(groups best first, hits left out as copies of the query)``. The command line
        keeps raw results (its contract); the app shows groups."""
        qhash = self._page_hash(query[0], query[1]) if query is not None else None
        qpanel = (query[2] if query[2] is not None and query[2] >= 0 else None) if query is not None else None
        groups: list[CopyGroup] = []
        same_as_query = 0
        for h in hits:
            hh = self._page_hash(h.book_id, h.page)
            if (query is not None and h.panel == qpanel and h.score >= 1.0 - max_gap
                    and _same_page(hh, qhash, max_bits)):
                same_as_query += 1
                continue
            for g in groups:
                b = g.best
                if (b.panel == h.panel and abs(b.score - h.score) <= max_gap
                        and _same_page(hh, self._page_hash(b.book_id, b.page), max_bits)):
                    g.copies.append(h)
                    break
            else:
                groups.append(CopyGroup(h, []))
        return groups, same_as_query

    def _page_hash(self, book_id: int, page: int):
        cache = self._hash_cache
        if book_id not in cache:
            feats = self.catalog.page_features(book_id)
            hashes = {p.index: (p.content_hash, None) for p in self.catalog.pages(book_id)}
            for i, f in feats.items():
                hashes[i] = (hashes.get(i, (None, None))[0], f.phash)
            cache[book_id] = hashes
        return cache[book_id].get(page)

    def _book(self, book_id: int):
        if book_id not in self._books:
            self._books[book_id] = self.catalog.book(book_id)
        return self._books[book_id]

    def _labels_of(self, book_id: int) -> dict[int, str | None]:
        if book_id not in self._labels:
            from comicdesk.library.labels import book_labels

            row = self._book(book_id)
            self._labels[book_id] = ({} if row is None else
                                     {p: lab.label for p, lab in book_labels(self.catalog, row, self.user_data).items()})
        return self._labels[book_id]

    def _page_label(self, book_id: int, page: int) -> str | None:
        return self._labels_of(book_id).get(page)

    def _hit(self, book_id: int, page: int, panel: int, score: float) -> Hit:
        row = self._book(book_id)
        box = None
        if panel >= 0:
            boxes = self._panels(book_id).get(page) or []
            if panel < len(boxes):
                box = [int(v) for v in boxes[panel]]
        else:
            size = self._page_sizes(book_id).get(page)
            if size is not None:
                box = [0, 0, size[0], size[1]]
        return Hit(book_id, str(row.path) if row is not None else "", page,
                   panel if panel >= 0 else None, box, score)

    def _panels(self, book_id: int) -> dict:
        cache = self._panel_cache
        if book_id not in cache:
            cache[book_id] = self.catalog.panels(book_id)
        return cache[book_id]

    def _page_sizes(self, book_id: int) -> dict[int, tuple[int, int]]:
        cache = self._size_cache
        if book_id not in cache:
            cache[book_id] = {p.index: (p.width, p.height) for p in self.catalog.pages(book_id)
                              if p.width and p.height}
        return cache[book_id]


def _save_if_locked(idx: VectorIndex, folder: Path, cache_dir: Path, *, locked: bool) -> bool:
    """Save when this process holds (or can take at once) the library lock; else keep it in memory."""
    if locked:
        idx.save(folder)
        return True
    from comicdesk.library.lock import LibraryLock

    lock = LibraryLock.at_once(cache_dir)
    if lock is None:
        return False
    try:
        idx.save(folder)
        return True
    except OSError as exc:  # a read-only or full cache: searching still works from memory
        log.info("could not save the %s/%s index: %s", idx.model_id, idx.array, exc)
        return False
    finally:
        lock.release()


def update_indexes(cache_dir: Path, catalog: Catalog, store: VectorStore, *,
                   unstamped_only: bool = False) -> list[SyncReport]:
    """Build or update (and save) the index of every searchable array in the cache. For the
    runner, after a run, while it holds the library lock (``catalog``/``store``: its own).
    ``unstamped_only``: only saved indexes that do not carry the catalogue's ``cache_id`` (made
    before the identity, or for another catalogue): a run with nothing to analyse stamps them."""
    from comicdesk.search.index import manifest_path

    reports = []
    arrays = catalog.vector_arrays()
    for (model_id, array), target in sorted(searchable_targets().items()):
        info = arrays.get((model_id, array))
        if info is None:
            continue
        folder = index_dir(cache_dir, model_id)
        if unstamped_only:
            try:
                import json

                saved = json.loads(manifest_path(folder, array).read_text(encoding="utf-8"))
            except (OSError, ValueError):
                continue  # none saved: the first query builds it
            if not isinstance(saved, dict) or saved.get("cache_id") == catalog.cache_id:
                continue
        try:
            idx = VectorIndex.load(folder, model_id, array, info.dims, target.transform)
        except CorruptIndex:
            idx = VectorIndex(model_id, array, info.dims, target.transform)
        # A full comparison with the mapping (deletions do not move the generation or length).
        try:
            report = idx.sync(catalog, store)
            if idx.dirty:
                idx.save(folder)
        except Exception as exc:  # noqa: BLE001 - an index is rebuildable; a run never fails for it
            from comicdesk.core.errors import one_line

            report = SyncReport(model_id, array, "failed", error=one_line(exc))
            log.warning("the %s/%s index was not updated: %s", model_id, array, report.error)
        reports.append(report)
    return reports


__all__ = [
    "PROFILES",
    "Filters",
    "Hit",
    "NotIndexed",
    "SearchError",
    "SearchService",
    "Target",
    "parse_classes",
    "searchable_targets",
    "update_indexes",
]
