"""EPUB reader for image comics (fixed-layout and image-only EPUB 2/3), built on the ZIP reader.

**Detection.** An EPUB is a ZIP whose first entry is ``mimetype`` holding
``application/epub+zip`` (stored, or deflated by a sloppy packer): that is checked in the first
bytes of the file alone, whatever its name. A ZIP whose ``mimetype`` entry is missing or not first
is taken as an EPUB only when it is *named* ``.epub``/``.kepub`` and holds
``META-INF/container.xml`` (one look at its directory); the same file named ``.cbz`` opens as a
plain ZIP, pages in file-name order — still readable, just without the spine's order.

**Pages** (``natural_order = False``: :meth:`EpubReader.members` lists them in reading order):

1. ``META-INF/container.xml`` names the package document (OPF); without one, the first ``.opf``
   entry is used.
2. The spine is walked in order (``linear="no"`` items included: in a comic they are still pages).
   A spine item that is itself a raster image is a page. An XHTML/HTML/SVG item is read, and every
   ``<img src>`` and SVG ``<image xlink:href>`` / ``<image href>`` in it, in document order, is a
   page (hrefs resolved against the document, URL-decoded, fragments dropped; remote and
   ``data:`` URLs ignored). An image used twice is listed once, where it first appears.
3. Only when the spine yields no image at all: the manifest's raster images, in manifest order.
4. The declared cover (EPUB 3 ``properties="cover-image"``, else EPUB 2
   ``<meta name="cover">``) is put first *only when the pages above do not contain it*. When
   the spine shows it anywhere it stays where the publisher put it: we never reorder the spine.
5. When the package document is missing or unreadable, every image entry is a page, in natural
   order of names, and a warning says so.

Images that no page shows (CSS backgrounds, thumbnails, unused files) are not listed, so they can
never become pages. Every other non-image entry (XHTML, CSS, fonts, OPF, ``ComicInfo.xml``) is
listed after the pages, in stored order. A page image whose entry name has no image extension
(``images/p1`` declared ``image/jpeg``) is listed with one added from its media type
(``images/p1.jpg``); the key still reads the original entry. Page images are always the stored
bytes.

**DRM.** ``META-INF/encryption.xml`` listing any resource encrypted with something other than
font obfuscation (Adobe ADEPT, Apple FairPlay, Readium LCP, Barnes & Noble, ...), or obfuscating a
page image, gives :class:`PasswordProtected` "DRM-protected EPUB". Obfuscated fonts alone are fine.
"""

from __future__ import annotations

import posixpath
import re
import zipfile
import zlib
from html.parser import HTMLParser
from pathlib import Path, PurePosixPath
from urllib.parse import unquote

from comicdesk.archive.base import DEFAULT_LIMITS, Member, safe_member_name
from comicdesk.archive.images import IMAGE_EXTENSIONS
from comicdesk.archive.zip import ZipReader, decode_zip_name
from comicdesk.core.errors import PasswordProtected

EPUB_MIMETYPE = b"application/epub+zip"
#: Names that make a ZIP whose mimetype is not first worth a look at its directory.
EPUB_SUFFIXES = frozenset({".epub", ".kepub"})

#: Raster media types and the extension a page listed without one gets.
IMAGE_MEDIA_TYPES = {
    "image/jpeg": ".jpg",
    "image/jpg": ".jpg",
    "image/pjpeg": ".jpg",
    "image/png": ".png",
    "image/gif": ".gif",
    "image/webp": ".webp",
    "image/bmp": ".bmp",
    "image/tiff": ".tif",
    "image/avif": ".avif",
}
PAGE_DOCUMENT_TYPES = frozenset({"application/xhtml+xml", "text/html", "image/svg+xml"})
PAGE_DOCUMENT_SUFFIXES = frozenset({".xhtml", ".html", ".htm", ".xht", ".svg"})
#: Encryption that only obfuscates embedded fonts (not DRM).
FONT_OBFUSCATION = frozenset({"http://www.idpf.org/2008/embedding", "http://ns.adobe.com/pdf/enc#RC"})

_SCHEME_RE = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:")


def _local(tag) -> str:
    """An XML tag or attribute name without its namespace (or prefix)."""
    if not isinstance(tag, str):
        return ""
    return tag.rsplit("}", 1)[-1].rsplit(":", 1)[-1]


def _is_raster_name(name: str) -> bool:
    return PurePosixPath(name).suffix.casefold() in IMAGE_EXTENSIONS


def resolve_href(base_name: str, href: str) -> str | None:
    """The entry name ``href`` points to from the entry ``base_name``; None when it leaves the
    book, is remote (``http:``, ``data:``, ...) or points nowhere."""
    href = (href or "").strip()
    if not href or href.startswith("#") or _SCHEME_RE.match(href):
        return None
    href = unquote(href.split("#", 1)[0].split("?", 1)[0])
    if not href:
        return None
    if href.startswith("/"):
        joined = href.lstrip("/")
    else:
        joined = posixpath.join(posixpath.dirname(base_name), href)
    return safe_member_name(posixpath.normpath(joined))


