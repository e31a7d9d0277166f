"""PDF reader: stored page images byte for byte, deterministic rendering, damage, passwords."""

from __future__ import annotations

import io
import shutil
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pymupdf
import pytest
from PIL import Image

from comicdesk.archive import images, open_book, sniff_format
from comicdesk.archive.base import Limits
from comicdesk.archive.pdf import RENDER_MAX_SIDE, PdfReader, render_size
from comicdesk.core.errors import CorruptArchive, PageError, PasswordProtected
from helpers import captain_science_pages, comicbox_dir, tree_digest
from samples_pdf_epub import make_image_pdf


def png_bytes(im: Image.Image) -> bytes:
    buf = io.BytesIO()
    im.save(buf, "PNG")
    return buf.getvalue()


def expected_render_size(path: Path, index: int, limits: Limits = Limits()) -> tuple[int, int]:
    with pymupdf.open(path) as doc:
        rect = doc[index].rect
        return render_size(rect.width, rect.height, limits.max_image_pixels)


# -- image PDFs ----------------------------------------------------------------------------------
def test_image_pdf_pages_are_the_original_jpegs(tmp_path):
    src = captain_science_pages()
    assert len(src) == 5
    before = tree_digest(comicbox_dir())
    pdf = make_image_pdf(tmp_path / "cs.pdf", src)
    with open_book(pdf) as book:
        assert book.format == "pdf"
        assert [p.name for p in book.pages] == [f"page-000{i}.jpg" for i in range(1, 6)]
        for i, p in enumerate(src):
            data = p.read_bytes()
            assert book.pages[i].member.rendered is False
            assert book.pages[i].size == len(data)
            assert book.page_bytes(i) == data
        info = book.page_info(0)
        assert (info.format, info.width, info.height) == ("JPEG", 114, 160)
        assert book.comicinfo_member is None
        assert book.warnings == []
    assert tree_digest(comicbox_dir()) == before


def test_pdf_is_sniffed_by_content_not_name(tmp_path):
    pdf = make_image_pdf(tmp_path / "cs.pdf", captain_science_pages())
    disguised = tmp_path / "really a pdf.cbz"
    shutil.copy(pdf, disguised)
    assert sniff_format(disguised) == "pdf"
    with open_book(disguised) as book:
        # MuPDF would read a .cbz as a comic archive; we must have told it "pdf".
        assert book.format == "pdf" and len(book) == 5
        assert book.page_bytes(4) == captain_science_pages()[4].read_bytes()
    late = tmp_path / "late-header.pdf"
    late.write_bytes(b"\0" * 300 + pdf.read_bytes())
    assert sniff_format(late) == "pdf"
    not_pdf = tmp_path / "x.pdf"
    not_pdf.write_bytes(b"\0" * 1100 + b"%PDF-1.7\n")
    assert not PdfReader.sniff(not_pdf, not_pdf.read_bytes()[:4096])


# -- mixed content -------------------------------------------------------------------------------
def make_mixed_pdf(path: Path) -> dict[str, object]:
    """Eight pages exercising every decision; returns the sources needed to check them."""
    cs = [p.read_bytes() for p in captain_science_pages()]
    flate_source = Image.open(io.BytesIO(cs[2])).convert("RGB")
    doc = pymupdf.open()
    w, h = 114.0, 160.0

    def page():
        return doc.new_page(width=w, height=h)

    p = page()  # 0: one JPEG covering the page -> stored
    p.insert_image(p.rect, stream=cs[0])
    p = page()  # 1: text and vector art only -> rendered
    p.draw_rect(pymupdf.Rect(10, 10, 100, 80), color=(0, 0, 0), fill=(0.9, 0.2, 0.2))
    p.insert_text((12, 120), "Meanwhile...", fontsize=11)
    p = page()  # 2: two images side by side -> rendered
    p.insert_image(pymupdf.Rect(0, 0, w / 2, h), stream=cs[1], keep_proportion=False)
    p.insert_image(pymupdf.Rect(w / 2, 0, w, h), stream=cs[3], keep_proportion=False)
    p = page()  # 3: one image with a wide margin -> rendered
    p.insert_image(pymupdf.Rect(20, 20, w - 20, h - 20), stream=cs[0], keep_proportion=False)
    p = page()  # 4: one Flate (PNG) image covering the page -> lossless PNG, native size
    p.insert_image(p.rect, stream=png_bytes(flate_source), keep_proportion=False)
    p = page()  # 5: visible lettering over the image -> rendered
    p.insert_image(p.rect, stream=cs[3])
    p.insert_text((8, 20), "BOOM", fontsize=14)
    p = page()  # 6: invisible OCR text over the image -> still the stored JPEG
    p.insert_image(p.rect, stream=cs[4])
    p.insert_text((8, 20), "searchable words", fontsize=8, render_mode=3)
    p = page()  # 7: the image is placed upside down -> rendered
    p.insert_image(p.rect, stream=cs[0], rotate=180)
    doc.save(path)
    doc.close()
    return {"cs": cs, "flate": flate_source}


