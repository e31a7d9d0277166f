"""ComicInfo.xml (the ComicRack / Anansi schema, v2.0): read tolerantly, write losslessly.

Reading (:meth:`ComicInfo.from_bytes`) accepts what other tools actually write: a byte-order
mark, any encoding declared in the prolog (or a wrong one), namespace prefixes, elements in any
order, upper/lower-case slips in element names and enumeration values, unknown elements and
attributes (kept, in order, and written back), duplicated elements (the first one wins) and
numbers that are not numbers (the field is left empty and a line is added to
``ComicInfo.warnings``). It refuses, with one clear :class:`ComicInfoError` line, anything that
is not XML, is not a ComicInfo document, or declares entities (entity-expansion "billion laughs"
and external-entity attacks are stopped by defusedxml before anything is expanded or read).

Writing (:meth:`ComicInfo.to_bytes`) gives UTF-8 with an XML declaration, the usual
``xmlns:xsi``/``xmlns:xsd`` attributes, the known elements in the order of the v2.0 XSD
sequence (``Pages`` then ``CommunityRating``, as the XSD has them), then the unknown elements
in the order they were read. ``parse -> write -> parse`` gives an equal object. With
``strict=True`` everything the v2.0 XSD does not allow is left out (unknown elements and
attributes, enumeration values and page types outside the schema, an out-of-range rating), so
the output validates against the schema.

Page classes and ComicInfo page types are mapped as the architecture describes; see
:func:`page_types_for_class`, :func:`class_for_page_types` and :func:`labels_from_comicinfo`.
"""

from __future__ import annotations

import codecs
import copy
import math
import re
from dataclasses import dataclass, field, fields, replace
from decimal import Decimal
from typing import Iterable
from xml.etree import ElementTree as ET

import defusedxml
import defusedxml.ElementTree as SafeET

from comicdesk.core.errors import ComicdeskError
from comicdesk.core.pages import PAGE_CLASSES

__all__ = [
    "AGE_RATINGS",
    "ComicInfo",
    "ComicInfoError",
    "ComicPageInfo",
    "ELEMENT_ORDER",
    "MANGA_VALUES",
    "PAGE_TYPES",
    "YES_NO",
    "class_for_page_types",
    "deleted_from_comicinfo",
    "is_deleted",
    "labels_from_comicinfo",
    "page_types_for_class",
]

XSI_NS = "http://www.w3.org/2001/XMLSchema-instance"
XSD_NS = "http://www.w3.org/2001/XMLSchema"
XML_NS = "http://www.w3.org/XML/1998/namespace"

#: Largest ComicInfo.xml we agree to parse. Real ones are a few KiB (a 2,000-page book with
#: every page attribute is well under 1 MiB).
MAX_BYTES = 16 * 1024 * 1024
#: Deepest nesting kept inside an unknown element (deeper ones are dropped with a warning).
MAX_UNKNOWN_DEPTH = 64

_INT_MIN, _INT_MAX = -(2**31), 2**31 - 1  # xs:int
_LONG_MIN, _LONG_MAX = -(2**63), 2**63 - 1  # xs:long


class ComicInfoError(ComicdeskError):
    """A ComicInfo.xml that cannot be read at all (not XML, hostile, not ComicInfo)."""

    kind = "bad-comicinfo"


# -- schema vocabulary ----------------------------------------------------------------------------

YES_NO: tuple[str, ...] = ("Unknown", "No", "Yes")
MANGA_VALUES: tuple[str, ...] = ("Unknown", "No", "Yes", "YesAndRightToLeft")
AGE_RATINGS: tuple[str, ...] = (
    "Unknown",
    "Adults Only 18+",
    "Early Childhood",
    "Everyone",
    "Everyone 10+",
    "G",
    "Kids to Adults",
    "M",
    "MA15+",
    "Mature 17+",
    "PG",
    "R18+",
    "Rating Pending",
    "Teen",
    "X18+",
)
#: ComicPageType tokens, in the XSD's order.
PAGE_TYPES: tuple[str, ...] = (
    "FrontCover",
    "InnerCover",
    "Roundup",
    "Story",
    "Advertisement",
    "Editorial",
    "Letters",
    "Preview",
    "BackCover",
    "Other",
    "Deleted",
)
_PAGE_TYPE_BY_FOLD = {t.casefold(): t for t in PAGE_TYPES}

