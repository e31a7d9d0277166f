"""PDF reader (PyMuPDF): one member per page, in page order.

Every page becomes one member named ``page-0001.<ext>`` (zero-padded to the page count's width,
at least four digits, counted from 1), plus ``ComicInfo.xml`` when the PDF carries one as an
embedded file (the way comicbox writes it). What reading a page gives depends on what is on it;
the decision is made while listing, from the page's content stream alone (no pixel is decoded or
rendered during :meth:`PdfReader.members`):

* **Stored image** (``rendered=False``): the page shows exactly one raster image, upright, that
  (nearly) coincides with the page — it covers at least 95 % of the page and at least 90 % of the
  image is on the page (a little bleed is fine, half a two-page spread is not) — with nothing
  visible drawn over it (invisible OCR text is fine; whatever lies *under* an opaque page-sized
  image is hidden anyway), no soft mask or colour-key mask, no ``/Decode`` array that changes
  its colours. If that image is a plain ``/DCTDecode`` stream the member is the JPEG exactly as
  stored in the file (size = its ``/Length``). CMYK JPEGs are stored when the PDF and an image
  decoder agree on them: Photoshop-style JPEGs carry an Adobe APP14 marker (decoders invert
  them) together with ``/Decode [1 0 1 0 1 0 1 0]`` (the PDF inverts them); one without the
  other would change the colours, so such a page is re-encoded instead. A JPEG wrapped in an
  extra filter (``[/FlateDecode /DCTDecode]``, not CMYK) is unwrapped to the original JPEG bytes
  (size unknown, -1). A ``/JPXDecode`` (JPEG 2000) stream
  is handed over as stored (``.jp2``) only when :mod:`comicdesk.archive.images` accepts
  ``.jp2``; otherwise it goes the next way.
* **Embedded image, re-encoded** (``rendered=True``, ``.png``): the same single page-sized image
  stored with a filter no image file can hold as is (Flate, LZW, CCITT fax, JBIG2, run-length,
  uncompressed, a JPEG whose colours a decoder would get wrong: ``/Decode``, ``/DecodeParms``,
  an indexed/separation colour space). We decode it at its
  native resolution and write a lossless PNG (RGB or greyscale; CMYK and other colour spaces
  converted to RGB). Rendering instead would resample a 600 dpi bilevel scan down to screen
  resolution; the PNG keeps every stored pixel. Its pixel size is the image's own. ``rendered``
  is True because the bytes are made by comicdesk, not copied from the book.
* **Rendered page** (``rendered=True``, ``.jpg``): anything else — vector art, text, several
  images, an image that does not fill the page, a rotated page or image. The page is rendered
  at 200 dpi, the long side capped at 2400 px and the pixel count at
  ``limits.max_image_pixels``, on white, and encoded as JPEG quality 90 with 4:4:4 chroma (no
  subsampling, so lettering stays crisp; JPEG keeps thumbnails fast through draft decoding).
  The pixel size depends only on the page's size in points and the limits —
  ``round(width * zoom) × round(height * zoom)`` — so the same page always renders to the same
  size, whatever the content. Its member size is -1 (unknown until rendered).

The last few re-encoded or rendered pages are kept in a small cache, so a thumbnail followed by a
full decode of the same page renders once.

PyMuPDF is imported lazily (never at module import) and its stderr messages are switched off so
the command line stays clean. PyMuPDF must not be used from two threads at once — not even on
two different documents — so every call into it holds one process-wide lock; encoding pixels to
PNG/JPEG happens outside it.
"""

from __future__ import annotations

import math
import re
import threading
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from comicdesk.archive.base import DEFAULT_LIMITS, Member, Reader
from comicdesk.core.errors import BookError, CorruptArchive, PageError, PasswordProtected, TooLarge, file_error

#: Rendering resolution for pages that are not a single stored image.
RENDER_DPI = 200
#: Longest side of a rendered page, in pixels.
RENDER_MAX_SIDE = 2400
#: JPEG quality of rendered pages.
RENDER_JPEG_QUALITY = 90
#: An image "covers the page" when it fills this share of the page's area ...
PAGE_COVERAGE = 0.95
#: ... and at least this share of the image is on the page.
IMAGE_ON_PAGE = 0.90
#: How many re-encoded/rendered pages each reader keeps in memory.
CACHE_PAGES = 4

