"""Issue 24: every export carries its metadata in both forms readers use, ComicInfo.xml (valid
against the v2.0 XSD) and ComicBookInfo/1.0 in the ZIP comment (valid against the published
schema), with the same title, series, number and creators; comicdesk's export marker lives inside
the ComicBookInfo JSON as a key of ours, and exports with the earlier text marker are still ours."""

from __future__ import annotations

import json
import os
import sys
import time
import zipfile
from pathlib import Path

import pytest
from cbi_schema import schema_errors
from exphelpers import CS, cbz_comicinfo, copy_fixture, jpeg, make_cbz, run_export, xsd_errors

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "library"))
from libhelpers import make_calibre  # noqa: E402

from comicdesk.archive.comicbookinfo import CBI_KEY, EXPORT_KEY, parse_comment  # noqa: E402
from comicdesk.export.writer import read_export_comment  # noqa: E402

CI_FULL = b"""<?xml version="1.0" encoding="utf-8"?>
<ComicInfo>
  <Title>The Beginning</Title>
  <Series>Captain Science</Series>
  <Number>1</Number>
  <Count>7</Count>
  <Volume>1950</Volume>
  <Summary>Captain Science fights the invaders.</Summary>
  <Year>1950</Year>
  <Month>11</Month>
  <Writer>Joe Orlando, Jack Kamen</Writer>
  <Penciller>Wally Wood</Penciller>
  <Inker>Wally Wood, Joe Orlando</Inker>
  <Colorist>Anonymous Colorist</Colorist>
  <Letterer>Ben Oda</Letterer>
  <CoverArtist>Wally Wood</CoverArtist>
  <Editor>Leon Harvey</Editor>
  <Publisher>Youthful Magazines</Publisher>
  <Genre>Science Fiction</Genre>
  <LanguageISO>en</LanguageISO>
</ComicInfo>
"""


def pages(n: int = 3) -> list[bytes]:
    return [jpeg(60, 90, (20 * i, 40, 90)) for i in range(n)]


def comment_doc(path) -> dict:
    with zipfile.ZipFile(path) as zf:
        raw = zf.comment
    raw.decode("ascii")  # ASCII JSON: every reader decodes it, whatever encoding it assumes
    return json.loads(raw)


def cbi_of(path) -> dict:
    return comment_doc(path)[CBI_KEY]


def credits_by_role(cbi: dict) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for c in cbi.get("credits", []):
        out.setdefault(c["role"], []).append(c["person"])
    return out


def people(text: str | None) -> list[str]:
    return [p.strip() for p in (text or "").split(",") if p.strip()]


def assert_both_forms_agree(path) -> tuple:
    """Title, series, number and creators read back from ComicInfo.xml and from ComicBookInfo
    are the same; returns the ComicInfo and the ComicBookInfo object."""
    ci = cbz_comicinfo(path)
    doc = comment_doc(path)
    assert schema_errors(doc) == []
    assert xsd_errors(path) == []
    cbi = doc[CBI_KEY]
    assert cbi.get("title") == ci.title
    assert cbi.get("series") == ci.series
    assert (str(cbi["issue"]) if "issue" in cbi else None) == ci.number
    roles = credits_by_role(cbi)
    for attr, role in (("writer", "Writer"), ("penciller", "Penciller"), ("inker", "Inker"),
                       ("colorist", "Colorist"), ("letterer", "Letterer"), ("cover_artist", "Cover"),
                       ("editor", "Editor")):
        assert roles.get(role, []) == people(getattr(ci, attr)), role
    return ci, cbi


# -- from a Calibre library --------------------------------------------------------------------------
def calibre_library(tmp_path, comicinfo: bytes | None, authors=("Ace Magazines Staff", "Joe Orlando")):
    """A Calibre library (metadata.db written by the test) with one book: title and series
    "Science Comics", #1, ``authors``; its CBZ holds ``comicinfo``."""
    root = make_calibre(tmp_path / "Calibre", [
        {"title": "Science Comics", "authors": list(authors), "series": "Science Comics",
         "series_index": 1.0, "files": {"CBZ": f"{CS}.cbz"}},
    ])
    book = root / authors[0] / "Science Comics (1)" / f"Science Comics - {authors[0]}.cbz"
    assert book.is_file()
    make_cbz(book, pages(), comicinfo=comicinfo)
    return root, book


def registered(settings, root: Path) -> None:
    """The person added the Calibre library (a book path inside it then belongs to it)."""
    from exphelpers import INLINE

    from comicdesk.library.service import scan_library

    scan_library(root, settings, options=INLINE)


