"""One declaration per stage output kind: where it is stored, how it is read back, how it is checked.

Every kind a stage may produce that outlives one book's run is an :class:`OutputKind` in
:data:`OUTPUTS` (in the order a book's commit writes them). Three places go through it and
nowhere else says how a kind is stored:

- **the commit** — :func:`commit_book` writes one finished book's results: the vectors to
  ``vectors.zarr`` (made durable first), then everything else in one catalogue transaction,
  each stage's kinds through their :attr:`OutputKind.store`. The runner's writer calls it, and so
  may an engine whose workers computed the results elsewhere (it stays the one writer);
- **the loaders** — :func:`load` reads a kind back for a book (:attr:`OutputKind.load`) when a
  later stage needs the output of a stage that is done (``Runner._push``);
- **the page signals** — :func:`comicdesk.pipeline.signals.signals_from_cache` reads the kinds the
  page classifier sees through the same loaders.

Where each kind lives (shapes: :mod:`comicdesk.pipeline.stage`):

=================  ==============================================================================
kind               stored in
=================  ==============================================================================
``page_stats``     catalogue ``page_features.phash`` / ``stats``
``text_boxes``     catalogue ``text_lines`` (boxes, scores; text NULL) + ``page_features.text_count``
                   / ``text_coverage``
``text_lines``     catalogue ``text_lines`` text / confidence / panel (written once per book)
``text_panels``    catalogue ``text_lines`` panel (only when no stage of the job wrote the lines)
``panels``         catalogue ``panels`` (every page of the book: a page without any gets none)
``page_class``     catalogue ``page_outputs`` under the stage's model id, source ``model``
``vectors:M/A``    ``vectors.zarr/M/A`` rows, mapped from the catalogue (``VectorOutput``)
``page_repeats``   nothing: library context, computed from the catalogue's page hashes
=================  ==============================================================================

A new persisted kind is one :class:`OutputKind` here (its name in :mod:`comicdesk.pipeline.stage`).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Mapping, Sequence

from comicdesk.core.errors import ComicdeskError
from comicdesk.pipeline.stage import (PAGE_CLASS, PAGE_REPEATS, PAGE_STATS, PANELS, TEXT_BOXES, TEXT_LINES,
                                      TEXT_PANELS, PageData, StageSpec)

CATALOGUE = "catalogue"
VECTORS = "vectors"
CONTEXT = "context"
VECTORS_PREFIX = "vectors:"


class OutputError(ComicdeskError):
    """A stage's result does not have the shape its kind declares (nothing of the book written)."""

    kind = "stage"


# -- reading ------------------------------------------------------------------------------------
class CacheReader:
    """What the loaders read from: one library's catalogue, its vector store, the library's page
    hashes. Each book's catalogue rows are read once per reader (make a new reader to see later
    commits). ``open_store``: opens the vector store on first use when ``store`` is None;
    ``library_hashes(book_id)``: the library's ``(book, page, phash)`` rows for a book's repeats
    (default: read them all, :func:`comicdesk.library.repeats.hashed_pages`)."""

    def __init__(self, catalog, store=None, *, open_store: Callable[[], Any] | None = None,
                 library_hashes: Callable[[int], list] | None = None):
        self.catalog = catalog
        self._store = store
        self._open_store = open_store
        self._library_hashes = library_hashes
        self._memo: dict[tuple[str, int], Any] = {}

    def _once(self, what: str, book_id: int, read: Callable[[int], Any]) -> Any:
        key = (what, book_id)
        if key not in self._memo:
            self._memo[key] = read(book_id)
        return self._memo[key]

    def features(self, book_id: int) -> dict:
        return self._once("features", book_id, self.catalog.page_features)

    def lines(self, book_id: int) -> dict:
        return self._once("lines", book_id, self.catalog.text_lines)

    def panels(self, book_id: int) -> dict:
        return self._once("panels", book_id, self.catalog.panels)

    def store(self):
        """The vector store (None when there is none and nothing opens one)."""
        if self._store is None and self._open_store is not None:
            self._store = self._open_store()
        return self._store

    def hashes(self, book_id: int) -> list:
        if self._library_hashes is not None:
            return self._library_hashes(book_id)
        from comicdesk.library.repeats import hashed_pages

        return hashed_pages(self.catalog)


