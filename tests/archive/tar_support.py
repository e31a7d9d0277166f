"""Test-only helpers for the TAR reader tests: building plain and compressed tars in memory,
turning a ustar archive into an old v7 one, and a gzip'd pax-header bomb."""

from __future__ import annotations

import bz2
import gzip
import io
import lzma
import tarfile
import zlib

from comicdesk.archive.tar import _zstd_module

BLOCK = 512
COMPRESSIONS = ["plain", "gz", "bz2", "xz", "zst"]


def compress(data: bytes, kind: str) -> bytes:
    if kind == "plain":
        return data
    if kind == "gz":
        return gzip.compress(data)
    if kind == "bz2":
        return bz2.compress(data)
    if kind == "xz":
        return lzma.compress(data)
    if kind == "zst":
        zstd = _zstd_module()
        assert zstd is not None
        return zstd.compress(data)
    raise ValueError(kind)


def regular(name: str, data: bytes) -> tuple[tarfile.TarInfo, bytes]:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    info.mode = 0o644
    return info, data


def special(name: str, kind: bytes, linkname: str = "") -> tuple[tarfile.TarInfo, None]:
    info = tarfile.TarInfo(name)
    info.type = kind
    info.linkname = linkname
    if kind == tarfile.DIRTYPE:
        info.mode = 0o755
    return info, None


def build_tar(entries, fmt=tarfile.GNU_FORMAT) -> bytes:
    """An uncompressed tar of (TarInfo, data-or-None) entries; names are written byte for byte
    (UTF-8 with surrogate escapes, so a surrogate-escaped name gives its raw bytes)."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=fmt, encoding="utf-8", errors="surrogateescape") as tf:
        for info, data in entries:
            tf.addfile(info, io.BytesIO(data) if data is not None else None)
    return buf.getvalue()


def pages_tar(pages: list[tuple[str, bytes]], kind: str = "plain", fmt=tarfile.GNU_FORMAT) -> bytes:
    return compress(build_tar([regular(n, d) for n, d in pages], fmt), kind)


def _checksum(block: bytearray) -> None:
    block[148:156] = b" " * 8
    block[148:156] = b"%06o\x00 " % sum(block)


def to_v7(data: bytes) -> bytes:
    """Strip the ustar fields (magic, version, owner names, devices, prefix) from every header and
    fix the checksums: what a pre-POSIX tar writes."""
    out = bytearray(data)
    pos = 0
    while pos + BLOCK <= len(out) and any(out[pos:pos + BLOCK]):
        header = out[pos:pos + BLOCK]
        size = int(header[124:136].strip(b" \x00") or b"0", 8)
        header[257:500] = bytes(243)
        _checksum(header)
        out[pos:pos + BLOCK] = header
        pos += BLOCK + -(-size // BLOCK) * BLOCK
    return bytes(out)


def gzip_pax_bomb(declared: int) -> bytes:
    """A gzip'd tar whose first header is a pax extended header declaring ``declared`` bytes of
    zeros (about a thousandth of that once compressed)."""
    info = tarfile.TarInfo("././@PaxHeader")
    info.type = tarfile.XHDTYPE
    info.size = declared
    header = info.tobuf(tarfile.USTAR_FORMAT)
    comp = zlib.compressobj(1, zlib.DEFLATED, 31)  # gzip container
    parts = [comp.compress(header)]
    chunk = bytes(1 << 20)
    remaining = declared + BLOCK * 2
    while remaining > 0:
        parts.append(comp.compress(chunk[:min(remaining, len(chunk))]))
        remaining -= len(chunk)
    parts.append(comp.flush())
    return b"".join(parts)
