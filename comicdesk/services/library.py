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

__all__ = ["LibraryRegistry", "locate_library", "scan_library", "write_text"]


def locate_library(path, settings, **kwargs):
    """:func:`comicdesk.library.service.locate_library`: the library ``path`` belongs to."""
    from comicdesk.library.service import locate_library as locate

    return locate(path, settings, **kwargs)


def scan_library(path, settings, *, progress=None, options=None):
    """:func:`comicdesk.library.service.scan_library`: catalogue the library ``path`` belongs to (or
    the part of it ``path`` names); ``options`` a :class:`comicdesk.library.service.ScanOptions`
    (None: the defaults)."""
    from comicdesk.library.service import scan_library as scan

    return scan(path, settings, progress=progress, options=options)
