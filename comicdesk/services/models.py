"""The models a profile needs, as ``comicdesk models`` and the app's models dialog show and fetch
them: the catalogue of known weights (:data:`MODELS`), where they are found (:class:`Locator`),
sizes and free disk. The weights logic is :mod:`comicdesk.ml.weights`'s; nothing is downloaded
unless the person asks."""

from __future__ import annotations

from comicdesk.ml.weights import MODELS, Locator, WeightsError, disk_free, human_size

__all__ = ["MODELS", "Locator", "WeightsError", "disk_free", "human_size"]
