"""TAR / CBT reader (Python's tarfile), plain or compressed, read-only and in memory.

Detection is by content, never by extension:

* plain tar: the ``ustar`` magic at offset 257 (POSIX and GNU), or, for old v7 archives that have
  no magic, a first 512-byte header whose checksum is valid;
* compressed tar: the gzip, bzip2 or xz magic (zstd too when a zstd module is importable:
  ``compression.zstd`` on Python 3.14+, else ``backports.zstd``), then the first decompressed
  512-byte block must itself be a tar header as above, so a plain ``.gz`` of something else is not
  a book. A compressed file that breaks before its first 512 bytes decompress (truncated or damaged
  right at the start) is claimed too, so that a cut-off ``.cbt`` is reported as damaged rather
  than as an unknown format; nothing else in the registry reads bare compressed streams.

Members are regular files only (sparse and contiguous files count; symlinks, hard links,
devices, FIFOs and directories never do). Names go through
:func:`~comicdesk.archive.base.safe_member_name`: an absolute name or one with ``..`` is skipped
with a warning. tarfile decodes names as UTF-8 with ``surrogateescape``; a name that is not UTF-8
is decoded from its raw bytes as Shift-JIS (cp932, common for manga), else cp1252, like the ZIP
reader does.

Access: a plain tar is read by offset (true random access). A compressed tar can only be read
sequentially: listing is one pass over the stream (the index, kept), and each read seeks the
decompressed stream (forward seeks decompress and discard; a backward seek restarts from the
top). :meth:`TarReader.read_many` reads in data-offset order, so a whole book is one pass.

Truncated or damaged archives: every entry whose header could be read is listed, and listing stops
at the damage with a one-line warning in ``warnings`` ("the archive is truncated after 3
entries", "... damaged ...: an entry header is invalid"). An entry whose data is cut off or cannot
be decompressed raises :class:`CorruptArchive` when read (in a compressed tar, so does the entry
just before a damaged header: its data came out of the decompressor right before the damage), so
:class:`~comicdesk.archive.book.Book` keeps it as a bad page and the pages before the damage stay
readable. Only when not even the first header can be read does opening raise
:class:`CorruptArchive` (a bzip2 or zstd tar cut inside its first compressed block has nothing
readable, so it is that case). Tar itself has no checksums: for a compressed tar, listing reads on
past the end marker to the end of the stream (at most 1 MiB) so that the stream's own check (gzip
CRC32, xz check) runs, and a mismatch becomes a warning; which page was hit cannot be known, and
such a page usually fails to decode as an image.

Bounds: listing stops with :class:`TooLarge` when the declared sizes pass
``limits.max_total_bytes`` or the entry count passes ``limits.max_members``, *before* the stream
is decompressed past them, so time is bounded by what we agreed to read. Every read that tarfile
makes goes through a guard: while listing, no single read may exceed :data:`MAX_HEADER_READ`
(tarfile reads a pax or GNU long-name header in one piece of its declared size, which in a gzip
bomb could be gigabytes); while reading an entry, nothing beyond the entry's declared size, which
was checked against ``limits.max_member_bytes`` first. Decompressors are always asked for a
bounded number of bytes (tarfile's skipping seeks go through ``read`` in small chunks).
"""

from __future__ import annotations

import bz2
import gzip
import io
import lzma
import tarfile
import threading
import zlib
from pathlib import Path
from typing import Iterable, Iterator

from comicdesk.archive.base import DEFAULT_LIMITS, Member, Reader, safe_member_name
from comicdesk.core.errors import BookError, CorruptArchive, TooLarge, UnsupportedFormat, file_error, flat

BLOCK = tarfile.BLOCKSIZE  # 512
#: Largest single read allowed while listing (one pax / GNU long-name header).
MAX_HEADER_READ = 8 * 1024 * 1024
#: After the end-of-archive marker of a compressed tar, how far we read on to reach the stream's
#: own checksum (tar pads to 10 KiB records, so normally a few KiB).
_END_CHECK_BYTES = 1024 * 1024

GZIP_MAGIC = b"\x1f\x8b"
BZIP2_MAGIC = b"BZh"
XZ_MAGIC = b"\xfd7zXZ\x00"
ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"

_COMPRESSION_NAMES = {"gz": "gzip", "bz2": "bzip2", "xz": "xz", "zst": "zstd"}


