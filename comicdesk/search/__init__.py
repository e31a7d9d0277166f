"""Vector indexes over the cached embeddings (similar panels and pages) and duplicate pages.

- :mod:`comicdesk.search.index` — exact / IVF indexes per stored array, persisted in the cache;
- :mod:`comicdesk.search.service` — queries by panel, page and text with filters, and
  :func:`~comicdesk.search.service.update_indexes` for the runner;
- :mod:`comicdesk.search.duplicates` — pages repeated within and across books.

Nothing heavy is imported here (faiss only when an index is above the exact threshold).
"""
