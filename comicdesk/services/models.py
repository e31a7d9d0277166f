"""The models a profile needs, as ``comicdesk models`` and the app's models dialog show and fetch
them: the catalogue of known weights (:data:`MODELS`), where they are found (:class:`Locator`),
sizes and free disk. The weights logic is :mod:`comicdesk.ml.weights`'s; nothing is downloaded
unless the person asks."""

from __future__ import annotations

from comicdesk.ml.weights import MODELS, Locator, WeightsError, disk_free, human_size



def locator(settings) -> Locator:
    """Where the weights are found for these settings: the environment as the settings read it at
    start-up (``Settings.env``: ``COMICDESK_MODELS_DIR``, the Hugging Face cache, offline) and the
    settings' cache root — never the process's environment mid-work. ``comicdesk models`` and the
    app's models dialog use it."""
    return Locator.from_env(settings.env, cache_root=settings.cache_root)


__all__ = ["MODELS", "Locator", "WeightsError", "disk_free", "human_size", "locator"]
