"""ComicBookInfo/1.0: the JSON that Calibre, ComicRack, ComicTagger and others keep in a CBZ's ZIP
comment (and a CBR's archive comment).

The document is an object with ``appID`` (the program that wrote it), ``lastModified`` and the
metadata under ``"ComicBookInfo/1.0"``: ``series``, ``title``, ``publisher``,
``publicationMonth``/``publicationYear`` (integers), ``issue``, ``numberOfIssues``, ``volume``,
``numberOfVolumes``, ``rating`` (integers), ``genre``, ``language``, ``country``, ``credits``
(``[{"person", "role", "primary"}]``), ``tags`` (strings) and ``comments``. Other top-level keys
are allowed (readers look for the ``ComicBookInfo/1.0`` key only); comicdesk's export marker is one.

Reading (:func:`parse_comment`) is tolerant, as for ComicInfo: any of the usual encodings, numbers
written as text, an issue written as a number or as text, a misspelt field left out (with a line
in ``warnings``). Anything that is not a JSON object holding a ``ComicBookInfo/...`` object is not
ComicBookInfo (``None``): plain-text archive comments are common and are no error.

Writing (:func:`serialise`) gives ASCII JSON (every reader decodes it, whatever encoding it
assumes for a ZIP comment) that fits a ZIP comment (65,535 bytes; ``comments``, then ``tags``,
then ``credits`` are shortened when it would not). ``issue`` is an integer when the number is a
whole number (the published schema says integer), else the text (``"2.5"``, ``"1A"``: what
ComicTagger writes; Calibre reads ``"2.5"`` as 2.5).

:func:`fill_comicinfo` and :func:`from_comicinfo` carry values between this and
:class:`~comicdesk.archive.comicinfo.ComicInfo` (creators: ComicInfo's ``Writer``, ``Penciller``,
... are comma-separated lists; here each person is one credit with its role).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field

__all__ = [
    "CBI_KEY",
    "EXPORT_KEY",
    "MAX_COMMENT_BYTES",
    "ComicBookInfo",
    "Credit",
    "book_comment",
    "export_marker",
    "fill_comicinfo",
    "from_book",
    "from_comicinfo",
    "is_export_comment",
    "parse_comment",
    "parse_document",
    "serialise",
]

CBI_KEY = "ComicBookInfo/1.0"
#: A ZIP comment's length field is 16 bits.
MAX_COMMENT_BYTES = 65535
#: Largest comment we try to parse (a RAR comment may be a little longer than a ZIP one).
MAX_PARSE_BYTES = 1 << 20

#: ComicInfo creator fields and the ComicBookInfo role each is written with, in ComicInfo's order.
ROLE_OF_FIELD: tuple[tuple[str, str], ...] = (
    ("writer", "Writer"),
    ("penciller", "Penciller"),
    ("inker", "Inker"),
    ("colorist", "Colorist"),
    ("letterer", "Letterer"),
    ("cover_artist", "Cover"),
    ("editor", "Editor"),
)
#: ComicBookInfo roles (case-folded) that are one of ComicInfo's creator fields. Other roles
#: (``Artist``, ``Cartoonist``, ``Creator``, ``Plotter``, ...) have no ComicInfo field: they stay
#: in the ComicBookInfo credits only.
FIELD_OF_ROLE: dict[str, str] = {
    "writer": "writer",
    "penciller": "penciller", "penciler": "penciller", "pencils": "penciller",
    "inker": "inker", "inks": "inker",
    "colorist": "colorist", "colourist": "colorist", "colorer": "colorist", "colors": "colorist",
    "letterer": "letterer", "letters": "letterer",
    "cover": "cover_artist", "covers": "cover_artist", "cover artist": "cover_artist",
    "coverartist": "cover_artist",
    "editor": "editor",
}

_INT_TEXT = re.compile(r"[+-]?\d{1,9}")
_NUMBER_TEXT = re.compile(r"[+-]?\d{1,9}(?:\.\d{1,6})?")


@dataclass
class Credit:
    person: str
    role: str = ""
    primary: bool = False


@dataclass
class ComicBookInfo:
    """The ``ComicBookInfo/1.0`` object (None: absent). ``issue`` is kept as text."""

    series: str | None = None
    title: str | None = None
    publisher: str | None = None
    publication_month: int | None = None
    publication_year: int | None = None
    issue: str | None = None
    number_of_issues: int | None = None
    volume: int | None = None
    number_of_volumes: int | None = None
    rating: int | None = None
    genre: str | None = None
    language: str | None = None
    country: str | None = None
    credits: list[Credit] = field(default_factory=list)
    tags: list[str] = field(default_factory=list)
    comments: str | None = None
    #: The writer's ``appID`` and ``lastModified`` (read only; :func:`serialise` writes its own).
    app_id: str | None = None
    last_modified: str | None = None
    warnings: list[str] = field(default_factory=list, compare=False, repr=False)

    def people(self, field_name: str) -> list[str]:
        """The persons credited in the role(s) of a ComicInfo creator field (``"writer"``, ...)."""
        return _unique(c.person for c in self.credits
                       if FIELD_OF_ROLE.get(c.role.strip().casefold()) == field_name)

    def names(self) -> dict:
        """``title``, ``series``, ``number`` and ``authors`` (the writers), as the library scanner
        records ComicInfo's."""
        return {"title": self.title, "series": self.series, "number": self.issue,
                "authors": self.people("writer")}

    def as_dict(self) -> dict:
        """The ``ComicBookInfo/1.0`` object as JSON values (absent fields left out)."""
        out: dict = {}

        def put(key, value):
            if value is not None and value != "" and value != []:
                out[key] = value

        put("series", self.series)
        put("title", self.title)
        put("publisher", self.publisher)
        put("publicationMonth", self.publication_month)
        put("publicationYear", self.publication_year)
        put("issue", _issue_value(self.issue))
        put("numberOfIssues", self.number_of_issues)
        put("volume", self.volume)
        put("numberOfVolumes", self.number_of_volumes)
        put("rating", self.rating)
        put("genre", self.genre)
        put("language", self.language)
        put("country", self.country)
        put("credits", [_credit_value(c) for c in self.credits if c.person])
        put("tags", [t for t in self.tags if t])
        put("comments", self.comments)
        return out