#: One lock for every PyMuPDF call in the process (PyMuPDF is not thread-safe).
_MUPDF_LOCK = threading.RLock()
_quiet_done = False

# Page plans: how reading a page member produces bytes.
_STORED = "stored"  # the raw stream bytes (a JPEG or JPEG 2000 file)
_UNWRAP = "unwrap"  # the JPEG inside extra filters, via extract_image
_PIXMAP = "pixmap"  # the embedded image decoded at native size, written as PNG
_RENDER = "render"  # the page rendered, written as JPEG
_MISSING = "missing"  # the page object is gone (a truncated file MuPDF repaired)

_STORABLE_COLORSPACES = frozenset({"DeviceRGB", "DeviceGray", "DeviceCMYK", "ICCBased"})
_NAME_RE = re.compile(r"/([A-Za-z0-9]+)")
_REPEATED_RE = re.compile(r"^\s*\.\.\. repeated \d+ times")


@dataclass(frozen=True)
class _PagePlan:
    index: int
    how: str
    xref: int = 0
    #: File extension of what reading gives (with the dot).
    ext: str = ".jpg"
    #: Pixel size reading gives, known without reading for rendered and re-encoded pages.
    size: tuple[int, int] | None = None


@dataclass(frozen=True)
class _Embedded:
    """An embedded file (ComicInfo.xml) of the PDF, by its name in the EmbeddedFiles tree."""

    name: str


def _mupdf():
    """Import PyMuPDF lazily and silence its messages on stderr (once per process)."""
    global _quiet_done
    import pymupdf

    if not _quiet_done:
        pymupdf.TOOLS.mupdf_display_errors(False)
        pymupdf.TOOLS.mupdf_display_warnings(False)
        _quiet_done = True
    return pymupdf


def _clean_reason(exc: BaseException) -> str:
    """MuPDF's message without its 'code=N:' prefix, first line only."""
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return re.sub(r"^code=\d+:\s*", "", text)


def render_size(width_pt: float, height_pt: float, max_pixels: int) -> tuple[int, int]:
    """Pixel size of a rendered page of ``width_pt`` × ``height_pt`` points (deterministic)."""
    if not (width_pt > 0 and height_pt > 0):
        raise PageError("page has no size")
    zoom = RENDER_DPI / 72.0
    zoom = min(zoom, RENDER_MAX_SIDE / max(width_pt, height_pt))
    zoom = min(zoom, math.sqrt(max_pixels / (width_pt * height_pt)))
    w = max(1, round(width_pt * zoom))
    h = max(1, round(height_pt * zoom))
    while w * h > max_pixels and (w > 1 or h > 1):  # rounding up may overshoot by a row
        w, h = max(1, w - 1), max(1, h - 1)
    return w, h


