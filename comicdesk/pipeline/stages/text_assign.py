"""Text lines to panels, pass 2: each recognised line goes to the panel it overlaps most
(:func:`comicdesk.ml.ocr.assign_to_panels`) → ``TEXT_LINES``' ``panel`` and ``TEXT_PANELS`` →
``text_lines.panel``.

Kept apart from recognition (``text_read``) so that new panels — a new detector version — re-run
this (well under a millisecond a page, no image decoded) instead of the OCR. It needs the read
lines and the panels, and refines the lines in place: text and confidence pass through unchanged.
"""

from __future__ import annotations

from typing import Any

from comicdesk.pipeline.stage import PANELS, TEXT_LINES, TEXT_PANELS, PageData, StageContext, StageSpec

NAME = "text_assign"
#: The rule: most overlap, ties to the smaller panel, then the lower index. Until this stage
#: existed, ``text_read`` applied the same rule itself: its records from then count as this
#: stage's while the version stays "overlap-1" (``former_host``).
VERSION = "overlap-1"


def assign_page(page: PageData) -> dict[str, Any]:
    """``{TEXT_LINES: the lines with their panel, TEXT_PANELS: [panel per line]}`` for one page."""
    from comicdesk.ml.ocr import assign_to_panels

    lines = page.outputs.get(TEXT_LINES) or []
    panels = [tuple(getattr(b, "box", b)) for b in (page.outputs.get(PANELS) or [])]
    where = assign_to_panels([ln["box"] for ln in lines], panels)
    return {TEXT_LINES: [{**ln, "panel": int(j)} for ln, j in zip(lines, where)], TEXT_PANELS: where}


def _load(ctx: StageContext):
    def run(pages: list[PageData]) -> list[dict[str, Any]]:
        return [assign_page(p) for p in pages]

    return run


SPEC = StageSpec(name=NAME, pass_no=2, needs=(TEXT_LINES, PANELS), produces=(TEXT_LINES, TEXT_PANELS),
                 load=_load, version=VERSION, level="page", batchable=True, batch_size=64,
                 profiles=("standard", "cosmo"), former_host=("text_read", "overlap-1"))
