"""Pages repeated within and across books, per library, as ``comicdesk duplicates`` lists them:
which libraries to look at (:func:`library_caches`), and each group of the same page with its
books' paths, in path order (:func:`repeated_pages`). The grouping itself is
:func:`comicdesk.search.duplicates.duplicate_groups`. Read-only: nothing is written."""

from __future__ import annotations

from pathlib import Path

from comicdesk.core.errors import ComicdeskError
from comicdesk.library.db import DatabaseDamaged  # noqa: F401  (one library's catalogue is damaged)


class DuplicatesError(ComicdeskError):
    """No library to look at."""

    kind = "command"


def library_caches(settings, path: Path | None = None) -> list[tuple[Path, Path | None]]:
    """``(cache dir, scope or None)`` for each library to look at: the library ``path`` (an
    existing absolute path) belongs to, scoped to ``path`` when it is a folder or a book inside
    it; without ``path`` every registered library with a catalogue."""
    from comicdesk.library.registry import LibraryRegistry
    from comicdesk.library.service import locate_library

    if path is not None:
        target = locate_library(path, settings, register=False)
        cache = settings.library_cache_dir(target.id)
        if not (cache / "catalog.sqlite").is_file():
            raise DuplicatesError(f"{path} is not indexed yet: run 'comicdesk index {target.root}' first")
        scope = None if Path(path).resolve() == Path(target.root).resolve() else Path(path).resolve()
        return [(cache, scope)]
    out = []
    for entry in LibraryRegistry(settings).load().values():
        cache = settings.library_cache_dir(entry.id)
        if (cache / "catalog.sqlite").is_file():
            out.append((cache, None))
    if not out:
        raise DuplicatesError("no library is indexed yet: run 'comicdesk index PATH' first")
    return out


def _in_scope(book_path: str, scope: Path | None) -> bool:
    if scope is None:
        return True
    p = Path(book_path)
    return p == scope or scope in p.parents


def repeated_pages(cache: Path, scope: Path | None, note):
    """Each group of the same page in the library at ``cache`` that touches ``scope`` (all when
    None), largest first: ``[(book path, page index), ...]`` in path order. ``note(line)`` is told
    when the catalogue is too old to hold the page hashes (no group then). Raises
    :class:`DatabaseDamaged` for a damaged catalogue."""
    from comicdesk.archive.book import natural_key
    from comicdesk.library import db
    from comicdesk.library.catalog import Catalog
    from comicdesk.search.duplicates import duplicate_groups

    with Catalog.open(cache, readonly=True) as catalog:
        if db.schema_version(catalog.conn) < 3:
            note(f"comicdesk: {cache} was made by an older comicdesk: run 'comicdesk index' again")
            return
        paths = {b.id: b.path for b in catalog.all_books()}
        for group in duplicate_groups(catalog):
            pages = sorted(((paths[b], p) for b, p in group.pages if b in paths),
                           key=lambda bp: (natural_key(bp[0]), bp[1]))
            if len(pages) < 2 or not any(_in_scope(b, scope) for b, _ in pages):
                continue
            yield pages
