"""Decoding page images safely: header-only sizes, full images, fast thumbnails.

Only raster formats a comic page can be in are accepted (Pillow would otherwise hand EPS files to
Ghostscript). A decompression bomb, a truncated file or an unknown format gives a
:class:`~comicdesk.core.errors.PageError` with one clear reason; CMYK and 16-bit images come back
as correct 8-bit RGB.
"""

from __future__ import annotations

import io
import math
import warnings
from dataclasses import dataclass

from comicdesk.core.errors import PageError

#: Entry-name extensions treated as page images (lower case, with the dot).
IMAGE_EXTENSIONS = frozenset(
    {".jpg", ".jpeg", ".jpe", ".jfif", ".png", ".webp", ".gif", ".bmp", ".tif", ".tiff", ".avif"}
)

#: Pillow format names we agree to decode.
ALLOWED_FORMATS = ("JPEG", "PNG", "WEBP", "GIF", "BMP", "TIFF", "AVIF", "MPO")

DEFAULT_MAX_PIXELS = 180_000_000

_pillow_ready = False


def _pil():
    """Import Pillow lazily and once (plus the AVIF plugin when Pillow lacks AVIF)."""
    global _pillow_ready
    from PIL import Image, ImageFile

    if not _pillow_ready:
        ImageFile.LOAD_TRUNCATED_IMAGES = False
        # Our own pixel limit is checked before decoding; keep Pillow's as a backstop only.
        Image.MAX_IMAGE_PIXELS = None
        try:
            from PIL import features

            if not features.check("avif"):
                import pillow_avif  # noqa: F401
        except Exception:  # noqa: BLE001 - AVIF is optional
            pass
        _pillow_ready = True
    return Image


@dataclass(frozen=True)
class ImageInfo:
    format: str  # Pillow's format name: JPEG, PNG, ...
    width: int
    height: int
    mode: str


_open_formats: tuple[str, ...] | None = None


def _formats(Image) -> tuple[str, ...]:
    """The allowed formats Pillow has an opener for. Naming one it lacks makes ``Image.open``
    raise ``KeyError`` (Pillow 13 has no MPO opener: its JPEG opener returns MPO images; AVIF
    is missing when neither Pillow nor pillow-avif provides it)."""
    global _open_formats
    if _open_formats is None:
        Image.init()
        _open_formats = tuple(f for f in ALLOWED_FORMATS if f in Image.OPEN)
    return _open_formats


def _open(data: bytes, max_pixels: int):
    Image = _pil()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            im = Image.open(io.BytesIO(data), formats=_formats(Image))
    except Exception as exc:  # noqa: BLE001 - any decoder failure is one bad page
        raise PageError(_reason(exc, "not a readable image")) from None
    if im.format not in ALLOWED_FORMATS:  # pragma: no cover - an opener returning another format
        raise PageError(f"not a readable image (unsupported format {im.format})")
    w, h = im.size
    if w <= 0 or h <= 0:
        raise PageError("image has no pixels")
    if w * h > max_pixels:
        raise PageError(f"image is too large to decode safely ({w}×{h} pixels)")
    return im


def _reason(exc: Exception, default: str) -> str:
    text = str(exc).strip()
    if "cannot identify image file" in text:
        return "not a readable image (unknown or damaged format)"
    if "truncated" in text:
        return "image data is truncated"
    if not text:
        return default
    return f"{default}: {text.splitlines()[0]}"


_JPEG_SOF = frozenset({0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF})
_JPEG_MODES = {1: "L", 3: "RGB", 4: "CMYK"}
_PNG_MODES = {0: "L", 2: "RGB", 3: "P", 4: "LA", 6: "RGBA"}


def _fast_header(data: bytes) -> ImageInfo | None:
    """JPEG and PNG sizes read straight from their headers (a scan reads thousands of them);
    None when the bytes are anything else or unusual, and Pillow decides."""
    if data[:2] == b"\xff\xd8":
        i, n = 2, len(data)
        while i + 4 <= n:
            if data[i] != 0xFF:
                return None
            marker = data[i + 1]
            if marker == 0xFF:  # fill byte
                i += 1
                continue
            if marker == 0x01 or 0xD0 <= marker <= 0xD8:  # markers without a length
                i += 2
                continue
            if marker == 0xDA:  # scan data before any frame header: leave it to Pillow
                return None
            length = (data[i + 2] << 8) | data[i + 3]
            if marker in _JPEG_SOF:
                if i + 10 > n:
                    return None
                height = (data[i + 5] << 8) | data[i + 6]
                width = (data[i + 7] << 8) | data[i + 8]
                mode = _JPEG_MODES.get(data[i + 9])
                if not (width and height and mode):
                    return None
                return ImageInfo("JPEG", width, height, mode)
            if length < 2:
                return None
            i += 2 + length
        return None
    if data[:8] == b"\x89PNG\r\n\x1a\n" and data[12:16] == b"IHDR" and len(data) >= 26:
        width = int.from_bytes(data[16:20], "big")
        height = int.from_bytes(data[20:24], "big")
        mode = _PNG_MODES.get(data[25])
        if not (width and height and mode):
            return None
        if data[24] == 16 and mode == "L":
            mode = "I;16"
        return ImageInfo("PNG", width, height, mode)
    return None


