"""Test-only builders for PDF and EPUB samples (used by test_pdf, test_epub and the shared
contract tests). Everything is written into a folder the test owns (tmp_path)."""

from __future__ import annotations

import zipfile
from pathlib import Path
from urllib.parse import quote
from xml.sax.saxutils import escape

__all__ = ["make_image_pdf", "make_epub"]


def _pixel_size(data: bytes) -> tuple[int, int]:
    import io

    from PIL import Image

    with Image.open(io.BytesIO(data)) as im:
        return im.size


def make_image_pdf(path, jpeg_paths) -> Path:
    """A PDF with one page per JPEG, each page exactly the image's size (1 px = 1 pt), the JPEG
    embedded unchanged as a /DCTDecode stream covering the whole page."""
    import pymupdf

    path = Path(path)
    doc = pymupdf.open()
    try:
        for jpeg in jpeg_paths:
            data = Path(jpeg).read_bytes()
            w, h = _pixel_size(data)
            page = doc.new_page(width=w, height=h)
            page.insert_image(page.rect, stream=data)
        doc.save(path)
    finally:
        doc.close()
    return path


_CONTAINER = """<?xml version="1.0" encoding="UTF-8"?>
<container version="1.0" xmlns="urn:oasis:names:tc:opendocument:xmlns:container">
  <rootfiles>
    <rootfile full-path="OEBPS/content.opf" media-type="application/oebps-package+xml"/>
  </rootfiles>
</container>
"""

_SVG_PAGE = """<?xml version="1.0" encoding="UTF-8"?>
<!DOCTYPE html>
<html xmlns="http://www.w3.org/1999/xhtml" xmlns:epub="http://www.idpf.org/2007/ops">
<head><title>Page {n}</title><meta name="viewport" content="width={w}, height={h}"/></head>
<body>
<div class="page">
<svg xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/xlink"
     version="1.1" width="100%" height="100%" viewBox="0 0 {w} {h}">
<image width="{w}" height="{h}" xlink:href="{href}"/>
</svg>
</div>
</body>
</html>
"""

_IMG_PAGE = """<?xml version="1.0" encoding="UTF-8"?>
<!DOCTYPE html>
<html xmlns="http://www.w3.org/1999/xhtml">
<head><title>Page {n}</title><meta name="viewport" content="width={w}, height={h}"/></head>
<body><p>&nbsp;<img src="{href}" alt="page {n}"/></p></body>
</html>
"""

_TEXT_PAGE = """<?xml version="1.0" encoding="UTF-8"?>
<!DOCTYPE html>
<html xmlns="http://www.w3.org/1999/xhtml">
<head><title>Chapter</title></head>
<body><h1>A story told in words only</h1><p>No pictures here.</p></body>
</html>
"""

_NAV = """<?xml version="1.0" encoding="UTF-8"?>
<html xmlns="http://www.w3.org/1999/xhtml" xmlns:epub="http://www.idpf.org/2007/ops">
<head><title>Contents</title></head>
<body><nav epub:type="toc"><ol><li><a href="{first}">Start</a></li></ol></nav></body>
</html>
"""

_ENCRYPTION = """<?xml version="1.0" encoding="UTF-8"?>
<encryption xmlns="urn:oasis:names:tc:opendocument:xmlns:container"
            xmlns:enc="http://www.w3.org/2001/04/xmlenc#"
            xmlns:ds="http://www.w3.org/2000/09/xmldsig#">
{items}</encryption>
"""

_ENCRYPTED_ITEM = """  <enc:EncryptedData>
    <enc:EncryptionMethod Algorithm="{algorithm}"/>
    <ds:KeyInfo><ds:RetrievalMethod URI="license.lcpl#/encryption/content_key"/></ds:KeyInfo>
    <enc:CipherData><enc:CipherReference URI="{uri}"/></enc:CipherData>
  </enc:EncryptedData>
"""

AES_CBC = "http://www.w3.org/2001/04/xmlenc#aes256-cbc"
FONT_OBFUSCATION = "http://www.idpf.org/2008/embedding"

_MEDIA = {".jpg": "image/jpeg", ".jpeg": "image/jpeg", ".png": "image/png", ".gif": "image/gif",
          ".webp": "image/webp"}


