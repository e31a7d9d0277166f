"""What every command of the ``comicdesk`` CLI prints and raises: exit codes, ``CommandError``, one
JSON object per line, one-line notes on stderr, the progress bar. ``comicdesk.cli`` and the
commands in ``comicdesk/commands/`` both take them from here (a command never imports
``comicdesk.cli``, which loads commands by name)."""

from __future__ import annotations

import json
import sys
import time
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
    """A one-line progress bar on stderr, drawn only when stderr is a terminal."""

    def __init__(self, label: str, stream=None, enabled: bool | None = None):
        self.label = label
        self.stream = stream or sys.stderr
        self.enabled = self.stream.isatty() if enabled is None else enabled
        self._last = 0.0
        self._drawn = False

    def __call__(self, event) -> None:
        if not self.enabled:
            return
        now = time.monotonic()
        final = event.total is not None and event.done >= event.total
        if not final and now - self._last < 0.1:
            return
        self._last = now
        if event.total:
            frac = min(1.0, event.done / event.total)
            bar = "#" * int(frac * 24)
            text = f"{self.label} [{bar:<24}] {event.done}/{event.total}"
        else:
            text = f"{self.label} {event.done}…"
        if event.rate:
            text += f"  {event.rate:.0f}/s"
        if event.eta_s is not None and not final:
            text += f"  ETA {event.eta_s:.0f}s"
        width = 100
        self.stream.write("\r" + text[:width].ljust(width))
        self.stream.flush()
        self._drawn = True

    def close(self) -> None:
        if self._drawn:
            self.stream.write("\r" + " " * 100 + "\r")
            self.stream.flush()


def existing_path(value: str) -> Path:
    path = Path(value).expanduser()
    if not path.exists():
        raise CommandError(f"{value}: no such file or folder")
    return path.absolute()