# -- committing ---------------------------------------------------------------------------------
@dataclass
class BookCommit:
    """One book's commit in progress, as the kinds' ``store`` see it."""

    catalog: Any
    store: Any
    book: Any  # catalog.BookRow (id, content_key)
    pages: list[PageData]
    stages: list[StageSpec]
    fingerprints: Mapping[str, str]
    now: float
    written: set[str] = field(default_factory=set)  # kinds written once per book
    pending: list = field(default_factory=list)  # vector writes, mapped in the transaction
    unmap: list = field(default_factory=list)  # (VectorOutput, pages) whose earlier rows go

    def given(self, kind: str) -> dict[int, Any]:
        """``{page: value}`` for the pages whose outputs hold a truthy ``kind``."""
        return {p.index: p.outputs[kind] for p in self.pages if p.outputs.get(kind)}

    def present(self, kind: str) -> dict[int, Any]:
        """``{page: value}`` for the pages whose outputs hold ``kind`` (not None)."""
        return {p.index: p.outputs[kind] for p in self.pages if p.outputs.get(kind) is not None}


@dataclass(frozen=True)
class OutputKind:
    """How one output kind is stored, read back and checked.

    - ``store(commit, stage)``: write what ``stage`` produced of this kind for the book, inside
      the book's transaction (None: nothing to write: library context);
    - ``load(reader, book_id, kind)``: ``{page: value}`` as a stage gets it (None: cannot be read
      back; a stage that needs it re-runs its producer);
    - ``validate(value, page, stage, kind)``: None when the page's value has the declared shape,
      else the one line that fails the book (a value of None always passes: nothing for it);
    - ``prepare(commit, stage)`` / ``finish(commit)``: the vector kinds' two steps around the
      transaction (rows made durable before it, mapped in it).
    """

    name: str
    where: str  # CATALOGUE | VECTORS | CONTEXT
    stored_in: str
    store: Callable[[BookCommit, StageSpec], None] | None = None
    load: Callable[[CacheReader, int, str], dict[int, Any]] | None = None
    validate: Callable[[Any, PageData, StageSpec, str], str | None] | None = None
    prepare: Callable[[BookCommit, StageSpec], None] | None = None
    finish: Callable[[BookCommit], None] | None = None

    def matches(self, kind: str) -> bool:
        return kind == self.name or (self.name == VECTORS_PREFIX and kind.startswith(VECTORS_PREFIX))


# -- page_stats ---------------------------------------------------------------------------------
def _store_page_stats(c: BookCommit, s: StageSpec) -> None:
    from comicdesk.ml.phash import to_int64

    c.catalog.set_page_hashes(c.book.id, {
        i: (to_int64(v["phash"]) if v.get("phash") is not None else None, v.get("stats"))
        for i, v in c.given(PAGE_STATS).items()})


def _load_page_stats(r: CacheReader, book_id: int, kind: str) -> dict[int, Any]:
    from comicdesk.ml.phash import from_int64

    return {page: {"phash": from_int64(f.phash) if f.phash is not None else None, "stats": f.stats or {}}
            for page, f in r.features(book_id).items() if f.phash is not None or f.stats}


def _check_page_stats(v: Any, page: PageData, s: StageSpec, kind: str) -> str | None:
    if not isinstance(v, dict) or not isinstance(v.get("stats") or {}, dict):
        return _shape(s, kind, page, '{"phash": int | None, "stats": {name: float}}')
    return None


# -- text_boxes ---------------------------------------------------------------------------------
def _store_text_boxes(c: BookCommit, s: StageSpec) -> None:
    c.catalog.replace_text_boxes(c.book.id, {
        i: ([tuple(b) for b in v["boxes"]], list(v["scores"]), v.get("coverage") or 0.0)
        for i, v in c.given(TEXT_BOXES).items()})