#: (element name, attribute name, kind) for every element of the v2.0 ``ComicInfo`` sequence, in
#: the XSD's order. Kinds: str, int, yesno, manga, agerating, pages, rating.
ELEMENT_ORDER: tuple[tuple[str, str, str], ...] = (
    ("Title", "title", "str"),
    ("Series", "series", "str"),
    ("Number", "number", "str"),
    ("Count", "count", "int"),
    ("Volume", "volume", "int"),
    ("AlternateSeries", "alternate_series", "str"),
    ("AlternateNumber", "alternate_number", "str"),
    ("AlternateCount", "alternate_count", "int"),
    ("Summary", "summary", "str"),
    ("Notes", "notes", "str"),
    ("Year", "year", "int"),
    ("Month", "month", "int"),
    ("Day", "day", "int"),
    ("Writer", "writer", "str"),
    ("Penciller", "penciller", "str"),
    ("Inker", "inker", "str"),
    ("Colorist", "colorist", "str"),
    ("Letterer", "letterer", "str"),
    ("CoverArtist", "cover_artist", "str"),
    ("Editor", "editor", "str"),
    ("Publisher", "publisher", "str"),
    ("Imprint", "imprint", "str"),
    ("Genre", "genre", "str"),
    ("Web", "web", "str"),
    ("PageCount", "page_count", "int"),
    ("LanguageISO", "language_iso", "str"),
    ("Format", "format", "str"),
    ("BlackAndWhite", "black_and_white", "yesno"),
    ("Manga", "manga", "manga"),
    ("Characters", "characters", "str"),
    ("Teams", "teams", "str"),
    ("Locations", "locations", "str"),
    ("ScanInformation", "scan_information", "str"),
    ("StoryArc", "story_arc", "str"),
    ("SeriesGroup", "series_group", "str"),
    ("AgeRating", "age_rating", "agerating"),
    ("Pages", "pages", "pages"),
    ("CommunityRating", "community_rating", "rating"),
)
_ELEMENT_BY_FOLD = {name.casefold(): (name, attr, kind) for name, attr, kind in ELEMENT_ORDER}
_ENUMS: dict[str, tuple[str, ...]] = {"yesno": YES_NO, "manga": MANGA_VALUES, "agerating": AGE_RATINGS}

#: ComicPageInfo attributes: (XML name, attribute name, kind), in the XSD's order.
PAGE_ATTRIBUTES: tuple[tuple[str, str, str], ...] = (
    ("Image", "image", "int"),
    ("Type", "types", "types"),
    ("DoublePage", "double_page", "bool"),
    ("ImageSize", "image_size", "long"),
    ("Key", "key", "str"),
    ("Bookmark", "bookmark", "str"),
    ("ImageWidth", "image_width", "int"),
    ("ImageHeight", "image_height", "int"),
)
_PAGE_ATTR_BY_FOLD = {name.casefold(): (name, attr, kind) for name, attr, kind in PAGE_ATTRIBUTES}


# -- page types <-> page classes ------------------------------------------------------------------

_TYPE_FOR_CLASS: dict[str, str] = {
    "advertisement": "Advertisement",
    "cover": "FrontCover",
    "story": "Story",
    "textstory": "Story",
    "first-page": "Story",
    "credits": "Other",
    "art": "InnerCover",
    "text": "Editorial",
    "back_cover": "BackCover",
}
assert set(_TYPE_FOR_CLASS) == set(PAGE_CLASSES)

_CLASS_FOR_TYPE: dict[str, str | None] = {
    "FrontCover": "cover",
    "BackCover": "back_cover",
    "Advertisement": "advertisement",
    "Preview": "advertisement",
    "Story": "story",
    "Editorial": "text",
    "Letters": "text",
    "Roundup": "text",
    "InnerCover": "art",
    "Other": None,
    "Deleted": None,
}
assert set(_CLASS_FOR_TYPE) == set(PAGE_TYPES)