# -- reading ------------------------------------------------------------------------------------
def _decode(data: bytes) -> str | None:
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    data = data.rstrip(b"\x00")
    for encoding in ("utf-8", "cp1252", "latin-1"):
        try:
            return data.decode(encoding)
        except UnicodeDecodeError:
            continue
    return None


def parse_document(data: bytes | str | None) -> dict | None:
    """The comment as a JSON object, or None (empty, not JSON, not an object, too big, hostile)."""
    if not data:
        return None
    if isinstance(data, (bytes, bytearray, memoryview)):
        data = bytes(data)
        if len(data) > MAX_PARSE_BYTES:
            return None
        text = _decode(data)
    else:
        text = data if len(data) <= MAX_PARSE_BYTES else None
    if text is None:
        return None
    text = text.strip()
    if not text.startswith("{"):
        return None  # a plain-text comment ("Scanned by ..."): not JSON, not an error
    try:
        doc = json.loads(text)
    except (ValueError, RecursionError):
        return None
    return doc if isinstance(doc, dict) else None


def parse_comment(data: bytes | str | None) -> ComicBookInfo | None:
    """ComicBookInfo from an archive comment; None when the comment is not ComicBookInfo."""
    doc = parse_document(data)
    if doc is None:
        return None
    key = CBI_KEY if isinstance(doc.get(CBI_KEY), dict) else next(
        (k for k, v in doc.items() if isinstance(k, str) and k.startswith("ComicBookInfo/")
         and isinstance(v, dict)), None)
    if key is None:
        return None
    d = doc[key]
    warnings: list[str] = []
    cbi = ComicBookInfo(warnings=warnings)
    for attr, name in (("series", "series"), ("title", "title"), ("publisher", "publisher"),
                       ("genre", "genre"), ("language", "language"), ("country", "country"),
                       ("comments", "comments")):
        setattr(cbi, attr, _text(d.get(name), name, warnings))
    cbi.publication_month = _int(d.get("publicationMonth"), "publicationMonth", warnings, 1, 12)
    cbi.publication_year = _int(d.get("publicationYear"), "publicationYear", warnings, 1, 9999)
    cbi.issue = _issue_text(d.get("issue"), warnings)
    cbi.number_of_issues = _int(d.get("numberOfIssues"), "numberOfIssues", warnings, 1)
    cbi.volume = _int(d.get("volume"), "volume", warnings, 0)
    cbi.number_of_volumes = _int(d.get("numberOfVolumes"), "numberOfVolumes", warnings, 1)
    cbi.rating = _int(d.get("rating"), "rating", warnings, 0)
    cbi.credits = _credits(d.get("credits"), warnings)
    cbi.tags = _tags(d.get("tags"), warnings)
    cbi.app_id = _text(doc.get("appID"), "appID", warnings)
    cbi.last_modified = _text(doc.get("lastModified"), "lastModified", warnings)
    return cbi


