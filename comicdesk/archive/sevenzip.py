"""7z / CB7 reader (py7zr), read-only and entirely in memory.

Detection is by the 7z signature (``7z\\xbc\\xaf\\x27\\x1c``), never by extension: a ``.cbz`` that is
really a 7z archive opens here.

Members are the regular files of the archive (directories, symlinks, junctions and sockets are
never members) with names made safe by :func:`~comicdesk.archive.base.safe_member_name`; an entry
whose name is absolute or climbs out with ``..`` is skipped with a warning. Sizes are the sizes the
archive declares.

Reading
-------
py7zr's public ``extract(targets=..., factory=...)`` matches targets by *name* and checks every
output path against the current working directory, so two entries with the same name, or a cwd
containing symlinks, would confuse it. This reader drives py7zr's extraction worker directly
instead: each wanted entry (by its index in the archive) gets an in-memory sink, every other entry
none, so nothing is ever written to disk and results are matched by index, not by name.

A 7z *folder* is one compressed stream; in a solid archive it holds many files, and reaching a file
means decompressing everything before it in that folder. :meth:`SevenZipReader.read` decompresses
only up to the wanted entry, plus, when it had to skip S bytes to get there, up to S bytes of the
entries that follow, kept (within :data:`READ_AHEAD_BUDGET`) for the next reads: the first page is
read alone, and reading a solid book page after page costs a few passes, not one per page.
:meth:`SevenZipReader.read_many` reads all the wanted entries in one pass. When an entry fails
(checksum, damaged data) the rest of *its* folder is reported with the same error (the stream
cannot be resumed past the damage) and the other folders are still read.

Errors
------
A password-protected archive (encrypted data or encrypted headers) raises
``PasswordProtected("password-protected 7z archive")`` when it is opened (listing included). A
truncated or damaged archive raises :class:`CorruptArchive` with one line; an unsupported method
(BCJ2, ...) :class:`UnsupportedFormat`. No py7zr exception or traceback leaves this module.

Memory and time bounds (bombs)
------------------------------
* Declared sizes: an entry declaring more than ``limits.max_member_bytes`` is refused before any
  decompression (:meth:`Reader.check_size`); an archive declaring more than
  ``limits.max_total_bytes`` in total is refused when listed. py7zr's worker also gets
  ``max_extract_size = max_total_bytes``, so all decompression in one pass (skipped entries
  included) stops there. Time is therefore bounded by the declared sizes we agreed to.
* Real data larger than declared: py7zr's ``Worker.decompress`` loops ``while out_remaining > 0``
  with ``out_remaining`` = the entry's *declared* size and asks the folder decompressor for at most
  that many bytes, so a sink never receives more than the declared size; the sink also refuses to
  hold more than ``max_member_bytes`` (defence in depth; it raises :class:`TooLarge`).
* Inside py7zr, each decompress call feeds one input block (1 MiB) to the codec with a
  ``max_length``. LZMA, LZMA2, BZip2, PPMd and Brotli honour it, and Copy, AES and the BCJ/Delta
  filters are 1:1, so output per call is capped (py7zr asks for at most the entry's declared size,
  and at most 128 MB, per call). py7zr's Deflate, Deflate64 and Zstandard decoders ignore
  ``max_length``: one call returns everything one input block expands to (1 MiB of Deflate can be
  ~1 GiB; Deflate64/Zstandard up to ~32 GiB) and py7zr keeps the surplus in a buffer (about three
  copies of it at the peak). For folders using those codecs this reader pre-creates py7zr's folder
  decompressor (``Folder.get_decompressor``, cached by py7zr until the next ``reset``) and shrinks
  its input block so that one call can never expand past :data:`EXPANSION_BUDGET` (8 MiB): 8 KiB
  blocks for Deflate (worst ratio 1032:1), 256 bytes for Deflate64/Zstandard (< 32768:1). Those
  codecs are rare in comics (7-Zip writes LZMA2) and the small blocks cost little (about 0.2 s per
  10 MB of Zstandard). The archive *index* (encoded header) is decoded by py7zr before we can touch
  its decompressor; it is bounded by py7zr's own 64 MiB header limit for capped codecs (7-Zip and
  py7zr always pack it with LZMA/LZMA2), and an index packed with one of the uncapped codecs is
  refused unless its packed size is small enough that the worst case stays under
  :data:`HEADER_EXPANSION_BUDGET`. If a future py7zr changes these internals, such folders are
  refused with :class:`UnsupportedFormat` rather than read unbounded.
* Codec state: an LZMA dictionary may be declared large, but its memory is only touched as data is
  decoded, which the bounds above limit. py7zr caches one decompressor per folder for a whole pass;
  this reader drops each one once its folder's last wanted entry is read, so a non-solid book of
  hundreds of pages holds one dictionary at a time, not hundreds.
* ``read_many`` holds at most about :data:`READ_MANY_BUDGET` bytes of results at a time: wanted
  entries are read in archive order in batches of that many declared bytes (a single pass for any
  ordinary book; a very large solid book costs one extra partial pass per batch).
"""

