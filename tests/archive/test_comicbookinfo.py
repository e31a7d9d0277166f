"""ComicBookInfo/1.0 (the JSON in a CBZ's ZIP comment or a CBR's archive comment): read tolerantly
from what other tools write, written as ASCII JSON that fits a ZIP comment, carried to and from
ComicInfo; the archive comment exposed by the ZIP and RAR readers; comicdesk's export marker."""

from __future__ import annotations

import json
import zipfile

import pytest
from helpers import comicbox_dir
from rar_samples import jpeg_pages, make_cbr

from comicdesk.archive import open_book
from comicdesk.archive.comicbookinfo import (
    CBI_KEY,
    EXPORT_KEY,
    MAX_COMMENT_BYTES,
    ComicBookInfo,
    Credit,
    export_marker,
    fill_comicinfo,
    from_book,
    from_comicinfo,
    is_export_comment,
    parse_comment,
    serialise,
)
from comicdesk.archive.comicinfo import ComicInfo
from comicdesk.archive.rar import RarReader
from comicdesk.archive.zip import ZipReader

EXAMPLE = comicbox_dir() / "examples" / "comic-book-info-example.json"


def test_the_published_example_is_read_field_by_field():
    cbi = parse_comment(EXAMPLE.read_bytes())
    assert cbi is not None and cbi.warnings == []
    assert (cbi.series, cbi.title, cbi.issue, cbi.volume) == ("Watchmen", "At Midnight, All the Agents", "1", 1)
    assert (cbi.publisher, cbi.publication_year, cbi.publication_month) == ("DC Comics", 1986, 9)
    assert (cbi.number_of_issues, cbi.number_of_volumes, cbi.rating) == (12, 1, 10)
    assert (cbi.genre, cbi.language, cbi.country) == ("Superhero", "English", "United States")
    assert cbi.tags == ["Nite Owl", "Ozymandias", "Rorschach"]
    assert cbi.comments == "Tales of the Black Freighter..."
    assert Credit("Moore, Alan", "Writer", True) in cbi.credits
    assert Credit("Gibbons, Dave", "Letterer", False) in cbi.credits
    assert (cbi.app_id, cbi.last_modified) == ("ComicBookLover/888", "2009-10-25 14:51:31 +0000")
    assert cbi.names() == {"title": "At Midnight, All the Agents", "series": "Watchmen", "number": "1",
                           "authors": ["Moore, Alan"]}


def test_what_serialise_writes_reads_back_equal():
    cbi = parse_comment(EXAMPLE.read_bytes())
    data = serialise(cbi, "comicdesk/test", "2020-01-02 03:04:05 +0000", {EXPORT_KEY: {"version": 2}})
    data.decode("ascii")
    back = parse_comment(data)
    cbi.app_id, cbi.last_modified = "comicdesk/test", "2020-01-02 03:04:05 +0000"
    assert back == cbi
    assert json.loads(data)[EXPORT_KEY] == {"version": 2}


@pytest.mark.parametrize("value,expected", [
    ({"issue": 5}, "5"), ({"issue": "12A"}, "12A"), ({"issue": 2.5}, "2.5"), ({"issue": 3.0}, "3"),
    ({"issue": " 7 "}, "7"), ({"issue": True}, None), ({"issue": [1]}, None),
])
def test_an_issue_may_be_a_number_or_text(value, expected):
    assert parse_comment(json.dumps({CBI_KEY: value})).issue == expected


def test_numbers_written_as_text_are_read_and_bad_ones_left_out_with_a_warning():
    cbi = parse_comment(json.dumps({CBI_KEY: {
        "publicationYear": "1986", "publicationMonth": 13, "volume": "x", "numberOfIssues": 0,
        "rating": True, "title": {"nested": 1}, "series": "  S  "}}))
    assert cbi.publication_year == 1986
    assert (cbi.publication_month, cbi.volume, cbi.number_of_issues, cbi.rating, cbi.title) == (None,) * 5
    assert cbi.series == "S"
    assert len(cbi.warnings) == 5


@pytest.mark.parametrize("comment", [
    None, b"", b"Scanned by somebody", b"   ", b"[1, 2]", b"{not json", b'{"title": "no CBI key"}',
    json.dumps({CBI_KEY: "not an object"}).encode(), b"[" * 100000 + b"]" * 100000,
    b"{" + b'"a":' * 1 + b"[" * 50000 + b"]" * 50000 + b"}", b"\xff\xfe\x00garbage",
    b'{"x": ' + b"9" * 5000 + b"}",
])
def test_a_comment_that_is_not_comicbookinfo_is_none(comment):
    assert parse_comment(comment) is None


def test_other_encodings_and_other_versions_are_read():
    doc = {"ComicBookInfo/1.1": {"title": "Café", "credits": [{"person": "Jürgen", "role": "Writer"}, "x",
                                                              {"role": "Writer"}]}}
    cbi = parse_comment(json.dumps(doc, ensure_ascii=False).encode("cp1252"))
    assert cbi.title == "Café" and cbi.credits == [Credit("Jürgen", "Writer")]
    assert parse_comment(b"\xef\xbb\xbf" + json.dumps(doc).encode() + b"\x00").title == "Café"


def test_a_long_document_is_shortened_to_fit_a_zip_comment():
    cbi = ComicBookInfo(title="T", comments="é" * 100000, tags=[f"t{i}" for i in range(20000)],
                        credits=[Credit(f"p{i}", "Writer") for i in range(20000)])
    data = serialise(cbi, "a", "b", {EXPORT_KEY: {"fp": "f" * 32}})
    assert len(data) <= MAX_COMMENT_BYTES
    doc = json.loads(data)
    assert doc[CBI_KEY]["title"] == "T" and doc[EXPORT_KEY] == {"fp": "f" * 32}