def book_comment(book) -> bytes | None:
    """The book's archive comment (CBZ, CBR), or None: none, unreadable (a line is added to the
    book's warnings), or a reader without archive comments (folders, 7z, tar, PDF)."""
    get = getattr(book.reader, "archive_comment", None)
    if get is None:
        return None
    try:
        return get()
    except Exception as exc:  # noqa: BLE001 - a comment never stops a book
        book.warnings.append(f"archive comment unreadable: {exc}")
        return None


def from_book(book, comment: bytes | None = None) -> ComicBookInfo | None:
    """The book's own ComicBookInfo (its archive comment, or ``comment`` when the caller has read
    it already), or None."""
    cbi = parse_comment(comment if comment is not None else book_comment(book))
    if cbi is not None and cbi.warnings:
        book.warnings.append("ComicBookInfo: " + "; ".join(cbi.warnings[:3]))
    return cbi


def _show(value, limit: int = 30) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[:limit] + "..."


def _text(value, name: str, warnings: list[str]) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool) or isinstance(value, (dict, list)):
        warnings.append(f"{name} {_show(value)} is not text; left out")
        return None
    text = str(value).replace("\x00", "").strip()
    return text or None


def _int(value, name: str, warnings: list[str], lo: int | None = None, hi: int | None = None) -> int | None:
    if value is None or value == "":
        return None
    number: int | None = None
    if isinstance(value, bool):
        number = None
    elif isinstance(value, int):
        number = value
    elif isinstance(value, float) and value.is_integer() and abs(value) < 1e9:
        number = int(value)
    elif isinstance(value, str) and _INT_TEXT.fullmatch(value.strip()):
        number = int(value.strip())
    if number is None or (lo is not None and number < lo) or (hi is not None and number > hi):
        warnings.append(f"{name} {_show(value)} is not a valid number; left out")
        return None
    return number


def _issue_text(value, warnings: list[str]) -> str | None:
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if value != value or abs(value) > 1e9:
            warnings.append(f"issue {_show(value)} is not a valid number; left out")
            return None
        return str(int(value)) if value.is_integer() else f"{value:g}"
    if isinstance(value, str):
        return value.strip() or None
    warnings.append(f"issue {_show(value)} is not a number; left out")
    return None


def _issue_value(issue: str | None):
    if issue is None or not issue.strip():
        return None
    issue = issue.strip()
    return int(issue) if _INT_TEXT.fullmatch(issue) else issue


def _credits(value, warnings: list[str]) -> list[Credit]:
    if value is None:
        return []
    if not isinstance(value, list):
        warnings.append("credits is not a list; left out")
        return []
    out = []
    for item in value[:1000]:
        if not isinstance(item, dict):
            continue
        person = _text(item.get("person"), "credit person", warnings)
        if not person:
            continue
        role = _text(item.get("role"), "credit role", warnings) or ""
        primary = item.get("primary")
        out.append(Credit(person, role, primary is True or (isinstance(primary, str)
                                                            and primary.strip().casefold() == "true")))
    return out


