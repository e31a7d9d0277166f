"""A small streaming ZIP writer for exports: stored images, deflated XML, ZIP64 when needed.

Why not :mod:`zipfile`: an image copied from a stored entry of a source ZIP is copied by the
kernel (``os.copy_file_range``, falling back to ``sendfile`` then ``pread``/``write``) without
passing through Python, with the CRC-32 the source's central directory records — the export then
re-reads every entry and checks that CRC, which proves both the source bytes and the copy. That is
what lets an export run at the speed of a plain ``cp``. Everything written is read back by
:mod:`zipfile` in the verification step.

Format: local header + data for each entry (sizes and CRC known before the data, so no data
descriptors), then the central directory and the end record. Names are UTF-8 (flag bit 11).
An entry is never over 4 GiB (pages are capped at 256 MiB), but offsets past 4 GiB and more than
65,535 entries use the ZIP64 extra field and end records.
"""

from __future__ import annotations

import os
import struct
import zlib
from dataclasses import dataclass

STORED, DEFLATED = 0, 8
#: Above this, offsets and counts go to ZIP64 records (a module constant so tests can lower it).
ZIP64_LIMIT = 0xFFFFFFFF
ZIP64_COUNT_LIMIT = 0xFFFF
_UTF8 = 0x800
_EXTERNAL = (0o100644 << 16)


@dataclass
class _Entry:
    name: bytes
    method: int
    crc: int
    csize: int
    usize: int
    offset: int
    dostime: int
    dosdate: int


def dos_time(date_time: tuple[int, int, int, int, int, int]) -> tuple[int, int]:
    y, mo, d, h, mi, s = date_time
    return (h << 11) | (mi << 5) | (s // 2), ((y - 1980) << 9) | (mo << 5) | d


def copy_range(src_fd: int, dst_fd: int, count: int, offset: int) -> None:
    """Copy ``count`` bytes of ``src_fd`` from ``offset`` to the current position of ``dst_fd``,
    inside the kernel where it can."""
    done = 0
    use_cfr = hasattr(os, "copy_file_range")
    use_sendfile = hasattr(os, "sendfile")
    while done < count:
        n = 0
        if use_cfr:
            try:
                n = os.copy_file_range(src_fd, dst_fd, count - done, offset + done)
            except OSError as exc:
                if exc.errno in (18, 22, 38, 95, 1):  # EXDEV EINVAL ENOSYS EOPNOTSUPP EPERM
                    use_cfr = False
                    continue
                raise
        elif use_sendfile:
            try:
                n = os.sendfile(dst_fd, src_fd, offset + done, count - done)
            except OSError as exc:
                if exc.errno in (22, 38, 95):
                    use_sendfile = False
                    continue
                raise
        else:
            chunk = os.pread(src_fd, min(1 << 20, count - done), offset + done)
            n = 0
            view = memoryview(chunk)
            while n < len(chunk):
                n += os.write(dst_fd, view[n:])
        if n == 0:
            raise OSError(5, "the source ended early (truncated?)")
        done += n


class ZipStreamWriter:
    """Writes a ZIP to ``fh`` (a binary file object opened for writing, at position 0)."""

    def __init__(self, fh, date_time: tuple[int, int, int, int, int, int]):
        self.fh = fh
        self.pos = 0
        self.entries: list[_Entry] = []
        self.dostime, self.dosdate = dos_time(date_time)
        self.comment = b""

    def _write(self, data) -> None:
        view = memoryview(data)
        while view:
            n = self.fh.write(view)
            if n is None:  # a buffered stream wrote it all
                n = len(view)
            view = view[n:]
            self.pos += n

    def _local_header(self, e: _Entry) -> None:
        self._write(struct.pack("<IHHHHHIIIHH", 0x04034B50, 20, _UTF8, e.method, e.dostime, e.dosdate,
                                e.crc, e.csize, e.usize, len(e.name), 0) + e.name)

    def add_bytes(self, name: str, data: bytes, *, compress: bool = False) -> tuple[int, int]:
        """Add an entry from memory; returns (crc32, size)."""
        crc = zlib.crc32(data)
        payload = data
        method = STORED
        if compress:
            co = zlib.compressobj(6, zlib.DEFLATED, -15)
            payload = co.compress(data) + co.flush()
            method = DEFLATED
        e = _Entry(name.encode("utf-8"), method, crc, len(payload), len(data), self.pos, self.dostime, self.dosdate)
        self._local_header(e)
        self._write(payload)
        self.entries.append(e)
        return crc, len(data)

    def add_copy(self, name: str, src_fd: int, offset: int, size: int, crc: int) -> None:
        """Add a stored entry whose bytes are ``size`` bytes of ``src_fd`` at ``offset`` and whose
        CRC-32 is known (the verification step checks it)."""
        e = _Entry(name.encode("utf-8"), STORED, crc, size, size, self.pos, self.dostime, self.dosdate)
        self._local_header(e)
        self.fh.flush()
        copy_range(src_fd, self.fh.fileno(), size, offset)
        self.pos += size
        self.fh.seek(self.pos)
        self.entries.append(e)

    def close(self) -> None:
        start = self.pos
        for e in self.entries:
            extra = b""
            offset = e.offset
            if offset >= ZIP64_LIMIT:
                extra = struct.pack("<HHQ", 0x0001, 8, offset)
                offset = 0xFFFFFFFF
            version = 45 if extra else 20
            self._write(struct.pack("<IHHHHHHIIIHHHHHII", 0x02014B50, (3 << 8) | version, version, _UTF8,
                                    e.method, e.dostime, e.dosdate, e.crc, e.csize, e.usize, len(e.name),
                                    len(extra), 0, 0, 0, _EXTERNAL, offset) + e.name + extra)
        size = self.pos - start
        count = len(self.entries)
        if start >= ZIP64_LIMIT or size >= ZIP64_LIMIT or count >= ZIP64_COUNT_LIMIT:
            end64 = self.pos
            self._write(struct.pack("<IQHHIIQQQQ", 0x06064B50, 44, (3 << 8) | 45, 45, 0, 0, count, count,
                                    size, start))
            self._write(struct.pack("<IIQI", 0x07064B50, 0, end64, 1))
            self._write(struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, min(count, 0xFFFF), min(count, 0xFFFF),
                                    min(size, 0xFFFFFFFF), min(start, 0xFFFFFFFF), len(self.comment)))
        else:
            self._write(struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, count, count, size, start, len(self.comment)))
        self._write(self.comment)