def make_epub(
    path,
    image_paths,
    *,
    image_names=None,
    style: str = "svg",
    mimetype_first: bool = True,
    cover: bool = False,
    comicinfo: bytes | None = None,
    encrypt: str | None = None,
) -> Path:
    """A fixed-layout image EPUB 3: one XHTML page per image, spine in the order of
    ``image_paths``.

    ``image_names``: entry names of the images under ``OEBPS/`` (default ``images/page-001.jpg``,
    ...), to make the spine order differ from the names' order. ``style``: how pages show their
    image — ``"svg"`` (``<svg><image xlink:href>``), ``"img"`` (``<img src>``), ``"mixed"``
    (alternating, svg first) or ``"spine"`` (images listed directly in the spine). Pages live in
    ``OEBPS/text/``, so hrefs are ``../images/...`` (URL-encoded). ``mimetype_first=False`` writes
    ``mimetype`` last. ``cover``: declare the first image as the cover (``cover-image`` and
    EPUB 2 ``<meta name="cover">``) and leave its page out of the spine. ``comicinfo``: bytes
    written as ``ComicInfo.xml`` at the root. ``encrypt``: ``"drm"`` lists the images in
    ``META-INF/encryption.xml`` as AES-encrypted (and scrambles their bytes), ``"fonts"`` adds an
    obfuscated font only (not DRM). With no images the book has one text-only chapter."""
    path = Path(path)
    images = [Path(p) for p in image_paths]
    if image_names is None:
        image_names = [f"images/page-{i + 1:03d}{p.suffix.lower()}" for i, p in enumerate(images)]
    image_names = list(image_names)
    if len(image_names) != len(images):
        raise ValueError("image_names must match image_paths")

    files: list[tuple[str, bytes]] = []
    manifest: list[str] = []
    spine: list[str] = []
    first_page = None
    for i, (src, name) in enumerate(zip(images, image_names)):
        data = src.read_bytes()
        w, h = _pixel_size(data)
        media = _MEDIA.get(Path(name).suffix.lower(), "image/jpeg")
        props = ' properties="cover-image"' if cover and i == 0 else ""
        manifest.append(f'<item id="img{i}" href="{escape(quote(name))}" media-type="{media}"{props}/>')
        if encrypt == "drm":
            data = bytes(b ^ 0x5A for b in data)
        files.append((f"OEBPS/{name}", data))
        if cover and i == 0:
            continue  # declared cover, no page of its own
        if style == "spine":
            spine.append(f'<itemref idref="img{i}"/>')
            continue
        page_name = f"text/p{i + 1:03d}.xhtml"
        href = escape(quote("../" + name), {'"': "&quot;"})
        use_svg = style == "svg" or (style == "mixed" and i % 2 == 0)
        template = _SVG_PAGE if use_svg else _IMG_PAGE
        files.append((f"OEBPS/{page_name}", template.format(n=i + 1, w=w, h=h, href=href).encode()))
        props = ' properties="svg"' if use_svg else ""
        manifest.append(f'<item id="p{i}" href="{page_name}" media-type="application/xhtml+xml"{props}/>')
        spine.append(f'<itemref idref="p{i}"/>')
        first_page = first_page or page_name
    if not images:
        files.append(("OEBPS/text/chapter.xhtml", _TEXT_PAGE.encode()))
        manifest.append('<item id="ch" href="text/chapter.xhtml" media-type="application/xhtml+xml"/>')
        spine.append('<itemref idref="ch"/>')
        first_page = "text/chapter.xhtml"
    files.append(("OEBPS/nav.xhtml", _NAV.format(first=first_page or "").encode()))
    manifest.append('<item id="nav" href="nav.xhtml" media-type="application/xhtml+xml" properties="nav"/>')

    encrypted = []
    if encrypt == "drm":
        encrypted = [(AES_CBC, f"OEBPS/{quote(n)}") for n in image_names]
    elif encrypt == "fonts":
        files.append(("OEBPS/fonts/face.otf", b"\x00obfuscated font bytes\x00"))
        manifest.append('<item id="font" href="fonts/face.otf" media-type="font/otf"/>')
        encrypted = [(FONT_OBFUSCATION, "OEBPS/fonts/face.otf")]
    elif encrypt is not None:
        raise ValueError(f"unknown encrypt mode {encrypt!r}")

    cover_meta = '<meta name="cover" content="img0"/>' if cover and images else ""
    opf = f"""<?xml version="1.0" encoding="UTF-8"?>
<package xmlns="http://www.idpf.org/2007/opf" version="3.0" unique-identifier="bookid">
  <metadata xmlns:dc="http://purl.org/dc/elements/1.1/">
    <dc:identifier id="bookid">urn:uuid:00000000-0000-4000-8000-000000000000</dc:identifier>
    <dc:title>Sample comic</dc:title>
    <dc:language>en</dc:language>
    <meta property="dcterms:modified">2024-01-01T00:00:00Z</meta>
    <meta property="rendition:layout">pre-paginated</meta>
    {cover_meta}
  </metadata>
  <manifest>
    {chr(10).join('    ' + m for m in manifest).strip()}
  </manifest>
  <spine>
    {chr(10).join('    ' + s for s in spine).strip()}
  </spine>
</package>
"""
    head = [("META-INF/container.xml", _CONTAINER.encode()), ("OEBPS/content.opf", opf.encode())]
    if encrypted:
        items = "".join(_ENCRYPTED_ITEM.format(algorithm=a, uri=u) for a, u in encrypted)
        head.append(("META-INF/encryption.xml", _ENCRYPTION.format(items=items).encode()))
    if comicinfo is not None:
        head.append(("ComicInfo.xml", comicinfo))

    with zipfile.ZipFile(path, "w") as zf:
        if mimetype_first:
            zf.writestr(zipfile.ZipInfo("mimetype"), b"application/epub+zip", zipfile.ZIP_STORED)
        for name, data in head + files:
            zf.writestr(name, data, zipfile.ZIP_DEFLATED)
        if not mimetype_first:
            zf.writestr(zipfile.ZipInfo("mimetype"), b"application/epub+zip", zipfile.ZIP_STORED)
    return path
