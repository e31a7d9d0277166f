"""Issue 21, item 4: costs stay bounded by what a file can hold. Overlapping ZIP entries are a
damaged archive (refused before anything is inflated); a page whose data cannot fill its declared
size is bad; a large page is decoded reduced for analysis, its memory bounded."""

from __future__ import annotations

import io
import json
import os
import struct
import subprocess
import sys
import zipfile
import zlib
from pathlib import Path

import pytest

from helpers import REPO

from comicdesk.archive import images, open_book
from comicdesk.core.errors import CorruptArchive, PageError


def _jpeg(w: int = 400, h: int = 600) -> bytes:
    from PIL import Image, ImageDraw

    im = Image.new("RGB", (w, h), "white")
    draw = ImageDraw.Draw(im)
    for i in range(0, w, 17):
        draw.line((i, 0, w - i, h), fill=(i % 256, 40, 90), width=3)
    buf = io.BytesIO()
    im.save(buf, "JPEG", quality=85)
    return buf.getvalue()


# -- overlapping ZIP entries -------------------------------------------------------------------
def _local(name: bytes, data: bytes) -> bytes:
    crc = zlib.crc32(data)
    return struct.pack("<4s5H3L2H", b"PK\x03\x04", 20, 0, 0, 0, 0, crc, len(data), len(data), len(name), 0) + name + data


def _central(name: bytes, data: bytes, offset: int) -> bytes:
    crc = zlib.crc32(data)
    return struct.pack("<4s6H3L5H2L", b"PK\x01\x02", 20, 20, 0, 0, 0, 0, crc, len(data), len(data),
                       len(name), 0, 0, 0, 0, 0, offset) + name


def _zip(entries: list[tuple[bytes, bytes, int]], body: bytes) -> bytes:
    cd = b"".join(_central(n, d, off) for n, d, off in entries)
    end = struct.pack("<4s4H2LH", b"PK\x05\x06", 0, 0, len(entries), len(entries), len(cd), len(body), 0)
    return body + cd + end


def overlapping_zip() -> bytes:
    """``a.jpg`` (stored) holds ``b.jpg``'s whole local record as its data; ``b.jpg``'s directory
    entry points inside it (the construction behind overlapping-entry zip bombs)."""
    page = _jpeg()
    inner = _local(b"b.jpg", page)
    outer = _local(b"a.jpg", inner)
    tail_offset = len(outer)
    body = outer + _local(b"c.jpg", page)
    return _zip([(b"a.jpg", inner, 0), (b"b.jpg", page, 30 + 5), (b"c.jpg", page, tail_offset)], body)


def test_the_overlap_fixture_is_a_zip_python_reads_whole():
    """The fixture is what the issue describes: Python's zipfile reads every entry of it."""
    with zipfile.ZipFile(io.BytesIO(overlapping_zip())) as zf:
        assert [len(zf.read(n)) for n in zf.namelist()] == [35 + len(_jpeg()), len(_jpeg()), len(_jpeg())]


def test_overlapping_zip_entries_are_a_damaged_archive(tmp_path):
    path = tmp_path / "bomb.cbz"
    path.write_bytes(overlapping_zip())
    with pytest.raises(CorruptArchive, match="entries overlap"):
        with open_book(path) as book:
            list(book.iter_page_bytes())


def test_sixty_entries_sharing_one_huge_stream_are_refused_before_inflating(tmp_path):
    """The issue's probe: a ~190 KB ZIP whose 60 entries all point at one deflate stream of
    192 MiB. Python's zipfile would inflate it 60 times (60 s, 813 MB in `pages`)."""
    comp = zlib.compressobj(9, zlib.DEFLATED, -15)
    chunk = b"\0" * (1 << 20)
    stream = b"".join(comp.compress(chunk) for _ in range(192)) + comp.flush()
    size, crc = 192 << 20, zlib.crc32(b"")
    for _ in range(192):
        crc = zlib.crc32(chunk, crc)
    name = b"page.png"
    local = struct.pack("<4s5H3L2H", b"PK\x03\x04", 20, 0, 8, 0, 0, crc, len(stream), size, len(name), 0) + name
    central = struct.pack("<4s6H3L5H2L", b"PK\x01\x02", 20, 20, 0, 8, 0, 0, crc, len(stream), size,
                          len(name), 0, 0, 0, 0, 0, 0) + name
    body = local + stream
    cd = central * 60
    data = body + cd + struct.pack("<4s4H2LH", b"PK\x05\x06", 0, 0, 60, 60, len(cd), len(body), 0)
    assert len(data) < 250_000
    path = tmp_path / "bomb.cbz"
    path.write_bytes(data)
    with zipfile.ZipFile(path) as zf:
        assert len(zf.infolist()) == 60 and all(i.file_size == size for i in zf.infolist())
    with pytest.raises(CorruptArchive, match="entries overlap"):
        open_book(path).close()


