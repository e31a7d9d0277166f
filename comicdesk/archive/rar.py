"""RAR / CBR reader: RAR 1.3-1.4, RAR 1.5-4.x ("RAR4") and RAR5, solid archives, multi-volume sets.

Decompression goes through the UnRAR library bundled in the ``unrar2-cffi`` wheel (module
``unrar.cffi``), driven directly through its cffi bindings so that we control the callback: data
arrives in memory chunk by chunk (``RAR_TEST``, never ``RAR_EXTRACT``: nothing is ever written
anywhere), a member can be aborted as soon as it grows past the size limit, a missing volume or a
password prompt is refused instead of looping, and every UnRAR error code becomes one line.

A small pure-Python walker over the block structure (no decompression) complements UnRAR where it
is silent or wrong:

* truncation: UnRAR lists a RAR cut inside its headers as an *empty* archive; the walker sees a
  block that runs past the end of the file (or a RAR5 file without its end-of-archive block);
* encryption: RAR 1.5-2.x file encryption flags and encrypted headers are read without UnRAR;
* volumes: :meth:`RarReader.is_continuation` decides from the first bytes whether a file is a
  later part of a multi-volume set (those are not books; the first part is);
* RAR 1.5-2.x archives with *file comments*: UnRAR 7 rejects their headers (it checks the header
  CRC over the comment, old RAR computed it without). For those the reader hands UnRAR a copy of
  the archive with the comments cut out of the headers, held in an anonymous in-memory file
  (``memfd``, Linux only: elsewhere such an archive is reported unsupported). Nothing touches disk.

Reading: RAR data is sequential, and in a *solid* archive member k can only be decoded after all
members before it. :meth:`RarReader.read_many` therefore reads every requested member in one pass,
and :meth:`RarReader.read` / :meth:`RarReader.read_head` keep their position between calls, so
reading pages (or their image headers) in order costs one pass too; going backwards starts a new
pass. Entries are matched by position *and* name, so an archive replaced while open is noticed.
Links (symbolic, hard, file copies), directories, entries stored under a symlinked folder, older
file versions kept by ``rar -ver`` and unsafe names are never members. Self-extracting (SFX) archives are not sniffed (that would mean searching inside every
unknown file), but the reader opens them when it is chosen explicitly.
"""

from __future__ import annotations

import io
import os
import re
import struct
import threading
import zlib
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Callable, Iterable, Iterator

from comicdesk.archive.base import DEFAULT_LIMITS, Member, Reader, safe_member_name
from comicdesk.core.errors import (
    BookError,
    CorruptArchive,
    PasswordProtected,
    TooLarge,
    UnsupportedFormat,
    file_error,
)

RAR4_MAGIC = b"Rar!\x1a\x07\x00"  # RAR 1.5 - 4.x
RAR5_MAGIC = b"Rar!\x1a\x07\x01\x00"  # RAR 5.0 and later
RAR14_MAGIC = b"RE~^"  # RAR 1.3 / 1.4
_SIG_PREFIX = b"Rar!\x1a\x07"
#: How far into a self-extracting archive we look for the RAR signature.
SFX_SEARCH_BYTES = 4 * 1024 * 1024
#: Largest legacy (RAR 1.5-2.x with file comments) archive we copy into memory to repair.
LEGACY_COPY_LIMIT = 256 * 1024 * 1024
#: Characters of an archive comment read (RAR caps comments at 64 KiB; a longer one is ignored).
COMMENT_CHARS = 65536

PASSWORD_REASON = "password-protected RAR archive"
TRUNCATED_REASON = "damaged RAR archive: the file is truncated (incomplete download or copy?)"

# -- UnRAR library constants (dll.hpp) ----------------------------------------------------------
_OM_LIST, _OM_EXTRACT = 0, 1
_RAR_SKIP, _RAR_TEST = 0, 1
_RAR_VOL_ASK, _RAR_VOL_NOTIFY = 0, 1
_ERAR_END_ARCHIVE = 10
_ERAR_NO_MEMORY = 11
_ERAR_BAD_DATA = 12
_ERAR_BAD_ARCHIVE = 13
_ERAR_UNKNOWN_FORMAT = 14
_ERAR_EOPEN = 15
_ERAR_ECREATE = 16
_ERAR_EREAD = 18
_ERAR_UNKNOWN = 21
_ERAR_MISSING_PASSWORD = 22
_ERAR_EREFERENCE = 23
_ERAR_BAD_PASSWORD = 24
_ERAR_LARGE_DICT = 25
_RHDF_SPLITBEFORE = 0x01
_RHDF_ENCRYPTED = 0x04
_RHDF_DIRECTORY = 0x20
_ROADF_VOLUME = 0x0001
_ROADF_SOLID = 0x0008
_ROADF_ENCHEADERS = 0x0080
_REDIR_SYMLINKS = (1, 2, 3)  # Unix symlink, Windows symlink, junction (4 hard link, 5 file copy)
_NAME_BUFFER = 4096  # characters; UnRAR's fixed FileNameW holds only 1024

