"""A book's own ComicBookInfo (the JSON in a CBZ's ZIP comment, a CBR's archive comment) is read on
scan like ComicInfo: title, series, number and authors where ComicInfo has none (issue 24)."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

from helpers import captain_science_pages, tree_digest
from libhelpers import CS, INLINE, copy_book, make_calibre, make_cbz

from comicdesk.library.service import scan_library

CBI = {"appID": "ComicTagger/1.0.0", "lastModified": "2020-01-01 10:00:00",
       "ComicBookInfo/1.0": {"title": "From The Comment", "series": "Comment Series", "issue": 7,
                             "credits": [{"person": "Ann Writer", "role": "Writer", "primary": True},
                                         {"person": "Bob Artist", "role": "Artist"}]}}


def with_comment(path: Path, comment: bytes) -> Path:
    with zipfile.ZipFile(path, "a") as zf:
        zf.comment = comment
    return path


def by_name(result) -> dict:
    return {Path(b.path).name: b for b in result.books}


def test_names_come_from_comicbookinfo_when_comicinfo_has_none(tmp_path, settings):
    lib = tmp_path / "lib"
    pages = captain_science_pages()[:2]
    with_comment(make_cbz(lib / "Other Name 001.cbz", pages), json.dumps(CBI).encode())
    # ComicInfo's title wins; what it lacks comes from the comment.
    with_comment(make_cbz(lib / "both.cbz", pages, extra={"ComicInfo.xml": b"<ComicInfo><Title>XML Title</Title>"
                                                                          b"</ComicInfo>"}),
                 json.dumps(CBI).encode())
    copy_book(f"{CS}-cbi.cbr", lib / "rar-book.cbr")  # ComicBookInfo in the RAR archive comment
    with_comment(make_cbz(lib / "Plain Text 002.cbz", pages), b"Scanned by somebody")
    with_comment(make_cbz(lib / "Broken 003.cbz", pages),
                 json.dumps({"ComicBookInfo/1.0": {"title": "Half", "publicationMonth": 44}}).encode())
    before = tree_digest(lib)
    result = scan_library(lib, settings, options=INLINE)
    books = by_name(result)
    assert tree_digest(lib) == before  # reading the comment writes nothing
    cbz = books["Other Name 001.cbz"]
    assert (cbz.title, cbz.series, cbz.number, cbz.authors) == (
        "From The Comment", "Comment Series", "7", ["Ann Writer"])  # writers only, as from ComicInfo
    both = books["both.cbz"]
    assert (both.title, both.series, both.number, both.authors) == (
        "XML Title", "Comment Series", "7", ["Ann Writer"])
    cbr = books["rar-book.cbr"]
    assert (cbr.title, cbr.series, cbr.number, cbr.authors) == (
        "The Beginning", "Captain Science", "1", ["Joe Orlando"])
    plain = books["Plain Text 002.cbz"]  # a comment that is not ComicBookInfo: the file name
    assert (plain.series, plain.number, plain.error) == ("Plain Text", "002", None)
    broken = books["Broken 003.cbz"]  # a bad field is left out, the rest is read
    assert broken.title == "Half" and broken.error is None
    from comicdesk.library.catalog import Catalog

    with Catalog.open(settings.library_cache_dir(result.library_id), readonly=True) as cat:
        assert any("publicationMonth" in w for w in cat.book_by_path(broken.path).warnings)


def test_in_a_calibre_library_the_books_comicbookinfo_counts_as_comicinfo_does(tmp_path, settings):
    root = make_calibre(tmp_path / "Calibre", [
        {"title": "Calibre Title", "authors": ["Somebody"], "series": "Tales", "series_index": 2.0,
         "files": {"CBR": f"{CS}-cbi.cbr"}},
    ])
    (book,) = scan_library(root, settings, options=INLINE).books
    # The book's own metadata first (ComicInfo, else ComicBookInfo), then Calibre's; an export
    # still writes Calibre's values (tests/export/test_export_comicbookinfo.py).
    assert (book.title, book.series, book.number, book.authors) == (
        "The Beginning", "Captain Science", "1", ["Joe Orlando"])


def test_the_scan_records_whether_a_typed_cbz_is_comicdesks_own_export(tmp_path, settings):
    from comicdesk.library.catalog import Catalog

    lib = tmp_path / "lib"
    typed = b'<ComicInfo><Pages><Page Image="0" Type="FrontCover"/></Pages></ComicInfo>'
    pages = captain_science_pages()[:2]
    ours = json.dumps({"appID": "comicdesk/0", "ComicBookInfo/1.0": {},
                       "comicdesk-export": {"version": 2, "fp": "0" * 32, "rendered": []}}).encode()
    with_comment(make_cbz(lib / "export.cbz", pages, extra={"ComicInfo.xml": typed}), ours)
    with_comment(make_cbz(lib / "old-export.cbz", pages, extra={"ComicInfo.xml": typed}),
                 b"comicdesk-export 1 fp=00 rendered=")
    make_cbz(lib / "tagged.cbz", pages, extra={"ComicInfo.xml": typed})
    make_cbz(lib / "plain.cbz", pages)
    result = scan_library(lib, settings, options=INLINE)
    with Catalog.open(settings.library_cache_dir(result.library_id), readonly=True) as cat:
        info = {Path(b.path).name: b.comicinfo for b in cat.all_books()}
    assert info["export.cbz"]["comicdesk_export"] is True
    assert info["old-export.cbz"]["comicdesk_export"] is True
    assert info["tagged.cbz"]["comicdesk_export"] is False
    assert info["plain.cbz"] is None  # nothing to record for a book without metadata