#: When a page carries several types, the first of these present decides its class: anything
#: specific beats the generic ``Story``, covers beat everything.
_TYPE_PRECEDENCE: tuple[str, ...] = (
    "FrontCover",
    "BackCover",
    "Advertisement",
    "Preview",
    "InnerCover",
    "Editorial",
    "Letters",
    "Roundup",
    "Story",
)


def page_types_for_class(cls: str, deleted: bool = False) -> list[str]:
    """The ComicInfo ``Type`` tokens to write for a page of class ``cls`` (one of
    :data:`~comicdesk.core.pages.PAGE_CLASSES`), with ``Deleted`` appended when the page was
    dropped by a filter but kept (``--mark-only``). Raises ``ValueError`` for an unknown class
    (a programming error: classes are checked where a person types them)."""
    try:
        types = [_TYPE_FOR_CLASS[cls]]
    except KeyError:
        raise ValueError(f"unknown page class {cls!r}; expected one of {', '.join(PAGE_CLASSES)}") from None
    if deleted:
        types.append("Deleted")
    return types


def class_for_page_types(types: Iterable[str]) -> str | None:
    """The page class that explicit ComicInfo page types stand for, or None (``Other``, only
    ``Deleted``, only unknown tokens, no tokens). Tokens compare case-insensitively; ``Deleted``
    is ignored here (see :func:`is_deleted`). With several class-bearing tokens the most specific
    wins (``FrontCover`` > ``BackCover`` > ``Advertisement``/``Preview`` > ``InnerCover`` >
    ``Editorial``/``Letters``/``Roundup`` > ``Story``), whatever their order."""
    present = {_PAGE_TYPE_BY_FOLD.get(str(t).casefold()) for t in types}
    for page_type in _TYPE_PRECEDENCE:
        if page_type in present:
            return _CLASS_FOR_TYPE[page_type]
    return None


def is_deleted(types: Iterable[str]) -> bool:
    """True when the page types include ``Deleted`` (the page is hidden), any case."""
    return any(str(t).casefold() == "deleted" for t in types)


# -- data -----------------------------------------------------------------------------------------


@dataclass
class ComicPageInfo:
    """One ``<Page>`` of ``<Pages>``.

    ``types`` are the raw tokens of the ``Type`` attribute as written (unknown tokens kept);
    it is empty when the attribute is absent, in which case the XSD default ``Story`` applies
    (:attr:`effective_types`) but does not count as a label (:attr:`type_explicit` is False).
    An attribute that is absent is None. Attributes the schema does not know are kept in
    ``extra_attributes`` (namespaced ones in ``{uri}name`` form) and written back.
    """

    image: int
    types: list[str] = field(default_factory=list)
    double_page: bool | None = None
    image_size: int | None = None
    key: str | None = None
    bookmark: str | None = None
    image_width: int | None = None
    image_height: int | None = None
    extra_attributes: dict[str, str] = field(default_factory=dict)

    @property
    def type_explicit(self) -> bool:
        """True when a ``Type`` was written for this page (the XSD default does not count)."""
        return bool(self.types)

    @property
    def effective_types(self) -> list[str]:
        """The page types with the XSD default applied: ``["Story"]`` when none was written."""
        return list(self.types) if self.types else ["Story"]

    @property
    def deleted(self) -> bool:
        return is_deleted(self.types)

    @property
    def page_class(self) -> str | None:
        """The class an explicit ``Type`` stands for (None without one, or for ``Other``)."""
        return class_for_page_types(self.types) if self.types else None


