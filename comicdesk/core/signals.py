"""What the page classifier sees of one page: everything the standard profile computed, in one
plain object (no I/O). Built from a running book's stage outputs or from the cache
(``comicdesk.pipeline.signals``), so a re-score after the person's correction sees exactly what
the pipeline saw.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

Box = tuple[int, int, int, int]


@dataclass
class PageSignals:
    index: int  # page index in the book, from 0
    n_pages: int  # pages in the book
    width: int | None
    height: int | None
    bad: bool = False
    panels: list[Box] = field(default_factory=list)  # reading order
    text_boxes: list[Box] = field(default_factory=list)  # detected lines, reading order
    text_coverage: float | None = None  # share of the page inside text boxes
    lines: list[str] | None = None  # recognised lines (pass 2), None before recognition
    stats: dict[str, float] = field(default_factory=dict)  # image statistics (PAGE_STATS)
    phash: int | None = None  # 64-bit perceptual hash
    image_vec: Any | None = None  # (1280,) EfficientNet-Lite0 page features, raw
    text_vec: Any | None = None  # (384,) MiniLM of the page text, unit (zero: no text)
    repeats_other_books: int = 0  # other books with a near-identical page
    repeats_within_book: int = 0  # other pages of this book near-identical to this one

    @property
    def text(self) -> str:
        return " ".join(self.lines or ())