# -- RAR4 block structure -----------------------------------------------------------------------
_R4_MAIN, _R4_FILE, _R4_NEWSUB, _R4_ENDARC = 0x73, 0x74, 0x7A, 0x7B
_R4_LONG_BLOCK = 0x8000
_MHD_VOLUME, _MHD_NEWNUMBERING, _MHD_PASSWORD, _MHD_FIRSTVOLUME = 0x0001, 0x0010, 0x0080, 0x0100
_LHD_SPLIT_BEFORE, _LHD_PASSWORD, _LHD_COMMENT = 0x0001, 0x0004, 0x0008
_LHD_LARGE, _LHD_SALT, _LHD_EXTTIME = 0x0100, 0x0400, 0x1000
_R4_FILE_FIXED = 32  # bytes of a file header before the optional high sizes and the name

# -- RAR5 block structure -----------------------------------------------------------------------
_R5_MAIN, _R5_CRYPT, _R5_ENDARC = 1, 4, 5
_R5_HAS_EXTRA, _R5_HAS_DATA = 0x0001, 0x0002
_R5_ARC_VOLUME, _R5_ARC_VOLNUMBER = 0x0001, 0x0002

_PART_RE = re.compile(r"\.part0*(\d+)\.[^.]+$", re.IGNORECASE)
_OLD_VOLUME_RE = re.compile(r"\.([rs]\d\d|\d\d\d)$", re.IGNORECASE)
_VERSION_RE = re.compile(r"^(.+);\d+$")


@lru_cache(maxsize=None)
def _unrar():
    """(ffi, lib) of the bundled UnRAR library, imported on first use."""
    try:
        # Importing unrarlib registers the Python side of the C callback trampoline.
        from unrar.cffi import unrarlib  # noqa: F401
        from unrar.cffi._unrarlib import ffi, lib
    except ImportError:  # pragma: no cover - the dependency is declared
        raise UnsupportedFormat("RAR support needs the unrar2-cffi package") from None
    return ffi, lib


# =============================================================================================
# Names
# =============================================================================================
_MAP_MARK = "\ufffe"  # UnRAR marks names holding bytes it could not decode...
_MAP_LOW, _MAP_HIGH = 0xE080, 0xE0FF  # ...and stores each such byte b as U+E000+b.


def _unmap_bytes(name: str) -> bytes:
    out = bytearray()
    for ch in name:
        code = ord(ch)
        if ch == _MAP_MARK:
            continue
        if _MAP_LOW <= code <= _MAP_HIGH:
            out.append(code - 0xE000)
        else:
            out += ch.encode("utf-8", "surrogatepass")
    return bytes(out)


def decode_rar_name(raw: str, host_os: int = 3) -> str:
    """The entry name as its creator meant it.

    UnRAR hands back UTF-16 surrogate pairs for RAR 3.x Unicode names (combined here), and maps
    bytes it could not decode as UTF-8 (RAR 1.5-4.x names without a Unicode copy) into a private
    area; those are decoded as UTF-8, then Shift-JIS (manga), then the creator's likely code page:
    the DOS one (cp437) for DOS/Windows archives, cp1252 otherwise.
    """
    name = raw
    if any("\ud800" <= ch <= "\udfff" for ch in name):
        name = name.encode("utf-16-le", "surrogatepass").decode("utf-16-le", "replace")
    if _MAP_MARK not in name:
        return name
    data = _unmap_bytes(name)
    fallback = "cp437" if host_os in (0, 1, 2) else "cp1252"
    for encoding in ("utf-8", "cp932", fallback):
        try:
            return data.decode(encoding)
        except UnicodeDecodeError:
            continue
    return data.decode("latin-1")


def _unrar_path(path: Path) -> str:
    """A file system path as UnRAR expects it: bytes that are not UTF-8 use UnRAR's own mapping."""
    text = str(path)
    if not any("\udc80" <= ch <= "\udcff" for ch in text):
        return text
    raw = os.fsencode(path)
    return _MAP_MARK + "".join(chr(0xE000 + b) if b >= 0x80 else chr(b) for b in raw)


