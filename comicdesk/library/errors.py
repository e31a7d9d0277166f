"""Errors of the library layer: each carries one clear line for the person."""

from __future__ import annotations

from comicdesk.core.errors import ComicdeskError


class LibraryError(ComicdeskError):
    """A library cannot be scanned or opened at all (not a per-book problem)."""

    kind = "library"


class LibraryBusy(LibraryError):
    """Another process holds the library's writer lock."""

    kind = "busy"


class CalibreError(LibraryError):
    """Calibre's ``metadata.db`` cannot be read."""

    kind = "calibre"


class CalibreLocked(CalibreError):
    """Calibre's ``metadata.db`` stayed locked by a writer for longer than we wait."""

    kind = "calibre-locked"


class CatalogError(LibraryError):
    """The catalogue or the person's data file cannot be used (newer version, damaged)."""

    kind = "catalog"
