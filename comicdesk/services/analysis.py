"""The analysis as a front end runs it: a :class:`~comicdesk.pipeline.runner.Runner` whose search
indexes follow the vectors it writes.

The runner knows nothing of search (the two are siblings); it calls ``after_vectors`` while it
still holds the library lock, and this module gives it :func:`after_vectors`. Every runner a
front end starts (``comicdesk index``, the app's background analysis and its child process, the
analysis before an export) comes from :func:`make_runner`.
"""

from __future__ import annotations

from pathlib import Path


def after_vectors(cache_dir: Path, catalog, store, *, unstamped_only: bool = False):
    """Bring the saved search indexes up to date with the vectors a run wrote (never raises: a
    failure is a report, and the next query rebuilds what is stale). ``unstamped_only``: a run
    with nothing to analyse only stamps indexes saved before the cache identity."""
    from comicdesk.search.service import update_indexes

    return update_indexes(cache_dir, catalog, store, unstamped_only=unstamped_only)


def make_runner(cache_dir: Path, **kwargs):
    """A :class:`~comicdesk.pipeline.runner.Runner` for ``cache_dir`` (``stages``, ``options``,
    ``on_event`` as the runner takes them) that updates the search indexes after its run."""
    from comicdesk.pipeline.runner import Runner

    kwargs.setdefault("after_vectors", after_vectors)
    return Runner(cache_dir, **kwargs)