@dataclass
class ComicInfo:
    """Every element of the ComicInfo v2.0 schema, plus what other tools added.

    A field is None when its element is absent (an empty string element stays ``""``).
    ``unknown`` holds each element the v2.0 schema does not define, serialised as an XML
    string, in document order; ``root_attributes`` holds the root's attributes other than
    namespace declarations (``xsi:schemaLocation`` is ``{http://www.w3.org/2001/XMLSchema-
    instance}schemaLocation``). ``warnings`` lists what was tolerated while reading; it does not
    take part in equality.
    """

    title: str | None = None
    series: str | None = None
    number: str | None = None
    count: int | None = None
    volume: int | None = None
    alternate_series: str | None = None
    alternate_number: str | None = None
    alternate_count: int | None = None
    summary: str | None = None
    notes: str | None = None
    year: int | None = None
    month: int | None = None
    day: int | None = None
    writer: str | None = None
    penciller: str | None = None
    inker: str | None = None
    colorist: str | None = None
    letterer: str | None = None
    cover_artist: str | None = None
    editor: str | None = None
    publisher: str | None = None
    imprint: str | None = None
    genre: str | None = None
    web: str | None = None
    page_count: int | None = None
    language_iso: str | None = None
    format: str | None = None
    black_and_white: str | None = None
    manga: str | None = None
    characters: str | None = None
    teams: str | None = None
    locations: str | None = None
    scan_information: str | None = None
    story_arc: str | None = None
    series_group: str | None = None
    age_rating: str | None = None
    pages: list[ComicPageInfo] = field(default_factory=list)
    community_rating: float | None = None
    unknown: list[str] = field(default_factory=list)
    root_attributes: dict[str, str] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list, compare=False, repr=False)

    # -- convenience ------------------------------------------------------------------------
    @property
    def manga_right_to_left(self) -> bool:
        """True when ``Manga`` is ``YesAndRightToLeft`` (read pages right to left)."""
        return (self.manga or "").strip().casefold() == "yesandrighttoleft"

    def page(self, image: int) -> ComicPageInfo | None:
        """The first ``<Page>`` whose ``Image`` is ``image``, or None."""
        for page in self.pages:
            if page.image == image:
                return page
        return None

    def unknown_text(self, tag: str) -> str | None:
        """Text of the first unknown element named ``tag`` (e.g. ``"GTIN"``, ``"Tags"``), or
        None. ``tag`` may be ``{uri}name`` for a namespaced element."""
        for xml in self.unknown:
            elem = SafeET.fromstring(xml)
            if elem.tag == tag:
                return "".join(elem.itertext())
        return None

    def copy(self) -> "ComicInfo":
        """A deep copy (pages, unknown elements and attributes included; warnings dropped)."""
        return replace(
            self,
            pages=[copy.deepcopy(p) for p in self.pages],
            unknown=list(self.unknown),
            root_attributes=dict(self.root_attributes),
            warnings=[],
        )

    def with_pages(self, pages: Iterable[ComicPageInfo], *, page_count: bool = True) -> "ComicInfo":
        """A copy whose ``<Pages>`` is replaced by ``pages`` (copied) and, unless
        ``page_count=False``, whose ``PageCount`` is their number. The original is untouched.
        Used by export after renumbering and re-typing the kept pages."""
        new = self.copy()
        new.pages = [copy.deepcopy(p) for p in pages]
        if page_count:
            new.page_count = len(new.pages)
        return new

    # -- reading ----------------------------------------------------------------------------
    @classmethod
    def from_bytes(cls, data: bytes | bytearray | memoryview | str) -> "ComicInfo":
        """Parse a ComicInfo.xml. Tolerant of what real files contain (see the module doc);
        raises :class:`ComicInfoError` (one line) when it cannot be read at all."""
        warnings: list[str] = []
        if isinstance(data, str):
            text = data.lstrip("\ufeff")
        else:
            raw = bytes(data)
            if len(raw) > MAX_BYTES:
                raise ComicInfoError(
                    f"ComicInfo.xml is too large ({len(raw):,} bytes; the limit is {MAX_BYTES:,})"
                )
            text = _decode(raw, warnings)
        root = _parse_xml(text, warnings)
        return _from_element(root, warnings)

    # -- writing ----------------------------------------------------------------------------
    def to_bytes(self, *, strict: bool = False) -> bytes:
        """UTF-8 ComicInfo.xml. Known elements in XSD order, None fields left out, then the
        unknown elements. ``strict=True`` leaves out everything the v2.0 XSD would reject."""
        return _write(self, strict).encode("utf-8")


# -- decoding -------------------------------------------------------------------------------------

