"""Every readable source becomes a CBZ whose kept pages are the source's bytes exactly, named in
reading order, with a ComicInfo.xml valid against the v2.0 XSD."""

from __future__ import annotations

import json
import zipfile

import pytest
from exphelpers import (
    CS,
    cbz_comicinfo,
    cbz_pages,
    copy_fixture,
    epub,
    image_pdf,
    jpeg,
    label_all,
    make_cbz,
    png,
    run_export,
    sha,
    source_pages,
    xsd_errors,
)
from helpers import captain_science_pages

FIXTURES = {
    "cbz": f"{CS}-cix.cbz",
    "cbr": f"{CS}-cix-cbi.cbr",
    "cb7": f"{CS}.cb7",
    "cbt": f"{CS}-cix.cbt",
}


@pytest.mark.parametrize("ext", sorted(FIXTURES))
def test_archive_sources_keep_story_bytes(tmp_path, settings, ext):
    lib = tmp_path / "lib"
    book = copy_fixture(FIXTURES[ext], lib / f"book.{ext}")
    # Page 0 is the cover, page 2 an advertisement: story-only keeps 1, 3, 4.
    label_all(settings, lib, book, p0="cover", p2="advertisement")
    src = source_pages(book)
    out = tmp_path / "out" / "clean.cbz"
    summary = run_export(settings, book, out, preset="story-only")
    (res,) = summary.results
    assert summary.single and res.status == "written" and res.error is None
    assert (res.pages_kept, res.pages_dropped, res.rendered) == (3, 2, [])
    pages = cbz_pages(out)
    assert [n for n, _ in pages] == ["001.jpg", "002.jpg", "003.jpg"]
    assert [sha(d) for _, d in pages] == [sha(src[i]) for i in (1, 3, 4)]
    assert xsd_errors(out) == []
    ci = cbz_comicinfo(out)
    assert ci.page_count == 3
    assert [p.image for p in ci.pages] == [0, 1, 2]
    assert all(p.types == ["Story"] for p in ci.pages)
    assert [p.image_size for p in ci.pages] == [len(src[i]) for i in (1, 3, 4)]
    assert all(p.image_width and p.image_height == 160 and p.double_page is False for p in ci.pages)
    with zipfile.ZipFile(out) as zf:
        kinds = {i.filename: i.compress_type for i in zf.infolist()}
    assert kinds.pop("ComicInfo.xml") == zipfile.ZIP_DEFLATED
    assert set(kinds.values()) == {zipfile.ZIP_STORED}


def test_comicinfo_carried_over(tmp_path, settings):
    lib = tmp_path / "lib"
    book = copy_fixture(FIXTURES["cbz"], lib / "book.cbz")
    label_all(settings, lib, book, p0="cover", p4="back_cover", p2="text")
    out = tmp_path / "out.cbz"
    run_export(settings, book, out)  # default: no-ads keeps everything here
    ci = cbz_comicinfo(out)
    assert (ci.title, ci.series, ci.number, ci.writer, ci.penciller) == (
        "The Beginning; The End", "Captain Science", "1", "Joe Orlando", "Wally Wood")
    assert [p.types for p in ci.pages] == [["FrontCover"], ["Story"], ["Editorial"], ["Story"], ["BackCover"]]
    assert xsd_errors(out) == []


def test_epub_source(tmp_path, settings):
    lib = tmp_path / "lib"
    lib.mkdir()
    imgs = [("b-second.jpg", jpeg(40, 60, (1, 2, 3))), ("a-first.png", png(50, 70)),
            ("c-third.jpg", jpeg(80, 60, (9, 9, 9)))]
    book = epub(lib / "comic.epub", imgs)
    label_all(settings, lib, book, p1="advertisement")
    out = tmp_path / "o" / "x.cbz"
    (res,) = run_export(settings, book, out).results
    assert res.status == "written", res.error
    pages = cbz_pages(out)
    # Spine order, not name order; extensions kept; the ad dropped.
    assert [n for n, _ in pages] == ["001.jpg", "002.jpg"]
    assert [sha(d) for _, d in pages] == [sha(imgs[0][1]), sha(imgs[2][1])]
    ci = cbz_comicinfo(out)
    assert [(p.image_width, p.image_height, p.double_page) for p in ci.pages] == [(40, 60, False), (80, 60, True)]
    assert xsd_errors(out) == []


