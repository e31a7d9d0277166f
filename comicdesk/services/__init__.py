"""What a front end asks for, Qt-free: the layer between the front ends (``comicdesk.cli`` and
``comicdesk/commands``, ``comicdesk/qt``) and the workers (``pipeline``, ``search``, ``export``,
``library``, ``cache``). It is the only layer that may use ``pipeline``, ``search`` and ``export``
together, so what one of them needs done after another (the search indexes after a run, the
analysis before an export) is put together here. See docs/architecture.md.

- :mod:`comicdesk.services.analysis` — the analysis runner (with the search index update after
  the vectors it writes), the foreground and background run options.
- :mod:`comicdesk.services.analysis_child` — the same analysis in a child process, with
  prioritise/pause/resume/cancel over a command queue (the app's background analysis).
- :mod:`comicdesk.services.analysis_job` — the background analysis a front end drives
  (``BackgroundAnalysis``: in a child process, or in this process where none starts; the
  controls relayed to whichever runs; the runner's events as they come).
- :mod:`comicdesk.services.books` — a book's pages: ``comicdesk pages`` rows, ``comicdesk panels``
  detection, the reader's book.
- :mod:`comicdesk.services.cache_tools` — cache size and clearing.
- :mod:`comicdesk.services.duplicates` — ``comicdesk duplicates``: repeated pages per library.
- :mod:`comicdesk.services.export` — ``comicdesk export`` and the app's export: analysing first
  when needed; the export options, filters and preview.
- :mod:`comicdesk.services.labels` — the person's labels and the re-score that follows them.
- :mod:`comicdesk.services.library` — locate and scan a library, the registry.
- :mod:`comicdesk.services.models` — the weights catalogue (``comicdesk models``, models dialog).
- :mod:`comicdesk.services.session` — one open library as the app sees it: books, pages with
  labels and panels, text search, similar panels/pages, labels, reading positions.
- :mod:`comicdesk.services.similar` — ``comicdesk similar``: neighbours of a page or panel, text
  search across libraries.
- :mod:`comicdesk.services.threads` — the eager thread pool the front ends run work on.
"""