# =============================================================================================
# Block structure walker (pure Python, headers only)
# =============================================================================================
@dataclass
class _Layout:
    """What the block structure of one RAR file says, as far as it can be read without UnRAR."""

    kind: str = "unknown"  # rar4 | rar5 | rar14 | unknown
    start: int = 0  # offset of the signature (non-zero for SFX)
    volume: bool = False
    first_volume: bool | None = None  # None: the headers do not say
    continuation: bool | None = None  # None: the headers do not say
    encrypted_headers: bool = False
    encrypted_files: bool = False
    legacy_comments: bool = False  # RAR 1.5-2.x file comments inside file headers
    truncated: bool = False
    #: RAR4 file headers with an in-header comment: (offset, header size, header size w/o comment)
    comment_headers: list[tuple[int, int, int]] = field(default_factory=list)


def _vint(buf: bytes, pos: int) -> tuple[int, int]:
    """A RAR5 variable-length integer at ``pos``: (value, next position). ValueError if cut."""
    value = shift = 0
    for i in range(10):
        if pos + i >= len(buf):
            raise ValueError("cut vint")
        byte = buf[pos + i]
        value |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return value, pos + i + 1
        shift += 7
    raise ValueError("bad vint")


def _find_signature(fh, head: bytes) -> tuple[int, bytes] | None:
    if head.startswith(_SIG_PREFIX) or head.startswith(RAR14_MAGIC):
        return 0, head
    # Self-extracting archive: the signature follows the executable stub.
    fh.seek(0)
    chunk = fh.read(SFX_SEARCH_BYTES)
    at = chunk.find(_SIG_PREFIX)
    if at < 0:
        return None
    fh.seek(at)
    return at, fh.read(16)


def _walk_rar4(fh, layout: _Layout, size: int) -> None:
    pos = layout.start + len(RAR4_MAGIC)
    first_file = True
    while True:
        if pos == size:
            return  # RAR 1.5-2.x archives may end without an end-of-archive block
        fh.seek(pos)
        base = fh.read(_R4_FILE_FIXED)
        if len(base) < 7:
            layout.truncated = True
            return
        _crc, kind, flags, head_size = struct.unpack_from("<HBHH", base)
        if head_size < 7:
            return  # not a block we understand: let UnRAR judge
        data_size = 0
        if kind in (_R4_FILE, _R4_NEWSUB) or flags & _R4_LONG_BLOCK:
            if len(base) < 11:
                layout.truncated = True
                return
            data_size = struct.unpack_from("<I", base, 7)[0]
        if kind == _R4_MAIN:
            layout.volume = bool(flags & _MHD_VOLUME)
            if flags & _MHD_FIRSTVOLUME:
                layout.first_volume, layout.continuation = True, False
            elif layout.volume and flags & _MHD_NEWNUMBERING:
                # RAR 3.0+ marks first volumes; a new-style volume without the mark is a later part.
                layout.first_volume, layout.continuation = False, True
            elif not layout.volume:
                layout.continuation = False
            if flags & _MHD_PASSWORD:
                layout.encrypted_headers = True
                return
        elif kind in (_R4_FILE, _R4_NEWSUB):
            if len(base) < _R4_FILE_FIXED:
                layout.truncated = True
                return
            if kind == _R4_FILE:
                if flags & _LHD_LARGE:
                    fh.seek(pos + _R4_FILE_FIXED)
                    high = fh.read(8)
                    if len(high) < 8:
                        layout.truncated = True
                        return
                    data_size |= struct.unpack_from("<I", high)[0] << 32
                if first_file and layout.volume and flags & _LHD_SPLIT_BEFORE:
                    layout.continuation = True  # starts with the rest of a file: a later part
                first_file = False
                if flags & _LHD_PASSWORD:
                    layout.encrypted_files = True
                if flags & _LHD_COMMENT:
                    layout.legacy_comments = True
                    name_size = struct.unpack_from("<H", base, 26)[0]
                    fixed = _R4_FILE_FIXED + (8 if flags & _LHD_LARGE else 0) + name_size
                    if not flags & (_LHD_SALT | _LHD_EXTTIME) and fixed <= head_size:
                        layout.comment_headers.append((pos, head_size, fixed))
        end = pos + head_size + data_size
        if end > size:
            layout.truncated = True
            return
        if kind == _R4_ENDARC:
            return
        pos = end


