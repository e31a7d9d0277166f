"""``comicdesk duplicates [PATH] [--json]``: pages repeated within and across books.

PATH is a library (folder or Calibre), a folder inside one, or a book: groups are made of that
library's analysed pages, and with a folder or a book only groups touching it are shown (with
their pages elsewhere in the library: "this ad is also in issues 3, 7 and 12"). Without PATH,
every registered library with a cache. One group per line, largest first, its pages in path order:
``{"pages": [{"book": absolute path, "page": index}, ...]}``. Read-only: nothing is written.
"""

from __future__ import annotations


def run(args, settings) -> int:
    from comicdesk.commands.output import EXIT_OK, emit_json, existing_path, note
    from comicdesk.services.duplicates import DatabaseDamaged, library_caches, repeated_pages

    groups_out = 0
    path = existing_path(args.path) if args.path else None
    for cache, scope in library_caches(settings, path):
        found = 0
        try:
            for pages in repeated_pages(cache, scope, note):
                found += 1
                if args.json:
                    emit_json({"pages": [{"book": b, "page": p} for b, p in pages]})
                else:
                    books = len({b for b, _ in pages})
                    print(f"{len(pages)} pages in {books} book{'s' if books != 1 else ''}:")
                    for b, p in pages:
                        print(f"  page {p:>4}  {b}")
        except DatabaseDamaged as exc:
            if args.path:
                raise
            note(f"comicdesk: {exc.reason}")  # one library's catalogue: said, the others listed
            continue
        groups_out += found
    if not args.json:
        note(f"{groups_out} group{'s' if groups_out != 1 else ''} of repeated pages")
    return EXIT_OK
