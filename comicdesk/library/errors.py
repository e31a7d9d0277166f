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


class CatalogBeingUpgraded(CatalogError):
    """A reader found a catalogue written by an older comicdesk while a writer holds the library
    lock (the writer upgrades it on open): nothing to read yet, try again when it has finished."""