def test_mixed_pdf_renders_exactly_the_pages_that_need_it(tmp_path):
    pdf = tmp_path / "mixed.pdf"
    src = make_mixed_pdf(pdf)
    cs = src["cs"]
    with open_book(pdf) as book:
        assert len(book) == 8
        rendered = [p.member.rendered for p in book.pages]
        assert rendered == [False, True, True, True, True, True, False, True]
        assert [p.name[-4:] for p in book.pages] == [".jpg"] * 4 + [".png"] + [".jpg"] * 3
        assert book.page_bytes(0) == cs[0]
        assert book.page_bytes(6) == cs[4]
        assert book.pages[0].size == len(cs[0])
        for i in (1, 2, 3, 5, 7):
            assert book.pages[i].size == -1
            im = book.image(i)
            assert im.size == expected_render_size(pdf, i)
            assert im.getextrema() != ((255, 255), (255, 255), (255, 255))  # something was drawn
        # The text/vector page: the red box is really there.
        r, g, b = book.image(1).getpixel((int(55 * book.image(1).width / 114), 60))
        assert r > 180 and g < 100 and b < 100
        # The Flate page keeps every stored pixel at the image's own size.
        png = book.page_bytes(4)
        assert images.probe(png).format == "PNG"
        assert book.image(4).size == src["flate"].size
        assert book.image(4).tobytes() == src["flate"].tobytes()


def test_rendering_is_deterministic_across_reads_and_readers(tmp_path):
    pdf = tmp_path / "mixed.pdf"
    make_mixed_pdf(pdf)
    with open_book(pdf) as a:
        first = a.page_bytes(1)
        assert a.page_bytes(1) == first
        for i in range(2, 8):  # push page 1 out of the small cache
            a.page_bytes(i)
        again = a.page_bytes(1)
    with open_book(pdf) as b:
        other = b.page_bytes(1)
    assert first == again == other
    assert images.probe(first).format == "JPEG"


def test_render_size_rule():
    big = Limits().max_image_pixels
    assert render_size(612, 792, big) == (1700, 2200)  # US Letter at 200 dpi
    assert render_size(595, 842, big) == (1653, 2339)  # A4
    w, h = render_size(792, 1224, big)  # tabloid: the long side is capped
    assert h == RENDER_MAX_SIDE and w == round(792 * RENDER_MAX_SIDE / 1224)
    w, h = render_size(612, 792, 500_000)
    assert w * h <= 500_000 and abs(w / h - 612 / 792) < 0.01
    with pytest.raises(PageError):
        render_size(0, 792, big)


def test_rendering_respects_the_pixel_limit(tmp_path):
    pdf = tmp_path / "mixed.pdf"
    make_mixed_pdf(pdf)
    limits = Limits(max_image_pixels=20_000)
    with open_book(pdf, limits) as book:
        im = book.image(1)
        assert im.width * im.height <= 20_000
        assert im.size == expected_render_size(pdf, 1, limits)


def test_listing_never_renders(tmp_path, monkeypatch):
    pdf = tmp_path / "mixed.pdf"
    make_mixed_pdf(pdf)

    def refuse(*args, **kwargs):
        raise AssertionError("rendered during listing")

    monkeypatch.setattr(pymupdf.Page, "get_pixmap", refuse)
    monkeypatch.setattr(pymupdf, "Pixmap", refuse)
    with open_book(pdf) as book:
        assert len(book) == 8
        assert book.page_bytes(0)[:2] == b"\xff\xd8"  # stored pages need no pixels either
        with pytest.raises(PageError):
            book.page_bytes(1)