class PdfReader(Reader):
    format = "pdf"
    natural_order = False

    @classmethod
    def sniff(cls, path: Path, head: bytes) -> bool:
        # The header may follow some junk (the spec tolerates up to 1024 bytes of it).
        return b"%PDF-" in head[:1024]

    def __init__(self, path, limits=DEFAULT_LIMITS):
        super().__init__(path, limits)
        self._doc = None
        self._members: list[Member] | None = None
        self._cache: OrderedDict[int, bytes] = OrderedDict()

    # -- opening ------------------------------------------------------------------------------
    def _open(self):
        """The open document (call with the lock held)."""
        if self._doc is not None:
            return self._doc
        pymupdf = _mupdf()
        try:
            # filetype="pdf": a PDF named .cbz must not be handed to MuPDF's own CBZ reader.
            doc = pymupdf.open(str(self.path), filetype="pdf")
        except OSError as exc:
            raise file_error(exc) from None
        except Exception:  # noqa: BLE001 - FileDataError, EmptyFileError, 'code=7: ...'
            pymupdf.TOOLS.reset_mupdf_warnings()
            raise CorruptArchive("damaged PDF: it cannot be opened (truncated or not really a PDF)") from None
        try:
            if doc.needs_pass:
                raise PasswordProtected("password-protected PDF")
            if not doc.is_pdf:  # pragma: no cover - filetype="pdf" guarantees it
                raise CorruptArchive("not a PDF document")
            count = doc.page_count
            if count <= 0:
                raise CorruptArchive("damaged PDF: no pages could be read")
            if count > self.limits.max_members:
                raise TooLarge(f"PDF has {count} pages, over the {self.limits.max_members} limit")
            repaired = ("damaged PDF was repaired while opening; some pages may be missing or "
                        "blank")
            if doc.is_repaired and repaired not in self.warnings:
                self.warnings.append(repaired)
        except BookError:
            doc.close()
            raise
        except Exception as exc:  # noqa: BLE001 - odd MuPDF failures on a broken file
            doc.close()
            raise CorruptArchive(f"damaged PDF: {_clean_reason(exc)}") from None
        finally:
            pymupdf.TOOLS.reset_mupdf_warnings()
        self._doc = doc
        return doc

    # -- listing ------------------------------------------------------------------------------
    def members(self) -> list[Member]:
        if self._members is not None:
            return list(self._members)
        with _MUPDF_LOCK:
            doc = self._open()
            pymupdf = _mupdf()
            count = doc.page_count
            width = max(4, len(str(count)))
            out: list[Member] = []
            for index in range(count):
                plan, size = self._plan_page(doc, index)
                name = f"page-{index + 1:0{width}d}{plan.ext}"
                out.append(Member(name, size, plan, rendered=plan.how != _STORED and plan.how != _UNWRAP))
            if doc.is_repaired and all(m.key.how == _MISSING for m in out):
                raise CorruptArchive("damaged PDF: truncated or broken, no page survived")
            out.extend(self._embedded_comicinfo(doc))
            pymupdf.TOOLS.reset_mupdf_warnings()
        self._members = out
        return list(out)

    def _plan_page(self, doc, index: int) -> tuple[_PagePlan, int]:
        """Decide how page ``index`` is read, from its content stream only. Never raises: a
        page that cannot even be analysed is planned as a render (which then reports why)."""
        try:
            return self._analyse(doc, index)
        except Exception:  # noqa: BLE001 - a broken page keeps its slot, reading says why
            return _PagePlan(index, _RENDER), -1

    def _analyse(self, doc, index: int) -> tuple[_PagePlan, int]:
        pymupdf = _mupdf()
        if doc.is_repaired and not _is_page_object(doc, index):
            return _PagePlan(index, _MISSING), -1
        page = doc.load_page(index)
        if doc.is_repaired and not _has_contents(doc, page):
            return _PagePlan(index, _MISSING), -1
        try:
            rendered_size = render_size(page.rect.width, page.rect.height, self.limits.max_image_pixels)
        except PageError:
            rendered_size = None
        render = (_PagePlan(index, _RENDER, size=rendered_size), -1)
        if page.rotation % 360:
            return render
        area = page.rect
        page_area = area.width * area.height
        if page_area <= 0:
            return render
        listed = page.get_images(full=True)
        if not listed:
            return render  # nothing but vectors and text
        log = page.get_bboxlog()
        drawn = [i for i, entry in enumerate(log) if entry[0] in ("fill-image", "fill-imgmask")]
        if len(drawn) != 1 or log[drawn[0]][0] != "fill-image":
            return render
        at = drawn[0]
        box = pymupdf.Rect(log[at][1])
        visible = pymupdf.Rect(box) & area
        box_area = box.width * box.height
        if visible.is_empty or box_area <= 0:
            return render
        seen = visible.width * visible.height
        if seen < PAGE_COVERAGE * page_area or seen < IMAGE_ON_PAGE * box_area:
            return render
        for entry in log[at + 1:]:
            if entry[0] == "ignore-text":  # invisible text (an OCR layer)
                continue
            over = pymupdf.Rect(entry[1]) & area
            if not over.is_empty and over.width * over.height > 0:
                return render  # something visible is drawn over the image
        infos = page.get_image_info()  # transform and size; no pixel decoding
        if len(infos) != 1:
            return render
        info = infos[0]
        a, b, c, d, _e, _f = info["transform"]
        if not (a > 0 and d > 0 and abs(b) <= 1e-3 * a and abs(c) <= 1e-3 * d):
            return render  # rotated or mirrored placement: the stored image would be wrong
        if info.get("has-mask"):
            return render
        item = self._which_image(page, listed, info)
        if item is None:
            return render
        xref, smask, img_w, img_h = item[0], item[1], item[2], item[3]
        colorspace = item[5]
        if smask or _key(doc, xref, "Mask")[0] != "null":
            return render  # transparency: only the rendered page looks right
        filters = _filters(doc, xref)
        components = info.get("colorspace") or 0
        decode = _decode_array(doc, xref)
        identity = decode is None or decode == [0.0, 1.0] * components
        inverted = decode == [1.0, 0.0] * components
        plain = colorspace in _STORABLE_COLORSPACES and _key(doc, xref, "DecodeParms")[0] == "null"
        if filters == ["DCTDecode"] and plain:
            if components == 4:
                # CMYK: a PDF inverts only through /Decode, a JPEG decoder (Pillow) only when the
                # JPEG has an Adobe APP14 marker; the stored bytes are right when both agree.
                adobe = _has_adobe_marker(doc.xref_stream_raw(xref)[:65536])
                same = inverted if adobe else identity
            else:
                same = identity
            if same:
                return _PagePlan(index, _STORED, xref, ".jpg"), _stream_length(doc, xref)
        elif len(filters) > 1 and filters[-1] == "DCTDecode" and plain and identity and components != 4:
            return _PagePlan(index, _UNWRAP, xref, ".jpg"), -1
        elif filters == ["JPXDecode"] and identity and _jpx_supported():
            return _PagePlan(index, _STORED, xref, ".jp2"), _stream_length(doc, xref)
        if img_w * img_h <= self.limits.max_image_pixels:
            return _PagePlan(index, _PIXMAP, xref, ".png", (img_w, img_h)), -1
        return render

    @staticmethod
    def _which_image(page, listed, info):
        """The get_images() item of the one image drawn on the page, or None when unsure."""
        size = (info.get("width"), info.get("height"))
        if len(listed) == 1:
            item = listed[0]
            return item if (item[2], item[3]) == size else None
        # Resources shared between pages list more images than the page draws: match by size,
        # then by the names the page's own content stream paints with 'Do'.
        same = [it for it in listed if (it[2], it[3]) == size]
        if len(same) == 1:
            return same[0]
        try:
            used = set(re.findall(rb"/([^\s/\[\]()<>{}%]+)\s*Do\b", page.read_contents()))
        except Exception:  # noqa: BLE001
            return None
        named = [it for it in same if it[9] == 0 and it[7].encode("latin-1", "replace") in used]
        return named[0] if len(named) == 1 else None

    def _embedded_comicinfo(self, doc) -> list[Member]:
        try:
            names = doc.embfile_names()
        except Exception:  # noqa: BLE001 - a broken name tree just means no metadata
            return []
        for name in names:
            try:
                info = doc.embfile_info(name)
            except Exception:  # noqa: BLE001
                continue
            filename = info.get("ufilename") or info.get("filename") or name
            if PurePosixPath(filename.replace("\\", "/")).name.casefold() == "comicinfo.xml":
                size = info.get("size")
                return [Member("ComicInfo.xml", size if isinstance(size, int) and size >= 0 else -1,
                               _Embedded(name))]
        return []

    def image_info(self, member: Member):
        """Size of a rendered or re-encoded page without producing it (scans stay cheap)."""
        from comicdesk.archive.images import ImageInfo

        key = member.key
        if isinstance(key, _PagePlan) and key.size and key.how in (_RENDER, _PIXMAP):
            return ImageInfo("JPEG" if key.how == _RENDER else "PNG", key.size[0], key.size[1], "RGB")
        return None

    # -- reading -----------------------------------------------------------------------------
    def read(self, member: Member) -> bytes:
        self.check_size(member)
        key = member.key
        if isinstance(key, _Embedded):
            return self._read_embedded(member, key)
        if not isinstance(key, _PagePlan):
            raise PageError(f"not a member of this PDF: {member.name}")
        if key.how == _MISSING:
            raise PageError(f"page {key.index + 1} is missing or cut off (damaged PDF)")
        if key.how == _STORED or key.how == _UNWRAP:
            data = self._read_stream(key)
        else:
            with _MUPDF_LOCK:
                cached = self._cache.get(key.index)
                if cached is not None:
                    self._cache.move_to_end(key.index)
                    return cached
            data = self._produce(key)
            with _MUPDF_LOCK:
                self._cache[key.index] = data
                while len(self._cache) > CACHE_PAGES:
                    self._cache.popitem(last=False)
        if len(data) > self.limits.max_member_bytes:
            raise TooLarge(f"page {key.index + 1} is larger than "
                           f"{self.limits.max_member_bytes // (1024 * 1024)} MiB")
        return data

    def _read_stream(self, plan: _PagePlan) -> bytes:
        with _MUPDF_LOCK:
            doc = self._open()
            pymupdf = _mupdf()
            try:
                if plan.how == _STORED:
                    data = doc.xref_stream_raw(plan.xref)
                else:
                    extracted = doc.extract_image(plan.xref)
                    if extracted.get("ext") not in ("jpeg", "jpg"):
                        raise PageError(f"page {plan.index + 1}: embedded JPEG cannot be unwrapped")
                    data = extracted["image"]
            except PageError:
                raise
            except Exception as exc:  # noqa: BLE001
                raise PageError(f"page {plan.index + 1}: embedded image unreadable "
                                f"({_clean_reason(exc)})") from None
            finally:
                pymupdf.TOOLS.reset_mupdf_warnings()
        if not data:
            raise PageError(f"page {plan.index + 1}: embedded image is missing or empty")
        return bytes(data)

    def _produce(self, plan: _PagePlan) -> bytes:
        """Re-encode the page's image (PNG) or render the page (JPEG)."""
        with _MUPDF_LOCK:
            doc = self._open()
            pymupdf = _mupdf()
            pymupdf.TOOLS.reset_mupdf_warnings()
            try:
                if plan.how == _PIXMAP:
                    pix = pymupdf.Pixmap(doc, plan.xref)
                    if pix.alpha:
                        pix = pymupdf.Pixmap(pix, 0)
                    if pix.colorspace is None or pix.colorspace.n not in (1, 3):
                        pix = pymupdf.Pixmap(pymupdf.csRGB, pix)
                else:
                    page = doc.load_page(plan.index)
                    rect = page.rect
                    w, h = render_size(rect.width, rect.height, self.limits.max_image_pixels)
                    matrix = pymupdf.Matrix(w / rect.width, h / rect.height)
                    pix = page.get_pixmap(matrix=matrix, colorspace=pymupdf.csRGB, alpha=False)
                mode = "L" if pix.colorspace.n == 1 else "RGB"
                size = (pix.width, pix.height)
                if pix.width * pix.height > self.limits.max_image_pixels:
                    raise PageError(f"page {plan.index + 1}: image is too large to decode safely "
                                    f"({pix.width}×{pix.height} pixels)")
                stride = pix.stride
                samples = pix.samples
                if doc.is_repaired:
                    # In a repaired (truncated) file, a page that draws with errors is damaged:
                    # say so instead of handing out a blank or half-drawn page.
                    complaints = [line for line in pymupdf.TOOLS.mupdf_warnings().splitlines()
                                  if line.strip() and not _REPEATED_RE.match(line)]
                    if complaints:
                        raise PageError(f"page {plan.index + 1} is damaged ({complaints[-1]})")
            except PageError:
                raise
            except Exception as exc:  # noqa: BLE001
                what = "embedded image unreadable" if plan.how == _PIXMAP else "cannot be rendered"
                raise PageError(f"page {plan.index + 1}: {what} ({_clean_reason(exc)})") from None
            finally:
                pymupdf.TOOLS.reset_mupdf_warnings()
        return _encode(samples, mode, size, stride, "PNG" if plan.how == _PIXMAP else "JPEG")

    def _read_embedded(self, member: Member, key: _Embedded) -> bytes:
        with _MUPDF_LOCK:
            doc = self._open()
            try:
                data = doc.embfile_get(key.name)
            except Exception as exc:  # noqa: BLE001
                raise CorruptArchive(f"embedded {member.name} unreadable: {_clean_reason(exc)}") from None
            finally:
                _mupdf().TOOLS.reset_mupdf_warnings()
        if len(data) > self.limits.max_member_bytes:
            raise TooLarge(f"embedded {member.name} is larger than "
                           f"{self.limits.max_member_bytes // (1024 * 1024)} MiB")
        return bytes(data)

    def close(self) -> None:
        with _MUPDF_LOCK:
            if self._doc is not None:
                try:
                    self._doc.close()
                finally:
                    self._doc = None
            self._cache.clear()