def _zstd_module():
    """A zstd module with ``ZstdFile``, or None."""
    try:
        from compression import zstd  # type: ignore[import-not-found]  # Python 3.14+

        return zstd
    except ImportError:
        pass
    try:
        from backports import zstd  # type: ignore[import-not-found]

        return zstd
    except ImportError:
        return None


def compression_of(head: bytes) -> str | None:
    """'gz', 'bz2', 'xz' or 'zst' from the first bytes, None when not a compressed stream we read."""
    if head[:2] == GZIP_MAGIC:
        return "gz"
    if head[:3] == BZIP2_MAGIC and head[3:4].isdigit() and head[3:4] != b"0":
        return "bz2"
    if head[:6] == XZ_MAGIC:
        return "xz"
    if head[:4] == ZSTD_MAGIC and _zstd_module() is not None:
        return "zst"
    return None


def _checksum_ok(block: bytes) -> bool:
    """True when the header block's checksum field matches its contents (unsigned or signed sum,
    both seen in the wild)."""
    field = block[148:156]
    digits = field.strip(b" \x00")
    if not digits or any(c not in b"01234567" for c in digits) or b" " in digits or b"\x00" in digits:
        return False
    stored = int(digits, 8)
    unsigned = sum(block[:148]) + 8 * 0x20 + sum(block[156:512])
    if stored == unsigned:
        return True
    signed = sum(b - 256 if b > 127 else b for b in block[:148] + block[156:512]) + 8 * 0x20
    return stored == signed


def is_tar_header(block: bytes) -> bool:
    """True for a tar header block: ustar magic (POSIX ``ustar\\0``, GNU ``ustar  \\0``), or a v7
    header with a valid checksum and a name."""
    if block[257:262] == b"ustar":
        return True
    return len(block) >= BLOCK and block[0] != 0 and _checksum_ok(block[:BLOCK])


def _decompressing(kind: str, fh):
    """A read-only, seekable (by re-reading) decompressed view of ``fh``."""
    if kind == "gz":
        return gzip.GzipFile(fileobj=fh, mode="rb")
    if kind == "bz2":
        return bz2.BZ2File(fh, "rb")
    if kind == "xz":
        return lzma.LZMAFile(fh, "rb")
    if kind == "zst":
        zstd = _zstd_module()
        if zstd is None:  # pragma: no cover - compression_of() checked
            raise UnsupportedFormat("zstd-compressed TAR needs the backports.zstd package")
        return zstd.ZstdFile(fh, "rb")
    raise ValueError(kind)  # pragma: no cover


def decode_tar_name(name: str) -> str:
    """The entry name as its creator meant it. tarfile gives UTF-8 with surrogate escapes for
    bytes that are not UTF-8; those raw bytes are decoded as cp932 (Shift-JIS), else cp1252,
    else Latin-1 (which always succeeds)."""
    try:
        name.encode("utf-8")
        return name
    except UnicodeEncodeError:
        raw = name.encode("utf-8", "surrogateescape")
    for encoding in ("cp932", "cp1252"):
        try:
            return raw.decode(encoding)
        except UnicodeDecodeError:
            continue
    return raw.decode("latin-1")


def describe_tar_error(exc: BaseException, kind: str | None) -> str:
    """One line for a tarfile / decompressor failure."""
    what = f"{_COMPRESSION_NAMES[kind]}-compressed TAR" if kind else "TAR"
    text = flat(exc)
    low = text.lower()
    if isinstance(exc, EOFError) or "unexpected end of data" in low or "ended before" in low \
            or "truncated" in low or "end of stream" in low:
        return f"damaged {what} archive: it is truncated"
    if isinstance(exc, (zlib.error, lzma.LZMAError, gzip.BadGzipFile)) or "invalid data stream" in low \
            or "crc" in low or "corrupt" in low:
        return f"damaged {what} archive: the compressed data is corrupt"
    if isinstance(exc, tarfile.TarError):
        return f"damaged {what} archive: {text}" if text else f"damaged {what} archive"
    return f"damaged {what} archive: {text}" if text else f"damaged {what} archive ({type(exc).__name__})"


class _GuardedStream:
    """What tarfile reads through: refuses any single read larger than ``cap`` (set by the reader:
    small while listing headers, the entry's declared size while reading an entry)."""

    mode = "rb"
    name = None

    def __init__(self, raw, cap: int):
        self._raw = raw
        self.cap = cap

    def read(self, n: int | None = -1) -> bytes:
        if n is None or n < 0 or n > self.cap:
            size = "everything" if n is None or n < 0 else f"{n // (1024 * 1024)} MiB"
            raise TooLarge(f"TAR archive asks to read {size} at once, over the safety limit "
                           "(a hostile or broken header)")
        return self._raw.read(n)

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        return self._raw.seek(offset, whence)

    def tell(self) -> int:
        return self._raw.tell()

    def seekable(self) -> bool:
        return True

    def readable(self) -> bool:
        return True

    def close(self) -> None:  # tarfile never owns it; the reader closes the real stream
        pass