def test_vector_fixture_pdfs_render(tmp_path):
    root = comicbox_dir()
    before = tree_digest(root)
    books = [root / "test_pdf.pdf"] + sorted((root / "pdf").glob("*.pdf"))
    assert len(books) == 5
    with open_book(root / "test_pdf.pdf") as book:
        assert len(book) == 4
    for path in books:
        with pymupdf.open(path) as doc:
            has_text = [bool(page.get_text().strip()) for page in doc]
        with open_book(path) as book:
            assert book.format == "pdf"
            for i, page in enumerate(book.pages):
                assert page.member.rendered and page.name.endswith(".jpg")
                im = book.image(i)
                assert im.size == expected_render_size(path, i)
                blank = im.convert("L").getextrema()[0] >= 250
                assert blank != has_text[i], (path.name, i)  # "Page 1!" shows; empty pages stay white
    assert tree_digest(root) == before


def test_comicinfo_embedded_in_a_pdf_is_found():
    with open_book(comicbox_dir() / "test_cix.pdf") as book:
        assert book.comicinfo_member is not None and book.comicinfo_member.name == "ComicInfo.xml"
        data = book.comicinfo_bytes()
        assert b"<ComicInfo" in data
        assert len(book) == 4  # the attachment is not a page


def test_jpeg_wrapped_in_another_filter_is_unwrapped(tmp_path):
    jpeg = captain_science_pages()[1].read_bytes()
    doc = pymupdf.open()
    page = doc.new_page(width=110, height=160)
    page.insert_image(page.rect, stream=jpeg)
    xref = page.get_images(full=True)[0][0]
    doc.update_stream(xref, jpeg, compress=True)  # Flate over the JPEG
    doc.xref_set_key(xref, "Filter", "[/FlateDecode /DCTDecode]")
    doc.save(tmp_path / "wrapped.pdf")
    doc.close()
    with open_book(tmp_path / "wrapped.pdf") as book:
        assert not book.pages[0].member.rendered
        assert book.page_bytes(0) == jpeg


def test_shared_resources_pick_the_image_the_page_draws(tmp_path):
    cs = [p.read_bytes() for p in captain_science_pages()]
    doc = pymupdf.open()
    page = doc.new_page(width=114, height=160)
    page.insert_image(page.rect, stream=cs[0])  # 114×160, drawn
    drawn_only = page.read_contents()
    page.insert_image(pymupdf.Rect(0, 0, 10, 10), stream=cs[1])  # 110×160, listed only
    doc.update_stream(page.get_contents()[0], drawn_only)
    for extra in page.get_contents()[1:]:
        doc.update_stream(extra, b" ")
    assert len(page.get_images(full=True)) == 2
    doc.save(tmp_path / "shared.pdf")
    doc.close()
    with open_book(tmp_path / "shared.pdf") as book:
        assert not book.pages[0].member.rendered
        assert book.page_bytes(0) == cs[0]


# -- protection and damage -----------------------------------------------------------------------
def test_password_protected_pdf(tmp_path):
    pdf = make_image_pdf(tmp_path / "cs.pdf", captain_science_pages()[:2])
    with pymupdf.open(pdf) as doc:
        doc.save(tmp_path / "locked.pdf", encryption=pymupdf.PDF_ENCRYPT_AES_256,
                 user_pw="secret", owner_pw="owner")
        doc.save(tmp_path / "owner-only.pdf", encryption=pymupdf.PDF_ENCRYPT_AES_256,
                 owner_pw="owner")
    with pytest.raises(PasswordProtected) as err:
        open_book(tmp_path / "locked.pdf")
    assert str(err.value) == "password-protected PDF"
    assert err.value.kind == "password-protected"
    # An owner password alone (permissions only) opens without asking anything.
    with open_book(tmp_path / "owner-only.pdf") as book:
        assert book.page_bytes(1) == captain_science_pages()[1].read_bytes()