# -- helpers ---------------------------------------------------------------------------------
def _is_page_object(doc, index: int) -> bool:
    try:
        xref = doc.page_xref(index)
        return xref > 0 and doc.xref_get_key(xref, "Type") == ("name", "/Page")
    except Exception:  # noqa: BLE001 - 'bad xref': the object was cut off
        return False


def _has_contents(doc, page) -> bool:
    """False when the page's content streams were cut off (a page with no /Contents at all is
    a legitimately blank page and counts as having them)."""
    try:
        xrefs = page.get_contents()
        return not xrefs or any(doc.xref_is_stream(x) for x in xrefs)
    except Exception:  # noqa: BLE001
        return False


def _key(doc, xref: int, key: str) -> tuple[str, str]:
    try:
        return doc.xref_get_key(xref, key)
    except Exception:  # noqa: BLE001
        return ("null", "null")


def _decode_array(doc, xref: int) -> list[float] | None:
    kind, value = _key(doc, xref, "Decode")
    if kind == "null":
        return None
    try:
        return [float(v) for v in value.strip("[] ").split()]
    except ValueError:
        return [float("nan")]  # unreadable: matches neither identity nor inversion


def _has_adobe_marker(jpeg: bytes) -> bool:
    """True when the JPEG has an Adobe APP14 segment before its first scan."""
    pos = 2 if jpeg[:2] == b"\xff\xd8" else len(jpeg)
    while pos + 4 <= len(jpeg):
        if jpeg[pos] != 0xFF:
            return False
        marker = jpeg[pos + 1]
        if marker == 0xFF:  # fill byte
            pos += 1
            continue
        if marker == 0xDA or marker == 0xD9:  # start of scan / end of image
            return False
        length = int.from_bytes(jpeg[pos + 2:pos + 4], "big")
        if marker == 0xEE and jpeg[pos + 4:pos + 9] == b"Adobe":
            return True
        pos += 2 + length
    return False


def _filters(doc, xref: int) -> list[str]:
    kind, value = _key(doc, xref, "Filter")
    if kind == "null":
        return []
    if kind not in ("name", "array"):
        return ["?"]  # an indirect or odd /Filter: treat as unknown
    return _NAME_RE.findall(value)


def _stream_length(doc, xref: int) -> int:
    kind, value = _key(doc, xref, "Length")
    try:
        if kind == "int":
            return int(value)
        if kind == "xref":
            return int(doc.xref_object(int(value.split()[0])).strip())
    except Exception:  # noqa: BLE001 - an odd /Length only loses the size hint
        pass
    return -1


def _jpx_supported() -> bool:
    from comicdesk.archive import images

    return ".jp2" in images.IMAGE_EXTENSIONS


def _encode(samples: bytes, mode: str, size: tuple[int, int], stride: int, fmt: str) -> bytes:
    import io

    from PIL import Image

    im = Image.frombuffer(mode, size, samples, "raw", mode, stride, 1)
    out = io.BytesIO()
    if fmt == "PNG":
        im.save(out, "PNG", compress_level=6)
    else:
        im.save(out, "JPEG", quality=RENDER_JPEG_QUALITY, subsampling=0, optimize=False)
    return out.getvalue()
