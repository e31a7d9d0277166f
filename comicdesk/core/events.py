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
    """A book that could not be scanned or analysed; ``reason`` is one line for the person."""

    path: str
    reason: str
    book_id: int | None = None


@dataclass(frozen=True)
class AnalysisProgress(Progress):
    """Progress of an analysis run (``stage="index"``): ``done``/``total`` count pages (through the
    models, across both passes), ``rate`` is pages per second; books are counted apart."""

    books_done: int = 0
    books_total: int | None = None
    state: str = "running"  # "running" | "paused" | "cancelling"


@dataclass(frozen=True)
class BookAnalysed:
    """A book's analysis was committed (``status="done"``) or had nothing left to do
    (``"skipped"``). ``final`` is False when a later pass of the same run will come back to it."""

    path: str
    book_id: int
    status: str  # "done" | "skipped"
    pass_no: int
    final: bool
    pages: int
    panels: int | None
    bad_pages: int = 0


@dataclass(frozen=True)
class PageFailed:
    """A page of an analysed book that does not decode: it keeps its slot, marked bad."""

    path: str
    book_id: int
    index: int
    name: str
    reason: str