def _load_text_boxes(r: CacheReader, book_id: int, kind: str) -> dict[int, Any]:
    lines = r.lines(book_id)
    out = {}
    for page, f in r.features(book_id).items():
        if f.text_count is None:
            continue
        rows = lines.get(page, [])
        out[page] = {"boxes": [x.box for x in rows], "scores": [x.score for x in rows],
                     "coverage": f.text_coverage or 0.0}
    return out


def _check_text_boxes(v: Any, page: PageData, s: StageSpec, kind: str) -> str | None:
    if not isinstance(v, dict) or "boxes" not in v or "scores" not in v \
            or len(v["boxes"]) != len(v["scores"]) or any(len(b) != 4 for b in v["boxes"]):
        return _shape(s, kind, page, '{"boxes": [(x, y, w, h)], "scores": [float] (one per box), '
                                     '"coverage": float}')
    return None


# -- text_lines ---------------------------------------------------------------------------------
def _store_text_lines(c: BookCommit, s: StageSpec) -> None:
    if TEXT_LINES in c.written:
        # Once per book: recognition and the assignment both produce the lines (the pages hold
        # the assigned ones by now).
        return
    c.written.add(TEXT_LINES)
    c.catalog.set_text(c.book.id, {i: [(n, ln.get("text"), ln.get("conf"), ln.get("panel", -1))
                                       for n, ln in enumerate(v)] for i, v in c.present(TEXT_LINES).items()})


def _load_text_lines(r: CacheReader, book_id: int, kind: str) -> dict[int, Any]:
    """Read lines per page; a page where detection found nothing has none (not "unknown")."""
    out: dict[int, Any] = {page: [] for page, f in r.features(book_id).items() if f.text_count is not None}
    out.update({page: [{"box": x.box, "text": x.text, "conf": x.conf, "panel": x.panel} for x in rows]
                for page, rows in r.lines(book_id).items()})
    return out


def _check_text_lines(v: Any, page: PageData, s: StageSpec, kind: str) -> str | None:
    if not isinstance(v, (list, tuple)) or not all(isinstance(ln, dict) for ln in v):
        return _shape(s, kind, page, '[{"box": (x, y, w, h), "text": str | None, "conf": float | None, '
                                     '"panel": int}, ...]')
    return None


# -- text_panels --------------------------------------------------------------------------------
def _store_text_panels(c: BookCommit, s: StageSpec) -> None:
    if any(TEXT_LINES in x.produces for x in c.stages):
        return  # the lines, written with their panels
    # Panels for stored lines, from a stage that does not hand the lines back.
    stored = c.catalog.text_lines(c.book.id)
    c.catalog.set_text(c.book.id, {i: [(x.index, x.text, x.conf, int(j)) for x, j in zip(stored.get(i, []), v)]
                                   for i, v in c.present(TEXT_PANELS).items()})


def _load_text_panels(r: CacheReader, book_id: int, kind: str) -> dict[int, Any]:
    """Each line's panel per page (the assignment stored with the lines)."""
    return {page: [ln["panel"] for ln in lines] for page, lines in _load_text_lines(r, book_id, kind).items()}


def _check_text_panels(v: Any, page: PageData, s: StageSpec, kind: str) -> str | None:
    if not isinstance(v, (list, tuple)) or not all(_is_int(j) for j in v):
        return _shape(s, kind, page, "[panel index (-1: none), ...] (one per text line)")
    return None


# -- panels -------------------------------------------------------------------------------------
def _store_panels(c: BookCommit, s: StageSpec) -> None:
    c.catalog.replace_panels(c.book.id, {p.index: [tuple(getattr(b, "box", b)) for b in (p.outputs.get(PANELS) or [])]
                                         for p in c.pages})


def _load_panels(r: CacheReader, book_id: int, kind: str) -> dict[int, Any]:
    return {page: [tuple(b) for b in boxes] for page, boxes in r.panels(book_id).items()}


