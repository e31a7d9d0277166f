"""``comicdesk similar``: panels or pages like a given one, or matching a text, across a library.

::

    comicdesk similar BOOK PAGE [PANEL] [-k N] [--other-books] [--classes C ...] [--json]
    comicdesk similar --text "QUERY" [-k N] [--classes C ...] [--series S] [--json]

Per result: ``book`` (absolute path), ``page``, ``panel``, ``box`` [x, y, w, h], ``score``
(cosine, best first); a text query's results add ``match``: ``"words"`` (the recognised text
holds every word of the query; these come first, ``score`` is their BM25 relevance in 0..1) or
``"meaning"`` (then the panels closest in meaning; ``score`` is the cosine). ``--series`` keeps
the books of these series (case-insensitive; the flag may be given several times). Without PANEL the page's own vector is searched against pages: results are
pages, with ``panel`` null and ``box`` the whole page. ``--text`` searches every registered library
whose cache holds text vectors for the profile, best first across them. ``--classes`` takes class
names and the groups ``story-only`` / ``no-ads`` (comma- or space-separated); a page without a
label yet does not match a class filter.
"""

from __future__ import annotations

import sys

from comicdesk.commands.output import EXIT_OK, CommandError, emit_json, existing_path, note


def run(args, settings) -> int:
    from comicdesk.services.similar import Filters, key_hits, parse_classes, text_hits

    k = int(args.k)
    if k < 1:
        raise CommandError("-k must be at least 1")
    classes = parse_classes(args.classes)
    series = frozenset(s.strip() for s in (getattr(args, "series", None) or ()) if s.strip()) or None
    if args.text is not None:
        if args.book is not None:
            raise CommandError("give BOOK PAGE [PANEL] or --text QUERY, not both")
        hits = text_hits(settings, args.text, k, Filters(classes=classes, series=series), note)
    else:
        if args.book is None or args.page is None:
            raise CommandError("give BOOK PAGE [PANEL], or --text QUERY")
        hits = key_hits(settings, existing_path(args.book), args.page, args.panel, k,
                        Filters(other_books=bool(args.other_books), classes=classes, series=series), note)
    if args.json:
        for h in hits:
            emit_json(h.as_dict())
    else:
        for h in hits:
            where = f"page {h.page}" + (f" panel {h.panel}" if h.panel is not None else "")
            box = "[{},{},{},{}]".format(*h.box) if h.box else "-"
            match = f"{h.match:<8} " if h.match else ""
            print(f"{h.score:6.3f}  {match}{where:<20} {box:<22} {h.book}")
        sys.stdout.flush()
        if not hits:
            note("no similar " + ("pages" if args.text is None and args.panel is None else "panels") + " found")
    return EXIT_OK
