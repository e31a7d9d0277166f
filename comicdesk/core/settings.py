"""Where comicdesk keeps things, and the choices a run is made with.

Settings are built once (from command-line flags, then environment, then platform defaults) and
passed explicitly to whatever needs them; no module reads a global configuration mid-work.
Computing paths here does no I/O.

- cache root: ``--cache-dir`` > ``$COMICDESK_CACHE_DIR`` > ``user_cache_dir("comicdesk")``;
  a library's cache is ``<cache root>/libraries/<library-id>/`` (rebuildable, may be cleared).
- data root: ``--data-dir`` > ``$COMICDESK_DATA_DIR`` > ``user_data_dir("comicdesk")``; a
  library's data is ``<data root>/libraries/<library-id>/`` (the person's own: labels, reading
  positions; never cleared with the cache). The library registry is ``<data root>/libraries.json``.
- how models run (read here, once, at start-up; a run gets them through its run options, never
  from the environment mid-work): the device, ``--device`` (or the app's device setting) >
  ``$COMICDESK_DEVICE`` > auto (auto | cpu | cuda[:N] | mps; a name is checked here, whether this
  machine has it when a command starts: ``comicdesk.services.devices.check_device``),
  ``$COMICDESK_DTYPE`` (the CoSMo models' precision), ``$COMICDESK_BATCH`` (the CoSMo models'
  batch), ``$COMICDESK_CPU_PRECISION`` (float32 | bfloat16 | auto, the small CPU models);
  ``env`` keeps the environment as it was then, for what reads more of it (the weights locator:
  ``$COMICDESK_MODELS_DIR``, ``$HF_HOME``, ...).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping

APP_NAME = "comicdesk"
PROFILES = ("standard", "cosmo")
#: The devices a person may ask for (``cuda:N`` names one GPU); comicdesk.ml.device resolves them.
DEVICES = ("auto", "cpu", "cuda", "mps")


def device_name(value: str | None, source: str = "--device") -> str:
    """A device preference, lower-cased and checked by name only (``auto``, ``cpu``, ``cuda``,
    ``cuda:N``, ``mps``; None or "" is auto); ValueError with one line otherwise."""
    name = (value or "auto").strip().lower() or "auto"
    kind, colon, index = name.partition(":")
    if kind not in DEVICES or (colon and (kind != "cuda" or not index.isdigit())):
        raise ValueError(f"unknown device {value!r} ({source}): use {', '.join(DEVICES)} or cuda:N")
    return name


@dataclass(frozen=True)
class Settings:
    cache_root: Path
    data_root: Path
    profile: str = "standard"
    device: str = "auto"
    dtype: str | None = None
    batch: int | None = None
    cpu_precision: str = "auto"
    env: Mapping[str, str] = field(default_factory=dict, compare=False, repr=False)

    @classmethod
    def resolve(
        cls,
        cache_dir: str | os.PathLike | None = None,
        data_dir: str | os.PathLike | None = None,
        profile: str | None = None,
        env: Mapping[str, str] | None = None,
        device: str | None = None,
    ) -> "Settings":
        env = os.environ if env is None else env
        if cache_dir is None:
            cache_dir = env.get("COMICDESK_CACHE_DIR") or None
        if data_dir is None:
            data_dir = env.get("COMICDESK_DATA_DIR") or None
        if cache_dir is None or data_dir is None:
            import platformdirs

            if cache_dir is None:
                cache_dir = platformdirs.user_cache_dir(APP_NAME, appauthor=False)
            if data_dir is None:
                data_dir = platformdirs.user_data_dir(APP_NAME, appauthor=False)
        profile = profile or env.get("COMICDESK_PROFILE") or "standard"
        if profile not in PROFILES:
            raise ValueError(f"unknown profile {profile!r} (choose {' or '.join(PROFILES)})")
        batch = env.get("COMICDESK_BATCH") or None
        try:
            batch_n = int(batch) if batch else None
        except ValueError:
            raise ValueError(f"COMICDESK_BATCH must be a whole number, not {batch!r}") from None
        if device:
            device = device_name(device)
        else:
            device = device_name(env.get("COMICDESK_DEVICE"), "$COMICDESK_DEVICE")
        return cls(Path(cache_dir).expanduser().absolute(), Path(data_dir).expanduser().absolute(), profile,
                   device=device, dtype=env.get("COMICDESK_DTYPE") or None,
                   batch=batch_n,
                   cpu_precision=(env.get("COMICDESK_CPU_PRECISION") or "auto").strip().lower() or "auto",
                   env=dict(env))

    def with_device(self, device: str | None) -> "Settings":
        """These settings with a device chosen after start-up (the app's device setting), unless
        the start-up already chose one (``$COMICDESK_DEVICE``): the same checks as ``--device``."""
        if self.device != "auto" or not device:
            return self
        from dataclasses import replace

        return replace(self, device=device_name(device, "the device setting"))

    @property
    def registry_path(self) -> Path:
        return self.data_root / "libraries.json"

    def library_cache_dir(self, library_id: str) -> Path:
        return self.cache_root / "libraries" / library_id

    def library_data_dir(self, library_id: str) -> Path:
        return self.data_root / "libraries" / library_id