def _check_panels(v: Any, page: PageData, s: StageSpec, kind: str) -> str | None:
    try:
        if all(len(tuple(getattr(b, "box", b))) == 4 for b in v):
            return None
    except TypeError:
        pass
    return _shape(s, kind, page, "[(x, y, w, h), ...] (or objects with a .box)")


# -- page_class ---------------------------------------------------------------------------------
def _store_page_class(c: BookCommit, s: StageSpec) -> None:
    fingerprint = c.fingerprints[s.name]
    for p in c.pages:
        out = p.outputs.get(PAGE_CLASS)
        if out is not None:
            c.catalog.set_page_output(c.book.id, p.index, s.output_model_id, fingerprint,
                                      out.get("label"), out.get("probs"), "model", c.now)


def _check_page_class(v: Any, page: PageData, s: StageSpec, kind: str) -> str | None:
    if not isinstance(v, dict) or not isinstance(v.get("probs") or {}, dict):
        return _shape(s, kind, page, '{"label": str | None, "probs": {class: p}}')
    return None


# -- vectors:<model>/<array> --------------------------------------------------------------------
def _vector_outputs(s: StageSpec, kind: str | None = None):
    return [v for v in s.vectors if kind is None or v.kind == kind]


def _prepare_vectors(c: BookCommit, s: StageSpec) -> None:
    """Write the stage's vector rows (durable before the catalogue maps them)."""
    import numpy as np

    for v in s.vectors:
        rows, keys = [], []
        for p in c.pages:
            value = p.outputs.get(v.kind)
            if value is None:
                continue
            if v.level == "page":
                if not (v.skip_zero and not np.any(value)):
                    rows.append(value)
                    keys.append((c.book.id, p.index))
            else:
                for n, row in enumerate(value):
                    if not (v.skip_zero and not np.any(row)):
                        rows.append(row)
                        keys.append((c.book.id, p.index, n))
        if v.skip_zero:
            # Rows these pages had before and may not have now (their text is gone).
            c.unmap.append((v, [p.index for p in c.pages if p.outputs.get(v.kind) is not None]))
        if rows:
            c.pending.append(c.store.write(v.model_id, v.array, np.stack(rows), keys))


def _finish_vectors(c: BookCommit) -> None:
    for v, unmapped in c.unmap:
        if unmapped:
            c.store.tombstone([c.book.id], v.model_id, v.array, pages=unmapped)
    if c.pending:
        c.store.commit(c.pending)


def _load_vectors(r: CacheReader, book_id: int, kind: str) -> dict[int, Any]:
    """A stored vector kind for one book: page level ``{page: (dims,)}``, panel level
    ``{page: (n_panels, dims)}`` in panel order (a panel without a row — a skipped all-zero
    row — reads as zeros; a page without any row is left out)."""
    import numpy as np

    model_id, array = kind[len(VECTORS_PREFIX):].split("/", 1)
    store = r.store()
    if r.catalog.vector_array(model_id, array) is None:
        return {}
    rows = store.rows(model_id, array, book_ids=[book_id], include_removed=True)
    if not rows:
        return {}
    data = store.read(model_id, array, [x[3] for x in rows])
    pages: dict[int, list] = {}
    for (b, page, panel, _), vec in zip(rows, data):
        pages.setdefault(page, []).append((panel, vec))
    out = {}
    counts = None
    for page, items in pages.items():
        items.sort(key=lambda t: t[0])
        if items[0][0] < 0:
            out[page] = items[0][1]
            continue
        if counts is None:
            counts = {pg: len(b) for pg, b in r.panels(book_id).items()}
        n = max(counts.get(page, 0), items[-1][0] + 1)
        block = np.zeros((n, data.shape[1]), dtype=data.dtype)
        for panel, vec in items:
            block[panel] = vec
        out[page] = block
    return out


