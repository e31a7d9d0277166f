"""A page's label as everything else sees it: the person's, else ComicInfo's, else the model's.

One place decides, so ``pages``, the app, search filters and export agree:

1. ``user`` — the person's own label (``user.sqlite`` in the data dir, keyed by content key);
2. ``comicinfo`` — an explicit ``Type`` in the book's ComicInfo.xml (recorded by the scanner in
   the catalogue's ``comicinfo`` JSON as ``page_types``);
3. ``model`` — the newest model output in ``page_outputs`` (for ``profile_model``, when given
   and present, else any model).

Probabilities always come from the model (None until a model ran), whatever the source of the
label. Pages marked ``Deleted`` in ComicInfo are reported in :attr:`PageLabel.hidden`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable


@dataclass(frozen=True)
class PageLabel:
    label: str | None
    probs: dict[str, float] | None
    source: str | None  # "user" | "comicinfo" | "model" | None
    hidden: bool = False  # ComicInfo marks it Deleted


def comicinfo_page_types(book_row) -> dict[int, str]:
    """``{page: class}`` from the explicit ComicInfo page types the scanner recorded."""
    info = getattr(book_row, "comicinfo", None) or {}
    return {int(k): v for k, v in (info.get("page_types") or {}).items()}


def comicinfo_deleted(book_row) -> set[int]:
    info = getattr(book_row, "comicinfo", None) or {}
    return {int(i) for i in info.get("deleted") or ()}


def resolve(pages: Iterable[int], *, user: dict[int, str], comicinfo: dict[int, str],
            outputs: dict[int, list], deleted: set[int] = frozenset(),
            profile_model: str | None = None) -> dict[int, PageLabel]:
    """Labels for these page indexes from the three sources (``outputs``: catalogue
    ``page_outputs``, ``{page: [PageOutput, ...]}`` newest first)."""
    result = {}
    for page in pages:
        model = [o for o in outputs.get(page, ()) if o.source == "model"]
        if profile_model is not None and any(o.model_id == profile_model for o in model):
            model = [o for o in model if o.model_id == profile_model]
        best = model[0] if model else None
        probs = best.probs if best is not None else None
        if page in user:
            label, source = user[page], "user"
        elif page in comicinfo:
            label, source = comicinfo[page], "comicinfo"
        elif best is not None and best.label is not None:
            label, source = best.label, "model"
        else:
            label, source = None, None
        result[page] = PageLabel(label, probs, source, page in deleted)
    return result


def book_labels(catalog, book_row, user_data=None, *, profile_model: str | None = None) -> dict[int, PageLabel]:
    """Every page's label for a catalogued book (``user_data``: an open
    :class:`~comicdesk.library.userdata.UserData`, or None when the library has none)."""
    user = user_data.labels(book_row.content_key) if user_data is not None and book_row.content_key else {}
    pages = [p.index for p in catalog.pages(book_row.id)]
    return resolve(pages, user=user, comicinfo=comicinfo_page_types(book_row),
                   outputs=catalog.page_outputs(book_row.id), deleted=comicinfo_deleted(book_row),
                   profile_model=profile_model)


def open_user_data(settings, library_id: str):
    """The library's user data read-only, or None when the person has none yet."""
    from comicdesk.library.userdata import USER_FILE, UserData

    data_dir = settings.library_data_dir(library_id)
    if not (data_dir / USER_FILE).is_file():
        return None
    return UserData(data_dir, readonly=True)
