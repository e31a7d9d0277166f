"""ZIP / CBZ reader (Python's zipfile: stored, deflate, bzip2, lzma; ZIP64)."""

from __future__ import annotations

import struct
import zipfile
from pathlib import Path

from comicdesk.archive.base import DEFAULT_LIMITS, Member, Reader, read_limited, safe_member_name
from comicdesk.core.errors import CorruptArchive, PasswordProtected, TooLarge, UnsupportedFormat

ZIP_MAGICS = (b"PK\x03\x04", b"PK\x05\x06", b"PK\x07\x08")
_UTF8_FLAG = 0x800
_ENCRYPTED_FLAG = 0x1


def decode_zip_name(info: zipfile.ZipInfo) -> str:
    """The entry name as the creator meant it. zipfile decodes names without the UTF-8 flag as
    CP437; many tools write UTF-8 without setting the flag, so try that first, then Shift-JIS
    (common for manga), else keep CP437."""
    if info.flag_bits & _UTF8_FLAG:
        return info.filename
    try:
        raw = info.orig_filename.encode("cp437")
    except UnicodeEncodeError:
        return info.filename
    for encoding in ("utf-8", "cp932"):
        try:
            return raw.decode(encoding)
        except UnicodeDecodeError:
            continue
    return info.filename


def describe_zip_error(exc: Exception) -> str:
    text = str(exc)
    if "not a zip file" in text.lower():
        return "damaged ZIP archive: its directory is missing (truncated or not really a ZIP)"
    if "Bad CRC" in text:
        return "damaged ZIP entry: checksum mismatch"
    if "compression method" in text.lower() or "not supported" in text.lower():
        return f"unsupported ZIP compression: {text}"
    return f"damaged ZIP archive: {text}" if text else "damaged ZIP archive"


_LOCAL_HEADER = struct.Struct("<4s2B4HL2L2H")  # 30 bytes; name and extra lengths last


def check_no_overlap(path: Path, zf: zipfile.ZipFile) -> None:
    """Refuse a ZIP whose entries overlap one another or the central directory.

    Each entry occupies ``[offset, offset + local header + name + extra + compressed size)``, the
    local header's own name and extra lengths read from the file (30 bytes per entry, nothing
    inflated). Overlapping entries are how a tiny ZIP makes every entry inflate one huge stream
    (Python's zipfile reads them all); no ZIP tool writes them."""
    infos = sorted(zf.infolist(), key=lambda i: i.header_offset)
    end_of_entries = getattr(zf, "start_dir", None)
    previous_end, previous = 0, None
    with open(path, "rb") as fh:
        for info in infos:
            start = info.header_offset
            fh.seek(start)
            head = fh.read(_LOCAL_HEADER.size)
            if len(head) < _LOCAL_HEADER.size or head[:4] != b"PK\x03\x04":
                raise CorruptArchive(f"damaged ZIP archive: entry {info.filename!r} has no local header")
            fields = _LOCAL_HEADER.unpack(head)
            end = start + _LOCAL_HEADER.size + fields[-2] + fields[-1] + info.compress_size
            if previous is not None and start < previous_end:
                raise CorruptArchive(f"damaged ZIP archive: entries overlap ({previous.filename!r} and "
                                     f"{info.filename!r}; a zip bomb or a broken tool)")
            if end_of_entries is not None and end > end_of_entries:
                raise CorruptArchive(f"damaged ZIP archive: entry {info.filename!r} overlaps the "
                                     f"archive's directory")
            previous_end, previous = end, info


class ZipReader(Reader):
    format = "zip"

    @classmethod
    def sniff(cls, path: Path, head: bytes) -> bool:
        return head[:4] in ZIP_MAGICS

    def __init__(self, path, limits=DEFAULT_LIMITS):
        super().__init__(path, limits)
        self._zf: zipfile.ZipFile | None = None

    def _open(self) -> zipfile.ZipFile:
        if self._zf is None:
            try:
                self._zf = zipfile.ZipFile(self.path, "r")
            except zipfile.BadZipFile as exc:
                raise CorruptArchive(describe_zip_error(exc)) from None
            except (OSError, EOFError, ValueError) as exc:
                raise CorruptArchive(f"damaged ZIP archive: {exc}") from None
            try:
                check_no_overlap(self.path, self._zf)
            except CorruptArchive:
                self._zf.close()
                self._zf = None
                raise
            except OSError as exc:
                self._zf.close()
                self._zf = None
                raise CorruptArchive(f"damaged ZIP archive: {exc}") from None
        return self._zf

    def members(self) -> list[Member]:
        zf = self._open()
        infos = zf.infolist()
        if len(infos) > self.limits.max_members:
            raise TooLarge(f"archive lists {len(infos)} entries, over the {self.limits.max_members} limit")
        out: list[Member] = []
        total = 0
        unsafe = []
        for info in infos:
            if info.is_dir():
                continue
            # Symlinks stored by Unix zip tools: never pages, never followed.
            if (info.external_attr >> 16) & 0o170000 == 0o120000:
                continue
            name = safe_member_name(decode_zip_name(info))
            if name is None:
                unsafe.append(info.filename)
                continue
            if info.flag_bits & _ENCRYPTED_FLAG:
                raise PasswordProtected("password-protected ZIP archive")
            total += info.file_size
            out.append(Member(name, info.file_size, info))
        if total > self.limits.max_total_bytes:
            raise TooLarge(f"archive declares {total // 1024**3} GiB uncompressed, over the safety limit")
        if unsafe:
            self.warnings.append(f"skipped {len(unsafe)} entr{'y' if len(unsafe) == 1 else 'ies'} "
                                 f"with an unsafe path ({unsafe[0]})")
        return out

    def archive_comment(self) -> bytes | None:
        """The ZIP comment (raw bytes, at most 65,535), or None when it is empty. Where
        ComicBookInfo keeps its JSON (:mod:`comicdesk.archive.comicbookinfo`)."""
        return self._open().comment or None

    def read(self, member: Member) -> bytes:
        self.check_size(member)
        try:
            with self._open().open(member.key, "r") as fh:
                return read_limited(fh, self.limits.max_member_bytes, f"entry {member.name!r}")
        except NotImplementedError as exc:
            raise UnsupportedFormat(f"unsupported ZIP compression: {exc}") from None
        except RuntimeError as exc:
            if "encrypted" in str(exc) or "password" in str(exc):
                raise PasswordProtected("password-protected ZIP archive") from None
            raise CorruptArchive(describe_zip_error(exc)) from None
        except (zipfile.BadZipFile, EOFError, OSError, ValueError) as exc:
            raise CorruptArchive(describe_zip_error(exc)) from None
        except Exception as exc:  # noqa: BLE001 - zlib.error and friends
            raise CorruptArchive(describe_zip_error(exc)) from None

    def read_head(self, member: Member, n: int) -> bytes:
        self.check_size(member)
        try:
            with self._open().open(member.key, "r") as fh:
                return fh.read(n)
        except Exception:  # noqa: BLE001 - fall back to the full read for a precise reason
            return self.read(member)[:n]

    def close(self) -> None:
        if self._zf is not None:
            self._zf.close()
            self._zf = None
