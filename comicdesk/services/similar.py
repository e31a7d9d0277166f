"""Panels or pages like a given one, or matching a text, across libraries, as ``comicdesk similar``
asks for them: :func:`key_hits` (a book's page or panel, in its library) and :func:`text_hits`
(a text, over every registered library whose cache holds text vectors for the profile, best first
across them). The search itself is :class:`comicdesk.search.service.SearchService`; the profile's
text encoder (:class:`TextEncoder`) is loaded on the first query."""

from __future__ import annotations

from pathlib import Path

from comicdesk.core.errors import ComicdeskError
from comicdesk.search.service import Filters, parse_classes  # noqa: F401  (the front ends' filters)


class SimilarError(ComicdeskError):
    """The search cannot run as asked (a page or panel the book does not have, an empty text, no
    library with text vectors)."""

    kind = "command"


def key_hits(settings, path: Path, page: int, panel: int | None, k: int, filters, note):
    """The ``k`` pages like ``page`` of the book at ``path`` (an existing absolute path), or the
    panels like its ``panel``, in the book's library; ``note(line)`` hears what the search says
    (a first index build). Raises ``NotIndexed`` when the library or book is not indexed yet."""
    from comicdesk.library.catalog import CATALOG_FILE
    from comicdesk.library.labels import open_user_data
    from comicdesk.library.service import locate_library
    from comicdesk.search.service import NotIndexed, SearchService

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
            if row.pages is not None and not 0 <= page < row.pages:
                raise SimilarError(f"page {page} is not in this book (pages 0 to {row.pages - 1})")
            if panel is None:
                return svc.similar_to_page(row.id, page, k, filters)
            boxes = svc.catalog.panels(row.id).get(page)
            if boxes is not None and not 0 <= panel < len(boxes):
                raise SimilarError(f"page {page} has {len(boxes)} panel{'s' if len(boxes) != 1 else ''} "
                                   f"(0 to {len(boxes) - 1}), not {panel}")
            return svc.similar_to_panel(row.id, page, panel, k, filters)
    finally:
        if user is not None:
            user.close()


def text_hits(settings, query: str, k: int, filters, note):
    """The ``k`` best results for ``query`` over every registered library with analysed text for
    the profile (:mod:`comicdesk.services.text_search`: word matches first, then meaning);
    ``note(line)`` hears what the search says and which library's catalogue is damaged (the
    others are searched)."""
    from comicdesk.library.catalog import CATALOG_FILE
    from comicdesk.library.db import DatabaseDamaged
    from comicdesk.library.labels import open_user_data
    from comicdesk.library.registry import LibraryRegistry
    from comicdesk.search.service import SearchError, SearchService
    from comicdesk.services.text_search import merge, text_search

    if not query.strip():
        raise SimilarError("the text to search for is empty")
    encoder = TextEncoder(settings)
    parts = []
    searched = 0
    for root, entry in sorted(LibraryRegistry(settings).load().items()):
        cache_dir = settings.library_cache_dir(entry.id)
        if not (cache_dir / CATALOG_FILE).is_file():
            continue
        user = open_user_data(settings, entry.id) if filters.classes else None
        try:
            with SearchService.open(cache_dir, profile=settings.profile, user_data=user,
                                    text_encoder=encoder, notify=lambda m: note(f"comicdesk: {m}")) as svc:
                if svc.available("text") is None and not svc.has_words():
                    continue
                searched += 1
                parts.append(text_search(svc, query, k, filters))
        except SearchError:
            continue
        except DatabaseDamaged as exc:  # one library's catalogue is damaged: said, the others searched
            note(f"comicdesk: {exc.reason}")
            continue
        finally:
            if user is not None:
                user.close()
    if not searched:
        raise SimilarError("no library has text vectors yet: run comicdesk index PATH first")
    return merge(parts, k)


class TextEncoder:
    """The profile's text encoder, loaded on the first query (MiniLM, or the panel encoder's
    ``encode_text_only`` in the cosmo profile)."""

    def __init__(self, settings):
        self.settings = settings
        self._fn = None

    def __call__(self, text: str):
        if self._fn is None:
            self._fn = load_encoder(self.settings)
        return self._fn(text)


def load_encoder(settings):
    if settings.profile == "cosmo":
        return cosmo_encoder(settings)
    from comicdesk.ml.device import plan_model
    from comicdesk.ml.minilm import MiniLM

    # on the settings' device (--device); float32 on the CPU: one query, nothing to time
    plan = plan_model(settings.device, cpu_batch=1, gpu_batch=1, cpu_precision="float32")
    model = MiniLM(device=plan.device, precision=plan.precision)
    return lambda text: model.encode([text])[0]


def cosmo_encoder(settings):
    """The cosmo profile's text encoder for text queries: the panel encoder, loaded as the panel
    stage loads it (:func:`comicdesk.pipeline.stages.cosmo.load_panel_encoder`), on the settings'
    device (``--device``)."""
    from comicdesk.ml import panel_encoder as pe
    from comicdesk.ml.device import resolve_device
    from comicdesk.ml.weights import Locator
    from comicdesk.pipeline.stages.cosmo import load_panel_encoder

    model, tokenizer = load_panel_encoder(Locator.from_env(settings.env, cache_root=settings.cache_root),
                                          device=resolve_device(settings.device), dtype=settings.dtype)
    return lambda text: pe.encode_texts(model, tokenizer, [text])[0]