def page_rows(store, model_id: str, array: str, book_id: int, pages: Iterable[int]) -> dict[int, Any]:
    """``{page: row}`` (float32) for the pages of a book that have a row in the page-level
    ``<model_id>/<array>`` (none without a store or such an array): what the page signals read."""
    if store is None:
        return {}
    try:
        mapped = {p for _, p, panel, _ in store.rows(model_id, array, book_ids=[book_id],
                                                      include_removed=True) if panel == -1}
    except Exception:  # noqa: BLE001 - no such array yet
        return {}
    wanted = [p for p in pages if p in mapped]
    if not wanted:
        return {}
    rows = store.read_keys(model_id, array, [(book_id, p) for p in wanted])
    return {p: rows[i].astype("float32") for i, p in enumerate(wanted)}


def _check_vectors(v: Any, page: PageData, s: StageSpec, kind: str) -> str | None:
    import numpy as np

    for out in _vector_outputs(s, kind):
        shape = np.shape(v)
        if out.level == "panel":
            n = len(page.outputs.get(PANELS) or [])
            if len(v) != n:
                return f"{s.name} gave {len(v)} panel vectors for the {n} panels of page {page.index}"
            if n and shape != (n, out.dims):
                return (f"{s.name} gave {kind} of shape {shape} for the {n} panels of page {page.index} "
                        f"({out.dims} wide declared)")
        elif shape != (out.dims,):
            return f"{s.name} gave {kind} of shape {shape} for page {page.index} ({out.dims} wide declared)"
    return None


# -- page_repeats (library context) -------------------------------------------------------------
def _load_repeats(r: CacheReader, book_id: int, kind: str) -> dict[int, Any]:
    from comicdesk.pipeline.signals import repeats_for_book

    return repeats_for_book(r.catalog, book_id, all_hashes=r.hashes(book_id))


# -- helpers ------------------------------------------------------------------------------------
def _is_int(x: Any) -> bool:
    try:
        return int(x) == x
    except (TypeError, ValueError):
        return False


def _shape(s: StageSpec, kind: str, page: PageData, declared: str) -> str:
    return f"{s.name} gave {kind} of another shape for page {page.index} (declared: {declared})"


#: Every persisted kind, in the order a book's commit writes a stage's kinds.
OUTPUTS: tuple[OutputKind, ...] = (
    OutputKind(PAGE_STATS, CATALOGUE, "page_features.phash/stats", store=_store_page_stats,
               load=_load_page_stats, validate=_check_page_stats),
    OutputKind(TEXT_BOXES, CATALOGUE, "text_lines (boxes) + page_features.text_count/text_coverage",
               store=_store_text_boxes, load=_load_text_boxes, validate=_check_text_boxes),
    OutputKind(TEXT_LINES, CATALOGUE, "text_lines (text, confidence, panel)", store=_store_text_lines,
               load=_load_text_lines, validate=_check_text_lines),
    OutputKind(TEXT_PANELS, CATALOGUE, "text_lines (panel)", store=_store_text_panels,
               load=_load_text_panels, validate=_check_text_panels),
    OutputKind(PANELS, CATALOGUE, "panels", store=_store_panels, load=_load_panels, validate=_check_panels),
    OutputKind(PAGE_CLASS, CATALOGUE, "page_outputs (source model)", store=_store_page_class,
               validate=_check_page_class),
    OutputKind(VECTORS_PREFIX, VECTORS, "vectors.zarr/<model>/<array>", load=_load_vectors,
               validate=_check_vectors, prepare=_prepare_vectors, finish=_finish_vectors),
    OutputKind(PAGE_REPEATS, CONTEXT, "(computed from page_features.phash)", load=_load_repeats),
)


def output(kind: str) -> OutputKind | None:
    """The declaration of a kind (None: it lives only in memory during one book's run)."""
    return next((o for o in OUTPUTS if o.matches(kind)), None)


def loadable(kind: str) -> bool:
    """Whether a kind can be read back for a book instead of re-running its producer."""
    o = output(kind)
    return o is not None and o.load is not None


