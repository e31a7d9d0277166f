"""Test-only builders of CBR files with real page images (made with the ``rars`` writer), a parser
for the ``.rar.exp`` listings that come with rarfile's RAR test suite, and an in-place renamer for
entries: ``rars`` refuses to store hostile names, so tests build a harmless archive and rename an
entry (same length, header checksum fixed), as a hand-edited or malicious archive would look."""

from __future__ import annotations

import io
import random
import re
import struct
import zlib
from dataclasses import dataclass
from pathlib import Path

import rars
from PIL import Image

RAR4_MAGIC = b"Rar!\x1a\x07\x00"


def jpeg_pages(count: int, size: int = 24) -> list[bytes]:
    """``count`` small, distinct JPEG images."""
    rng = random.Random(count)
    pages = []
    for i in range(count):
        im = Image.new("RGB", (size, size + i % 7), (rng.randrange(256), i % 256, (i * 37) % 256))
        buf = io.BytesIO()
        im.save(buf, "JPEG", quality=80)
        pages.append(buf.getvalue())
    return pages


def make_cbr(path: Path, entries: list[tuple[str, bytes]], *, fmt: str = "rar50",
             store: bool = False, solid: bool = False, **kwargs) -> Path:
    """Write a CBR holding ``entries`` (name, bytes) in the given order."""
    builder = rars.RarBuilder(format=fmt, store=store, solid=solid, **kwargs)
    for name, data in entries:
        builder.add_bytes(data, name)
    builder.write(str(path))
    return path


@dataclass(frozen=True)
class ExpEntry:
    name: str
    size: int
    crc: int  # 0 when the archive stores no CRC32 (BLAKE2 hashes)
    kind: str  # rarfile's is= column: "F--" file, "-D-" dir, "--L" link
    redirect: str | None


def parse_exp(path: Path) -> list[ExpEntry]:
    """The entries of a rarfile ``.exp`` dump, in stored order."""
    entries: list[dict] = []
    for line in path.read_text(encoding="utf-8").splitlines():
        start = re.match(r"^(?:R5_)?FILE: .* is=(\S+)", line)
        if start:
            entries.append({"kind": start.group(1)})
            continue
        if not entries:
            continue
        cur = entries[-1]
        for key, pattern in (("name", r"^\s+name=(.*)$"), ("size", r"\bdec=(\d+)"),
                             ("crc", r"\bcrc=0x([0-9a-f]+)"), ("redirect", r"redir: type=(\w+)")):
            found = re.search(pattern, line)
            if found and key not in cur:
                cur[key] = found.group(1)
    return [ExpEntry(e["name"].rstrip("/"), int(e.get("size", -1)), int(e.get("crc", "0"), 16),
                     e["kind"], e.get("redirect")) for e in entries]


def rename_rar4_entry(data: bytes, old: str, new: str) -> bytes:
    """Rename entry ``old`` to ``new`` (same byte length) in a RAR 1.5-4.x archive."""
    old_b, new_b = old.encode("utf-8"), new.encode("utf-8")
    if len(old_b) != len(new_b):
        raise ValueError("names must have the same length")
    if not data.startswith(RAR4_MAGIC):
        raise ValueError("not a RAR4 archive")
    out = bytearray(data)
    pos = len(RAR4_MAGIC)
    while pos + 7 <= len(out):
        _crc, kind, flags, head_size = struct.unpack_from("<HBHH", out, pos)
        add = struct.unpack_from("<I", out, pos + 7)[0] if (kind == 0x74 or flags & 0x8000) else 0
        if kind == 0x74:
            name_size = struct.unpack_from("<H", out, pos + 26)[0]
            name_at = pos + 32 + (8 if flags & 0x100 else 0)
            if bytes(out[name_at:name_at + name_size]) == old_b:
                out[name_at:name_at + name_size] = new_b
                struct.pack_into("<H", out, pos, zlib.crc32(bytes(out[pos + 2:pos + head_size])) & 0xFFFF)
                return bytes(out)
        if kind == 0x7B or head_size < 7:
            break
        pos += head_size + add
    raise KeyError(old)