def test_an_export_from_calibre_carries_calibres_metadata_in_both_forms(tmp_path, settings):
    root, book = calibre_library(tmp_path, CI_FULL)
    registered(settings, root)
    out = tmp_path / "out" / "sc.cbz"
    (res,) = run_export(settings, book, out).results
    assert res.status == "written", res.error
    ci, cbi = assert_both_forms_agree(out)
    # Calibre's values replace the book's ComicInfo title, series, number and writers...
    assert (ci.title, ci.series, ci.number, ci.writer) == (
        "Science Comics", "Science Comics", "1", "Ace Magazines Staff, Joe Orlando")
    assert cbi["title"] == "Science Comics" and cbi["series"] == "Science Comics"
    assert cbi["issue"] == 1 and isinstance(cbi["issue"], int)
    # ...each Calibre author a Writer credit (Calibre keeps no role), the first one primary.
    writers = [c for c in cbi["credits"] if c["role"] == "Writer"]
    assert writers == [{"person": "Ace Magazines Staff", "role": "Writer", "primary": True},
                       {"person": "Joe Orlando", "role": "Writer"}]
    # The rest of the book's ComicInfo carries over, with its roles as they were.
    assert credits_by_role(cbi)["Penciller"] == ["Wally Wood"]
    assert credits_by_role(cbi)["Inker"] == ["Wally Wood", "Joe Orlando"]
    assert (cbi["publisher"], cbi["publicationYear"], cbi["publicationMonth"]) == ("Youthful Magazines", 1950, 11)
    # Calibre reads its series index from `volume` before `issue`: from Calibre, no volume.
    assert "volume" not in cbi and ci.volume == 1950
    doc = comment_doc(out)
    assert doc["appID"].startswith("comicdesk/")
    assert doc["lastModified"].endswith(" +0000")
    assert set(doc[EXPORT_KEY]) == {"version", "fp", "rendered"}


def test_a_calibre_book_without_comicinfo_gets_both_forms(tmp_path, settings):
    root, book = calibre_library(tmp_path, None, authors=("Ace Magazines Staff",))
    out = tmp_path / "out" / "sc.cbz"
    (res,) = run_export(settings, root, tmp_path / "out").results  # the whole library
    assert res.status == "written", res.error
    ci, cbi = assert_both_forms_agree(res.output)
    assert (ci.title, ci.series, ci.number, ci.writer) == ("Science Comics", "Science Comics", "1",
                                                           "Ace Magazines Staff")
    assert cbi == {"title": "Science Comics", "series": "Science Comics", "issue": 1,
                   "credits": [{"person": "Ace Magazines Staff", "role": "Writer", "primary": True}]}
    assert not out.exists()


def test_a_calibre_author_with_a_comma_is_one_credit(tmp_path, settings):
    # Calibre stores "Orlando, Joe" as one author; ComicInfo's Writer can only join with commas,
    # ComicBookInfo keeps the person whole.
    root, book = calibre_library(tmp_path, None, authors=("Orlando, Joe", "Wally Wood"))
    registered(settings, root)
    out = tmp_path / "sc.cbz"
    (res,) = run_export(settings, book, out).results
    assert res.status == "written", res.error
    assert [c["person"] for c in cbi_of(out)["credits"]] == ["Orlando, Joe", "Wally Wood"]
    assert cbz_comicinfo(out).writer == "Orlando, Joe, Wally Wood"


# -- from a CBZ with ComicInfo ---------------------------------------------------------------------
def test_an_export_of_a_cbz_with_comicinfo_has_each_role_as_it_was(tmp_path, settings):
    book = make_cbz(tmp_path / "lib" / "cs.cbz", pages(), comicinfo=CI_FULL)
    out = tmp_path / "out.cbz"
    (res,) = run_export(settings, book, out).results
    assert res.status == "written", res.error
    ci, cbi = assert_both_forms_agree(out)
    assert credits_by_role(cbi) == {
        "Writer": ["Joe Orlando", "Jack Kamen"], "Penciller": ["Wally Wood"],
        "Inker": ["Wally Wood", "Joe Orlando"], "Colorist": ["Anonymous Colorist"], "Letterer": ["Ben Oda"],
        "Cover": ["Wally Wood"], "Editor": ["Leon Harvey"]}
    assert not any(c.get("primary") for c in cbi["credits"])  # ComicInfo says nothing of it
    assert cbi == {**cbi, "title": "The Beginning", "series": "Captain Science", "issue": 1, "volume": 1950,
                   "numberOfIssues": 7, "publicationYear": 1950, "publicationMonth": 11,
                   "publisher": "Youthful Magazines", "genre": "Science Fiction", "language": "en",
                   "comments": "Captain Science fights the invaders."}