def _tags(value, warnings: list[str]) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        return _unique(t.strip() for t in value.split(","))
    if not isinstance(value, list):
        warnings.append("tags is not a list; left out")
        return []
    return _unique(str(t).strip() for t in value[:1000] if isinstance(t, (str, int, float))
                   and not isinstance(t, bool))


def _unique(items) -> list[str]:
    return list(dict.fromkeys(i for i in items if i))


def _credit_value(c: Credit) -> dict:
    out = {"person": c.person, "role": c.role}
    if c.primary:
        out["primary"] = True
    return out


# -- writing ------------------------------------------------------------------------------------
def serialise(cbi: ComicBookInfo, app_id: str, last_modified: str, extra: dict | None = None,
              limit: int = MAX_COMMENT_BYTES) -> bytes:
    """The document as ASCII JSON bytes, at most ``limit`` long. ``extra``: top-level keys of the
    writer's own (kept whatever the size; comicdesk's export marker). When the document would be
    too long, ``comments`` is cut (then dropped), then ``tags``, then ``credits`` are shortened,
    then any text field cut (a hostile ComicInfo); it never fails."""
    body = cbi.as_dict()

    def dump() -> bytes:
        doc = {"appID": app_id, "lastModified": last_modified, CBI_KEY: body}
        doc.update(extra or {})
        return json.dumps(doc, ensure_ascii=True, indent=1, separators=(",", ": ")).encode("ascii")

    data = dump()
    if len(data) <= limit:
        return data
    if "comments" in body:
        over = len(data) - limit
        text = body["comments"]
        body["comments"] = text[:max(0, len(text) - over - 64)].rstrip() + "..."
        data = dump()
        if len(data) > limit:  # escapes made it longer than it looked
            del body["comments"]
            data = dump()
    for key in ("tags", "credits"):
        while len(data) > limit and body.get(key):
            body[key] = body[key][:len(body[key]) // 2]
            if not body[key]:
                del body[key]
            data = dump()
    for chars in (4096, 1024, 256, 64):  # absurdly long texts (a hostile ComicInfo title)
        if len(data) <= limit:
            break
        for key, value in list(body.items()):
            if isinstance(value, str) and len(value) > chars:
                body[key] = value[:chars] + "..."
        data = dump()
    if len(data) > limit:
        body.clear()
        data = dump()
    return data


# -- ComicInfo ------------------------------------------------------------------------------------
def _split_people(text: str | None) -> list[str]:
    return _unique(p.strip() for p in (text or "").split(","))


def fill_comicinfo(ci, cbi: ComicBookInfo | None) -> list[str]:
    """Fill the fields ``ci`` (a :class:`~comicdesk.archive.comicinfo.ComicInfo`) leaves empty from
    ``cbi``: title, series, number, volume, count, publisher, year, month, genre, summary and
    the creator fields (each from the credits whose role is that field's). Returns the ComicInfo
    attribute names filled. Values ComicInfo has are never replaced."""
    if cbi is None:
        return []
    filled = []

    def take(attr: str, value) -> None:
        current = getattr(ci, attr)
        if (current is None or (isinstance(current, str) and not current.strip())) and value not in (None, ""):
            setattr(ci, attr, value)
            filled.append(attr)

    take("title", cbi.title)
    take("series", cbi.series)
    take("number", cbi.issue)
    take("volume", cbi.volume)
    take("count", cbi.number_of_issues)
    take("publisher", cbi.publisher)
    take("year", cbi.publication_year)
    take("month", cbi.publication_month)
    take("genre", cbi.genre)
    take("summary", cbi.comments)
    for attr, _role in ROLE_OF_FIELD:
        people = cbi.people(attr)
        if people:
            take(attr, ", ".join(people))
    return filled


def from_comicinfo(ci, carried: ComicBookInfo | None = None, writers: list[str] | None = None,
                   primary_writer: bool = False, volume: bool = True) -> ComicBookInfo:
    """ComicBookInfo holding what ``ci`` says, plus what ``carried`` (the source's own
    ComicBookInfo) says and ComicInfo cannot hold: its other fields (``country``, ``language``,
    ``rating``, ``numberOfVolumes``, ``tags``) and its credits in roles that are no ComicInfo
    field. ``writers``: the writers as a list (Calibre's authors, whose names may hold commas)
    instead of ComicInfo's comma-separated ``Writer``; ``primary_writer``: the first writer is
    marked ``primary``. ``volume=False`` leaves ``volume`` out."""
    carried = carried or ComicBookInfo()

    def text(value) -> str | None:
        if value is None:
            return None
        value = str(value).strip()
        return value or None

    month = ci.month if ci.month is not None and 1 <= ci.month <= 12 else None
    out = ComicBookInfo(
        series=text(ci.series), title=text(ci.title), publisher=text(ci.publisher),
        publication_month=month, publication_year=ci.year if ci.year and ci.year > 0 else None,
        issue=text(ci.number), number_of_issues=ci.count if ci.count and ci.count > 0 else None,
        volume=(ci.volume if ci.volume is not None and ci.volume >= 0 else None) if volume else None,
        number_of_volumes=carried.number_of_volumes, rating=carried.rating,
        genre=text(ci.genre) or carried.genre, language=carried.language or text(ci.language_iso),
        country=carried.country, comments=text(ci.summary))
    credits: list[Credit] = []
    for attr, role in ROLE_OF_FIELD:
        people = list(writers) if attr == "writer" and writers else _split_people(getattr(ci, attr))
        for n, person in enumerate(people):
            was = next((c for c in carried.credits if c.person == person
                        and FIELD_OF_ROLE.get(c.role.strip().casefold()) == attr), None)
            primary = (primary_writer and attr == "writer" and n == 0) or (was is not None and was.primary)
            credits.append(Credit(person, role, primary))
    credits += [c for c in carried.credits if c.role.strip().casefold() not in FIELD_OF_ROLE]
    out.credits = credits
    tags = ci.unknown_text("Tags") if hasattr(ci, "unknown_text") else None
    out.tags = _split_people(tags) or list(carried.tags)
    return out


# -- comicdesk's export marker ----------------------------------------------------------------------
#: Top-level key of the document holding comicdesk's export marker
#: (``{"version": 2, "fp": "<fingerprint>", "rendered": [3, 7]}``): an extra key of ours, next to
#: ``appID``, so the comment stays ComicBookInfo for every other reader.
EXPORT_KEY = "comicdesk-export"
#: Exports written before the ComicBookInfo comment: a text line
#: ``comicdesk-export 1 fp=<fingerprint> rendered=<indexes>``.
LEGACY_EXPORT_PREFIX = b"comicdesk-export "


def export_marker(comment: bytes | None) -> dict | None:
    """``{"version", "fingerprint", "rendered"}`` when ``comment`` (a ZIP comment) was written by
    ``comicdesk export`` — either form — else None. Here rather than in ``export`` so that any
    layer may recognise comicdesk's own exports (``pipeline`` may not import ``export``)."""
    if not comment:
        return None
    comment = bytes(comment)
    if comment.startswith(LEGACY_EXPORT_PREFIX):
        parts = comment.decode("ascii", "replace").split()
        if len(parts) < 3:
            return None
        fields = dict(p.split("=", 1) for p in parts[2:] if "=" in p)
        try:
            rendered = [int(x) for x in fields.get("rendered", "").split(",") if x]
        except ValueError:
            rendered = []
        return {"version": parts[1], "fingerprint": fields.get("fp"), "rendered": rendered}
    doc = parse_document(comment)
    marker = doc.get(EXPORT_KEY) if doc is not None else None
    if not isinstance(marker, dict):
        return None
    rendered = marker.get("rendered")
    if not isinstance(rendered, list):
        rendered = []
    fingerprint = marker.get("fp")
    return {"version": str(marker.get("version")),
            "fingerprint": fingerprint if isinstance(fingerprint, str) else None,
            "rendered": [i for i in rendered if isinstance(i, int) and not isinstance(i, bool)]}


def is_export_comment(comment: bytes | None) -> bool:
    """True when a ZIP comment says ``comicdesk export`` wrote the file (either form)."""
    return export_marker(comment) is not None