def test_an_entry_overlapping_the_central_directory_is_damaged(tmp_path):
    page = _jpeg()
    body = _local(b"a.jpg", page)
    data = bytearray(_zip([(b"a.jpg", page, 0)], body))
    # Declare a.jpg larger than it is, so its data runs into the central directory.
    cd = len(body)
    struct.pack_into("<L", data, cd + 20, len(page) + 40)
    struct.pack_into("<L", data, cd + 24, len(page) + 40)
    (tmp_path / "x.cbz").write_bytes(bytes(data))
    with pytest.raises(CorruptArchive, match="overlap"):
        open_book(tmp_path / "x.cbz").close()


def test_an_ordinary_zip_with_extra_fields_and_descriptors_still_opens(tmp_path):
    page = _jpeg()
    path = tmp_path / "ok.cbz"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("1.jpg", page)
        info = zipfile.ZipInfo("2.jpg", date_time=(2020, 1, 1, 0, 0, 0))
        info.extra = struct.pack("<HH", 0x5455, 5) + b"\x01abcd"
        zf.writestr(info, page, compress_type=zipfile.ZIP_DEFLATED)
        with zf.open("3.jpg", "w") as fh:  # streamed: written with a data descriptor
            fh.write(page)
    with open_book(path) as book:
        assert [len(d) for _, d in book.iter_page_bytes()] == [len(page)] * 3


def test_pages_on_an_overlapping_zip_is_one_line(tmp_path):
    (tmp_path / "bomb.cbz").write_bytes(overlapping_zip())
    env = dict(os.environ, COMICDESK_CACHE_DIR=str(tmp_path / "c"), COMICDESK_DATA_DIR=str(tmp_path / "d"))
    proc = subprocess.run([sys.executable, "-m", "comicdesk", "pages", str(tmp_path / "bomb.cbz")],
                          capture_output=True, text=True, env=env, timeout=60)
    assert proc.returncode == 1 and proc.stderr.count("\n") == 1
    assert "damaged ZIP archive" in proc.stderr and "overlap" in proc.stderr


# -- pages whose data cannot fill their declared size ------------------------------------------
def _claim_size(jpeg: bytes, w: int, h: int) -> bytes:
    """The JPEG with its frame header edited to claim ``w``×``h``."""
    data = bytearray(jpeg)
    i = 2
    while True:
        marker, length = data[i + 1], (data[i + 2] << 8) | data[i + 3]
        if marker in (0xC0, 0xC1, 0xC2):
            struct.pack_into(">HH", data, i + 5, h, w)
            return bytes(data)
        i += 2 + length


def test_a_jpeg_claiming_13000_square_with_400x600_of_data_is_bad():
    liar = _claim_size(_jpeg(), 13000, 13000)
    assert images.probe(liar).width == 13000  # the header is what it claims
    for decode in (images.verify, images.decode, lambda d: images.decode_reduced(d, min_side=1024),
                   lambda d: images.thumbnail(d, 256)):
        with pytest.raises(PageError, match="cannot fill its declared size"):
            decode(liar)
    images.verify(_jpeg())  # the honest page is fine


def _png(w: int, h: int, color_type: int, bit_depth: int, rows) -> bytes:
    def chunk(kind, body):
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
    comp = zlib.compressobj(9)
    idat = b"".join(comp.compress(r) for r in rows) + comp.flush()
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, bit_depth, color_type, 0, 0, 0))
            + chunk(b"IDAT", idat) + chunk(b"IEND", b""))