_DECL_ENCODING = re.compile(rb"""^\s*<\?xml[^>]*?\bencoding\s*=\s*["']([A-Za-z][A-Za-z0-9._:-]*)["']""")
_XML_DECL = re.compile(r"^\s*<\?xml\b.*?\?>", re.DOTALL)
# Characters XML 1.0 does not allow anywhere in a document.
_INVALID_XML_CHARS = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def _decode(raw: bytes, warnings: list[str]) -> str:
    """Bytes to text: BOM first, then the encoding declared in the prolog, then UTF-8, with a
    Windows-1252 / Latin-1 fallback for files that lie about being UTF-8."""
    if not raw.strip(b" \t\r\n\x00"):
        raise ComicInfoError("ComicInfo.xml is empty")
    for bom, enc in (
        (codecs.BOM_UTF8, "utf-8"),
        (codecs.BOM_UTF32_LE, "utf-32-le"),
        (codecs.BOM_UTF32_BE, "utf-32-be"),
        (codecs.BOM_UTF16_LE, "utf-16-le"),
        (codecs.BOM_UTF16_BE, "utf-16-be"),
    ):
        if raw.startswith(bom):
            return _decode_as(raw[len(bom):], enc, warnings)
    head = raw[:4]
    if head == b"<\x00?\x00":
        return _decode_as(raw, "utf-16-le", warnings)
    if head == b"\x00<\x00?":
        return _decode_as(raw, "utf-16-be", warnings)
    match = _DECL_ENCODING.match(raw[:1024])
    enc = "utf-8"
    if match:
        declared = match.group(1).decode("ascii")
        try:
            enc = codecs.lookup(declared).name
        except LookupError:
            warnings.append(f"unknown encoding {declared!r} declared; read as UTF-8")
        else:
            if enc.startswith(("utf-16", "utf-32")):
                # An 8-bit file (no BOM, the declaration readable as ASCII) that claims UTF-16:
                # a classic .NET slip. Believe the bytes.
                warnings.append(f"encoding {declared!r} declared but the file is 8-bit; read as UTF-8")
                enc = "utf-8"
    return _decode_as(raw, enc, warnings)


def _decode_as(raw: bytes, enc: str, warnings: list[str]) -> str:
    try:
        return raw.decode(enc)
    except UnicodeDecodeError:
        pass
    if codecs.lookup(enc).name == "utf-8":
        for fallback in ("cp1252", "latin-1"):
            try:
                text = raw.decode(fallback)
            except UnicodeDecodeError:
                continue
            warnings.append(f"not valid UTF-8; read as {'Windows-1252' if fallback == 'cp1252' else 'Latin-1'}")
            return text
    warnings.append(f"bytes that are not valid {enc} were replaced")
    return raw.decode(enc, errors="replace")


def _parse_xml(text: str, warnings: list[str]) -> ET.Element:
    text = _XML_DECL.sub("", text, count=1)  # the text is decoded already: drop its encoding claim
    cleaned = _INVALID_XML_CHARS.sub("", text)
    if cleaned != text:
        warnings.append(f"{len(text) - len(cleaned)} characters not allowed in XML were removed")
        text = cleaned
    if not text.strip():
        raise ComicInfoError("ComicInfo.xml is empty")
    try:
        try:
            return SafeET.fromstring(text, forbid_dtd=False, forbid_entities=True, forbid_external=True)
        except ET.ParseError as exc:
            # Trailing junk after </ComicInfo> (padding, a second copy): keep the first document.
            if "junk after document element" not in str(exc):
                raise
            end = re.search(r"</(?:[\w.-]+:)?ComicInfo\s*>", text, re.IGNORECASE)
            if end is None:
                raise
            root = SafeET.fromstring(text[: end.end()], forbid_dtd=False, forbid_entities=True,
                                     forbid_external=True)
            warnings.append("text after </ComicInfo> ignored")
            return root
    except defusedxml.EntitiesForbidden:
        raise ComicInfoError(
            "ComicInfo.xml refused: it declares XML entities (an entity-expansion or external-entity attack)"
        ) from None
    except defusedxml.DTDForbidden:
        raise ComicInfoError("ComicInfo.xml refused: it has a document type declaration") from None
    except defusedxml.DefusedXmlException:
        raise ComicInfoError("ComicInfo.xml refused: it refers to external resources") from None
    except ET.ParseError as exc:
        raise ComicInfoError(f"ComicInfo.xml is not valid XML ({_parse_error_reason(exc)})") from None
    except RecursionError:
        raise ComicInfoError("ComicInfo.xml is nested too deeply") from None


