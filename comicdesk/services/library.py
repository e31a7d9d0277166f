"""Libraries as a front end asks for them: where a path belongs (:func:`locate_library`), a scan
(:func:`scan_library`), the registry of known libraries, and the atomic file write the app's own
files use.

The scan itself lives in :mod:`comicdesk.library.service`, because the export layer scans too (and
may not import services); the front ends take it from here, so every capability they use has its
place in ``comicdesk/services``. It is imported when first used: importing this module stays cheap.
"""

from __future__ import annotations

import os
from pathlib import Path

from comicdesk.library.atomic import write_text
from comicdesk.library.registry import LibraryRegistry

__all__ = ["LibraryRegistry", "folder_inside_library", "is_damage", "is_registered", "locate_library",
           "scan_library", "write_text"]


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


def _resolved(path: Path) -> Path | None:
    try:
        return path.resolve()
    except (OSError, RuntimeError):  # a symlink loop: not a library anyway
        return None


def folder_inside_library(settings, folders, target: str | os.PathLike | None = None) -> str | None:
    """The one line refusing a cache or data folder the person chose (``folders``: ``(what,
    folder)`` pairs, e.g. ``("cache", settings.cache_root)``) that lies inside the library
    ``target`` names (a folder: its root; a book: its folder) or inside any registered library —
    comicdesk writes nothing into a library; None when none does. Checked before anything is
    created."""
    roots: list[Path] = []
    if target:
        given = _resolved(Path(target).expanduser().absolute())
        if given is not None and given.exists():
            roots.append(given if given.is_dir() else given.parent)
    try:
        roots.extend(LibraryRegistry(settings).load())
    except OSError:
        pass
    for what, folder in folders:
        real = _resolved(Path(folder))
        if real is None:
            continue
        for root in roots:
            if real == root or real.is_relative_to(root):
                return (f"the {what} folder {folder} is inside the library {root}; choose one "
                        f"outside it (comicdesk never writes into a library)")
    return None


def is_registered(settings, path: str | os.PathLike) -> bool:
    """Whether ``path`` is the root of a registered library (one whose disk may be away)."""
    return LibraryRegistry(settings).find(Path(path).expanduser().absolute().resolve()) is not None
