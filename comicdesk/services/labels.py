"""The person's labels: set one page's label (``comicdesk label``), and after labels change let
the library's page-class head learn from them and re-score the other pages (the app's relabel,
:mod:`comicdesk.qt.labelling`). The head and the re-scoring are the pipeline's
(:mod:`comicdesk.pipeline.rescore`); the labels are the library's (``user.sqlite``)."""

from __future__ import annotations

from pathlib import Path

from comicdesk.core.errors import ComicdeskError


class LabelError(ComicdeskError):
    """The label cannot be set (a page the book does not have, a class there is not)."""

    kind = "command"


def parse_label(word: str) -> str | None:
    """A page class as the person wrote it (any case), or ``none`` to clear the label (None);
    :class:`LabelError` for anything else, naming the classes."""
    from comicdesk.core.pages import PAGE_CLASSES

    label = None if word.casefold() == "none" else word.casefold()
    if label is not None and label not in PAGE_CLASSES:
        raise LabelError(f"unknown class {word!r}: use one of {', '.join(PAGE_CLASSES)}, or none")
    return label


def label_page(settings, path: str | Path, page: int, label: str | None):
    """Store the person's ``label`` (None clears it) for ``page`` of the book at ``path``, then
    retrain the library's head and re-score its pages now — or, while an analysis holds the
    library, leave it pending for that run. Returns the
    :class:`~comicdesk.pipeline.rescore.RelabelResult`."""
    from comicdesk.archive import open_book
    from comicdesk.library.identity import book_key
    from comicdesk.library.service import locate_library
    from comicdesk.library.userdata import UserData

    with open_book(path) as book:
        if not 0 <= page < len(book):
            raise LabelError(f"page {page} is not in this book (pages 0 to {len(book) - 1})")
        key = book_key(book)
    target = locate_library(path, settings)
    with UserData(settings.library_data_dir(target.id)) as user:
        user.set_label(key, page, label)
    return rescore(settings.library_cache_dir(target.id), settings.library_data_dir(target.id))


def rescore(cache_dir: Path, data_dir: Path, *, lock_timeout: float = 2.0):
    """Retrain the library's heads from the labels and re-score its pages (when the writer lock
    can be had within ``lock_timeout`` seconds; else the result says ``pending``)."""
    from comicdesk.pipeline.rescore import relabel

    return relabel(cache_dir, data_dir, lock_timeout=lock_timeout)
