"""Test-only helpers for the 7z and TAR reader tests: building 7z archives with py7zr, editing a
plain (unencoded) 7z index in place, counting open file handles."""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

import py7zr
import pytest

SIG_SIZE = 32


# -- building 7z archives -------------------------------------------------------------------------
def write_7z(path: Path, entries: list[tuple[str, bytes]], *, solid: bool = True, filters=None,
             password: str | None = None, header_encryption: bool = False,
             plain_index: bool = False) -> Path:
    """A 7z archive of (name, data) entries. ``solid=False`` puts every entry in its own folder
    (py7zr appends a new folder each time an archive is reopened in "a" mode)."""
    path = Path(path)
    groups = [entries] if solid else [[e] for e in entries]
    for i, group in enumerate(groups):
        kwargs = {}
        if filters is not None:
            kwargs["filters"] = filters
        if password is not None:
            kwargs["password"] = password
            kwargs["header_encryption"] = header_encryption
        with py7zr.SevenZipFile(path, "w" if i == 0 else "a", **kwargs) as arc:
            if plain_index:
                arc.set_encoded_header_mode(False)
            for name, data in group:
                arc.writestr(data, name)
    return path


def folder_count(path: Path) -> int:
    with py7zr.SevenZipFile(path) as arc:
        return arc.header.main_streams.unpackinfo.numfolders


# -- editing a plain 7z index ---------------------------------------------------------------------
def encode_7z_number(value: int, extra: int) -> bytes:
    """7z's variable-length number with exactly ``extra`` extra bytes (0 < extra < 4)."""
    assert 0 < extra < 4 and value < 1 << (8 * extra + 7 - extra)
    high = value >> (8 * extra)
    first = (0xFF << (8 - extra)) & 0xFF | high
    return bytes([first]) + (value & ((1 << (8 * extra)) - 1)).to_bytes(extra, "little")


def patch_index(data: bytes, old: bytes, new: bytes, count: int | None = None) -> bytes:
    """Replace ``old`` by ``new`` (same length) inside the plain index of a 7z archive and fix the
    index and signature-header checksums, so only what we changed is wrong."""
    assert len(old) == len(new)
    ofs, size = struct.unpack_from("<QQ", data, 12)
    start = SIG_SIZE + ofs
    index = data[start:start + size]
    assert index[:1] == b"\x01", "index is encoded; write the archive with plain_index=True"
    found = index.count(old)
    assert found and (count is None or found == count), f"found {found} copies of {old!r}"
    index = index.replace(old, new)
    sig = bytearray(data[:SIG_SIZE])
    struct.pack_into("<I", sig, 28, zlib.crc32(index))
    struct.pack_into("<I", sig, 8, zlib.crc32(bytes(sig[12:32])))
    return bytes(sig) + data[SIG_SIZE:start] + index + data[start + size:]


def utf16(name: str) -> bytes:
    return name.encode("utf-16-le")


# -- file handles ---------------------------------------------------------------------------------
def open_handles_to(path: Path) -> int:
    """How many of this process's file descriptors point at ``path`` (Linux /proc)."""
    fd_dir = Path("/proc/self/fd")
    if not fd_dir.is_dir():
        pytest.skip("needs /proc/self/fd")
    target = str(Path(path).resolve())
    count = 0
    for fd in fd_dir.iterdir():
        try:
            if str(fd.readlink()) == target:
                count += 1
        except OSError:
            continue
    return count