from __future__ import annotations

import io
import lzma
import struct
import threading
from collections import OrderedDict
from pathlib import Path
from typing import Iterable, Iterator

from comicdesk.archive.base import DEFAULT_LIMITS, Member, Reader, safe_member_name
from comicdesk.core.errors import (
    BookError,
    CorruptArchive,
    PasswordProtected,
    TooLarge,
    UnsupportedFormat,
    file_error,
    flat,
)

SEVENZIP_MAGIC = b"7z\xbc\xaf\x27\x1c"
_SIGNATURE_HEADER_SIZE = 32
_ENCODED_HEADER_ID = 0x17

#: Most bytes a single py7zr decompress call may produce for a folder whose codec ignores
#: ``max_length`` (see the module docstring).
EXPANSION_BUDGET = 8 * 1024 * 1024
#: Same, for the archive index decoded by py7zr itself when the archive is opened.
HEADER_EXPANSION_BUDGET = 64 * 1024 * 1024
#: py7zr feeds the codec input blocks of this size (``get_default_blocksize()`` on 64-bit).
_PY7ZR_INPUT_BLOCK = 1024 * 1024
#: Declared bytes of results one ``read_many`` pass may hold.
READ_MANY_BUDGET = 256 * 1024 * 1024
#: Most bytes of entries decoded ahead by single reads in a solid folder and kept for later reads.
READ_AHEAD_BUDGET = 64 * 1024 * 1024

#: 7z method ids whose py7zr decoder ignores ``max_length`` -> (name, worst expansion ratio).
_UNCAPPED_METHODS: dict[bytes, tuple[str, int]] = {
    b"\x04\x01\x08": ("Deflate", 1032),
    b"\x04\x01\x09": ("Deflate64", 32768),
    b"\x04\xf7\x11\x01": ("Zstandard", 32768),
}

_PASSWORD_REASON = "password-protected 7z archive"


def _uncapped(coders) -> tuple[str, int] | None:
    """The worst uncapped codec of a coder chain, or None when every codec caps its output."""
    worst = None
    for coder in coders or ():
        hit = _UNCAPPED_METHODS.get(bytes(coder.get("method", b"")))
        if hit and (worst is None or hit[1] > worst[1]):
            worst = hit
    return worst