class _ImageRefs(HTMLParser):
    """Collects image references of an XHTML/HTML/SVG page in document order. The HTML parser is
    lenient (undeclared entities, unclosed tags) and never fetches or expands anything."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.refs: list[str] = []

    def handle_starttag(self, tag, attrs):
        local = _local(tag)
        if local == "img":
            for key, value in attrs:
                if key == "src" and value:
                    self.refs.append(value)
                    return
        elif local == "image":  # SVG: xlink:href (SVG 1.1) or href (SVG 2)
            for key, value in attrs:
                if _local(key) == "href" and value:
                    self.refs.append(value)
                    return


def page_image_refs(data: bytes) -> list[str]:
    """The image hrefs of one page document, in document order."""
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        text = data.decode("utf-16", errors="replace")
    else:
        text = data.decode("utf-8-sig", errors="replace")
    parser = _ImageRefs()
    parser.feed(text)
    parser.close()
    return parser.refs


def _mimetype_first(head: bytes) -> bool:
    """True when the first local header is the entry 'mimetype' holding the EPUB media type."""
    if len(head) < 30 or head[:4] != b"PK\x03\x04":
        return False
    method = int.from_bytes(head[8:10], "little")
    csize = int.from_bytes(head[18:22], "little")
    name_len = int.from_bytes(head[26:28], "little")
    extra_len = int.from_bytes(head[28:30], "little")
    if head[30:30 + name_len] != b"mimetype":
        return False
    start = 30 + name_len + extra_len
    data = head[start:start + csize] if csize else head[start:start + 64]
    if method == 8:
        try:
            data = zlib.decompressobj(-15).decompress(data, 64)
        except zlib.error:
            return False
    elif method != 0:
        return False
    return data.strip().startswith(EPUB_MIMETYPE)


class _Entries:
    """Members by name, with a case-insensitive fallback (EPUBs packed on Windows)."""

    def __init__(self, members: list[Member]):
        self.exact = {m.name: m for m in members}
        self.folded: dict[str, Member] = {}
        for m in members:
            self.folded.setdefault(m.name.casefold(), m)

    def get(self, name: str | None) -> Member | None:
        if name is None:
            return None
        return self.exact.get(name) or self.folded.get(name.casefold())


class EpubReader(ZipReader):
    format = "epub"
    natural_order = False

    @classmethod
    def sniff(cls, path: Path, head: bytes) -> bool:
        if head[:4] != b"PK\x03\x04":
            return False
        if _mimetype_first(head):
            return True
        if Path(path).suffix.casefold() not in EPUB_SUFFIXES:
            return False
        # Named like an EPUB but packed carelessly: one look at the ZIP directory.
        try:
            with zipfile.ZipFile(path) as zf:
                names = {decode_zip_name(i).casefold() for i in zf.infolist()}
        except Exception:  # noqa: BLE001 - the ZIP reader will report what is wrong
            return False
        return "meta-inf/container.xml" in names

    def __init__(self, path, limits=DEFAULT_LIMITS):
        super().__init__(path, limits)
        self._listing: list[Member] | None = None

    # -- listing ------------------------------------------------------------------------------
    def members(self) -> list[Member]:
        if self._listing is not None:
            return list(self._listing)
        try:
            entries = super().members()
        except PasswordProtected:
            raise PasswordProtected("password-protected EPUB") from None
        index = _Entries(entries)
        self._check_drm(index)
        pages = self._pages(entries, index)
        used = {m.key.filename if isinstance(m.key, zipfile.ZipInfo) else m.name for m in pages}
        rest = [m for m in entries
                if not _is_raster_name(m.name)
                and (m.key.filename if isinstance(m.key, zipfile.ZipInfo) else m.name) not in used]
        self._listing = pages + rest
        return list(self._listing)

    def _check_drm(self, index: _Entries) -> None:
        enc = index.get("META-INF/encryption.xml")
        if enc is None:
            return
        try:
            root = self._xml(enc)
        except Exception:  # noqa: BLE001
            self.warnings.append("EPUB encryption.xml is unreadable; ignored")
            return
        for node in root.iter():
            if _local(node.tag) != "EncryptedData":
                continue
            algorithm = ""
            target = None
            for child in node.iter():
                name = _local(child.tag)
                if name == "EncryptionMethod":
                    algorithm = (child.get("Algorithm") or "").strip()
                elif name == "CipherReference":
                    target = resolve_href("", child.get("URI") or "")
            if algorithm not in FONT_OBFUSCATION:
                raise PasswordProtected("DRM-protected EPUB")
            if target is not None and _is_raster_name(target):
                raise PasswordProtected("DRM-protected EPUB (obfuscated page images)")

    def _xml(self, member: Member):
        import defusedxml.ElementTree as ET

        return ET.fromstring(self.read(member))

    def _pages(self, entries: list[Member], index: _Entries) -> list[Member]:
        opf = self._package_member(index)
        if opf is None:
            return self._fallback(entries, "EPUB has no package document")
        try:
            package = self._xml(opf)
        except Exception:  # noqa: BLE001 - a broken OPF must not lose the pages
            return self._fallback(entries, "EPUB package document is unreadable")

        manifest: dict[str, tuple[str, str, str]] = {}  # id -> (entry name, media type, props)
        order: list[tuple[str, str]] = []  # manifest (entry name, media type) in order
        media_of: dict[str, str] = {}
        spine: list[str] = []
        cover_item = None  # EPUB 3: manifest id of the item with properties="cover-image"
        cover_meta = None  # EPUB 2: <meta name="cover" content="manifest id">
        for node in package.iter():
            tag = _local(node.tag)
            if tag == "item":
                name = resolve_href(opf.name, node.get("href") or "")
                if name is None:
                    continue
                media = (node.get("media-type") or "").strip().casefold()
                props = node.get("properties") or ""
                manifest.setdefault(node.get("id") or "", (name, media, props))
                order.append((name, media))
                media_of.setdefault(name.casefold(), media)
                if "cover-image" in props.split() and cover_item is None:
                    cover_item = node.get("id") or ""
            elif tag == "itemref":
                idref = node.get("idref")
                if idref:
                    spine.append(idref)
            elif tag == "meta" and (node.get("name") or "").casefold() == "cover" and cover_meta is None:
                cover_meta = (node.get("content") or "").strip()

        pages: list[Member] = []
        seen: set[str] = set()
        missing: list[str] = []

        def add(name: str | None, media: str = "") -> None:
            if name is None:
                return
            member = index.get(name)
            if member is None:
                missing.append(name)
                return
            if member.name in seen:
                return
            media = media or media_of.get(member.name.casefold(), "")
            page = self._as_page(member, media, index)
            if page is not None:
                seen.add(member.name)
                pages.append(page)

        for idref in spine:
            item = manifest.get(idref)
            if item is None:
                continue
            name, media, _props = item
            member = index.get(name)
            if member is None:
                missing.append(name)
                continue
            suffix = PurePosixPath(name).suffix.casefold()
            if media in IMAGE_MEDIA_TYPES or _is_raster_name(name):
                add(member.name, media)
            elif media in PAGE_DOCUMENT_TYPES or suffix in PAGE_DOCUMENT_SUFFIXES:
                try:
                    refs = page_image_refs(self.read(member))
                except Exception as exc:  # noqa: BLE001 - one unreadable page document
                    self.warnings.append(f"EPUB page {member.name!r} unreadable: "
                                         f"{getattr(exc, 'reason', None) or exc}")
                    continue
                for ref in refs:
                    add(resolve_href(member.name, ref))

        if not pages:
            for name, media in order:
                if media in IMAGE_MEDIA_TYPES or (not media.startswith("image/") and _is_raster_name(name)):
                    add(name, media)

        cover_name = None
        for cover_ref in (cover_item, cover_meta):
            item = manifest.get(cover_ref) if cover_ref is not None else None
            if item is not None and (item[1] in IMAGE_MEDIA_TYPES or _is_raster_name(item[0])):
                cover_name = item[0]
                break
        cover = index.get(cover_name)
        if cover is not None and cover.name not in seen:
            page = self._as_page(cover, media_of.get(cover.name.casefold(), ""), index)
            if page is not None:
                seen.add(cover.name)
                pages.insert(0, page)

        if missing:
            self.warnings.append(f"EPUB refers to {len(missing)} missing file"
                                 f"{'' if len(missing) == 1 else 's'} ({missing[0]})")
        return pages

    @staticmethod
    def _as_page(member: Member, media: str, index: _Entries) -> Member | None:
        """The member as a page: as is when its name is a raster image's, renamed with the
        extension of its raster media type otherwise, None when it is not a raster image."""
        if _is_raster_name(member.name):
            return member
        ext = IMAGE_MEDIA_TYPES.get(media)
        if ext is None or index.get(member.name + ext) is not None:
            return None
        return Member(member.name + ext, member.size, member.key)

    def _package_member(self, index: _Entries) -> Member | None:
        container = index.get("META-INF/container.xml")
        if container is not None:
            try:
                root = self._xml(container)
            except Exception:  # noqa: BLE001
                root = None
            if root is not None:
                candidates = []
                for node in root.iter():
                    if _local(node.tag) == "rootfile" and node.get("full-path"):
                        media = (node.get("media-type") or "").casefold()
                        candidates.append((media != "application/oebps-package+xml",
                                           node.get("full-path")))
                for _, full_path in sorted(candidates, key=lambda c: c[0]):
                    member = index.get(safe_member_name(unquote(full_path)))
                    if member is not None:
                        return member
        for member in index.exact.values():
            if member.name.casefold().endswith(".opf"):
                return member
        return None

    def _fallback(self, entries: list[Member], why: str) -> list[Member]:
        from comicdesk.archive.book import natural_key  # lazily: book sits above the readers

        self.warnings.append(f"{why}; pages are in file-name order")
        return sorted((m for m in entries if _is_raster_name(m.name)), key=lambda m: natural_key(m.name))
