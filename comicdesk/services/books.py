"""One book's pages as a front end reads them (the app's reader and the crops of search hits):
:func:`open_book` gives a :class:`comicdesk.archive.Book` (its pages, their bytes, ComicInfo).
The readers themselves are :mod:`comicdesk.archive`'s; importing this module stays cheap."""

from __future__ import annotations


def open_book(path, *args, **kwargs):
    """:func:`comicdesk.archive.open_book`: the book at ``path``, whatever its container."""
    from comicdesk.archive import open_book as open_archive

    return open_archive(path, *args, **kwargs)