_JPEG_ARITHMETIC = frozenset({0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF})
_PNG_CHANNELS = {0: 1, 2: 3, 3: 1, 4: 2, 6: 4}
#: Deflate's largest expansion: a 258-byte match coded in 2 bits.
_DEFLATE_MAX_RATIO = 1032


def _jpeg_frame_marker(data: bytes) -> int | None:
    i, n = 2, len(data)
    while i + 4 <= n and data[i] == 0xFF:
        marker = data[i + 1]
        if marker == 0xFF:
            i += 1
            continue
        if marker == 0x01 or 0xD0 <= marker <= 0xD8:
            i += 2
            continue
        if marker in _JPEG_SOF or marker == 0xDA:
            return marker
        i += 2 + ((data[i + 2] << 8) | data[i + 3])
    return None


def _png_idat_bytes(data: bytes) -> int | None:
    total, i, n = 0, 8, len(data)
    while i + 8 <= n:
        length = int.from_bytes(data[i:i + 4], "big")
        kind = data[i + 4:i + 8]
        if kind == b"IDAT":
            total += min(length, n - i - 8)
        elif kind == b"IEND":
            break
        i += 12 + length
    return total


def check_can_fill(data: bytes, fmt: str, width: int, height: int) -> None:
    """Raise :class:`PageError` when ``data`` is too short to hold an image of the size its header
    declares, whatever the content: a JPEG codes every 8×8 luma block in at least one bit (Huffman
    coding), a PNG's rows cannot inflate more than 1032:1. A header edited to claim 13000×13000
    over 400×600 of data is a bad page, not a page of grey (libjpeg only warns) nor 0.5 GB to
    decode."""
    need = 0
    if fmt in ("JPEG", "MPO") and data[:2] == b"\xff\xd8":
        if _jpeg_frame_marker(data) in _JPEG_ARITHMETIC:
            return
        need = (math.ceil(width / 8) * math.ceil(height / 8)) // 8
    elif fmt == "PNG" and data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) >= 26:
        bits = data[24] * _PNG_CHANNELS.get(data[25], 1)
        raw = (width * height * bits) // 8
        idat = _png_idat_bytes(data)
        if idat is not None and idat * _DEFLATE_MAX_RATIO + 1024 < raw:
            raise PageError(f"image data cannot fill its declared size ({width}×{height} pixels "
                            f"from {idat} bytes of PNG data)")
        return
    if need and len(data) < need:
        raise PageError(f"image data cannot fill its declared size ({width}×{height} pixels "
                        f"from {len(data)} bytes)")


def probe(data: bytes, max_pixels: int = DEFAULT_MAX_PIXELS) -> ImageInfo:
    """Format and size from the header only (cheap: no pixel decoding)."""
    info = _fast_header(data)
    if info is None:
        im = _open(data, max_pixels)
        return ImageInfo(im.format or "?", im.size[0], im.size[1], im.mode)
    if info.width * info.height > max_pixels:
        raise PageError(f"image is too large to decode safely ({info.width}×{info.height} pixels)")
    return info


def to_rgb(im):
    """8-bit RGB, whatever the source mode: CMYK through its ICC profile when it has one,
    16-bit greyscale scaled (not clipped), transparency flattened on white."""
    Image = _pil()
    mode = im.mode
    if mode == "RGB":
        return im
    if mode == "CMYK":
        icc = im.info.get("icc_profile")
        if icc:
            try:
                from PIL import ImageCms

                src = ImageCms.ImageCmsProfile(io.BytesIO(icc))
                dst = ImageCms.createProfile("sRGB")
                return ImageCms.profileToProfile(im, src, dst, outputMode="RGB")
            except Exception:  # noqa: BLE001 - a broken profile falls back to the plain formula
                pass
        return im.convert("RGB")
    if mode in ("I;16", "I;16B", "I;16L", "I;16N", "I"):
        import numpy as np

        arr = np.asarray(im)
        if arr.dtype != np.uint8:
            top = 65535 if mode.startswith("I;16") or arr.max(initial=0) > 255 else 255
            arr = (arr.astype(np.float32) * (255.0 / top)).clip(0, 255).astype(np.uint8)
        return Image.fromarray(arr, "L").convert("RGB")
    if mode == "F":
        import numpy as np

        arr = np.asarray(im, dtype=np.float32)
        hi = float(arr.max(initial=0.0)) or 1.0
        scale = 255.0 if hi <= 1.0 else 255.0 / hi
        return Image.fromarray((arr * scale).clip(0, 255).astype(np.uint8), "L").convert("RGB")
    if mode in ("RGBA", "LA", "PA", "RGBa", "La") or (mode == "P" and "transparency" in im.info):
        rgba = im.convert("RGBA")
        background = Image.new("RGB", rgba.size, (255, 255, 255))
        background.paste(rgba, mask=rgba.getchannel("A"))
        return background
    return im.convert("RGB")