def describe_7z_error(exc: BaseException) -> BookError:
    """Map a py7zr (or codec) exception to a one-line :class:`BookError`."""
    from py7zr import exceptions as x

    if isinstance(exc, BookError):
        return exc
    if isinstance(exc, x.PasswordRequired):
        return PasswordProtected(_PASSWORD_REASON)
    if isinstance(exc, x.DecompressionBombError):
        return TooLarge("7z archive expands past the safety limit while decompressing")
    if isinstance(exc, x.CrcError):
        return CorruptArchive("damaged 7z archive: checksum mismatch")
    if isinstance(exc, x.UnsupportedCompressionMethodError):
        detail = exc.message if isinstance(getattr(exc, "message", None), str) else ""
        return UnsupportedFormat(
            f"7z archive uses a compression method comicdesk cannot read{': ' + detail if detail else ''}"
        )
    text = flat(exc)
    if isinstance(exc, x.Bad7zFile):
        low = text.lower()
        if "exceeds the archive size" in low or "truncated" in low:
            return CorruptArchive("damaged 7z archive: the file is truncated")
        if "invalid header data" in low:
            return CorruptArchive("damaged 7z archive: its index fails its checksum")
        return CorruptArchive(f"damaged 7z archive: {text}" if text else "damaged 7z archive")
    if isinstance(exc, EOFError):
        return CorruptArchive("damaged 7z archive: compressed data ends early")
    if isinstance(exc, lzma.LZMAError):
        return CorruptArchive(f"damaged 7z archive: {text or 'corrupt LZMA data'}")
    if isinstance(exc, UnicodeDecodeError):
        return CorruptArchive("damaged 7z archive: an entry name is not valid UTF-16")
    if isinstance(exc, MemoryError):
        return TooLarge("7z archive needs more memory than is available")
    if isinstance(exc, OSError):
        return CorruptArchive(f"cannot read 7z archive: {exc.strerror or text}")
    return CorruptArchive(f"damaged 7z archive: {text}" if text else
                          f"damaged 7z archive ({type(exc).__name__})")


def _py7zr_sink_classes():
    """The sink and its factory, built on py7zr's writer interface (imported lazily)."""
    from py7zr.io import Py7zIO, WriterFactory

    class MemberSink(Py7zIO):
        """Collects one entry's bytes in memory and hands them to ``done`` when py7zr finishes the
        entry (py7zr calls ``close`` only after the entry's CRC was verified)."""

        def __init__(self, file_id: int, limit: int, done):
            self._id = file_id
            self._limit = limit
            self._done = done
            self._buf = io.BytesIO()  # getvalue() hands over its buffer without a second copy
            self._size = 0

        def write(self, s) -> int:
            n = len(s)
            if self._size + n > self._limit:
                raise TooLarge(f"7z entry is larger than {self._limit // (1024 * 1024)} MiB uncompressed")
            self._buf.write(s)
            self._size += n
            return n

        def read(self, size=None) -> bytes:  # py7zr never reads a sink back
            return b""

        def seek(self, offset: int, whence: int = 0) -> int:
            return 0

        def flush(self) -> None:
            pass

        def size(self) -> int:
            return self._size

        def close(self) -> None:
            data = self._buf.getvalue()
            self._buf = io.BytesIO()
            self._done(self._id, data)

    class SinkFactory(WriterFactory):
        def __init__(self, limit: int, done):
            self._limit = limit
            self._done = done

        def create(self, filename: str) -> Py7zIO:
            # The "filename" is the entry index this reader gave the MemIO, never a path.
            return MemberSink(int(filename), self._limit, self._done)

    return MemberSink, SinkFactory


