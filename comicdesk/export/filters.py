"""Which pages an export keeps: presets, ``--keep`` and ``--drop`` by class or group name.

Names are the nine page classes (:data:`~comicdesk.core.pages.PAGE_CLASSES`) and the groups
(:data:`~comicdesk.core.pages.GROUPS`: ``story-only``, ``no-ads``), compared case-insensitively
with ``_`` and ``-`` taken as the same character (``back-cover`` is ``back_cover``,
``first_page`` is ``first-page``). A list is comma-separated (``--keep story,cover``); spaces
around names are ignored.

How the options combine (the kept set of classes):

- nothing given → the ``no-ads`` preset (every class but advertisement);
- ``--preset P`` → the classes of P;
- ``--keep A,B`` → the classes named (with ``--preset P``: P's classes and those named);
- ``--drop A,B`` → every class but those named (with ``--preset P``: P's classes minus those).

A page without a label is always kept: an export never throws away a page it knows nothing
about (the report counts such pages as ``unlabelled``).

A page whose label the filter does not keep is dropped only when that is *sure*
(:func:`comicdesk.core.pages.page_drop`): the person's or ComicInfo's label, or a model's whose
probability of the dropped classes reaches :data:`~comicdesk.core.pages.SURE_AT`. Otherwise it is
kept and reported (``kept_unsure``), unless the export asks to drop unsure pages too.
"""

from __future__ import annotations

from dataclasses import dataclass

from comicdesk.core.errors import ComicdeskError
from comicdesk.core.pages import GROUPS, PAGE_CLASSES, page_drop

DEFAULT_PRESET = "no-ads"


class FilterError(ComicdeskError):
    """A class or group name the person typed is not one we know (one line)."""

    kind = "bad-filter"


def _fold(name: str) -> str:
    return name.strip().casefold().replace("_", "-")


_CLASS_BY_FOLD = {_fold(c): c for c in PAGE_CLASSES}
_GROUP_BY_FOLD = {_fold(g): g for g in GROUPS}


def known_names() -> str:
    """The names a person may use, for messages."""
    return f"classes {', '.join(PAGE_CLASSES)}; groups {', '.join(GROUPS)}"


def resolve_names(text: str | None, option: str) -> frozenset[str]:
    """The page classes a comma-separated list of class and group names stands for. Raises
    :class:`FilterError` (one line) for an unknown or empty name."""
    if text is None:
        return frozenset()
    classes: set[str] = set()
    parts = [p for p in str(text).split(",")]
    if not any(p.strip() for p in parts):
        raise FilterError(f"{option} needs at least one class or group name ({known_names()})")
    for part in parts:
        key = _fold(part)
        if not key:
            continue
        if key in _CLASS_BY_FOLD:
            classes.add(_CLASS_BY_FOLD[key])
        elif key in _GROUP_BY_FOLD:
            classes.update(GROUPS[_GROUP_BY_FOLD[key]])
        else:
            raise FilterError(f"unknown page class or group {part.strip()!r} in {option}: use {known_names()}")
    return frozenset(classes)


@dataclass(frozen=True)
class PageFilter:
    """The set of page classes an export keeps."""

    keep: frozenset[str]
    description: str

    def keeps(self, label: str | None) -> bool:
        """True when a page with this label stays (an unlabelled page always stays)."""
        return label is None or label in self.keep

    def decide(self, label: str | None, probs=None, source: str | None = None, t: float | None = None) -> str:
        """``"keep"``, ``"drop"`` (sure) or ``"unsure"`` (not kept by the filter, but the model is
        not sure enough to drop it) for one page; see :func:`comicdesk.core.pages.page_drop`."""
        return page_drop(label, probs, source, self.keep, t)

    @property
    def drops(self) -> frozenset[str]:
        return frozenset(PAGE_CLASSES) - self.keep

    def fingerprint(self) -> list[str]:
        return sorted(self.keep)


def build_filter(preset: str | None = None, keep: str | None = None, drop: str | None = None) -> PageFilter:
    """The filter for ``--preset``, ``--keep`` and ``--drop`` (see the module doc)."""
    if keep is not None and drop is not None:
        raise FilterError("use --keep or --drop, not both")
    base: frozenset[str] | None = None
    parts = []
    if preset is not None:
        key = _fold(preset)
        if key not in _GROUP_BY_FOLD:
            raise FilterError(f"unknown preset {preset!r}: use {' or '.join(GROUPS)}")
        base = GROUPS[_GROUP_BY_FOLD[key]]
        parts.append(f"preset {_GROUP_BY_FOLD[key]}")
    if keep is not None:
        named = resolve_names(keep, "--keep")
        kept = named | (base or frozenset())
        parts.append(f"keep {','.join(sorted(named))}")
    elif drop is not None:
        named = resolve_names(drop, "--drop")
        kept = (base if base is not None else frozenset(PAGE_CLASSES)) - named
        parts.append(f"drop {','.join(sorted(named))}")
    elif base is not None:
        kept = base
    else:
        kept = GROUPS[DEFAULT_PRESET]
        parts.append(f"preset {DEFAULT_PRESET} (default)")
    if not kept:
        raise FilterError("this filter keeps no page class at all; nothing would be exported")
    return PageFilter(frozenset(kept), "; ".join(parts))