def _parse_error_reason(exc: ET.ParseError) -> str:
    reason = str(exc).split(":")[0].strip() or "syntax error"
    line, col = getattr(exc, "position", (None, None))
    return f"{reason} at line {line}, column {col}" if line is not None else reason


# -- element tree -> ComicInfo --------------------------------------------------------------------


def _split(tag: str) -> tuple[str, str]:
    if tag.startswith("{"):
        uri, _, local = tag[1:].partition("}")
        return uri, local
    return "", tag


def _from_element(root: ET.Element, warnings: list[str]) -> ComicInfo:
    root_ns, root_name = _split(root.tag) if isinstance(root.tag, str) else ("", "")
    if root_name.casefold() != "comicinfo":
        raise ComicInfoError(f"not a ComicInfo.xml: its root element is <{root_name or '?'}>")
    values: dict[str, object] = {}
    unknown: list[str] = []
    seen: set[str] = set()
    for child in root:
        if not isinstance(child.tag, str):  # comments, processing instructions
            continue
        ns, local = _split(child.tag)
        known = _ELEMENT_BY_FOLD.get(local.casefold()) if ns == root_ns else None
        if known is None:
            kept = _unknown_xml(child, warnings)
            if kept is not None:
                unknown.append(kept)
            continue
        name, attr, kind = known
        if name in seen:
            warnings.append(f"duplicate <{name}> ignored (the first one is kept)")
            continue
        seen.add(name)
        if child.get(f"{{{XSI_NS}}}nil", "").strip() in ("true", "1"):
            continue
        if kind == "pages":
            values[attr] = _read_pages(child, root_ns, warnings)
            continue
        text = child.text or ""
        if len(child):
            text = "".join(child.itertext())
            warnings.append(f"<{name}> has child elements; only its text was kept")
        value = _read_value(name, kind, text, warnings)
        if value is not None:
            values[attr] = value
    root_attributes = dict(root.attrib)
    return ComicInfo(**values, unknown=unknown, root_attributes=root_attributes, warnings=warnings)


_INT_RE = re.compile(r"[+-]?\d+", re.ASCII)
_DECIMAL_RE = re.compile(r"[+-]?(?:\d+(?:[.,]\d*)?|[.,]\d+)", re.ASCII)


def _parse_int(text: str, lo: int = _INT_MIN, hi: int = _INT_MAX) -> int | None:
    text = text.strip()
    if _INT_RE.fullmatch(text):
        value = int(text)
    elif _DECIMAL_RE.fullmatch(text):
        number = Decimal(text.replace(",", "."))  # "5.0" from tools that write floats
        if number != number.to_integral_value():
            return None
        value = int(number)
    else:
        return None
    return value if lo <= value <= hi else None


def _read_value(name: str, kind: str, text: str, warnings: list[str]):
    if kind == "str":
        return text
    stripped = text.strip()
    if not stripped:
        return None  # an empty number or enumeration: nothing to keep
    if kind == "int":
        value = _parse_int(stripped)
        if value is None:
            warnings.append(f"<{name}> is not a whole number ({_show(stripped)}); ignored")
        return value
    if kind == "rating":
        if not _DECIMAL_RE.fullmatch(stripped):
            warnings.append(f"<{name}> is not a number ({_show(stripped)}); ignored")
            return None
        value = float(stripped.replace(",", "."))
        if not 0 <= value <= 5:
            warnings.append(f"<{name}> {_show(stripped)} is outside 0-5")
        return value
    allowed = _ENUMS[kind]
    for choice in allowed:
        if choice.casefold() == stripped.casefold():
            return choice
    warnings.append(f"<{name}> value {_show(stripped)} is not in the schema; kept as written")
    return text


def _show(text: str, limit: int = 40) -> str:
    return repr(text if len(text) <= limit else text[:limit] + "…")