def test_garbage_and_truncated_pdfs_are_corrupt(tmp_path, capfd):
    pdf = make_image_pdf(tmp_path / "cs.pdf", captain_science_pages())
    data = pdf.read_bytes()
    cases = {
        "garbage.pdf": b"%PDF-1.4\n" + bytes(range(256)) * 8,
        "head-only.pdf": data[: len(data) // 50],
        "no-pages.pdf": (b"%PDF-1.4\n1 0 obj <</Type/Catalog/Pages 2 0 R>> endobj\n"
                         b"2 0 obj <</Type/Pages/Kids[]/Count 0>> endobj\n"
                         b"trailer <</Root 1 0 R>>\n%%EOF\n"),
    }
    capfd.readouterr()
    for name, content in cases.items():
        (tmp_path / name).write_bytes(content)
        with pytest.raises(CorruptArchive) as err:
            open_book(tmp_path / name)
        reason = str(err.value)
        assert "\n" not in reason and "PDF" in reason and str(tmp_path) not in reason, name
    out, errs = capfd.readouterr()
    assert out == "" and errs == ""  # MuPDF's own complaints are kept off the terminal


def test_truncated_pdf_keeps_the_pages_it_still_has(tmp_path, capfd):
    src = captain_science_pages()
    pdf = make_image_pdf(tmp_path / "cs.pdf", src)
    cut = tmp_path / "cut.pdf"
    cut.write_bytes(pdf.read_bytes()[: int(pdf.stat().st_size * 0.7)])
    with open_book(cut) as book:
        assert len(book) == 5  # every slot is kept
        assert any("repaired" in w for w in book.warnings)
        assert book.page_bytes(0) == src[0].read_bytes()
        assert book.page_bytes(1) == src[1].read_bytes()
        with pytest.raises(PageError) as err:
            book.page_bytes(4)
        assert "page 5" in str(err.value) and "\n" not in str(err.value)
    assert capfd.readouterr().err == ""


# -- runtime properties --------------------------------------------------------------------------
def test_modules_import_without_pymupdf():
    code = ("import sys, comicdesk.archive.pdf, comicdesk.archive.epub; "
            "print('pymupdf' in sys.modules or 'fitz' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_concurrent_reads_from_threads(tmp_path):
    pdf = tmp_path / "mixed.pdf"
    make_mixed_pdf(pdf)
    with open_book(pdf) as ref:
        expected = [ref.page_bytes(i) for i in range(len(ref))]
    with open_book(pdf) as a, open_book(pdf) as b:
        jobs = [(book, i) for _ in range(3) for book in (a, b) for i in range(len(expected))]
        with ThreadPoolExecutor(max_workers=6) as pool:
            got = list(pool.map(lambda job: (job[1], job[0].page_bytes(job[1])), jobs))
    assert all(data == expected[i] for i, data in got)


def test_cmyk_jpeg_is_stored_only_when_its_colours_survive(tmp_path):
    rgb = Image.open(captain_science_pages()[0]).convert("RGB")
    buf = io.BytesIO()
    rgb.convert("CMYK").save(buf, "JPEG", quality=95)  # Pillow writes an Adobe APP14 marker
    cmyk = buf.getvalue()
    buf = io.BytesIO()
    rgb.convert("CMYK").save(buf, "JPEG", quality=80)  # another stream (PyMuPDF shares equal ones)
    doc = pymupdf.open()
    for data in (cmyk, buf.getvalue()):
        page = doc.new_page(width=114, height=160)
        page.insert_image(page.rect, stream=data)
    xrefs = [doc[i].get_images(full=True)[0][0] for i in range(2)]
    assert xrefs[0] != xrefs[1]
    assert doc.xref_get_key(xrefs[0], "Decode")[1].split() == ["[1", "0", "1", "0", "1", "0", "1", "0]"]
    doc.xref_set_key(xrefs[1], "Decode", "null")  # the PDF now shows the colours inverted
    doc.save(tmp_path / "cmyk.pdf")
    doc.close()
    with open_book(tmp_path / "cmyk.pdf") as book:
        assert not book.pages[0].member.rendered and book.page_bytes(0) == cmyk
        r, g, b = book.image(0).getpixel((50, 50))
        r0, g0, b0 = rgb.getpixel((50, 50))
        assert abs(r - r0) + abs(g - g0) + abs(b - b0) < 30
        assert book.pages[1].member.rendered and book.pages[1].name.endswith(".png")
        # What the PDF really shows (inverted), not what the JPEG alone would decode to.
        r, g, b = book.image(1).getpixel((50, 50))
        assert abs(r - r0) + abs(g - g0) + abs(b - b0) > 100


def test_header_info_of_rendered_pages_matches_the_render_without_rendering(monkeypatch):
    from comicdesk.archive import open_book
    from comicdesk.archive.pdf import PdfReader

    with open_book(comicbox_dir() / "test_pdf.pdf") as book:
        produced = []
        real = PdfReader._produce
        monkeypatch.setattr(PdfReader, "_produce", lambda self, plan: produced.append(plan) or real(self, plan))
        infos = dict(book.page_infos())
        assert produced == []  # sizes came from the plan, nothing was rendered
        for i in range(len(book)):
            assert book.pages[i].member.rendered
            assert (infos[i].width, infos[i].height) == book.image(i).size
