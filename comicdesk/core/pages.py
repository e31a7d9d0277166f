"""Page classes (the nine CoSMo classes, in model index order) and their groups."""

from __future__ import annotations

PAGE_CLASSES: tuple[str, ...] = (
    "advertisement",
    "cover",
    "story",
    "textstory",
    "first-page",
    "credits",
    "art",
    "text",
    "back_cover",
)

GROUPS: dict[str, frozenset[str]] = {
    "story-only": frozenset({"story", "first-page", "textstory"}),
    "no-ads": frozenset(c for c in PAGE_CLASSES if c != "advertisement"),
}

LABEL_SOURCES: tuple[str, ...] = ("model", "user", "comicinfo")
