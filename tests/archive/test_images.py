"""Page image decoding: every format a comic page comes in, colour conversions, bad pages."""

from __future__ import annotations

import io
import struct
import time
import zlib

import numpy as np
import pytest
from PIL import Image

from comicdesk.archive import images
from comicdesk.core.errors import PageError


def encode(im: Image.Image, fmt: str, **kw) -> bytes:
    buf = io.BytesIO()
    im.save(buf, fmt, **kw)
    return buf.getvalue()


def gradient(w=64, h=48) -> Image.Image:
    x = np.linspace(0, 255, w, dtype=np.uint8)
    arr = np.stack([np.tile(x, (h, 1)), np.tile(x[::-1], (h, 1)), np.full((h, w), 128, np.uint8)], -1)
    return Image.fromarray(arr, "RGB")


@pytest.mark.parametrize("fmt", ["JPEG", "PNG", "WEBP", "GIF", "BMP", "TIFF", "AVIF"])
def test_every_page_format_decodes_to_rgb(fmt):
    data = encode(gradient(), fmt)
    info = images.probe(data)
    assert (info.width, info.height) == (64, 48)
    im = images.decode(data)
    assert im.mode == "RGB" and im.size == (64, 48)
    # The left edge is dark red-free, the right edge bright red: content survived.
    arr = np.asarray(im).astype(int)
    assert arr[:, -1, 0].mean() > arr[:, 0, 0].mean() + 150


def test_cmyk_jpeg_converts_to_correct_rgb():
    red = Image.new("RGB", (32, 32), (230, 20, 20)).convert("CMYK")
    data = encode(red, "JPEG", quality=95)
    assert Image.open(io.BytesIO(data)).mode == "CMYK"
    px = images.decode(data).getpixel((16, 16))
    assert px[0] > 180 and px[1] < 80 and px[2] < 80, px


def test_16_bit_greyscale_is_scaled_not_clipped():
    arr = np.tile(np.linspace(0, 65535, 64).astype(np.uint16), (8, 1))
    src = Image.fromarray(arr)
    assert src.mode.startswith("I;16")
    data = encode(src, "PNG")
    im = images.decode(data)
    out = np.asarray(im)[:, :, 0]
    assert out[0, 0] == 0 and out[0, -1] == 255
    assert 100 < out[0, 32] < 160  # mid-grey stays mid-grey (clipping would give 255)


def test_transparency_is_flattened_on_white():
    im = Image.new("RGBA", (10, 10), (0, 0, 0, 0))
    out = images.decode(encode(im, "PNG"))
    assert out.getpixel((5, 5)) == (255, 255, 255)


def test_thumbnail_is_small_and_fast_for_a_big_jpeg():
    big = gradient(2000, 3000)
    data = encode(big, "JPEG", quality=90)
    thumb = images.thumbnail(data, 256)
    assert max(thumb.size) == 256 and thumb.size[1] > thumb.size[0]
    assert thumb.mode == "RGB"


def test_truncated_jpeg_is_a_bad_page_with_one_line_reason():
    data = encode(gradient(400, 400), "JPEG")
    cut = data[: len(data) // 2]
    info = images.probe(cut)  # the header is intact
    assert info.width == 400
    with pytest.raises(PageError) as err:
        images.decode(cut)
    assert "\n" not in str(err.value) and "truncated" in str(err.value)
    with pytest.raises(PageError):
        images.verify(cut)


def test_garbage_is_not_an_image():
    with pytest.raises(PageError) as err:
        images.probe(b"this is not an image at all" * 10)
    assert "not a readable image" in str(err.value)


def png_header_only(width: int, height: int) -> bytes:
    """A PNG whose header declares width x height (the pixel data is a single empty row)."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0")) + chunk(b"IEND", b"")


def test_decompression_bomb_is_refused_without_decoding():
    data = png_header_only(30000, 30000)  # 900 Mpx declared, a few bytes on disk
    t0 = time.perf_counter()
    for fn in (images.decode, images.thumbnail, images.verify):
        with pytest.raises(PageError) as err:
            fn(data)
        assert "too large" in str(err.value)
    assert time.perf_counter() - t0 < 1.0
    # Under the limit the same header is accepted by the header probe.
    assert images.probe(png_header_only(3000, 3000)).width == 3000


def test_formats_outside_the_allow_list_are_refused():
    eps = b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 10 10\nshowpage\n"
    with pytest.raises(PageError):
        images.decode(eps)


@pytest.mark.parametrize("mode,fmt", [("RGB", "JPEG"), ("L", "JPEG"), ("CMYK", "JPEG"), ("RGB", "PNG"),
                                      ("RGBA", "PNG"), ("L", "PNG"), ("P", "PNG")])
def test_fast_header_agrees_with_pillow(mode, fmt):
    im = gradient(123, 77).convert(mode)
    data = encode(im, fmt, **({"progressive": True} if mode == "L" and fmt == "JPEG" else {}))
    fast = images._fast_header(data)
    pil = Image.open(io.BytesIO(data))
    assert fast is not None
    assert (fast.format, fast.width, fast.height, fast.mode) == (pil.format, *pil.size, pil.mode)


def test_fast_header_reads_past_a_big_exif_block():
    exif = Image.Exif()
    exif[0x010E] = "x" * 30000  # ImageDescription: pushes the frame header past 30 KB
    data = encode(gradient(50, 40), "JPEG", exif=exif.tobytes())
    assert images.probe(data).width == 50
    assert images._fast_header(data[:20000]) is None  # header not reached: Pillow or a longer read decides
