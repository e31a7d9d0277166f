"""Builders and checks for the export tests: sources in every container format, labels set the
way the person sets them, and readers for what an export wrote."""

from __future__ import annotations

import hashlib
import io
import shutil
import zipfile
from pathlib import Path

from helpers import captain_science_pages, comicbox_dir, fixtures_dir

from comicdesk.core.settings import Settings
from comicdesk.export.batch import ExportOptions
from comicdesk.services.export import export_books
from comicdesk.export.filters import build_filter
from comicdesk.library.service import ScanOptions

INLINE = ScanOptions(executor="inline", lock_timeout=5.0, calibre_timeout=5.0)
CS = "Captain Science #001"
XSD = fixtures_dir() / "comicinfo" / "ComicInfo-v2.0.xsd"


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def copy_fixture(name: str, dest: Path) -> Path:
    dest.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(comicbox_dir() / name, dest)
    return dest


def make_cbz(dest: Path, pages: list[bytes], names: list[str] | None = None, comicinfo: bytes | None = None) -> Path:
    dest.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(dest, "w", zipfile.ZIP_DEFLATED) as zf:
        for i, data in enumerate(pages):
            zf.writestr(names[i] if names else f"p{i + 1}.jpg", data)
        if comicinfo is not None:
            zf.writestr("ComicInfo.xml", comicinfo)
    return dest


def jpeg(w: int, h: int, color=(120, 60, 30)) -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", (w, h), color).save(buf, "JPEG", quality=85)
    return buf.getvalue()


def png(w: int, h: int, color=(10, 200, 30)) -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", (w, h), color).save(buf, "PNG")
    return buf.getvalue()


def image_pdf(dest: Path, jpegs: list[bytes], vector_page: bool = False) -> Path:
    """A PDF whose pages each show one JPEG exactly (stored as DCT: exported byte for byte), and
    optionally a last page of drawn text (rendered)."""
    import pymupdf
    from PIL import Image

    doc = pymupdf.open()
    try:
        for data in jpegs:
            with Image.open(io.BytesIO(data)) as im:
                w, h = im.size
            page = doc.new_page(width=w, height=h)
            page.insert_image(page.rect, stream=data)
        if vector_page:
            page = doc.new_page(width=200, height=300)
            page.insert_text((20, 50), "Letters page", fontsize=14)
        doc.save(dest)
    finally:
        doc.close()
    return dest


def epub(dest: Path, images: list[tuple[str, bytes]]) -> Path:
    """A minimal fixed-layout EPUB: one XHTML page per image, spine in list order."""
    manifest, spine = [], []
    with zipfile.ZipFile(dest, "w") as zf:
        zf.writestr(zipfile.ZipInfo("mimetype"), b"application/epub+zip")
        zf.writestr("META-INF/container.xml",
                    '<?xml version="1.0"?><container version="1.0" '
                    'xmlns="urn:oasis:names:tc:opendocument:xmlns:container"><rootfiles>'
                    '<rootfile full-path="OEBPS/content.opf" media-type="application/oebps-package+xml"/>'
                    '</rootfiles></container>')
        for i, (name, data) in enumerate(images):
            zf.writestr(f"OEBPS/img/{name}", data)
            media = "image/png" if name.endswith(".png") else "image/jpeg"
            manifest.append(f'<item id="i{i}" href="img/{name}" media-type="{media}"/>')
            zf.writestr(f"OEBPS/p{i}.xhtml",
                        '<?xml version="1.0"?><html xmlns="http://www.w3.org/1999/xhtml"><head><title>p</title>'
                        f'</head><body><img src="img/{name}" alt=""/></body></html>')
            manifest.append(f'<item id="p{i}" href="p{i}.xhtml" media-type="application/xhtml+xml"/>')
            spine.append(f'<itemref idref="p{i}"/>')
        zf.writestr("OEBPS/content.opf",
                    '<?xml version="1.0"?><package xmlns="http://www.idpf.org/2007/opf" version="3.0" '
                    'unique-identifier="id"><metadata xmlns:dc="http://purl.org/dc/elements/1.1/">'
                    '<dc:identifier id="id">x</dc:identifier><dc:title>t</dc:title></metadata>'
                    f'<manifest>{"".join(manifest)}</manifest><spine>{"".join(spine)}</spine></package>')
    return dest


