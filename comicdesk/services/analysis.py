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
    with nothing to analyse only stamps indexes saved before the cache identity. The word index of
    the recognised text (``search.text_index``) is brought up to date too."""
    from comicdesk.search.service import update_indexes
    from comicdesk.search.text_index import update_text_index

    reports = update_indexes(cache_dir, catalog, store, unstamped_only=unstamped_only)
    if not unstamped_only:  # the word index of the recognised text (the writer keeps it current)
        update_text_index(cache_dir, catalog)
    return reports


def make_runner(cache_dir: Path, **kwargs):
    """A :class:`~comicdesk.pipeline.runner.Runner` for ``cache_dir`` (``stages``, ``options``,
    ``on_event`` as the runner takes them; ``options`` may also be a dict of
    :class:`~comicdesk.pipeline.runner.RunOptions` fields) that updates the search indexes after
    its run."""
    from comicdesk.pipeline.runner import Runner, RunOptions

    if isinstance(kwargs.get("options"), dict):
        kwargs["options"] = RunOptions(**kwargs["options"])
    kwargs.setdefault("after_vectors", after_vectors)
    return Runner(cache_dir, **kwargs)


def foreground_runner(settings, library_id: str, *, on_event=None, engine: str = "local",
                      address: str | None = None, library_root=None):
    """The runner of an analysis the person waits for (``comicdesk index``): every core, normal
    priority (:func:`comicdesk.pipeline.runner.foreground_options`), in a process that only
    analyses from here on (fewer malloc arenas). ``engine="ray"``: the same run on Ray
    (:class:`comicdesk.pipeline.ray_engine.RayRunner`: ``address`` joins a cluster, else a local
    Ray starts and stops with the run; every node must see ``library_root`` and the cache); this
    process stays the one writer."""
    from comicdesk.pipeline.runner import foreground_options, limit_malloc_arenas

    limit_malloc_arenas()
    cache_dir = settings.library_cache_dir(library_id)
    options = foreground_options(settings, library_id)
    if engine == "ray":
        from comicdesk.pipeline.ray_engine import RayRunner

        return RayRunner(cache_dir, address=address, library_root=library_root, options=options,
                         on_event=on_event, after_vectors=after_vectors)
    if engine != "local":
        raise ValueError(f"unknown engine {engine!r}")
    return make_runner(cache_dir, options=options, on_event=on_event)


def check_engine(engine: str, address: str | None = None) -> None:
    """Before a scan: the engine can run here (Ray installed; a cluster answers at ``address``),
    else :class:`comicdesk.pipeline.runner.RunError` with one line."""
    if engine == "ray":
        from comicdesk.pipeline.ray_engine import check_address, import_ray

        import_ray()
        if address is not None:
            check_address(address)


def background_options(settings, library_id: str, *, threads: int | None = 1, device: str | None = None) -> dict:
    """The app's background analysis of a library, as plain values (they travel to the analysis
    child process): the profile, ``threads`` per model (at least 1), the library's data dir (the
    head learnt from the person's labels) and models dir, how models run (from the settings; the
    device: ``$COMICDESK_DEVICE`` as read at start-up, else ``device`` — the app's device setting,
    through the settings like ``--device``: :meth:`Settings.with_device` — else auto);
    :class:`RunOptions`' defaults for the rest (one worker, lowered priority)."""
    from comicdesk.pipeline.runner import library_dirs

    settings = settings.with_device(device)
    return {"profile": settings.profile, "threads": max(1, threads or 1), **library_dirs(settings, library_id)}
