"""The per-library cache's arrays: :mod:`~comicdesk.cache.vectors` (``vectors.zarr``, one writer).

Decisions are written down in ``docs/pipeline.md``. Nothing is imported here (Zarr loads lazily).
"""