def test_a_number_that_is_not_whole_is_written_as_text(tmp_path, settings):
    ci = CI_FULL.replace(b"<Number>1</Number>", b"<Number>2.5</Number>")
    book = make_cbz(tmp_path / "lib" / "cs.cbz", pages(), comicinfo=ci)
    out = tmp_path / "out.cbz"
    run_export(settings, book, out)
    assert cbi_of(out)["issue"] == "2.5"  # ComicTagger's form; Calibre reads 2.5
    assert cbz_comicinfo(out).number == "2.5"


# -- the source's own ComicBookInfo ----------------------------------------------------------------
SOURCE_CBI = {
    "appID": "ComicTagger/1.0.0", "lastModified": "2020-01-01 10:00:00",
    "ComicBookInfo/1.0": {
        "title": "The Beginning CBI", "series": "Captain Science", "issue": "3", "volume": 1,
        "publisher": "Youthful", "publicationYear": 1951, "publicationMonth": 2,
        "country": "United States", "language": "English", "rating": 4, "numberOfVolumes": 1,
        "tags": ["invaders", "space"], "comments": "From the comment.",
        "credits": [{"person": "Joe Orlando", "role": "Writer", "primary": True},
                    {"person": "Wally Wood", "role": "Artist"},
                    {"person": "Ben Oda", "role": "Letterer"}],
    },
    "x-other-tool": {"keep": False},
}


def with_comment(path: Path, doc) -> Path:
    with zipfile.ZipFile(path, "a") as zf:
        zf.comment = json.dumps(doc).encode() if isinstance(doc, dict) else doc
    return path


def test_a_source_cbz_comicbookinfo_is_carried_into_the_export(tmp_path, settings):
    book = with_comment(make_cbz(tmp_path / "lib" / "cs.cbz", pages()), SOURCE_CBI)
    out = tmp_path / "out.cbz"
    (res,) = run_export(settings, book, out).results
    assert res.status == "written", res.error
    ci, cbi = assert_both_forms_agree(out)
    # ComicInfo (none in the source) gets what ComicBookInfo held...
    assert (ci.title, ci.series, ci.number, ci.writer, ci.letterer) == (
        "The Beginning CBI", "Captain Science", "3", "Joe Orlando", "Ben Oda")
    assert (ci.volume, ci.year, ci.month, ci.publisher, ci.summary) == (1, 1951, 2, "Youthful", "From the comment.")
    # ...and the export's ComicBookInfo keeps what ComicInfo cannot hold.
    assert {"person": "Wally Wood", "role": "Artist"} in cbi["credits"]
    assert {"person": "Joe Orlando", "role": "Writer", "primary": True} in cbi["credits"]
    assert (cbi["country"], cbi["language"], cbi["rating"], cbi["tags"]) == (
        "United States", "English", 4, ["invaders", "space"])
    assert "x-other-tool" not in comment_doc(out)  # another tool's own keys are not ours to copy


def test_comicinfo_wins_over_the_sources_comicbookinfo(tmp_path, settings):
    book = with_comment(make_cbz(tmp_path / "lib" / "cs.cbz", pages(), comicinfo=CI_FULL), SOURCE_CBI)
    out = tmp_path / "out.cbz"
    run_export(settings, book, out)
    ci, cbi = assert_both_forms_agree(out)
    assert (ci.title, ci.number, cbi["title"], cbi["issue"]) == ("The Beginning", "1", "The Beginning", 1)
    assert credits_by_role(cbi)["Letterer"] == ["Ben Oda"]
    assert credits_by_role(cbi)["Artist"] == ["Wally Wood"]


def test_a_source_cbr_comicbookinfo_is_carried_into_the_export(tmp_path, settings):
    book = copy_fixture(f"{CS}-cbi.cbr", tmp_path / "lib" / "cs.cbr")  # RAR5, CBI in the archive comment
    out = tmp_path / "out.cbz"
    (res,) = run_export(settings, book, out).results
    assert res.status == "written", res.error
    ci, cbi = assert_both_forms_agree(out)
    assert (ci.title, ci.series, ci.number, ci.writer, ci.penciller) == (
        "The Beginning", "Captain Science", "1", "Joe Orlando", "Wally Wood")
    assert cbi["volume"] == 1950 and cbi["country"] == "United States"


