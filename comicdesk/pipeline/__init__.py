"""Background analysis: stages (small pure functions over pages) and the runner that drives them.

- :mod:`~comicdesk.pipeline.stage` — the stage protocol (``StageSpec``, ``PageData``, ...)
- :mod:`~comicdesk.pipeline.registry` — the registered stages, in run order
- :mod:`~comicdesk.pipeline.stages` — one module per stage
- :mod:`~comicdesk.pipeline.runner` — ``Runner``: decode pool, one inference executor, one writer
- :mod:`~comicdesk.pipeline.results` — reading a book's analysis back (no lock)

Decisions are written down in ``docs/pipeline.md``. Nothing is imported here, and no module of
this package imports Qt or a model at import time.
"""
