"""Progress and outcome events: plain objects any front end (CLI bar, Qt bridge) can show."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Progress:
    """How far a long job is. ``total`` is None while unknown (still walking folders)."""

    stage: str  # "scan", "index", "export", ...
    done: int
    total: int | None = None
    item: str = ""  # what is being worked on (a book path), for display only
    rate: float | None = None  # items per second
    eta_s: float | None = None


@dataclass(frozen=True)
class BookFailed:
    path: str
    reason: str