def test_pdf_single_image_pages_are_stored_bytes_rendered_pages_listed(tmp_path, settings):
    lib = tmp_path / "lib"
    lib.mkdir()
    jpegs = [p.read_bytes() for p in captain_science_pages()[:3]]
    book = image_pdf(lib / "scan.pdf", jpegs, vector_page=True)
    out = tmp_path / "out"
    (res,) = run_export(settings, book, out).results
    assert res.status == "written", res.error
    assert res.output == str(out / "scan.cbz")
    assert res.rendered == [3]  # only the drawn page had to be rendered
    pages = cbz_pages(out / "scan.cbz")
    assert len(pages) == 4
    assert [sha(d) for _, d in pages[:3]] == [sha(j) for j in jpegs]
    assert pages[3][1][:2] == b"\xff\xd8"  # the rendered page, encoded once as JPEG
    assert xsd_errors(out / "scan.cbz") == []
    with zipfile.ZipFile(out / "scan.cbz") as zf:  # recorded in the ComicBookInfo comment's marker
        assert json.loads(zf.comment)["comicdesk-export"]["rendered"] == [3]


def test_fixture_pdf_rendered_pages_reported(tmp_path, settings):
    lib = tmp_path / "lib"
    book = copy_fixture("test_pdf.pdf", lib / "t.pdf")
    (res,) = run_export(settings, book, tmp_path / "t.cbz").results
    assert res.status == "written"
    assert res.rendered == [0, 1, 2, 3]
    assert [sha(d) for _, d in cbz_pages(tmp_path / "t.cbz")] == [sha(d) for d in source_pages(book)]


def test_image_folder_and_sample_library(tmp_path, settings):
    from helpers import REPO

    sample = REPO / "resources" / "sample-library"
    lib = tmp_path / "lib"
    import shutil

    shutil.copytree(sample, lib)
    out = tmp_path / "out"
    summary = run_export(settings, lib, out)
    assert not summary.single
    by_book = {r.book: r for r in summary.results}
    assert all(r.status == "written" for r in summary.results), [r.error for r in summary.results]
    folder = by_book[str(lib / "Captain Science #001 (scans)")]
    assert folder.output == str(out / "Captain Science #001 (scans).cbz")
    assert [sha(d) for _, d in cbz_pages(out / "Captain Science #001 (scans).cbz")] == [
        sha((lib / "Captain Science #001 (scans)" / f"page{i}.jpg").read_bytes()) for i in range(1, 6)]
    cb7 = out / "Captain Science" / "Captain Science #001 (1950).cbz"
    assert [sha(d) for _, d in cbz_pages(cb7)] == [
        sha(d) for d in source_pages(lib / "Captain Science" / "Captain Science #001 (1950).cb7")]
    for r in summary.results:
        assert xsd_errors(r.output) == []


def test_names_pad_to_page_count_and_keep_extensions(tmp_path, settings):
    lib = tmp_path / "lib"
    data = [png(8, 8, (i, i, i)) if i % 3 == 0 else jpeg(8, 8, (i, 0, 0)) for i in range(1005)]
    names = [f"x{i}.{'png' if i % 3 == 0 else 'JPEG'}" for i in range(1005)]
    book = make_cbz(lib / "big.cbz", data, names)
    out = tmp_path / "big.cbz"
    (res,) = run_export(settings, book, out).results
    assert res.pages_kept == 1005
    pages = cbz_pages(out)
    assert pages[0][0] == "0001.png" and pages[1][0] == "0002.jpeg" and pages[-1][0] == "1005.jpeg"
    assert [sha(d) for _, d in pages] == [sha(d) for d in data]  # natural order x2 < x10 kept


def test_stored_cbz_pages_copied_by_the_kernel_are_exact(tmp_path, settings, monkeypatch):
    from comicdesk.export import zipwrite

    copied = []
    real = zipwrite.copy_range
    monkeypatch.setattr(zipwrite, "copy_range", lambda *a: (copied.append(a[2]), real(*a))[1])
    lib = tmp_path / "lib"
    lib.mkdir()
    data = [p.read_bytes() for p in captain_science_pages()]
    book = lib / "stored.cbz"
    with zipfile.ZipFile(book, "w", zipfile.ZIP_STORED) as zf:
        zf.writestr("notes/readme.txt", b"not a page")
        for i, d in enumerate(data):
            zf.writestr(f"p{i + 1}.jpg", d)
    label_all(settings, lib, book, p3="advertisement")
    out = tmp_path / "s.cbz"
    (res,) = run_export(settings, book, out, preset="no-ads").results
    assert res.status == "written" and copied == [len(data[i]) for i in (0, 1, 2, 4)]
    assert [sha(d) for _, d in cbz_pages(out)] == [sha(data[i]) for i in (0, 1, 2, 4)]
    first = cbz_comicinfo(out).pages[0]
    assert (first.image_width, first.image_height) == (114, 160)
    assert xsd_errors(out) == []
