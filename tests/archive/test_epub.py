"""EPUB reader: pages in spine order, SVG and <img> pages, cover, DRM, sloppy packaging."""

from __future__ import annotations

import shutil
import zipfile
from pathlib import Path

import pytest

from comicdesk.archive import open_book, sniff_format
from comicdesk.archive.book import natural_key
from comicdesk.archive.epub import EpubReader, page_image_refs, resolve_href
from comicdesk.core.errors import NoImages, PasswordProtected
from helpers import captain_science_pages, comicbox_dir, tree_digest
from samples_pdf_epub import make_epub


#: Entry names whose natural order is the reverse of the spine's.
REVERSED_NAMES = ["images/e.jpg", "images/d 4.jpg", "images/c.jpg", "images/b.jpg", "images/a.jpg"]


def rewrite_zip(src: Path, dst: Path, replace: dict[str, bytes | None]) -> Path:
    """Copy a ZIP, replacing (or with None dropping) the named entries; order is kept."""
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w") as zout:
        for info in zin.infolist():
            if info.filename in replace:
                if replace[info.filename] is not None:
                    zout.writestr(info, replace[info.filename])
            else:
                zout.writestr(info, zin.read(info))
    return dst


@pytest.mark.parametrize("style", ["mixed", "svg", "img", "spine"])
def test_pages_follow_the_spine_not_the_names(tmp_path, style):
    src = captain_science_pages()
    before = tree_digest(comicbox_dir())
    epub = make_epub(tmp_path / "book.epub", src, image_names=REVERSED_NAMES, style=style)
    with open_book(epub) as book:
        assert book.format == "epub"
        names = [p.name for p in book.pages]
        assert names == [f"OEBPS/{n}" for n in REVERSED_NAMES]
        assert names != sorted(names, key=natural_key)  # natural order would be a..e
        for i, p in enumerate(src):
            assert book.page_bytes(i) == p.read_bytes()
            assert book.pages[i].size == p.stat().st_size
            assert book.pages[i].member.rendered is False
        assert book.page_info(0).width == 114
    assert tree_digest(comicbox_dir()) == before


def test_epub_is_sniffed_by_content_not_name(tmp_path):
    epub = make_epub(tmp_path / "book.epub", captain_science_pages(), image_names=REVERSED_NAMES)
    disguised = tmp_path / "book.cbz"
    shutil.copy(epub, disguised)
    assert sniff_format(disguised) == "epub"
    with open_book(disguised) as book:
        assert book.pages[0].name == "OEBPS/images/e.jpg"
    # A real CBZ is not mistaken for an EPUB.
    assert sniff_format(comicbox_dir() / "Captain Science #001.cbz") == "zip"


def test_mimetype_not_first(tmp_path):
    src = captain_science_pages()
    epub = make_epub(tmp_path / "sloppy.epub", src, image_names=REVERSED_NAMES, mimetype_first=False)
    # Named .epub: the directory is checked and the spine is honoured.
    with open_book(epub) as book:
        assert book.format == "epub"
        assert [p.name for p in book.pages] == [f"OEBPS/{n}" for n in REVERSED_NAMES]
    # Named .cbz: a plain ZIP, every page still there, in name order (documented).
    as_cbz = tmp_path / "sloppy.cbz"
    shutil.copy(epub, as_cbz)
    with open_book(as_cbz) as book:
        assert book.format == "zip"
        assert [p.name for p in book.pages] == sorted((f"OEBPS/{n}" for n in REVERSED_NAMES), key=natural_key)


def test_drm_encrypted_epub_is_refused(tmp_path):
    epub = make_epub(tmp_path / "drm.epub", captain_science_pages(), encrypt="drm")
    with pytest.raises(PasswordProtected) as err:
        open_book(epub)
    assert str(err.value) == "DRM-protected EPUB"
    assert err.value.kind == "password-protected"


def test_obfuscated_fonts_are_not_drm(tmp_path):
    src = captain_science_pages()
    epub = make_epub(tmp_path / "fonts.epub", src, encrypt="fonts")
    with open_book(epub) as book:
        assert len(book) == 5
        assert book.page_bytes(2) == src[2].read_bytes()


def test_epub_without_images_has_no_pages(tmp_path):
    epub = make_epub(tmp_path / "words.epub", [])
    with pytest.raises(NoImages) as err:
        open_book(epub)
    assert str(err.value) == "no page images in this book"


def test_comicinfo_and_unused_images(tmp_path):
    src = captain_science_pages()
    comicinfo = (comicbox_dir() / "Captain Science 001" / "comicinfo.xml").read_bytes()
    epub = make_epub(tmp_path / "book.epub", src[:3], comicinfo=comicinfo)
    with zipfile.ZipFile(epub, "a") as zf:  # an image no page shows
        zf.writestr("OEBPS/images/aaa-unused.jpg", src[4].read_bytes())
    with open_book(epub) as book:
        assert len(book) == 3
        assert all("unused" not in p.name for p in book.pages)
        assert book.comicinfo_member.name == "ComicInfo.xml"
        assert book.comicinfo_bytes() == comicinfo


