"""Title, series and number of a book: ComicInfo.xml, else Calibre, else its file name.

Each field is taken separately from the first source that has a non-empty value:

1. ComicInfo.xml inside the book (``Title``, ``Series``, ``Number``; authors from ``Writer``);
2. Calibre's database (title, series, ``series_index`` written as "1" or "1.5", authors);
3. the file name (the folder name for a folder of images; for a Calibre book, its Calibre title,
   since Calibre names files "Title - Author"), parsed by :func:`parse_name`.

When no source gives a title, the title is the cleaned-up name itself, so a book always has one.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_BRACKETS = re.compile(r"[(\[{]([^)\]}]*)[)\]}]")
_YEAR = re.compile(r"^(?:19|20)\d\d$")
_NUMBER = re.compile(r"^\d+(?:\.\d+)?[a-z]?$", re.IGNORECASE)
_NUMBER_PREFIX = re.compile(r"^\d+(?:\.\d+)?[a-z]?(?![a-z])", re.IGNORECASE)
_VOLUME_WORDS = {"vol", "vol.", "volume", "v", "v.", "no", "no.", "nr", "nr.", "issue"}
_LEADING_SEPARATORS = re.compile(r"^[\s\-–—:,.]+")
_OF_COUNT = re.compile(r"^\(?of\s+\d+\)?\s*", re.IGNORECASE)


@dataclass(frozen=True)
class ParsedName:
    series: str | None
    number: str | None
    title: str | None  # None when the name holds nothing but series and number
    year: int | None
    cleaned: str  # the name without bracketed groups and separators: a fallback title


def parse_name(stem: str) -> ParsedName:
    """Split a file name (without extension) into series, number, title and year.

    The rule, in order:

    - underscores count as spaces when the name has no spaces;
    - bracketed groups ``(...)``, ``[...]``, ``{...}`` are dropped; the first one holding a year
      (1900-2099) gives the year;
    - ``#N`` marks the number: the series is what precedes it, the title what follows;
    - otherwise the number is the first number-like word after the first word ("001", "12.5",
      "7b"), optionally after "Vol."/"No."/"Issue"; a year-like word followed by another number is
      part of the series ("Batman 1989 001" is Batman 1989 #001); "of N" after it is dropped;
    - without a number there is no series, and the whole cleaned name is the title.

    ``"Captain Science #001 (1950) The Beginning"`` gives series "Captain Science", number "001",
    title "The Beginning", year 1950.
    """
    text = stem.strip()
    if " " not in text and "_" in text:
        text = text.replace("_", " ")
    year = None
    for inner in _BRACKETS.findall(text):
        inner = inner.strip()
        if year is None and _YEAR.match(inner):
            year = int(inner)
    core = " ".join(_BRACKETS.sub(" ", text).split())
    words = core.split(" ") if core else []

    series_words: list[str] | None = None
    number: str | None = None
    rest: list[str] = []
    for i, word in enumerate(words):
        if word.startswith("#") and i > 0:
            series_words = words[:i]
            if word == "#":
                word, rest = (words[i + 1], words[i + 2:]) if i + 1 < len(words) else ("", [])
            else:
                word, rest = word[1:], words[i + 1:]
            m = _NUMBER_PREFIX.match(word)
            number = m.group(0) if m else word
            tail = word[len(number):]
            if tail:
                rest = [tail, *rest]
            break
    if number is None:
        for i in range(1, len(words)):
            word = words[i].rstrip(",:")
            if not _NUMBER.match(word):
                continue
            following = words[i + 1] if i + 1 < len(words) else ""
            if _YEAR.match(word) and _NUMBER.match(following.lstrip("#")):
                continue  # "Batman 1989 001": the year belongs to the series
            series_words = words[:i]
            while series_words and series_words[-1].casefold() in _VOLUME_WORDS:
                series_words = series_words[:-1]
            number, rest = word, words[i + 1:]
            break

    series = _clean(" ".join(series_words or [])) or None
    if series is None:
        number = None
        title = _clean(core) or None
    else:
        remainder = _OF_COUNT.sub("", " ".join(rest))
        title = _clean(remainder) or None
    return ParsedName(series, number or None, title, year, _clean(core) or stem)


def _clean(text: str) -> str:
    text = _LEADING_SEPARATORS.sub("", text)
    return text.strip(" -–—:,").strip()


def format_series_index(value) -> str | None:
    """Calibre's REAL ``series_index`` as a comic number: 1.0 → "1", 1.5 → "1.5"."""
    if value is None:
        return None
    try:
        f = float(value)
    except (TypeError, ValueError):
        return str(value).strip() or None
    return str(int(f)) if f.is_integer() else f"{f:g}"


_SPACING_CONTROLS = re.compile(r"[\t\n\r\v\f]+")
_CONTROLS = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def clean_field(text):
    """A name as shown and written: tabs and line breaks become a space, every other control
    character (NUL, ESC, C1 controls, ...) is removed. Non-strings pass through."""
    if not isinstance(text, str):
        return text
    return _CONTROLS.sub("", _SPACING_CONTROLS.sub(" ", text))


def _first(*values):
    for v in values:
        if isinstance(v, str):
            v = clean_field(v).strip()
        if v:
            return v
    return None


@dataclass(frozen=True)
class Names:
    title: str | None
    series: str | None
    number: str | None
    authors: list[str]


def resolve_names(name: str, comicinfo: dict | None, calibre: dict | None) -> Names:
    """Pick each field from ComicInfo, else Calibre, else ``name`` (see the module doc).

    ``comicinfo`` and ``calibre`` are plain dicts with keys title, series, number, authors
    (Calibre's number already formatted by :func:`format_series_index`).
    """
    ci = comicinfo or {}
    cal = calibre or {}
    parsed = parse_name(clean_field(cal.get("title") or name))
    title = _first(ci.get("title"), cal.get("title"), parsed.title, parsed.cleaned)
    series = _first(ci.get("series"), cal.get("series"), parsed.series)
    # A number belongs to its series: Calibre's index only with Calibre's series, the parsed
    # number only when the series is the parsed one.
    number = _first(ci.get("number"),
                    cal.get("number") if series == _first(cal.get("series")) else None,
                    parsed.number if series == parsed.series else None)
    authors = [a for a in (clean_field(a).strip() for a in (ci.get("authors") or cal.get("authors") or [])) if a]
    return Names(title, series, None if number is None else str(number), authors)