class TarReader(Reader):
    format = "tar"

    @classmethod
    def sniff(cls, path: Path, head: bytes) -> bool:
        if is_tar_header(head[:BLOCK]):
            return True
        kind = compression_of(head)
        if kind is None:
            return False
        try:
            with open(path, "rb") as fh, _decompressing(kind, fh) as stream:
                first = stream.read(BLOCK)
        except Exception:  # noqa: BLE001 - broken right at the start: claim it, report damage
            return True
        return is_tar_header(first)

    def __init__(self, path, limits=DEFAULT_LIMITS):
        super().__init__(path, limits)
        self._fh = None
        self._stream = None
        self._guard: _GuardedStream | None = None
        self._tf: tarfile.TarFile | None = None
        self._kind: str | None = None
        self._members: list[Member] | None = None
        #: In a compressed tar, the entry whose data runs into damage found while listing: the
        #: decompressor's output went wrong somewhere before the next header, so its bytes cannot
        #: be trusted (read raises).
        self._suspect: str | None = None
        self._lock = threading.RLock()

    # -- opening ------------------------------------------------------------------------------
    def _open(self) -> tarfile.TarFile:
        if self._tf is not None:
            return self._tf
        try:
            fh = open(self.path, "rb")
        except OSError as exc:
            raise file_error(exc) from None
        stream = None
        try:
            self._kind = compression_of(fh.read(16))
            fh.seek(0)
            stream = fh if self._kind is None else _decompressing(self._kind, fh)
            guard = _GuardedStream(stream, MAX_HEADER_READ)
            tf = tarfile.open(fileobj=guard, mode="r:", encoding="utf-8", errors="surrogateescape")
        except BookError:
            self._close_streams(stream, fh)
            raise
        except Exception as exc:  # noqa: BLE001 - tarfile / decompressor errors: one line
            self._close_streams(stream, fh)
            raise CorruptArchive(describe_tar_error(exc, self._kind)) from None
        self._fh, self._stream, self._guard, self._tf = fh, stream, guard, tf
        return tf

    @staticmethod
    def _close_streams(stream, fh) -> None:
        for obj in (stream, fh):
            if obj is not None:
                try:
                    obj.close()
                except Exception:  # noqa: BLE001
                    pass

    # -- listing ------------------------------------------------------------------------------
    def members(self) -> list[Member]:
        if self._members is not None:
            return list(self._members)
        with self._lock:
            tf = self._open()
            assert self._guard is not None
            self._guard.cap = MAX_HEADER_READ
            out: list[Member] = []
            unsafe: list[str] = []
            total = 0
            entries = 0
            while True:
                # Check the limits *before* asking for the next header: tarfile's next() first
                # skips (decompresses) the previous entry's data.
                try:
                    info = tf.next()
                except BookError:
                    raise
                except Exception as exc:  # noqa: BLE001 - damage after some entries: keep them
                    if entries == 0:
                        raise CorruptArchive(describe_tar_error(exc, self._kind)) from None
                    warning = self._damage_warning(exc, entries)
                    self.warnings.append(warning)
                    if "truncated" not in warning:
                        self._suspect_last(out)
                    break
                if info is None:
                    # tarfile ends quietly at a header it cannot parse; only zeros (the end
                    # marker) or the end of the data mean the archive really ended here.
                    problem = self._end_problem(tf.offset)
                    if problem:
                        self.warnings.append(f"the archive is damaged after {entries} "
                                             f"entr{'y' if entries == 1 else 'ies'}: {problem}")
                        if problem == "an entry header is invalid":
                            self._suspect_last(out)
                    break
                entries += 1
                if entries > self.limits.max_members:
                    raise TooLarge(f"archive holds over {self.limits.max_members} entries, over the limit")
                if not info.isreg():
                    continue  # directories, symlinks, hard links, devices, FIFOs: never members
                raw = decode_tar_name(info.name)
                name = safe_member_name(raw)
                if name is None:
                    unsafe.append(raw)
                    continue
                total += info.size
                if total > self.limits.max_total_bytes:
                    raise TooLarge(f"archive declares over {self.limits.max_total_bytes // 1024**3} GiB "
                                   "uncompressed, over the safety limit")
                out.append(Member(name, info.size, info))
        if unsafe:
            self.warnings.append(f"skipped {len(unsafe)} entr{'y' if len(unsafe) == 1 else 'ies'} "
                                 f"with an unsafe path ({unsafe[0]})")
        self._members = out
        return list(out)

    def _suspect_last(self, out: list[Member]) -> None:
        """Damage right after an entry of a compressed stream: its data came out of the
        decompressor just before the damage (a plain tar's bytes are read as stored)."""
        if self._kind is not None and out:
            self._suspect = out[-1].name

    def _end_problem(self, offset: int) -> str | None:
        """Why the block where listing stopped is not a proper end, or None when it is one."""
        assert self._guard is not None
        try:
            self._guard.seek(offset)
            block = self._guard.read(BLOCK)
            if block.strip(b"\x00"):
                return "an entry header is invalid"
            if self._kind is not None:
                # Tar has no checksums of its own; the compressed stream's (gzip CRC32, xz
                # check) is verified when its end is reached. Only record padding follows the
                # end marker, so read on to the end, within a small bound.
                left = _END_CHECK_BYTES
                while left > 0:
                    chunk = self._guard.read(min(left, 64 * 1024))
                    if not chunk:
                        break
                    left -= len(chunk)
        except BookError:
            raise
        except Exception as exc:  # noqa: BLE001 - the data breaks right there
            return describe_tar_error(exc, self._kind).split(": ", 1)[-1]
        return None

    def _damage_warning(self, exc: BaseException, entries: int) -> str:
        reason = describe_tar_error(exc, self._kind)
        if "truncated" in reason:
            return f"the archive is truncated after {entries} entr{'y' if entries == 1 else 'ies'}"
        return f"the archive is damaged after {entries} entr{'y' if entries == 1 else 'ies'}: {reason}"

    # -- reading ------------------------------------------------------------------------------
    def read(self, member: Member) -> bytes:
        self.check_size(member)
        return self._read(member, member.size)

    def read_head(self, member: Member, n: int) -> bytes:
        self.check_size(member)
        return self._read(member, min(n, member.size))

    def _read(self, member: Member, n: int) -> bytes:
        info = member.key
        if not isinstance(info, tarfile.TarInfo):
            raise CorruptArchive(f"entry {member.name!r} is not in this TAR archive")
        if member.name == self._suspect:
            raise CorruptArchive(f"damaged {_COMPRESSION_NAMES[self._kind]}-compressed TAR archive: entry {member.name!r} "
                                 f"runs into the damage")
        with self._lock:
            tf = self._open()
            assert self._guard is not None
            # tarfile's buffered entry reader asks for up to its buffer size (8 KiB) at a time,
            # never past the entry's end.
            self._guard.cap = max(n, 64 * 1024)
            try:
                fobj = tf.extractfile(info)
                if fobj is None:  # pragma: no cover - only regular files are members
                    raise CorruptArchive(f"entry {member.name!r} is not a regular file")
                data = fobj.read(n)
            except BookError:
                raise
            except Exception as exc:  # noqa: BLE001 - tarfile / decompressor errors, one line
                reason = describe_tar_error(exc, self._kind)
                if "truncated" in reason:
                    reason = f"{reason} (entry {member.name!r} is cut off)"
                raise CorruptArchive(reason) from None
            finally:
                self._guard.cap = MAX_HEADER_READ
        if len(data) != n:
            raise CorruptArchive(f"damaged TAR archive: entry {member.name!r} is cut off")
        return data

    def read_many(self, members: Iterable[Member]) -> Iterator[tuple[Member, bytes | Exception]]:
        """Read in data-offset order: one forward pass over a compressed stream."""
        def offset(m: Member) -> int:
            return getattr(m.key, "offset_data", -1)

        for m in sorted(members, key=offset):
            try:
                yield m, self.read(m)
            except Exception as exc:  # noqa: BLE001 - reported per member
                yield m, exc

    def close(self) -> None:
        with self._lock:
            tf, stream, fh = self._tf, self._stream, self._fh
            self._tf = self._stream = self._fh = self._guard = None
            if tf is not None:
                try:
                    tf.close()  # a TarFile given a fileobj leaves it open
                except Exception:  # noqa: BLE001
                    pass
            self._close_streams(stream if stream is not fh else None, fh)
