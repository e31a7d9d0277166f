"""Libraries: finding and scanning books, Calibre, the catalogue and the person's data.

- :mod:`~comicdesk.library.service` — :func:`scan_library`, :func:`locate_library` (the entry points)
- :mod:`~comicdesk.library.scanner` — folder walk, Calibre candidates, reading one book's entry
- :mod:`~comicdesk.library.calibre` — Calibre's ``metadata.db``, read-only, raw tables
- :mod:`~comicdesk.library.catalog` — ``catalog.sqlite`` in the cache dir (versioned migrations)
- :mod:`~comicdesk.library.userdata` — ``user.sqlite`` in the data dir (labels, positions)
- :mod:`~comicdesk.library.registry` — ``libraries.json``: library roots → ids
- :mod:`~comicdesk.library.lock` — one writer per library across processes
- :mod:`~comicdesk.library.identity` — content keys and page hashes
- :mod:`~comicdesk.library.names` — title/series/number from ComicInfo, Calibre or the file name
- :mod:`~comicdesk.library.thumbs` — cover and page thumbnails, off the caller's thread

The decisions behind them are written down in ``docs/library.md``. Nothing is imported here, so
``import comicdesk.library`` stays free.
"""