def test_a_png_whose_data_cannot_fill_its_size_is_bad_before_decoding():
    # 13000×13000 RGB needs 507 MB of rows: deflate cannot expand 30 KB that far (at most ~1032:1).
    row = b"\0" + b"\x80" * (3 * 13000)
    liar = _png(13000, 13000, 2, 8, [row] * 30)
    with pytest.raises(PageError, match="cannot fill its declared size"):
        images.verify(liar)
    with pytest.raises(PageError, match="cannot fill its declared size"):
        images.decode_reduced(liar, min_side=1024)


def big_bilevel_png(side: int = 13000) -> bytes:
    """A legal ~0.1 MB 1-bit PNG of side×side (169 Mpx at 13000): cheap to hold, costly to decode."""
    stride = (side + 7) // 8
    plain = b"\0" + b"\xff" * stride
    ruled = b"\0" + b"\xf0" * stride
    return _png(side, side, 0, 1, (ruled if y % 97 == 0 else plain for y in range(side)))


def test_a_large_page_is_decoded_reduced_for_analysis_in_bounded_memory(tmp_path):
    path = tmp_path / "big.png"
    path.write_bytes(big_bilevel_png())
    assert path.stat().st_size < 200_000
    code = f"""
import resource, sys
from comicdesk.archive import images
import numpy, PIL.Image
data = open({str(path)!r}, 'rb').read()
images.probe(data)
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
image, size = images.decode_reduced(data, min_side=1024)
after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(size, image.size, image.mode, (after - before) // 1024)
"""
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, cwd=REPO)
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout.split()
    page_size, image_size, mode, grown_mb = eval(out[0] + out[1]), eval(out[2] + out[3]), out[4], int(out[5])
    assert page_size == (13000, 13000)
    assert mode == "RGB" and 1024 <= max(image_size) < 2048  # like a JPEG's draft decoding
    # Decoded in full to RGB (main: a 13000×13000 RGB image back) its peak grew 807 MB;
    # reduced in strips from the 1-byte-per-pixel decode it grew 237 MB here.
    assert grown_mb < 400, proc.stdout


def test_decode_reduced_keeps_a_small_page_whole_and_reduces_other_formats_like_jpeg():
    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", (3000, 4400), (10, 200, 30)).save(buf, "PNG")
    image, size = images.decode_reduced(buf.getvalue(), min_side=1000)
    assert size == (3000, 4400) and image.size == (750, 1100)  # 1/4, as a JPEG drafts: never below min_side
    image, size = images.decode_reduced(buf.getvalue(), min_side=3000)
    assert image.size == (3000, 4400)
    assert image.getpixel((10, 10)) == (10, 200, 30)


def test_a_bad_page_stays_in_the_export_and_is_reported(tmp_path):
    good = _jpeg()
    liar = _claim_size(good, 13000, 13000)
    book = tmp_path / "lib" / "b.cbz"
    book.parent.mkdir()
    with zipfile.ZipFile(book, "w") as zf:
        zf.writestr("1.jpg", good)
        zf.writestr("2.jpg", liar)
        zf.writestr("3.jpg", good)
    env = dict(os.environ, COMICDESK_CACHE_DIR=str(tmp_path / "c"), COMICDESK_DATA_DIR=str(tmp_path / "d"))
    env.pop("COMICDESK_DEBUG", None)
    proc = subprocess.run([sys.executable, "-m", "comicdesk", "pages", "--json", str(book)],
                          capture_output=True, text=True, env=env, timeout=120)
    rows = [json.loads(x) for x in proc.stdout.splitlines()]
    assert [r["bad"] for r in rows] == [False, True, False]
    assert "page 1 (2.jpg): image data cannot fill its declared size" in proc.stderr
    out = tmp_path / "out"
    proc = subprocess.run([sys.executable, "-m", "comicdesk", "export", str(book), "-o", str(out),
                           "--preset", "no-ads", "--json"],
                          capture_output=True, text=True, env=env, timeout=600)
    assert proc.returncode == 0, proc.stderr
    written = next(out.rglob("*.cbz"))
    with zipfile.ZipFile(written) as zf:
        names = [n for n in zf.namelist() if n.endswith(".jpg")]
        assert len(names) == 3 and zf.read(names[1]) == liar  # kept byte for byte
    assert "page 1 (2.jpg): image data cannot fill its declared size" in proc.stderr
    res = json.loads(proc.stdout)
    assert res["pages_kept"] == 3 and res["pages_dropped"] == 0 and res["unlabelled"] == 1