def _walk_rar5(fh, layout: _Layout, size: int) -> None:
    pos = layout.start + len(RAR5_MAGIC)
    first_block = True
    while True:
        if pos >= size:
            layout.truncated = True  # RAR5 always ends with an end-of-archive block
            return
        fh.seek(pos)
        prefix = fh.read(4 + 3)
        try:
            head_size, at = _vint(prefix, 4)
        except ValueError:
            layout.truncated = True
            return
        if head_size == 0 or head_size > 2 * 1024 * 1024:
            return  # not a header we understand: let UnRAR judge
        body = pos + at
        fh.seek(body)
        header = fh.read(head_size)
        if len(header) < head_size:
            layout.truncated = True
            return
        try:
            kind, at = _vint(header, 0)
            flags, at = _vint(header, at)
            if flags & _R5_HAS_EXTRA:
                _extra, at = _vint(header, at)
            data_size = 0
            if flags & _R5_HAS_DATA:
                data_size, at = _vint(header, at)
            if kind == _R5_MAIN:
                arc_flags, at = _vint(header, at)
                layout.volume = bool(arc_flags & _R5_ARC_VOLUME)
                volume_number = _vint(header, at)[0] if arc_flags & _R5_ARC_VOLNUMBER else 0
                # The volume number is stored in every volume but the first.
                layout.continuation = bool(arc_flags & _R5_ARC_VOLNUMBER) and volume_number > 0
                layout.first_volume = layout.volume and not layout.continuation
        except ValueError:
            return
        if kind == _R5_CRYPT:
            layout.encrypted_headers = True
            return
        if first_block and kind != _R5_MAIN:
            return  # unexpected first block: let UnRAR judge
        first_block = False
        end = body + head_size + data_size
        if end > size:
            layout.truncated = True
            return
        if kind == _R5_ENDARC:
            return
        pos = end


def _inspect(fh, size: int, head: bytes | None = None) -> _Layout:
    """Walk the block headers of one RAR file (``fh`` open in binary mode, ``size`` its length)."""
    layout = _Layout()
    if head is None:
        fh.seek(0)
        head = fh.read(16)
    found = _find_signature(fh, head)
    if found is None:
        return layout
    layout.start, sig = found
    if sig.startswith(RAR5_MAGIC):
        layout.kind = "rar5"
        _walk_rar5(fh, layout, size)
    elif sig.startswith(RAR4_MAGIC):
        layout.kind = "rar4"
        _walk_rar4(fh, layout, size)
    elif sig.startswith(RAR14_MAGIC):
        layout.kind = "rar14"
    return layout


def _inspect_head(head: bytes) -> _Layout:
    """The same walk over the first bytes only (what sniffing gets); truncation is meaningless."""
    return _inspect(io.BytesIO(head), 1 << 62, head)


def _name_says_continuation(path: Path) -> bool:
    name = path.name
    match = _PART_RE.search(name)
    if match:
        return int(match.group(1)) > 1
    return bool(_OLD_VOLUME_RE.search(name))


def _strip_legacy_comments(data: bytes, layout: _Layout) -> bytes:
    """A copy of a RAR 1.5-2.x archive with the comments cut out of its file headers."""
    out = bytearray()
    last = 0
    for pos, head_size, fixed in layout.comment_headers:
        out += data[last:pos]
        header = bytearray(data[pos:pos + fixed])
        flags = struct.unpack_from("<H", header, 3)[0] & ~_LHD_COMMENT
        struct.pack_into("<HH", header, 3, flags, fixed)
        struct.pack_into("<H", header, 0, zlib.crc32(bytes(header[2:])) & 0xFFFF)
        out += header
        last = pos + head_size
    out += data[last:]
    return bytes(out)


# =============================================================================================
# UnRAR handle
# =============================================================================================
@dataclass(frozen=True)
class _Header:
    raw_name: str
    flags: int
    size: int
    redir: int
    host_os: int


class _Collector:
    """Receives a member's data from UnRAR; refuses to hold more than ``limit`` bytes. With
    ``keep``, only the first ``keep`` bytes are held (the rest is decoded and dropped, so the
    archive position stays usable)."""

    def __init__(self, limit: int, keep: int | None = None):
        self.limit = limit
        self.keep = keep
        self.parts: list[bytes] = []
        self.size = 0
        self.overflow = False

    def __call__(self, chunk: bytes) -> bool:
        held = self.size
        self.size += len(chunk)
        if self.size > self.limit:
            self.overflow = True
            self.parts.clear()
            return False
        if self.keep is None:
            self.parts.append(chunk)
        elif held < self.keep:
            self.parts.append(chunk[:self.keep - held])
        return True

    def data(self) -> bytes:
        return b"".join(self.parts)


class _SkipFailed(Exception):
    """The archive cannot be advanced any further: every member still wanted fails with it."""

    def __init__(self, error: BookError):
        super().__init__(error.reason)
        self.error = error