def _read_pages(elem: ET.Element, root_ns: str, warnings: list[str]) -> list[ComicPageInfo]:
    pages: list[ComicPageInfo] = []
    for child in elem:
        if not isinstance(child.tag, str):
            continue
        ns, local = _split(child.tag)
        if ns != root_ns or local.casefold() != "page":
            warnings.append(f"<{local}> inside <Pages> ignored")
            continue
        page = _read_page(child, warnings)
        if page is not None:
            pages.append(page)
    return pages


def _read_page(elem: ET.Element, warnings: list[str]) -> ComicPageInfo | None:
    values: dict[str, object] = {}
    extra: dict[str, str] = {}
    for key, raw in elem.attrib.items():
        known = _PAGE_ATTR_BY_FOLD.get(key.casefold()) if not key.startswith("{") else None
        if known is None:
            extra[key] = raw
            continue
        name, attr, kind = known
        if kind == "str":
            values[attr] = raw
        elif kind == "types":
            tokens = raw.split()
            for token in tokens:
                if token.casefold() not in _PAGE_TYPE_BY_FOLD:
                    warnings.append(f"page type {_show(token)} is not in the schema; kept as written")
            values[attr] = tokens
        elif kind == "bool":
            flag = raw.strip().casefold()
            if flag in ("true", "1"):
                values[attr] = True
            elif flag in ("false", "0"):
                values[attr] = False
            elif flag:
                warnings.append(f"page {name}={_show(raw)} is not true/false; ignored")
        else:
            if not raw.strip():
                continue
            value = _parse_int(raw, *((_LONG_MIN, _LONG_MAX) if kind == "long" else (_INT_MIN, _INT_MAX)))
            if value is None:
                warnings.append(f"page {name}={_show(raw)} is not a whole number; ignored")
            else:
                values[attr] = value
    if len(elem) or (elem.text or "").strip():
        warnings.append("content inside a <Page> ignored")
    if "image" not in values:
        warnings.append("a <Page> without a valid Image number was ignored")
        return None
    return ComicPageInfo(**values, extra_attributes=extra)


def _unknown_xml(elem: ET.Element, warnings: list[str]) -> str | None:
    """An unknown element as a canonical XML string: whitespace-only text between child elements
    and after elements dropped (the writer re-indents), so a round trip gives the same string."""
    elem = copy.deepcopy(elem)
    stack = [(elem, 1)]
    while stack:
        node, depth = stack.pop()
        if depth > MAX_UNKNOWN_DEPTH:
            warnings.append(f"unknown element <{_split(elem.tag)[1]}> nested too deeply; dropped")
            return None
        if len(node) and node.text is not None and not node.text.strip():
            node.text = None
        for sub in node:
            if sub.tail is not None and not sub.tail.strip():
                sub.tail = None
            stack.append((sub, depth + 1))
    elem.tail = None
    return ET.tostring(elem, encoding="unicode", short_empty_elements=True)


# -- ComicInfo -> XML -----------------------------------------------------------------------------

_PREFIXES = {XSI_NS: "xsi", XSD_NS: "xsd", XML_NS: "xml"}


def _esc_text(value: str) -> str:
    value = _INVALID_XML_CHARS.sub("", value)
    return value.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace("\r", "&#13;")


def _esc_attr(value: str) -> str:
    return (
        _esc_text(value)
        .replace('"', "&quot;")
        .replace("\n", "&#10;")
        .replace("\t", "&#9;")
    )


class _Attrs:
    """Attribute writer that turns ``{uri}name`` keys into prefixed names, declaring prefixes
    for namespaces other than xsi/xsd/xml on the element itself."""

    def __init__(self):
        self.parts: list[str] = []
        self.declared: dict[str, str] = {}

    def add(self, key: str, value: str) -> None:
        uri, local = _split(key)
        if uri:
            prefix = _PREFIXES.get(uri) or self.declared.get(uri)
            if prefix is None:
                prefix = f"ns{len(self.declared)}"
                self.declared[uri] = prefix
                self.parts.append(f'xmlns:{prefix}="{_esc_attr(uri)}"')
            local = f"{prefix}:{local}"
        self.parts.append(f'{local}="{_esc_attr(value)}"')

    def __str__(self) -> str:
        return "".join(" " + p for p in self.parts)


def _format_decimal(value: float) -> str:
    text = format(Decimal(repr(float(value))), "f")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return text