def test_declared_cover_outside_the_spine_comes_first(tmp_path):
    src = captain_science_pages()
    epub = make_epub(tmp_path / "cover.epub", src, cover=True)  # image 0 has no page of its own
    with open_book(epub) as book:
        assert len(book) == 5
        assert [book.page_bytes(i) for i in range(5)] == [p.read_bytes() for p in src]


def test_cover_already_in_the_spine_is_not_moved(tmp_path):
    src = captain_science_pages()
    epub = make_epub(tmp_path / "cover.epub", src)
    opf = zipfile.ZipFile(epub).read("OEBPS/content.opf").decode()
    # Declare the *third* image as the cover: it stays third.
    opf = opf.replace('id="img2" href="images/page-003.jpg" media-type="image/jpeg"',
                      'id="img2" href="images/page-003.jpg" media-type="image/jpeg" properties="cover-image"')
    assert 'properties="cover-image"' in opf
    fixed = rewrite_zip(epub, tmp_path / "fixed.epub", {"OEBPS/content.opf": opf.encode()})
    with open_book(fixed) as book:
        assert [book.page_bytes(i) for i in range(5)] == [p.read_bytes() for p in src]


def test_manifest_images_when_the_spine_has_none(tmp_path):
    src = captain_science_pages()
    epub = make_epub(tmp_path / "b.epub", src, image_names=REVERSED_NAMES)
    pages = {f"OEBPS/text/p{i:03d}.xhtml": b"<html><body><p>no pictures</p></body></html>"
             for i in range(1, 6)}
    bare = rewrite_zip(epub, tmp_path / "bare.epub", pages)
    with open_book(bare) as book:  # manifest order = the order the images were given
        assert [p.name for p in book.pages] == [f"OEBPS/{n}" for n in REVERSED_NAMES]


def test_broken_package_document_falls_back_to_name_order(tmp_path):
    src = captain_science_pages()
    epub = make_epub(tmp_path / "b.epub", src, image_names=REVERSED_NAMES)
    broken = rewrite_zip(epub, tmp_path / "broken.epub", {"OEBPS/content.opf": b"<package><manifest>"})
    with open_book(broken) as book:
        assert book.format == "epub"
        assert [p.name for p in book.pages] == sorted((f"OEBPS/{n}" for n in REVERSED_NAMES), key=natural_key)
        assert any("package document" in w for w in book.warnings)


def test_missing_page_image_is_reported_and_skipped(tmp_path):
    src = captain_science_pages()
    epub = make_epub(tmp_path / "b.epub", src)
    holed = rewrite_zip(epub, tmp_path / "holed.epub", {"OEBPS/images/page-002.jpg": None})
    with open_book(holed) as book:
        assert len(book) == 4
        assert book.page_bytes(1) == src[2].read_bytes()
        assert any("missing" in w and "page-002.jpg" in w for w in book.warnings)


def test_page_documents_and_hrefs():
    xhtml = (b'<?xml version="1.0"?><html xmlns="http://www.w3.org/1999/xhtml"><body>'
             b'<p>&nbsp;&eacute;</p><img src="../img/a%20b.jpg#x"/>'
             b'<svg:svg xmlns:svg="http://www.w3.org/2000/svg"><svg:image xlink:href="c.png"/></svg:svg>'
             b'<svg><image href="/OEBPS/img/d.webp"/></svg><img src="data:image/png;base64,AAAA"/>'
             b'<img src="https://example.com/x.jpg"/></body></html>')
    refs = page_image_refs(xhtml)
    assert refs == ["../img/a%20b.jpg#x", "c.png", "/OEBPS/img/d.webp",
                    "data:image/png;base64,AAAA", "https://example.com/x.jpg"]
    base = "OEBPS/text/p1.xhtml"
    assert [resolve_href(base, r) for r in refs] == [
        "OEBPS/img/a b.jpg", "OEBPS/text/c.png", "OEBPS/img/d.webp", None, None]
    assert resolve_href(base, "../../../etc/passwd") is None


def test_reader_lists_pages_before_other_entries(tmp_path):
    epub = make_epub(tmp_path / "b.epub", captain_science_pages(), image_names=REVERSED_NAMES)
    with EpubReader(epub) as reader:
        members = reader.members()
        names = [m.name for m in members]
        assert names[:5] == [f"OEBPS/{n}" for n in REVERSED_NAMES]
        assert "OEBPS/content.opf" in names and "mimetype" in names
        assert sum(n.endswith(".jpg") for n in names) == 5


def test_page_images_without_extension_get_one_from_their_media_type(tmp_path):
    src = captain_science_pages()[:3]
    epub = make_epub(tmp_path / "b.epub", src, image_names=["images/p3", "images/p2", "images/p1"])
    with open_book(epub) as book:
        assert [p.name for p in book.pages] == ["OEBPS/images/p3.jpg", "OEBPS/images/p2.jpg",
                                                "OEBPS/images/p1.jpg"]
        assert [book.page_bytes(i) for i in range(3)] == [p.read_bytes() for p in src]
