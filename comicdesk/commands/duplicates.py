"""``comicdesk duplicates [PATH] [--json]``: pages repeated within and across books.

PATH is a library (folder or Calibre), a folder inside one, or a book: groups are made of that
library's analysed pages, and with a folder or a book only groups touching it are shown (with
their pages elsewhere in the library: "this ad is also in issues 3, 7 and 12"). Without PATH,
every registered library with a cache. One group per line, largest first, its pages in path order:
``{"pages": [{"book": absolute path, "page": index}, ...]}``. Read-only: nothing is written.
"""

from __future__ import annotations

from pathlib import Path


def _libraries(args, settings):
    """``(cache_dir, scope path or None)`` for each library to look at."""
    from comicdesk.commands.output import CommandError, existing_path
    from comicdesk.library.registry import LibraryRegistry
    from comicdesk.library.service import locate_library

    if args.path:
        path = existing_path(args.path)
        target = locate_library(path, settings, register=False)
        cache = settings.library_cache_dir(target.id)
        if not (cache / "catalog.sqlite").is_file():
            raise CommandError(f"{path} is not indexed yet: run 'comicdesk index {target.root}' first")
        scope = None if Path(path).resolve() == Path(target.root).resolve() else Path(path).resolve()
        return [(cache, scope)]
    out = []
    for entry in LibraryRegistry(settings).load().values():
        cache = settings.library_cache_dir(entry.id)
        if (cache / "catalog.sqlite").is_file():
            out.append((cache, None))
    if not out:
        raise CommandError("no library is indexed yet: run 'comicdesk index PATH' first")
    return out


def _in_scope(book_path: str, scope: Path | None) -> bool:
    if scope is None:
        return True
    p = Path(book_path)
    return p == scope or scope in p.parents


def run(args, settings) -> int:
    from comicdesk.commands.output import EXIT_OK, emit_json, note
    from comicdesk.library import db

    groups_out = 0
    for cache, scope in _libraries(args, settings):
        try:
            groups_out += _library_groups(args, cache, scope, emit_json)
        except db.DatabaseDamaged as exc:
            if args.path:
                raise
            note(f"comicdesk: {exc.reason}")  # one library's catalogue: said, the others listed
    if not args.json:
        note(f"{groups_out} group{'s' if groups_out != 1 else ''} of repeated pages")
    return EXIT_OK


def _library_groups(args, cache, scope, emit_json) -> int:
    from comicdesk.archive.book import natural_key
    from comicdesk.commands.output import note
    from comicdesk.library import db
    from comicdesk.library.catalog import Catalog
    from comicdesk.search.duplicates import duplicate_groups

    groups_out = 0
    with Catalog.open(cache, readonly=True) as catalog:
        if db.schema_version(catalog.conn) < 3:
            note(f"comicdesk: {cache} was made by an older comicdesk: run 'comicdesk index' again")
            return 0
        paths = {b.id: b.path for b in catalog.all_books()}
        for group in duplicate_groups(catalog):
            pages = sorted(((paths[b], p) for b, p in group.pages if b in paths),
                           key=lambda bp: (natural_key(bp[0]), bp[1]))
            if len(pages) < 2 or not any(_in_scope(b, scope) for b, _ in pages):
                continue
            groups_out += 1
            if args.json:
                emit_json({"pages": [{"book": b, "page": p} for b, p in pages]})
            else:
                books = len({b for b, _ in pages})
                print(f"{len(pages)} pages in {books} book{'s' if books != 1 else ''}:")
                for b, p in pages:
                    print(f"  page {p:>4}  {b}")
    return groups_out