def decode(data: bytes, max_pixels: int = DEFAULT_MAX_PIXELS):
    """The full page as an 8-bit RGB Pillow image. Raises :class:`PageError`."""
    return decode_reduced(data, max_pixels)[0]


def decode_reduced(data: bytes, max_pixels: int = DEFAULT_MAX_PIXELS, *,
                   min_side: int | None = None):
    """``(image, (page width, page height))``: the page as an 8-bit RGB Pillow image, and its own
    size. Raises :class:`PageError`.

    ``min_side``: the caller needs only this many pixels on the page's long side, so a JPEG may
    be decoded at 1/2, 1/4 or 1/8 scale straight from the DCT (draft mode), never below it (a
    3056-pixel page asked for 1000 decodes at 1528, several times faster). Other formats decode
    at full size in their own mode and are reduced by the largest power of two that keeps
    ``min_side``, in strips (:func:`_reduce_in_strips`), so the RGB page is never held whole.
    A page whose data cannot fill its declared size is a :class:`PageError`
    (:func:`check_can_fill`)."""
    im = _open(data, max_pixels)
    size = im.size
    check_can_fill(data, im.format, *size)
    try:
        w, h = size
        if min_side and im.format == "JPEG":
            scale = min(1.0, min_side / max(w, h))
            if scale <= 0.5:
                im.draft("RGB", (max(1, math.ceil(w * scale)), max(1, math.ceil(h * scale))))
        im.load()
        if min_side and im.format != "JPEG":
            factor = 1
            while max(w, h) // (factor * 2) >= min_side:
                factor *= 2
            if factor > 1:
                return _reduce_in_strips(im, factor), size
        return to_rgb(im), size
    except PageError:
        raise
    except Exception as exc:  # noqa: BLE001
        raise PageError(_reason(exc, "image does not decode")) from None


#: Bytes of RGB converted at once when a page is reduced in strips.
STRIP_BYTES = 16 * 1024 * 1024


def _reduce_in_strips(im, factor: int):
    """``to_rgb(im).reduce(factor)`` without ever holding the page in RGB: strips of rows are
    converted and reduced one at a time (a 169 Mpx bilevel PNG decodes at 1 byte a pixel; in RGB
    it would take 507 MB more). Modes whose conversion depends on the whole page's range (32-bit
    integer, float) are converted whole."""
    Image = _pil()
    if im.mode in ("I", "F"):
        return to_rgb(im).reduce(factor)
    w, h = im.size
    out = Image.new("RGB", (math.ceil(w / factor), math.ceil(h / factor)))
    step = max(1, STRIP_BYTES // (3 * w) // factor) * factor
    for y in range(0, h, step):
        strip = to_rgb(im.crop((0, y, w, min(h, y + step))))
        out.paste(strip.reduce(factor), (0, y // factor))
    return out


def thumbnail(data: bytes, size: int = 256, max_pixels: int = DEFAULT_MAX_PIXELS):
    """A page thumbnail no larger than ``size``×``size``, fast: JPEGs are decoded at 1/2, 1/4 or
    1/8 scale straight from the DCT (draft mode) before resampling."""
    Image = _pil()
    im = _open(data, max_pixels)
    check_can_fill(data, im.format, *im.size)
    try:
        if im.format == "JPEG":
            # Ask the DCT for the final thumbnail size (the page fitted in the box), not the box:
            # a portrait page then decodes at 1/8 instead of 1/4 scale.
            w, h = im.size
            scale = min(size / w, size / h, 1.0)
            im.draft("RGB", (max(1, int(w * scale)), max(1, int(h * scale))))
        im.load()
        im = to_rgb(im)
        im.thumbnail((size, size), Image.Resampling.BILINEAR, reducing_gap=2.0)
        return im
    except PageError:
        raise
    except Exception as exc:  # noqa: BLE001
        raise PageError(_reason(exc, "image does not decode")) from None


def verify(data: bytes, max_pixels: int = DEFAULT_MAX_PIXELS) -> ImageInfo:
    """Header info after checking the whole image decodes (at reduced scale for JPEG: the entropy
    stream is still read to the end, so truncation and corruption are caught)."""
    info = probe(data, max_pixels)
    thumbnail(data, 64, max_pixels)
    return info