def load(kind: str, reader: CacheReader, book_id: int) -> dict[int, Any]:
    """``{page: value}`` of a stored kind for one book, as a stage gets it."""
    o = output(kind)
    if o is None or o.load is None:
        raise KeyError(f"{kind} is not stored")
    return o.load(reader, book_id, kind)


def check(stage: StageSpec, page: PageData) -> str | None:
    """The first of ``stage``'s outputs on ``page`` that does not have its declared shape, as the
    line that fails the book; None when all do."""
    for kind in stage.produces:
        value = page.outputs.get(kind)
        o = output(kind)
        if value is None or o is None or o.validate is None:
            continue
        problem = o.validate(value, page, stage, kind)
        if problem:
            return problem
    return None


def ensure_arrays(store, stages: Iterable[StageSpec]) -> None:
    """Make the vector groups and arrays these stages write exist (before their books commit)."""
    outputs = {v.kind: v for s in stages for v in s.vectors}
    for v in outputs.values():
        store.ensure_group(v.model_id, v.attrs())
        store.ensure_array(v.model_id, v.array, v.dims, dtype=v.dtype, normalised=v.normalised)


def commit_book(catalog, store, book, pages: Sequence[PageData], stages: Sequence[StageSpec],
                fingerprints: Mapping[str, str], *, decoded: bool, now: float | None = None,
                validate: bool = True) -> int:
    """Write one finished book's results: the one writer's entry point.

    - ``catalog``: the library's :class:`~comicdesk.library.catalog.Catalog`, open for writing by
      the caller, who holds the library lock (:class:`~comicdesk.library.lock.LibraryLock`);
    - ``store``: its :class:`~comicdesk.cache.vectors.VectorStore` (with the stages' arrays made,
      :func:`ensure_arrays`); may be None when no stage writes vectors;
    - ``book``: the book's catalogue row (``catalog.book(id)``: ``id``, ``content_key``);
    - ``pages``: every page of the book, in page order, as :class:`PageData` whose ``outputs``
      hold what the stages produced (images dropped); with ``decoded``, their ``width``,
      ``height``, ``bad``, ``error`` and ``content_hash`` are the decode's and are written too;
    - ``stages``: the stages that ran for the book (the job's, in run order: what they produced
      is written, and each is recorded done);
    - ``fingerprints``: ``{stage name: fingerprint}`` for those stages (``Runner._fingerprint``);
    - ``now``: the time recorded (default: now); ``validate``: check every output's shape first
      (:func:`check`) and raise :class:`OutputError` with nothing written when one is off —
      results computed in another process should be checked; the runner's own were checked
      on its workers.

    The vector rows are made durable first, then the pages' decode results, each stage's kinds
    (:data:`OUTPUTS` order), the vector mappings and the stages' run records are committed in
    **one** catalogue transaction. Returns the book's panel count after the commit."""
    pages = list(pages)
    stages = list(stages)
    if validate:
        for s in stages:
            for p in pages:
                problem = check(s, p)
                if problem:
                    raise OutputError(problem)
    c = BookCommit(catalog, store, book, pages, stages, fingerprints, 0.0)
    for s in stages:
        for o in OUTPUTS:
            if o.prepare is not None and any(o.matches(k) for k in s.produces):
                o.prepare(c, s)
    c.now = time.time() if now is None else now
    with catalog.transaction():
        if decoded:
            for p in pages:
                catalog.update_decoded_page(book.id, p.index, width=p.width, height=p.height,
                                            bad=p.bad, error=p.error, content_hash=p.content_hash)
        for s in stages:
            for o in OUTPUTS:
                if o.store is not None and o.name in s.produces:
                    o.store(c, s)
        for o in OUTPUTS:
            if o.finish is not None:
                o.finish(c)
        for s in stages:
            catalog.set_run(book.id, s.name, fingerprints[s.name], s.pass_no, "done", book.content_key,
                            None, c.now)
        return catalog.count_panels(book.id)


__all__ = ["BookCommit", "CacheReader", "OUTPUTS", "OutputError", "OutputKind", "check", "commit_book",
           "ensure_arrays", "load", "loadable", "output", "page_rows"]