def test_comicinfo_and_comicbookinfo_carry_values_both_ways():
    ci = ComicInfo(title="T", writer="A, B", penciller="C", cover_artist="D", number="4", volume=2, year=1999,
                   month=0, summary="S")
    cbi = from_comicinfo(ci, ComicBookInfo(country="US", credits=[Credit("E", "Creator"), Credit("A", "Writer", True)]))
    assert [(c.person, c.role, c.primary) for c in cbi.credits] == [
        ("A", "Writer", True), ("B", "Writer", False), ("C", "Penciller", False), ("D", "Cover", False),
        ("E", "Creator", False)]
    assert (cbi.issue, cbi.volume, cbi.publication_year, cbi.publication_month, cbi.country, cbi.comments) == (
        "4", 2, 1999, None, "US", "S")
    assert from_comicinfo(ci, volume=False).volume is None
    # Filling: only what ComicInfo leaves empty.
    empty = ComicInfo(title="Kept", writer="")
    filled = fill_comicinfo(empty, ComicBookInfo(title="Other", series="Ser", issue="9",
                                                 credits=[Credit("W", "writer"), Credit("I", "Inks"),
                                                          Credit("X", "Artist")]))
    assert (empty.title, empty.series, empty.number, empty.writer, empty.inker) == ("Kept", "Ser", "9", "W", "I")
    assert empty.penciller is None  # "Artist" is no ComicInfo field
    assert set(filled) == {"series", "number", "writer", "inker"}


# -- the readers expose the archive comment ----------------------------------------------------------
def test_the_zip_reader_gives_the_zip_comment(tmp_path, jpegs):
    path = tmp_path / "c.cbz"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr(*jpegs[0])
        zf.comment = json.dumps({CBI_KEY: {"title": "Z"}}).encode()
    with ZipReader(path) as r:
        assert json.loads(r.archive_comment())[CBI_KEY]["title"] == "Z"
    with open_book(path) as book:
        assert from_book(book).title == "Z"
    plain = tmp_path / "p.cbz"
    with zipfile.ZipFile(plain, "w") as zf:
        zf.writestr(*jpegs[0])
    with ZipReader(plain) as r:
        assert r.archive_comment() is None


@pytest.mark.parametrize("fmt", ["rar50", "rar4"])
def test_the_rar_reader_gives_the_archive_comment(tmp_path, fmt):
    doc = {"appID": "x", CBI_KEY: {"title": "Über R", "series": "S", "issue": 2}}
    text = json.dumps(doc, ensure_ascii=False)
    entries = [(f"{i:02d}.jpg", p) for i, p in enumerate(jpeg_pages(2))]
    path = make_cbr(tmp_path / f"c-{fmt}.cbr", entries, fmt=fmt, store=True, comment=text)
    with RarReader(path) as r:
        assert r.archive_comment().decode("utf-8") == text
    with open_book(path) as book:
        cbi = from_book(book)
        assert (cbi.title, cbi.series, cbi.issue) == ("Über R", "S", "2")
        assert len(book.pages) == 2  # reading the comment changes nothing else
    bare = make_cbr(tmp_path / "bare.cbr", entries, fmt=fmt, store=True)
    with RarReader(bare) as r:
        assert r.archive_comment() is None


def test_the_comicbox_cbr_fixture_comment_is_comicbookinfo():
    with open_book(comicbox_dir() / "Captain Science #001-cbi.cbr") as book:
        cbi = from_book(book)
    assert (cbi.title, cbi.series, cbi.issue, cbi.volume) == ("The Beginning", "Captain Science", "1", 1950)
    assert cbi.people("writer") == ["Joe Orlando"] and cbi.people("penciller") == ["Wally Wood"]


def test_formats_without_archive_comments_have_no_comicbookinfo():
    with open_book(comicbox_dir() / "Captain Science #001.cb7") as book:
        assert from_book(book) is None


# -- comicdesk's export marker ---------------------------------------------------------------------
def test_the_export_marker_is_found_in_both_forms():
    new = serialise(ComicBookInfo(title="T"), "comicdesk/1", "now",
                    {EXPORT_KEY: {"version": 2, "fp": "ab" * 16, "rendered": [1, 4]}})
    assert export_marker(new) == {"version": "2", "fingerprint": "ab" * 16, "rendered": [1, 4]}
    old = b"comicdesk-export 1 fp=" + b"cd" * 16 + b" rendered=3,5"
    assert export_marker(old) == {"version": "1", "fingerprint": "cd" * 16, "rendered": [3, 5]}
    assert is_export_comment(new) and is_export_comment(old)
    for other in (EXAMPLE.read_bytes(), b"", None, b"comicdesk-export", b"Scanned",
                  json.dumps({EXPORT_KEY: [1]}).encode()):
        assert not is_export_comment(other)


def test_absurdly_long_texts_are_cut_not_refused():
    cbi = ComicBookInfo(title="\U0001F600" * 100000, series="s" * 100000, publisher="p" * 70000,
                        genre="g" * 70000, country="c" * 70000)
    data = serialise(cbi, "a", "b", {EXPORT_KEY: {"fp": "x"}})
    assert len(data) <= MAX_COMMENT_BYTES
    doc = json.loads(data)
    assert doc[CBI_KEY]["title"].endswith("...") and doc[EXPORT_KEY] == {"fp": "x"}
