"""``comicdesk similar``: panels or pages like a given one, or matching a text, across a library.

::

    comicdesk similar BOOK PAGE [PANEL] [-k N] [--other-books] [--classes C ...] [--json]
    comicdesk similar --text "QUERY" [-k N] [--other-books] [--classes C ...] [--json]

Per result: ``book`` (absolute path), ``page``, ``panel``, ``box`` [x, y, w, h], ``score``
(cosine, best first). Without PANEL the page's own vector is searched against pages: results are
pages, with ``panel`` null and ``box`` the whole page. ``--text`` searches every registered library
whose cache holds text vectors for the profile, best first across them. ``--classes`` takes class
names and the groups ``story-only`` / ``no-ads`` (comma- or space-separated); a page without a
label yet does not match a class filter.
"""

from __future__ import annotations

import sys
from pathlib import Path

from comicdesk.commands.output import EXIT_OK, CommandError, emit_json, existing_path, note


def run(args, settings) -> int:
    from comicdesk.search.service import Filters, parse_classes

    k = int(args.k)
    if k < 1:
        raise CommandError("-k must be at least 1")
    classes = parse_classes(args.classes)
    if args.text is not None:
        if args.book is not None:
            raise CommandError("give BOOK PAGE [PANEL] or --text QUERY, not both")
        hits = _text_hits(args.text, k, Filters(classes=classes), settings)
    else:
        if args.book is None or args.page is None:
            raise CommandError("give BOOK PAGE [PANEL], or --text QUERY")
        hits = _key_hits(args, k, Filters(other_books=bool(args.other_books), classes=classes), settings)
    if args.json:
        for h in hits:
            emit_json(h.as_dict())
    else:
        for h in hits:
            where = f"page {h.page}" + (f" panel {h.panel}" if h.panel is not None else "")
            box = "[{},{},{},{}]".format(*h.box) if h.box else "-"
            print(f"{h.score:6.3f}  {where:<20} {box:<22} {h.book}")
        sys.stdout.flush()
        if not hits:
            note("no similar " + ("pages" if args.text is None and args.panel is None else "panels") + " found")
    return EXIT_OK


def _key_hits(args, k: int, filters, settings):
    from comicdesk.library.catalog import CATALOG_FILE
    from comicdesk.library.labels import open_user_data
    from comicdesk.library.service import locate_library
    from comicdesk.search.service import NotIndexed, SearchService

    path = existing_path(args.book)
    target = locate_library(path, settings, register=False)
    cache_dir = settings.library_cache_dir(target.id)
    if not (cache_dir / CATALOG_FILE).is_file():
        raise NotIndexed(f"{path} is not indexed yet: run comicdesk index first")
    user = open_user_data(settings, target.id) if filters.classes else None
    try:
        with SearchService.open(cache_dir, profile=settings.profile, user_data=user,
                                notify=lambda m: note(f"comicdesk: {m}")) as svc:
            row = svc.catalog.book_by_path(path.resolve()) or svc.catalog.book_by_path(path)
            if row is None:
                raise NotIndexed(f"{path} is not indexed yet: run comicdesk index first")
            if row.pages is not None and not 0 <= args.page < row.pages:
                raise CommandError(f"page {args.page} is not in this book (pages 0 to {row.pages - 1})")
            if args.panel is None:
                return svc.similar_to_page(row.id, args.page, k, filters)
            boxes = svc.catalog.panels(row.id).get(args.page)
            if boxes is not None and not 0 <= args.panel < len(boxes):
                raise CommandError(f"page {args.page} has {len(boxes)} panel{'s' if len(boxes) != 1 else ''} "
                                   f"(0 to {len(boxes) - 1}), not {args.panel}")
            return svc.similar_to_panel(row.id, args.page, args.panel, k, filters)
    finally:
        if user is not None:
            user.close()


def _text_hits(query: str, k: int, filters, settings):
    from comicdesk.library.catalog import CATALOG_FILE
    from comicdesk.library.db import DatabaseDamaged
    from comicdesk.library.labels import open_user_data
    from comicdesk.library.registry import LibraryRegistry
    from comicdesk.search.service import SearchError, SearchService

    if not query.strip():
        raise CommandError("the text to search for is empty")
    encoder = _TextEncoder(settings)
    hits = []
    searched = 0
    for root, entry in sorted(LibraryRegistry(settings).load().items()):
        cache_dir = settings.library_cache_dir(entry.id)
        if not (cache_dir / CATALOG_FILE).is_file():
            continue
        user = open_user_data(settings, entry.id) if filters.classes else None
        try:
            with SearchService.open(cache_dir, profile=settings.profile, user_data=user,
                                    text_encoder=encoder, notify=lambda m: note(f"comicdesk: {m}")) as svc:
                if svc.available("text") is None:
                    continue
                searched += 1
                hits.extend(svc.similar_to_text(query, k, filters))
        except SearchError:
            continue
        except DatabaseDamaged as exc:  # one library's catalogue is damaged: said, the others searched
            note(f"comicdesk: {exc.reason}")
            continue
        finally:
            if user is not None:
                user.close()
    if not searched:
        raise CommandError("no library has text vectors yet: run comicdesk index PATH first")
    hits.sort(key=lambda h: -h.score)
    return hits[:k]


class _TextEncoder:
    """The profile's text encoder, loaded on the first query (MiniLM, or the panel encoder's
    ``encode_text_only`` in the cosmo profile)."""

    def __init__(self, settings):
        self.settings = settings
        self._fn = None

    def __call__(self, text: str):
        if self._fn is None:
            self._fn = _load_encoder(self.settings)
        return self._fn(text)


def _load_encoder(settings):
    if settings.profile == "cosmo":
        return _cosmo_encoder(settings)
    from comicdesk.ml.minilm import MiniLM

    model = MiniLM()
    return lambda text: model.encode([text])[0]


def _cosmo_encoder(settings):
    import json

    from comicdesk.ml import panel_encoder as pe
    from comicdesk.ml.weights import Locator

    path = Path(Locator.from_env(cache_root=settings.cache_root).require("panel-encoder-v1"))
    cfg = pe.PanelEncoderConfig()
    side = path.parent / "config.json"
    if side.is_file():
        try:
            data = json.loads(side.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise CommandError(f"{side}: not a readable JSON config ({exc})") from None
        cfg = pe.PanelEncoderConfig(**{k: (tuple(v) if isinstance(v, list) else v) for k, v in data.items()
                                       if k in pe.PanelEncoderConfig.__dataclass_fields__})
    model = pe.load_checkpoint(path, config=cfg)
    tok_dir = path.parent / "tokenizer"
    if not tok_dir.is_dir():
        from comicdesk.ml.minilm import model_dir

        tok_dir = model_dir()
    tokenizer = pe.load_tokenizer(tok_dir)
    return lambda text: pe.encode_texts(model, tokenizer, [text])[0]