def label_pages(settings: Settings, library_root: Path, book: Path, labels: dict[int, str | None]) -> None:
    """The person's labels (as ``comicdesk label`` stores them) for pages of ``book``."""
    from comicdesk.archive import open_book
    from comicdesk.library import identity
    from comicdesk.library.service import locate_library
    from comicdesk.library.userdata import UserData

    target = locate_library(library_root, settings)
    with open_book(book) as b:
        key = identity.open_folder_key(b) if b.format == "folder" else identity.content_key(book)
    with UserData(settings.library_data_dir(target.id)) as user:
        for page, label in labels.items():
            user.set_label(key, page, label)


def label_all(settings, library_root: Path, book: Path, default: str = "story", **pages: str) -> None:
    from comicdesk.archive import open_book

    with open_book(book) as b:
        n = len(b.pages)
    labels = {i: default for i in range(n)}
    labels.update({int(k[1:]): v for k, v in pages.items()})
    label_pages(settings, library_root, book, labels)


def run_export(settings, path, out, *, preset=None, keep=None, drop=None, mark_only=False,
               analyse=True, stages=(), analysis_workers=None, analysis_threads=None, drop_unsure=False, **kw):
    """``export_books`` with an in-process scan and (by default) no analysis stages."""
    options = ExportOptions(filter=build_filter(preset, keep, drop), mark_only=mark_only, analyse=analyse,
                            drop_unsure=drop_unsure,
                            scan_options=INLINE, stages=list(stages) if stages is not None else None,
                            analysis_workers=analysis_workers, analysis_threads=analysis_threads)
    return export_books(path, out, settings, options, **kw)


def model_labels(settings, book: Path, outputs: dict[int, tuple[str, dict[str, float] | None]],
                 model_id: str = "standard-1") -> None:
    """The model's labels and probabilities for pages of ``book``, written into the catalogue as
    the classifier stage writes them (the book is scanned first)."""
    import time

    from comicdesk.library.catalog import Catalog
    from comicdesk.library.service import locate_library, scan_library

    scan = scan_library(book, settings, options=INLINE)
    target = locate_library(book, settings, register=False)
    with Catalog.open(settings.library_cache_dir(target.id)) as cat:
        row = cat.book_by_path(book)
        with cat.transaction():
            for page, (label, probs) in outputs.items():
                cat.set_page_output(row.id, page, model_id, "test", label, probs, "model", time.time())
    assert scan.books


def cbz_pages(path: Path) -> list[tuple[str, bytes]]:
    """Image entries of a written CBZ in name order."""
    with zipfile.ZipFile(path) as zf:
        names = sorted(n for n in zf.namelist() if n != "ComicInfo.xml")
        return [(n, zf.read(n)) for n in names]


def cbz_comicinfo(path: Path):
    from comicdesk.archive.comicinfo import ComicInfo

    with zipfile.ZipFile(path) as zf:
        return ComicInfo.from_bytes(zf.read("ComicInfo.xml"))


def xsd_errors(path: Path) -> list[str]:
    import xmlschema

    schema = xmlschema.XMLSchema(str(XSD))
    with zipfile.ZipFile(path) as zf:
        data = zf.read("ComicInfo.xml")
    return [str(e.reason) for e in schema.iter_errors(data.decode("utf-8"))]


def source_pages(book_path: Path) -> list[bytes]:
    from comicdesk.archive import open_book

    with open_book(book_path) as b:
        return [b.page_bytes(i) for i in range(len(b.pages))]


__all__ = ["CS", "INLINE", "captain_science_pages", "cbz_comicinfo", "cbz_pages", "copy_fixture", "epub",
           "image_pdf", "jpeg", "label_all", "label_pages", "make_cbz", "model_labels", "png", "run_export", "sha",
           "source_pages", "xsd_errors"]
