"""Libraries as a front end asks for them: where a path belongs (:func:`locate_library`), a scan
(:func:`scan_library`), the registry of known libraries, and the atomic file write the app's own
files use.

The scan itself lives in :mod:`comicdesk.library.service`, because the export layer scans too (and
may not import services); the front ends take it from here, so every capability they use has its
place in ``comicdesk/services``. It is imported when first used: importing this module stays cheap.
"""

from __future__ import annotations

from comicdesk.library.atomic import write_text
from comicdesk.library.registry import LibraryRegistry

__all__ = ["LibraryRegistry", "is_damage", "locate_library", "scan_library", "write_text"]


def locate_library(path, settings, **kwargs):
    """:func:`comicdesk.library.service.locate_library`: the library ``path`` belongs to."""
    from comicdesk.library.service import locate_library as locate

    return locate(path, settings, **kwargs)


def scan_library(path, settings, *, progress=None, options=None, check_catalog: bool = False):
    """:func:`comicdesk.library.service.scan_library`: catalogue the library ``path`` belongs to (or
    the part of it ``path`` names); ``options`` a :class:`comicdesk.library.service.ScanOptions`
    (None: the defaults, with ``check_catalog``: look for damage in the catalogue too, as
    ``comicdesk index`` does)."""
    from comicdesk.library.service import ScanOptions, scan_library as scan

    if options is None and check_catalog:
        options = ScanOptions(check_catalog=True)
    return scan(path, settings, progress=progress, options=options)


def is_damage(exc: BaseException) -> bool:
    """:func:`comicdesk.library.db.is_damage`: whether a SQLite error met reading a cache says the
    file itself is damaged (not busy, full or read-only)."""
    from comicdesk.library.db import is_damage as damaged

    return damaged(exc)
