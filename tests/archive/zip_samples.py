"""Builders for ZIP test archives, including hostile ones."""

from __future__ import annotations

import struct
import zipfile
from pathlib import Path


class RawNameInfo(zipfile.ZipInfo):
    """A ZipInfo whose name is written as given raw bytes with no UTF-8 flag (old Windows tools)."""

    raw_name: bytes = b""

    def _encodeFilenameFlags(self):  # noqa: N802 - zipfile's hook
        return self.raw_name, self.flag_bits & ~0x800


def make_cbz(path: Path, pages: dict[str, bytes], comicinfo: bytes | None = None,
             compression=zipfile.ZIP_STORED) -> Path:
    with zipfile.ZipFile(path, "w", compression) as zf:
        for name, data in pages.items():
            zf.writestr(name, data)
        if comicinfo is not None:
            zf.writestr("ComicInfo.xml", comicinfo)
    return path


def set_encrypted_flag(path: Path) -> None:
    """Mark every entry as encrypted (general purpose flag bit 0) in local and central headers."""
    data = bytearray(path.read_bytes())
    for sig, flag_offset in ((b"PK\x03\x04", 6), (b"PK\x01\x02", 8)):
        start = 0
        while (i := data.find(sig, start)) >= 0:
            (flags,) = struct.unpack_from("<H", data, i + flag_offset)
            struct.pack_into("<H", data, i + flag_offset, flags | 0x1)
            start = i + 4
    path.write_bytes(bytes(data))


def set_declared_size(path: Path, name: bytes, size: int) -> None:
    """Rewrite the uncompressed size an entry declares (local and central headers)."""
    data = bytearray(path.read_bytes())
    for sig, size_offset, name_len_offset, name_offset in ((b"PK\x03\x04", 22, 26, 30), (b"PK\x01\x02", 24, 28, 46)):
        start = 0
        while (i := data.find(sig, start)) >= 0:
            (n,) = struct.unpack_from("<H", data, i + name_len_offset)
            if bytes(data[i + name_offset:i + name_offset + n]) == name:
                struct.pack_into("<I", data, i + size_offset, size)
            start = i + 4
    path.write_bytes(bytes(data))