class SevenZipReader(Reader):
    format = "7z"

    @classmethod
    def sniff(cls, path: Path, head: bytes) -> bool:
        return head[:6] == SEVENZIP_MAGIC

    def __init__(self, path, limits=DEFAULT_LIMITS):
        super().__init__(path, limits)
        self._fh = None
        self._arc = None
        self._empty = False
        self._members: list[Member] | None = None
        self._files: dict[int, object] = {}  # entry index -> py7zr ArchiveFile
        self._folder_index: dict[int, int] = {}  # id(py7zr Folder) -> folder number
        self._lock = threading.RLock()
        #: Entries kept by ``read`` in solid folders (entry index -> bytes), least recent first.
        self._ahead: OrderedDict[int, bytes] = OrderedDict()
        self._ahead_bytes = 0

    # -- opening ------------------------------------------------------------------------------
    def _open(self):
        """The open py7zr archive, or None for a 7z archive with no entries at all."""
        if self._arc is not None or self._empty:
            return self._arc
        try:
            fh = open(self.path, "rb")
        except OSError as exc:
            raise file_error(exc) from None
        try:
            if self._precheck(fh):
                import py7zr

                arc = py7zr.SevenZipFile(fh, mode="r")
                if arc.needs_password():
                    raise PasswordProtected(_PASSWORD_REASON)
            else:
                arc = None
        except BaseException as exc:
            fh.close()
            if isinstance(exc, Exception):
                raise describe_7z_error(exc) from None
            raise
        self._fh = fh
        self._arc = arc
        self._empty = arc is None
        if arc is not None:
            self._files = {f.id: f for f in arc.files}
            streams = getattr(arc.header, "main_streams", None)
            folders = streams.unpackinfo.folders if streams is not None else []
            self._folder_index = {id(folder): i for i, folder in enumerate(folders)}
        return arc

    def _precheck(self, fh) -> bool:
        """Check the signature header ourselves (clear truncation message, empty archives) and
        refuse an index packed with a codec py7zr cannot cap. False for an archive with no
        entries."""
        sig = fh.read(_SIGNATURE_HEADER_SIZE)
        fh.seek(0, io.SEEK_END)
        file_size = fh.tell()
        fh.seek(0)
        if len(sig) < _SIGNATURE_HEADER_SIZE or sig[:6] != SEVENZIP_MAGIC:
            raise CorruptArchive("damaged 7z archive: the file is truncated")
        next_ofs, next_size = struct.unpack_from("<QQ", sig, 12)
        if next_size == 0 and next_ofs == 0:
            return False
        end = _SIGNATURE_HEADER_SIZE + next_ofs + next_size
        if end > file_size:
            raise CorruptArchive("damaged 7z archive: the file is truncated (its index is missing)")
        fh.seek(_SIGNATURE_HEADER_SIZE + next_ofs)
        raw = fh.read(min(next_size, 64 * 1024))
        fh.seek(0)
        if raw[:1] == bytes([_ENCODED_HEADER_ID]):
            try:
                from py7zr.archiveinfo import HeaderStreamsInfo

                streams = HeaderStreamsInfo.retrieve(io.BytesIO(raw[1:]))
                folders = list(streams.unpackinfo.folders)
                packed = int(streams.packinfo.packsizes[0]) if streams.packinfo.packsizes else 0
            except Exception:  # noqa: BLE001 - py7zr parses the same bytes and reports properly
                return True
            for folder in folders:
                hit = _uncapped(folder.coders)
                if hit and min(packed, _PY7ZR_INPUT_BLOCK) * hit[1] > HEADER_EXPANSION_BUDGET:
                    raise UnsupportedFormat(
                        f"7z archive index is packed with {hit[0]} in a way comicdesk cannot read safely"
                    )
        return True

    # -- listing ------------------------------------------------------------------------------
    def members(self) -> list[Member]:
        if self._members is not None:
            return list(self._members)
        with self._lock:
            arc = self._open()
        if arc is None:
            self._members = []
            return []
        if len(self._files) > self.limits.max_members:
            raise TooLarge(f"archive lists {len(self._files)} entries, over the {self.limits.max_members} limit")
        out: list[Member] = []
        unsafe: list[str] = []
        total = 0
        try:
            for f in arc.files:
                if f.is_directory or f.is_symlink or f.is_junction or f.is_socket or not f.is_file:
                    continue
                raw = f.filename or ""
                name = safe_member_name(raw)
                if name is None:
                    unsafe.append(raw)
                    continue
                size = int(f.uncompressed or 0)
                total += size
                out.append(Member(name, size, f.id))
        except BookError:
            raise
        except Exception as exc:  # noqa: BLE001 - malformed attributes and friends
            raise describe_7z_error(exc) from None
        if total > self.limits.max_total_bytes:
            raise TooLarge(f"archive declares {total // 1024**3} GiB uncompressed, over the safety limit")
        if unsafe:
            self.warnings.append(f"skipped {len(unsafe)} entr{'y' if len(unsafe) == 1 else 'ies'} "
                                 f"with an unsafe path ({unsafe[0]})")
        self._members = out
        return list(out)

    # -- reading ------------------------------------------------------------------------------
    def read(self, member: Member) -> bytes:
        """One entry. In a solid folder, reaching entry k means decoding the entries before it;
        so that reading page after page is not quadratic, a read that had to skip S bytes also
        decodes up to S bytes of the entries that follow, and keeps them and the entry itself
        (least recently used first out, within :data:`READ_AHEAD_BUDGET`) for the next reads. The
        first entry of a folder is read alone (fast first page)."""
        self.check_size(member)
        with self._lock:
            cached = self._ahead.get(member.key)
            if cached is not None:
                self._ahead.move_to_end(member.key)
                return cached
            skipped, ahead = self._read_ahead_plan(member.key)
            results, exc = self._pass([member.key, *ahead])
            if skipped:
                for fid in (member.key, *ahead):
                    data = results.get(fid)
                    if data is not None and fid not in self._ahead:
                        self._ahead[fid] = data
                        self._ahead_bytes += len(data)
                while self._ahead_bytes > READ_AHEAD_BUDGET:
                    self._ahead_bytes -= len(self._ahead.popitem(last=False)[1])
        if member.key in results:
            return results[member.key]
        raise describe_7z_error(exc) if exc is not None else CorruptArchive(
            f"entry {member.name!r} is missing from the 7z data")

    def _read_ahead_plan(self, fid: int) -> tuple[int, list[int]]:
        """Bytes decoded before ``fid`` in its folder, and the entries after it worth decoding in
        the same pass (see ``read``)."""
        f = self._files.get(fid)
        siblings = getattr(getattr(f, "folder", None), "files", None)
        if siblings is None:
            return 0, []
        ids = [s.id for s in siblings]
        if fid not in ids:
            return 0, []
        at = ids.index(fid)
        skipped = sum(int(self._files[i].uncompressed or 0) for i in ids[:at])
        allowance = min(skipped, READ_AHEAD_BUDGET)
        plan: list[int] = []
        for i in ids[at + 1:]:
            size = int(self._files[i].uncompressed or 0)
            if i in self._ahead or size > self.limits.max_member_bytes or size > allowance:
                break
            allowance -= size
            plan.append(i)
        return skipped, plan

    def read_many(self, members: Iterable[Member]) -> Iterator[tuple[Member, bytes | Exception]]:
        """Read the members in one pass per :data:`READ_MANY_BUDGET` bytes, in archive order
        (results are yielded in that order, not the order asked)."""
        wanted: dict[int, list[Member]] = {}
        for m in members:
            try:
                self.check_size(m)
                if m.key not in self._files:
                    self.members()
                if m.key not in self._files:
                    raise CorruptArchive(f"entry {m.name!r} is not in this 7z archive")
            except Exception as exc:  # noqa: BLE001 - reported per member
                yield m, exc if isinstance(exc, BookError) else describe_7z_error(exc)
                continue
            wanted.setdefault(m.key, []).append(m)
        order = sorted(wanted, key=self._extraction_order)
        batches: list[list[int]] = []
        budget = 0
        for fid in order:
            size = max(0, wanted[fid][0].size)
            if batches and budget + size <= READ_MANY_BUDGET:
                batches[-1].append(fid)
                budget += size
            else:
                batches.append([fid])
                budget = size
        for batch in batches:
            while batch:
                results, exc = self._pass(batch)
                for fid in batch:
                    if fid in results:
                        for m in wanted[fid]:
                            yield m, results[fid]
                undelivered = [fid for fid in batch if fid not in results]
                del results
                if not undelivered:
                    break
                if exc is None:  # the pass ended cleanly yet skipped them: never expected
                    for fid in undelivered:
                        for m in wanted[fid]:
                            yield m, CorruptArchive(f"entry {m.name!r} is missing from the 7z data")
                    break
                # The stream of the folder that failed cannot be resumed past the damage: its
                # remaining entries share the error; entries in other folders get another pass.
                error = describe_7z_error(exc)
                bad_folder = self._folder_of(undelivered[0])
                failed = [fid for fid in undelivered if self._folder_of(fid) == bad_folder]
                for fid in failed:
                    for m in wanted[fid]:
                        yield m, error
                batch = [fid for fid in undelivered if fid not in failed]

    # helpers for read_many ----------------------------------------------------------------------
    def _folder_of(self, fid: int) -> int | None:
        f = self._files.get(fid)
        folder = getattr(f, "folder", None) if f is not None else None
        return None if folder is None else self._folder_index.get(id(folder))

    def _extraction_order(self, fid: int) -> tuple[int, int]:
        """py7zr extracts empty entries first, then folder by folder in stored order."""
        folder = self._folder_of(fid)
        return (-1 if folder is None else folder, fid)

    def _pass(self, ids: list[int]) -> tuple[dict[int, bytes], Exception | None]:
        """One extraction pass over the archive for the given entry indexes. Returns what was
        read and the exception that stopped the pass, if any."""
        results: dict[int, bytes] = {}
        with self._lock:
            try:
                arc = self._open()
                if arc is None:
                    raise CorruptArchive("the 7z archive has no data")
                self._run(arc, set(ids), results)
            except Exception as exc:  # noqa: BLE001 - the caller decides who gets the error
                return results, exc
        return results, None

    def _run(self, arc, ids: set[int], results: dict[int, bytes]) -> None:
        from py7zr.io import MemIO

        _, SinkFactory = _py7zr_sink_classes()
        arc.reset()
        self._bound_uncapped_folders(arc, ids)
        # py7zr caches one decompressor per folder until the next reset; an LZMA one holds its
        # dictionary (8-64 MiB). Drop each as soon as the folder's last wanted entry is read so a
        # non-solid archive of 500 pages does not keep 500 dictionaries alive in one pass.
        last_of_folder: dict[int, int] = {}
        for fid in sorted(ids, key=self._extraction_order):
            folder = self._folder_of(fid)
            if folder is not None:
                last_of_folder[folder] = fid
        finishing = {fid: self._files[fid].folder for fid in last_of_folder.values()}

        def done(fid: int, data: bytes) -> None:
            results[fid] = data
            folder = finishing.get(fid)
            if folder is not None:
                try:
                    folder.decompressor = None
                except AttributeError:  # pragma: no cover - py7zr layout changed; only memory
                    pass

        worker = arc.worker
        worker.max_extract_size = self.limits.max_total_bytes
        factory = SinkFactory(self.limits.max_member_bytes, done)
        for fid in self._files:
            worker.register_filelike(fid, MemIO(str(fid), factory) if fid in ids else None)
        worker.extract(arc.fp, None, parallel=False)

    def _bound_uncapped_folders(self, arc, ids: set[int]) -> None:
        """Pre-create py7zr's decompressor for folders whose codec ignores ``max_length`` and
        shrink its input block (see the module docstring)."""
        folders = {}
        for fid in ids:
            f = self._files.get(fid)
            folder = getattr(f, "folder", None)
            if folder is not None:
                folders[id(folder)] = folder
        for folder in folders.values():
            hit = _uncapped(folder.coders)
            if hit is None:
                continue
            name, ratio = hit
            try:
                first = folder.files[0]
                decompressor = folder.get_decompressor(first.compressed)
                if not hasattr(decompressor, "block_size"):
                    raise AttributeError("block_size")
                decompressor.block_size = max(256, min(decompressor.block_size, EXPANSION_BUDGET // ratio))
            except (AttributeError, IndexError, TypeError):
                raise UnsupportedFormat(
                    f"7z archive uses {name} compression, which this py7zr version cannot read with bounded memory"
                ) from None

    def close(self) -> None:
        with self._lock:
            self._ahead.clear()
            self._ahead_bytes = 0
            arc, fh = self._arc, self._fh
            self._arc = None
            self._fh = None
            self._empty = False
            if arc is not None:
                try:
                    arc.close()  # the file was passed in, so py7zr leaves it to us
                except Exception:  # noqa: BLE001 - closing never raises
                    pass
            if fh is not None:
                fh.close()
