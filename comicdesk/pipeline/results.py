"""Reading a book's analysis back from its library's cache, without the writer lock.

Used by ``comicdesk pages`` and the app. The book's library is found through the registry
(:func:`~comicdesk.library.service.locate_library`, never registering anything); the catalogue is
opened read-only (WAL: the writer may be committing meanwhile). Nothing is returned for a book the
catalogue does not know, whose file no longer matches what was analysed (size or mtime differ:
it changed and was not scanned again), or whose cache predates the analysis tables.
"""

from __future__ import annotations

import os
import sqlite3
from dataclasses import dataclass, field
from pathlib import Path

from comicdesk.core.settings import Settings
from comicdesk.pipeline.stage import PANELS


@dataclass
class BookAnalysis:
    book_id: int
    #: ``{page: [[x, y, w, h], ...]}`` for every page once panels were found (a bad page: ``[]``);
    #: None while the book's panels are not analysed.
    panels: dict[int, list[list[int]]] | None
    #: the latest model output per page: ``(model_id, label, probs)``
    outputs: dict[int, tuple[str, str | None, dict[str, float] | None]] = field(default_factory=dict)


def _panel_stage_names() -> set[str]:
    from comicdesk.pipeline import registry

    names = {s.name for s in registry.stages() if PANELS in s.produces}
    return names or {"panels"}


def read_book_analysis(path: str | os.PathLike, settings: Settings) -> BookAnalysis | None:
    from comicdesk.core.errors import ComicdeskError
    from comicdesk.library import db
    from comicdesk.library.catalog import CATALOG_FILE, Catalog
    from comicdesk.library.service import locate_library

    given = Path(path).expanduser().absolute()
    try:
        target = locate_library(given, settings, register=False)
    except ComicdeskError:
        return None
    cache_dir = settings.library_cache_dir(target.id)
    if not (cache_dir / CATALOG_FILE).is_file():
        return None
    try:
        catalog = Catalog.open(cache_dir, readonly=True)
    except ComicdeskError as exc:
        if isinstance(exc, sqlite3.DatabaseError):  # damaged (issue 20): said, not passed over
            raise
        return None
    with catalog:
        if db.schema_version(catalog.conn) < 2:
            return None
        row = catalog.book_by_path(given.resolve()) or catalog.book_by_path(given)
        if row is None:
            return None
        if row.format != "folder":
            try:
                st = os.stat(given)
            except OSError:
                return None
            if (st.st_size, st.st_mtime_ns) != (row.size, row.mtime_ns):
                return None
        runs = catalog.runs([row.id]).get(row.id, {})
        names = _panel_stage_names()
        # Whatever the detector version: panels found by an earlier one stay until a run commits
        # new ones, in the same transaction that records it (a re-run that failed left the
        # panels of the last one that did not).
        mine = [r for name, r in runs.items() if name in names and r.content_key == row.content_key]
        panels_done = any(r.status == "done" for r in mine) or (
            bool(mine) and catalog.count_panels(row.id) > 0)
        panels = None
        if panels_done:
            from comicdesk.pipeline import outputs

            found = outputs.load(PANELS, outputs.CacheReader(catalog), row.id)  # as the stages read them
            panels = {p.index: [list(b) for b in found.get(p.index, [])] for p in catalog.pages(row.id)}
        outputs = {}
        wanted = "cosmo-v4" if settings.profile == "cosmo" else "standard-1"
        for page, outs in catalog.page_outputs(row.id).items():
            # The profile's own model first, then the newest other one.
            model = sorted((o for o in outs if o.source == "model"), key=lambda o: o.model_id != wanted)
            if model:
                outputs[page] = (model[0].model_id, model[0].label, model[0].probs)
        return BookAnalysis(row.id, panels, outputs)