class _Unrar:
    """One open UnRAR archive handle, read strictly forwards."""

    def __init__(self, path: str, mode: int):
        ffi, lib = _unrar()
        self._ffi, self._lib = ffi, lib
        self._handle = None
        #: The archive comment (read when listing, if the archive has one).
        self.comment: str | None = None
        comment_chars = COMMENT_CHARS if mode == _OM_LIST else 0
        self.sink: Callable[[bytes], bool] | None = None
        self.volumes: list[str] = []  # later volumes UnRAR moved on to
        self.missing_volume: str | None = None
        self.password_needed = False
        self.dictionary_too_large = False
        self.next_index = 0  # index of the next header read_header() returns
        self.dead = False
        # The callback object must outlive the handle: UnRAR calls back into it.
        self._userdata = ffi.new_handle(self._callback)
        self._arcname = ffi.new("wchar_t[]", path)
        request = ffi.new("struct RAROpenArchiveDataEx *")
        request.ArcNameW = self._arcname
        request.OpenMode = mode
        request.Callback = ffi.cast("int(*)(unsigned int, long, long, long)", lib.PyUNRARCALLBACKStub)
        request.UserData = ffi.cast("long", self._userdata)
        comment = ffi.new("wchar_t[]", comment_chars) if comment_chars > 0 else None
        if comment is not None:
            request.CmtBufW = comment
            request.CmtBufSize = comment_chars
        handle = lib.RAROpenArchiveEx(request)
        self.flags = request.Flags
        if comment is not None and request.CmtState == 1 and request.CmtSize > 0:
            # CmtState 1: read in full (absent, damaged or too long for the buffer: no comment).
            self.comment = ffi.string(comment, min(request.CmtSize, comment_chars))
        if handle == ffi.NULL or request.OpenResult != 0:
            if handle != ffi.NULL:
                lib.RARCloseArchive(handle)
            raise self.error(request.OpenResult or _ERAR_EOPEN)
        self._handle = handle

    # UnRAR calls this from inside RARReadHeaderEx / RARProcessFileW. It must never raise.
    def _callback(self, msg: int, p1: int, p2: int) -> int:
        try:
            ffi, lib = self._ffi, self._lib
            if msg == lib.UCM_PROCESSDATA:
                sink = self.sink
                if sink is None:
                    return 1
                return 1 if sink(ffi.buffer(ffi.cast("char *", p1), p2)[:]) else -1
            if msg in (lib.UCM_CHANGEVOLUMEW, lib.UCM_CHANGEVOLUME):
                name = ffi.string(ffi.cast("wchar_t *", p1)) if msg == lib.UCM_CHANGEVOLUMEW else None
                if p2 == _RAR_VOL_NOTIFY:
                    if name is not None:
                        self.volumes.append(name)
                    return 1
                if name is not None:
                    self.missing_volume = name
                return -1  # a volume is missing: stop instead of asking forever
            if msg in (lib.UCM_NEEDPASSWORD, lib.UCM_NEEDPASSWORDW):
                self.password_needed = True
                return -1
            if msg == lib.UCM_LARGEDICT:
                self.dictionary_too_large = True
                return -1
            return -1
        except BaseException:  # noqa: BLE001 - an exception here would only be printed by cffi
            return -1

    def read_header(self) -> _Header | None:
        """The next entry's header, or None at the end of the archive. Raises BookError."""
        ffi, lib = self._ffi, self._lib
        header = ffi.new("struct RARHeaderDataEx *")
        long_name = ffi.new("wchar_t[]", _NAME_BUFFER)
        header.FileNameEx = long_name
        header.FileNameExSize = _NAME_BUFFER
        while True:
            result = lib.RARReadHeaderEx(self._handle, header)
            if result == _ERAR_END_ARCHIVE:
                return None
            if result != 0:
                self.dead = True
                raise self.error(result)
            if not header.Flags & _RHDF_SPLITBEFORE:
                break
            # When an entry split over volumes was skipped, UnRAR shows its remaining parts as
            # headers of their own: skip them too, they are not entries.
            result = lib.RARProcessFileW(self._handle, _RAR_SKIP, ffi.NULL, ffi.NULL)
            if result != 0:
                self.dead = True
                raise self.error(result)
        name = ffi.string(long_name) or ffi.string(header.FileNameW)
        return _Header(
            raw_name=name,
            flags=header.Flags,
            size=header.UnpSize | (header.UnpSizeHigh << 32),
            redir=header.RedirType,
            host_os=header.HostOS,
        )

    def process(self, operation: int, sink: Callable[[bytes], bool] | None = None) -> int:
        """Skip or test (decode in memory) the entry whose header was just read."""
        self.sink = sink
        try:
            result = self._lib.RARProcessFileW(self._handle, operation, self._ffi.NULL, self._ffi.NULL)
        finally:
            self.sink = None
        self.next_index += 1
        if result != 0:
            self.dead = True
        return result

    def error(self, code: int) -> BookError:
        """One clear error for an UnRAR result code, using what the callback saw."""
        if code in (_ERAR_MISSING_PASSWORD, _ERAR_BAD_PASSWORD) or self.password_needed:
            return PasswordProtected(PASSWORD_REASON)
        if self.missing_volume is not None:
            missing = decode_rar_name(os.path.basename(self.missing_volume))
            return CorruptArchive(f"incomplete multi-volume RAR set: volume {missing!r} is missing")
        if code == _ERAR_LARGE_DICT or self.dictionary_too_large:
            return TooLarge("RAR archive needs a decompression dictionary over the safety limit")
        if code == _ERAR_NO_MEMORY:
            return TooLarge("not enough memory to unpack this RAR archive")
        if code == _ERAR_UNKNOWN_FORMAT:
            return UnsupportedFormat("unsupported RAR format version")
        if code == _ERAR_BAD_DATA:
            return CorruptArchive("damaged RAR archive: checksum mismatch")
        if code == _ERAR_BAD_ARCHIVE:
            return CorruptArchive("damaged RAR archive: not a valid RAR file")
        if code == _ERAR_EOPEN:
            return CorruptArchive("cannot open the RAR archive or one of its volumes")
        if code == _ERAR_EREAD:
            return CorruptArchive("read error in the RAR archive")
        if code == _ERAR_ECREATE:
            return UnsupportedFormat("UnRAR cannot process this entry (unusual entry name)")
        if code == _ERAR_EREFERENCE:
            return CorruptArchive("RAR entry refers to another entry that cannot be read")
        if code == _ERAR_UNKNOWN:
            return CorruptArchive("damaged RAR archive: its data cannot be decoded")
        return CorruptArchive(f"damaged RAR archive (UnRAR error {code})")

    def close(self) -> None:
        if self._handle is not None:
            self._lib.RARCloseArchive(self._handle)
            self._handle = None

    def __enter__(self) -> "_Unrar":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