def test_a_huge_source_comment_still_fits_the_zip_comment(tmp_path, settings):
    doc = json.loads(json.dumps(SOURCE_CBI))
    doc[CBI_KEY]["comments"] = "word " * 20000
    doc[CBI_KEY]["tags"] = [f"tag {i}" for i in range(2000)]
    # A ZIP comment holds 65,535 bytes: this source's is at the limit.
    raw = json.dumps(doc).encode()[:65535]
    src = make_cbz(tmp_path / "lib" / "cs.cbz", pages(), comicinfo=CI_FULL.replace(
        b"<Summary>Captain Science fights the invaders.</Summary>",
        b"<Summary>" + b"long summary " * 6000 + b"</Summary>"))
    with_comment(src, raw)
    out = tmp_path / "out.cbz"
    (res,) = run_export(settings, src, out).results
    assert res.status == "written", res.error
    with zipfile.ZipFile(out) as zf:
        assert len(zf.comment) <= 65535
    doc = comment_doc(out)
    assert schema_errors(doc) == []
    assert doc[CBI_KEY]["comments"].endswith("...") and doc[CBI_KEY]["title"] == "The Beginning"
    assert read_export_comment(out)["fingerprint"]


# -- the export marker -----------------------------------------------------------------------------
def test_an_up_to_date_export_is_recognised_from_its_comicbookinfo_marker(tmp_path, settings):
    book = make_cbz(tmp_path / "lib" / "cs.cbz", pages(), comicinfo=CI_FULL)
    out = tmp_path / "out.cbz"
    (first,) = run_export(settings, book, out).results
    assert first.status == "written"
    marker = read_export_comment(out)
    assert marker["version"] == "2" and len(marker["fingerprint"]) == 32
    (again,) = run_export(settings, book, out).results
    assert again.status == "up-to-date", again.error


def legacy_comment(fingerprint: str, rendered: str = "") -> bytes:
    return f"comicdesk-export 1 fp={fingerprint} rendered={rendered}".encode("ascii")


def test_an_export_with_the_earlier_text_marker_is_still_ours(tmp_path, settings):
    book = make_cbz(tmp_path / "lib" / "cs.cbz", pages(), comicinfo=CI_FULL)
    out = tmp_path / "out.cbz"
    run_export(settings, book, out)
    fp = read_export_comment(out)["fingerprint"]
    # The same file as an earlier comicdesk wrote it: the text marker, no ComicBookInfo.
    with_comment(out, legacy_comment(fp, "3,7"))
    assert read_export_comment(out) == {"version": "1", "fingerprint": fp, "rendered": [3, 7]}
    (res,) = run_export(settings, book, out).results
    assert res.status == "up-to-date", res.error  # its fingerprint is today's: recognised as it is
    # One written by an earlier exporter version (another fingerprint) is ours: replaced, and
    # now carries ComicBookInfo.
    with_comment(out, legacy_comment("0" * 32))
    (res,) = run_export(settings, book, out).results
    assert res.status == "written", res.error
    assert cbi_of(out)["title"] == "The Beginning"


@pytest.mark.parametrize("comment", [
    json.dumps({"appID": "ComicTagger/1.0.0", CBI_KEY: {"title": "x"}}).encode(),  # another tool's CBI
    b"Scanned by somebody",
    b"",
    json.dumps({EXPORT_KEY: "not an object"}).encode(),
])
def test_another_programs_cbz_at_the_output_is_left_alone(tmp_path, settings, comment):
    book = make_cbz(tmp_path / "lib" / "cs.cbz", pages(), comicinfo=CI_FULL)
    out = with_comment(make_cbz(tmp_path / "out.cbz", pages(1)), comment)
    before = out.read_bytes()
    (res,) = run_export(settings, book, out).results
    assert res.status == "failed" and "not written by comicdesk export" in res.error
    assert out.read_bytes() == before


def test_the_export_is_the_same_file_for_the_same_input(tmp_path, settings):
    book = make_cbz(tmp_path / "lib" / "cs.cbz", pages(), comicinfo=CI_FULL)
    a, b = tmp_path / "a.cbz", tmp_path / "b.cbz"
    run_export(settings, book, a)
    run_export(settings, book, b)
    assert a.read_bytes() == b.read_bytes()  # lastModified is the source's mtime, not now
    assert comment_doc(a)["lastModified"] == time.strftime("%Y-%m-%d %H:%M:%S +0000",
                                                           time.gmtime(os.stat(book).st_mtime))


def test_the_comment_reads_back_as_comicbookinfo(tmp_path, settings):
    book = make_cbz(tmp_path / "lib" / "cs.cbz", pages(), comicinfo=CI_FULL)
    out = tmp_path / "out.cbz"
    run_export(settings, book, out)
    with zipfile.ZipFile(out) as zf:
        cbi = parse_comment(zf.comment)
    assert cbi is not None and not cbi.warnings
    assert (cbi.title, cbi.series, cbi.issue, cbi.volume) == ("The Beginning", "Captain Science", "1", 1950)
    assert cbi.people("writer") == ["Joe Orlando", "Jack Kamen"]
