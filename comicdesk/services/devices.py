"""The device models run on, as the front ends ask for it (``--device``, the app's device setting).

The choice travels in the settings (:attr:`comicdesk.core.settings.Settings.device`, read once at
start-up) into the run options and each stage's context; here a front end checks, before any work
starts, that this machine has the device asked for: one clear line and exit 1 for ``--device cuda``
on a machine without CUDA, never a silent fall-back (``auto`` falls back: CUDA, else MPS, else the
CPU). torch is imported only when a device other than ``auto`` is asked for.
"""

from __future__ import annotations

#: The commands whose work runs models (``similar``: a text query is embedded; ``export``: books
#: not analysed yet are analysed first).
DEVICE_COMMANDS = ("index", "export", "similar")


def check_device(settings) -> str:
    """The device ``settings.device`` runs on here (``cpu``, ``cuda``, ``cuda:N``, ``mps``);
    :class:`comicdesk.ml.device.DeviceError` (one line) when this machine does not have it.
    ``auto`` is not checked (it always has an answer) and returns ``"auto"`` without importing
    torch."""
    if (settings.device or "auto") == "auto":
        return "auto"
    from comicdesk.ml.device import resolve_device

    return resolve_device(settings.device)


_found: dict[str, bool] = {}


def device_choices() -> dict[str, bool]:
    """Which of ``auto|cpu|cuda|mps`` this machine can run on (for the app's settings; asked once
    a process: GPUs do not come and go while it runs)."""
    from comicdesk.ml.device import DeviceError, resolve_device

    if not _found:
        for name in ("auto", "cpu", "cuda", "mps"):
            try:
                resolve_device(name)
                _found[name] = True
            except DeviceError:
                _found[name] = False
    return dict(_found)

