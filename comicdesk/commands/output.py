"""What every command of the ``comicdesk`` CLI prints and raises: exit codes, ``CommandError``, one
JSON object per line, one-line notes on stderr, the progress bar. ``comicdesk.cli`` and the
commands in ``comicdesk/commands/`` both take them from here (a command never imports
``comicdesk.cli``, which loads commands by name)."""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable
from pathlib import Path

from comicdesk.core.errors import ComicdeskError

EXIT_OK, EXIT_FAIL, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130


class CommandError(ComicdeskError):
    """The command cannot run at all (missing path, bad argument value, ...)."""

    kind = "command"


# -- output helpers ---------------------------------------------------------------------------
_LONE_SURROGATE = None


def json_line(obj: dict) -> str:
    """One JSON object on one line, UTF-8 text as is. A path's bytes that are not UTF-8 (carried
    by Python as lone surrogates U+DC80..U+DCFF) are written as ``\\udcXX`` escapes: still a
    valid JSON string, and ``json.loads`` gives back the very name (``os.fsencode`` → the bytes)."""
    global _LONE_SURROGATE
    text = json.dumps(obj, ensure_ascii=False, separators=(", ", ": "))
    if _LONE_SURROGATE is None:
        import re

        _LONE_SURROGATE = re.compile("[\ud800-\udfff]")
    return _LONE_SURROGATE.sub(lambda m: f"\\u{ord(m.group()):04x}", text)


def emit_json(obj: dict, out=None) -> None:
    out = out or sys.stdout
    out.write(json_line(obj) + "\n")
    out.flush()


def note(message: str) -> None:
    """One line for the person, on stderr."""
    sys.stderr.write(message.rstrip("\n") + "\n")
    sys.stderr.flush()


class ProgressBar:
    """The one progress bar of the command line: one line on stderr, drawn only when stderr is a
    terminal. Called with a progress event (``done``, ``total``, ``rate``, ``eta_s``: scan,
    analysis, export), or as a download's ``progress(filename, done, total)`` through
    :meth:`transfer`, which measures the rate itself. ``fmt`` writes an amount (bytes: a size)."""

    def __init__(self, label: str = "", stream=None, enabled: bool | None = None,
                 fmt: Callable[[float], str] | None = None):
        self.label = label
        self.stream = stream or sys.stderr
        self.enabled = self.stream.isatty() if enabled is None else enabled
        self.fmt = fmt or (lambda n: f"{n:.0f}")
        self._last = 0.0
        self._drawn = False
        self._first: tuple[int, float] | None = None  # transfer: (done, when) of the first call

    def __call__(self, event) -> None:
        self.update(event.done, event.total, rate=event.rate, eta_s=event.eta_s)

    def transfer(self, label: str, done: int, total: int | None) -> None:
        """A download's progress: bytes of ``label`` so far, the rate since the first call."""
        if not self.enabled:
            return
        now = time.monotonic()
        if self._first is None:
            self._first = (done, now)
        first, start = self._first
        rate = (done - first) / (now - start) if now > start else 0.0
        eta = (total - done) / rate if rate > 0 and total and done < total else None
        self.update(done, total, rate=rate or None, eta_s=eta, label=label)

    def update(self, done: float, total: float | None = None, *, rate: float | None = None,
               eta_s: float | None = None, label: str | None = None) -> None:
        if not self.enabled:
            return
        now = time.monotonic()
        final = total is not None and done >= total
        if not final and now - self._last < 0.1:
            return
        self._last = now
        label = self.label if label is None else label
        if total:
            frac = min(1.0, done / total)
            bar = "#" * int(frac * 24)
            text = f"{label} [{bar:<24}] {self.fmt(done)}/{self.fmt(total)}"
        else:
            text = f"{label} {self.fmt(done)}…"
        if rate:
            text += f"  {self.fmt(rate)}/s"
        if eta_s is not None and not final:
            text += f"  ETA {eta_s:.0f}s"
        width = 100
        self.stream.write("\r" + text[:width].ljust(width))
        self.stream.flush()
        self._drawn = True

    def close(self) -> None:
        if self._drawn:
            self.stream.write("\r" + " " * 100 + "\r")
            self.stream.flush()
            self._drawn = False


def existing_path(value: str) -> Path:
    path = Path(value).expanduser()
    if not path.exists():
        raise CommandError(f"{value}: no such file or folder")
    return path.absolute()