def _check_unknown(xml: str) -> None:
    try:
        SafeET.fromstring(xml)
    except (ET.ParseError, defusedxml.DefusedXmlException):
        raise ComicInfoError(f"unknown element {_show(xml)} is not well-formed XML") from None


def _canonical_types(types: list[str]) -> list[str]:
    out = []
    for token in types:
        canon = _PAGE_TYPE_BY_FOLD.get(token.casefold())
        if canon is not None and canon not in out:
            out.append(canon)
    return out


def _write_page(page: ComicPageInfo, strict: bool) -> str | None:
    attrs = _Attrs()
    for name, attr, kind in PAGE_ATTRIBUTES:
        value = getattr(page, attr)
        if value is None:
            continue
        if kind == "types":
            tokens = _canonical_types(value) if strict else [str(t) for t in value]
            if tokens:
                attrs.add(name, " ".join(tokens))
        elif kind == "bool":
            attrs.add(name, "true" if value else "false")
        elif kind in ("int", "long"):
            value = int(value)
            lo, hi = (_LONG_MIN, _LONG_MAX) if kind == "long" else (_INT_MIN, _INT_MAX)
            if strict and not lo <= value <= hi:
                if attr == "image":
                    return None
                continue
            attrs.add(name, str(value))
        else:
            attrs.add(name, str(value))
    if not strict:
        for key, value in page.extra_attributes.items():
            attrs.add(key, str(value))
    return f"<Page{attrs} />"


def _write(ci: ComicInfo, strict: bool) -> str:
    root = _Attrs()
    head = f'<ComicInfo xmlns:xsi="{XSI_NS}" xmlns:xsd="{XSD_NS}"'
    if not strict:
        for key, value in ci.root_attributes.items():
            if key.startswith("xmlns"):
                continue
            root.add(key, str(value))
    lines = ['<?xml version="1.0" encoding="utf-8"?>', f"{head}{root}>"]
    for name, attr, kind in ELEMENT_ORDER:
        value = getattr(ci, attr)
        if kind == "pages":
            written = [w for w in (_write_page(p, strict) for p in value) if w is not None]
            if written:
                lines.append("  <Pages>")
                lines.extend("    " + w for w in written)
                lines.append("  </Pages>")
            continue
        if value is None:
            continue
        if kind == "int":
            value = int(value)
            if strict and not _INT_MIN <= value <= _INT_MAX:
                continue
            text = str(value)
        elif kind == "rating":
            value = float(value)
            if not math.isfinite(value) or (strict and not 0 <= value <= 5):
                continue
            text = _format_decimal(round(value, 2) if strict else value)
        elif kind in _ENUMS:
            text = str(value)
            if strict:
                canon = {c.casefold(): c for c in _ENUMS[kind]}.get(text.strip().casefold())
                if canon is None:
                    continue
                text = canon
        else:
            text = str(value)
        lines.append(f"  <{name}>{_esc_text(text)}</{name}>" if text else f"  <{name} />")
    if not strict:
        for xml in ci.unknown:
            _check_unknown(xml)
            lines.append("  " + xml)
    lines.append("</ComicInfo>")
    return "\n".join(lines) + "\n"


# -- labels ---------------------------------------------------------------------------------------


def labels_from_comicinfo(ci: ComicInfo) -> dict[int, str]:
    """Page index -> page class for every page whose explicit ``Type`` maps to a class (the XSD
    default Story, ``Other`` and unknown tokens give no label). The first ``<Page>`` for an index
    wins; negative indexes are ignored."""
    labels: dict[int, str] = {}
    seen: set[int] = set()
    for page in ci.pages:
        if page.image < 0 or page.image in seen:
            continue
        seen.add(page.image)
        cls = page.page_class
        if cls is not None:
            labels[page.image] = cls
    return labels


def deleted_from_comicinfo(ci: ComicInfo) -> set[int]:
    """Indexes of the pages marked ``Deleted`` (to be hidden)."""
    return {p.image for p in ci.pages if p.image >= 0 and p.deleted}


_FIELD_NAMES = {f.name for f in fields(ComicInfo)}
assert all(attr in _FIELD_NAMES for _, attr, _ in ELEMENT_ORDER)