# =============================================================================================
# Reader
# =============================================================================================
class RarReader(Reader):
    format = "rar"

    #: How often a pass over a *solid* archive restarts after a failed member (each restart
    #: decodes everything before it again); passes over non-solid archives restart freely.
    SOLID_RESTARTS = 3

    @classmethod
    def sniff(cls, path: Path, head: bytes) -> bool:
        return head.startswith(RAR4_MAGIC) or head.startswith(RAR5_MAGIC) or head.startswith(RAR14_MAGIC)

    @classmethod
    def is_continuation(cls, path: Path, head: bytes) -> bool:
        """True for the second and later volumes of a multi-volume set (``.part2.rar``, ``.r00``):
        from the volume flags in the first bytes, else from the file name."""
        layout = _inspect_head(head)
        if layout.continuation is not None:
            return layout.continuation
        if layout.kind in ("rar4", "rar5") and not layout.volume and not layout.encrypted_headers:
            return False
        return _name_says_continuation(Path(path))

    def __init__(self, path, limits=DEFAULT_LIMITS):
        super().__init__(path, limits)
        self._members: list[Member] | None = None
        self._by_name: dict[str, Member] = {}
        self._solid = False
        self._unrar_path = _unrar_path(self.path)
        self._memfd: int | None = None
        self._cursor: _Unrar | None = None
        self._lock = threading.Lock()
        self._comment: str | None = None

    def archive_comment(self) -> bytes | None:
        """The archive comment (UTF-8), read with the listing; None when there is none. Where
        ComicBookInfo keeps its JSON in a CBR (:mod:`comicdesk.archive.comicbookinfo`)."""
        self.members()
        return self._comment.encode("utf-8", "surrogatepass") if self._comment else None

    # -- listing ------------------------------------------------------------------------------
    def members(self) -> list[Member]:
        if self._members is None:
            self._members = self._list()
            self._by_name = {m.name: m for m in self._members}
        return list(self._members)

    def _inspect_file(self, path: Path) -> _Layout:
        try:
            with open(path, "rb") as fh:
                size = os.fstat(fh.fileno()).st_size
                return _inspect(fh, size)
        except OSError as exc:
            raise file_error(exc) from None

    def _list(self) -> list[Member]:
        layout = self._inspect_file(self.path)
        if layout.kind == "unknown":
            raise CorruptArchive("damaged RAR archive: no RAR signature found")
        if layout.encrypted_headers or layout.encrypted_files:
            raise PasswordProtected(PASSWORD_REASON)
        if layout.truncated:
            raise CorruptArchive(TRUNCATED_REASON)
        continuation = layout.continuation
        if continuation is None and layout.volume:
            continuation = _name_says_continuation(self.path)
        if continuation:
            raise BookError("a later part of a multi-volume RAR set: open its first part")
        if layout.legacy_comments:
            self._use_repaired_copy(layout)

        arc = self._open(_OM_LIST)
        self._comment = arc.comment
        try:
            self._solid = bool(arc.flags & _ROADF_SOLID)
            if arc.flags & _ROADF_ENCHEADERS:
                raise PasswordProtected(PASSWORD_REASON)
            headers: list[_Header] = []
            while True:
                header = arc.read_header()
                if header is None:
                    break
                headers.append(header)
                if len(headers) > self.limits.max_members:
                    raise TooLarge(f"archive lists over {self.limits.max_members} entries, the limit")
                result = arc.process(_RAR_SKIP)
                if result != 0:
                    raise arc.error(result)
        except CorruptArchive:
            self._check_volumes(arc.volumes)  # a more precise reason when a volume is cut short
            raise
        finally:
            arc.close()
        self._check_volumes(arc.volumes)
        return self._members_from(headers)

    def _check_volumes(self, volumes: list[str]) -> None:
        """CorruptArchive naming the first of the later volumes that is truncated, if any."""
        for volume in dict.fromkeys(volumes):
            path = Path(os.fsdecode(_unmap_bytes(volume))) if _MAP_MARK in volume else Path(volume)
            if self._inspect_file(path).truncated:
                name = decode_rar_name(path.name)
                raise CorruptArchive(f"damaged RAR archive: volume {name!r} is truncated")

    def _members_from(self, headers: list[_Header]) -> list[Member]:
        links: set[str] = set()
        link_count = 0
        unsafe: list[str] = []
        candidates: list[Member] = []
        for index, header in enumerate(headers):
            name = decode_rar_name(header.raw_name, header.host_os)
            if header.redir:
                link_count += 1
                if header.redir in _REDIR_SYMLINKS:
                    links.add(name.replace("\\", "/").strip("/"))
                continue
            if header.flags & _RHDF_DIRECTORY:
                continue
            safe = safe_member_name(name)
            if safe is None:
                unsafe.append(name)
                continue
            if header.flags & _RHDF_ENCRYPTED:
                raise PasswordProtected(PASSWORD_REASON)
            candidates.append(Member(safe, header.size, (index, header.raw_name)))

        out: list[Member] = []
        behind_link: list[str] = []
        names = {m.name for m in candidates}
        old_versions = 0
        for member in candidates:
            parts = member.name.split("/")
            if any("/".join(parts[:i]) in links for i in range(1, len(parts))):
                behind_link.append(member.name)
                continue
            version = _VERSION_RE.match(member.name)
            if version and version.group(1) in names:
                old_versions += 1  # "page.jpg;2" kept by ``rar -ver`` next to the current "page.jpg"
                continue
            out.append(member)

        total = sum(max(m.size, 0) for m in out)
        if total > self.limits.max_total_bytes:
            raise TooLarge(f"archive declares {total // 1024**3} GiB uncompressed, over the safety limit")
        if unsafe:
            self.warnings.append(f"skipped {_entries(len(unsafe))} with an unsafe path ({unsafe[0]})")
        if behind_link:
            self.warnings.append(f"skipped {_entries(len(behind_link))} stored under a symbolic link "
                                 f"({behind_link[0]})")
        if old_versions:
            self.warnings.append(f"skipped {old_versions} older file version{'' if old_versions == 1 else 's'}")
        if link_count:
            self.warnings.append(f"skipped {_entries(link_count, 'link entr')} (links are never pages)")
        return out

    def _use_repaired_copy(self, layout: _Layout) -> None:
        """Point UnRAR at an in-memory copy without the RAR 1.5-2.x header comments it rejects."""
        if layout.volume or not layout.comment_headers or not hasattr(os, "memfd_create") \
                or not os.path.isdir("/proc/self/fd"):
            raise UnsupportedFormat("old RAR 1.5-2.x archive with file comments is not supported here")
        try:
            with open(self.path, "rb") as fh:
                data = fh.read(LEGACY_COPY_LIMIT + 1)
        except OSError as exc:
            raise BookError(f"cannot read file: {exc.strerror or exc}") from None
        if len(data) > LEGACY_COPY_LIMIT:
            raise UnsupportedFormat("old RAR 1.5-2.x archive with file comments is too large to read")
        fd = os.memfd_create("comicdesk-rar", getattr(os, "MFD_CLOEXEC", 0))
        try:
            view = memoryview(_strip_legacy_comments(data, layout))
            while view:
                view = view[os.write(fd, view):]
        except BaseException:
            os.close(fd)
            raise
        self._memfd = fd
        self._unrar_path = f"/proc/self/fd/{fd}"

    def _open(self, mode: int) -> _Unrar:
        return _Unrar(self._unrar_path, mode)

    # -- reading ------------------------------------------------------------------------------
    def _index_of(self, member: Member) -> tuple[int, Member]:
        self.members()
        key = member.key
        if not (isinstance(key, tuple) and len(key) == 2 and isinstance(key[0], int)):
            own = self._by_name.get(member.name)
            if own is None:
                raise CorruptArchive(f"entry {member.name!r} is not in this archive")
            member = own
        return member.key[0], member

    def _read_at(self, arc: _Unrar, index: int, member: Member, keep: int | None = None) -> bytes:
        """Advance ``arc`` to entry ``index`` and decode it. :class:`_SkipFailed` when the archive
        cannot be advanced that far; a BookError when only this member failed."""
        try:
            while arc.next_index < index:
                if arc.read_header() is None:
                    raise CorruptArchive("the RAR archive changed since it was opened")
                result = arc.process(_RAR_SKIP)
                if result != 0:
                    raise arc.error(result)
            header = arc.read_header()
            if header is None or header.raw_name != member.key[1]:
                raise CorruptArchive("the RAR archive changed since it was opened")
        except BookError as exc:
            raise _SkipFailed(exc) from None
        collector = _Collector(self.limits.max_member_bytes, keep)
        result = arc.process(_RAR_TEST, collector)
        if collector.overflow:
            limit = self.limits.max_member_bytes // (1024 * 1024)
            raise TooLarge(f"entry {member.name!r} is larger than {limit} MiB uncompressed")
        if result != 0:
            raise arc.error(result)
        return collector.data()

    def read(self, member: Member) -> bytes:
        return self._read_shared(member, None)

    def read_head(self, member: Member, n: int) -> bytes:
        """The first ``n`` bytes; the rest of the member is decoded but not kept, so reading the
        heads of all pages in order is still one pass."""
        return self._read_shared(member, max(n, 0))

    def _read_shared(self, member: Member, keep: int | None) -> bytes:
        """Read through the position kept between calls: reads in archive order cost one pass."""
        self.check_size(member)
        index, member = self._index_of(member)
        with self._lock:
            arc = self._cursor
            if arc is not None and (arc.dead or arc.next_index > index):
                self._drop_cursor()
                arc = None
            try:
                if arc is None:
                    arc = self._cursor = self._open(_OM_EXTRACT)
                data = self._read_at(arc, index, member, keep)
            except _SkipFailed as exc:
                self._drop_cursor()
                raise exc.error from None
            except BaseException:
                self._drop_cursor()
                raise
            if arc.dead:
                self._drop_cursor()
            return data

    def read_many(self, members: Iterable[Member]) -> Iterator[tuple[Member, bytes | Exception]]:
        """Every requested member in one pass over the archive (each distinct member once, in
        archive order). A member that fails yields its exception."""
        wanted: dict[int, tuple[Member, Member]] = {}  # index -> (as requested, as listed)
        for member in members:
            try:
                self.check_size(member)
                index, own = self._index_of(member)
            except Exception as exc:  # noqa: BLE001 - reported per member
                yield member, exc
                continue
            wanted.setdefault(index, (member, own))
        yield from self._pass(wanted)

    def _pass(self, wanted: dict[int, tuple[Member, Member]]) -> Iterator[tuple[Member, bytes | Exception]]:
        pending = sorted(wanted)
        restarts = self.SOLID_RESTARTS if self._solid else len(pending)
        last_error: BookError = CorruptArchive("damaged RAR archive")
        while pending:
            try:
                arc = self._open(_OM_EXTRACT)
            except BookError as exc:
                for index in pending:
                    yield wanted[index][0], exc
                return
            try:
                while pending and not arc.dead:
                    index = pending.pop(0)
                    requested, own = wanted[index]
                    try:
                        yield requested, self._read_at(arc, index, own)
                    except _SkipFailed as exc:
                        # The archive cannot be read past this point: nothing after it can be had.
                        for failed in [index, *pending]:
                            yield wanted[failed][0], exc.error
                        return
                    except BookError as exc:
                        yield requested, exc
                        last_error = exc
            finally:
                arc.close()
            if pending:  # a member failed and took the handle with it: start again after it
                restarts -= 1
                if restarts < 0:
                    for index in pending:
                        yield wanted[index][0], last_error
                    return

    # -- lifetime -----------------------------------------------------------------------------
    def _drop_cursor(self) -> None:
        if self._cursor is not None:
            self._cursor.close()
            self._cursor = None

    def close(self) -> None:
        with self._lock:
            self._drop_cursor()
            if self._memfd is not None:
                os.close(self._memfd)
                self._memfd = None
                # The descriptor number may be reused: list again (and repair again) if reopened.
                self._unrar_path = _unrar_path(self.path)
                self._members = None


def _entries(n: int, stem: str = "entr") -> str:
    return f"{n} {stem}{'y' if n == 1 else 'ies'}"
