"""One book → one cleaned CBZ, written safely and checked.

What goes in:

- the kept pages, in reading order, named ``001.jpg``, ``002.png``, ... (zero-padded to at least
  three digits, or to the width of the page count; counted from 1; the extension of the source
  entry, lower-cased). Their bytes are the source's bytes exactly (``Book.page_bytes``): nothing is
  decoded and encoded again. A PDF page that is one embedded image gives that image's stored
  bytes; a PDF page that had to be rendered (or its single image re-encoded) gives the reader's
  one encoding of it, and its source index is listed in :attr:`WriteReport.rendered`.
  Images are stored (``ZIP_STORED``: they are compressed already); ComicInfo.xml is deflated.
- ``ComicInfo.xml``: the source's, carried over (written with ``strict=True``, so the file is
  valid against the ComicInfo v2.0 XSD: what the schema rejects is left out), with ``PageCount``
  and ``<Pages>`` rewritten: one ``<Page>`` per page written, ``Image`` its new index, ``Type``
  from its label (the ARCHITECTURE mapping; ``Deleted`` added for a page the filter drops in
  mark-only mode), ``ImageSize``, ``ImageWidth``/``ImageHeight`` (from the image header) and
  ``DoublePage`` (wider than tall); a source page's ``Key``/``Bookmark`` are kept. Metadata given
  in :class:`Metadata` (from Calibre) replaces title, series, number and writer; fields still
  empty are filled from the source's own ComicBookInfo (its archive comment), if it has one.
- the ZIP comment: ComicBookInfo/1.0 (:mod:`comicdesk.archive.comicbookinfo`) with the same
  title, series, number, creators (each with its role), ... as the ComicInfo.xml, for the readers
  that read only that form (Calibre), plus our own key ``comicdesk-export``
  (``{"version", "fp", "rendered"}``): how a later batch run knows this output is up to date.
  Exports written before (a ``comicdesk-export 1 fp=... rendered=...`` text comment) are still
  recognised (:func:`read_export_comment`).

How it is written:

1. a hidden temporary file in the target folder (``.<name>.<pid>.<random>.comicdesk-partial``),
   created exclusively;
2. pages streamed into it one at a time (``Book.iter_page_bytes``: memory stays at one page);
3. flush, ``fsync``;
4. the temporary file is opened again from disk and verified: the entries, their order, sizes and
   CRC-32s (each entry is read back in full and its CRC recomputed), and the ComicInfo.xml's
   ``PageCount`` — *before* it takes the final name, so a bad write never replaces anything;
5. ``os.replace`` onto the final name (atomic), then the folder is fsynced.

Any failure (a full disk, an unreadable page, a failed verification, Ctrl-C) removes the
temporary file and raises :class:`ExportError` with one line ending "nothing written". A process
killed outright (SIGKILL, power cut) leaves at most the hidden temporary file, never a file at the
output name; the next export into that folder removes temporary files whose process is gone.
"""

from __future__ import annotations

import errno
import os
import re
import tempfile
import threading
import time
import zipfile
import zlib
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import IO

from comicdesk import __version__ as _comicdesk_version
from comicdesk.core.errors import ComicdeskError, PageError, one_line
from comicdesk.export.zipwrite import ZipStreamWriter

#: Version of the export marker in the ZIP comment (1: the text line of earlier exports; 2: the
#: ``comicdesk-export`` key of the ComicBookInfo JSON).
EXPORT_FORMAT_VERSION = "2"
#: A file in folders the exporter created: the library scanner never enters such a folder.
MARKER = ".comicdesk-export"
#: How the comment of an export written before ComicBookInfo starts (still recognised).
COMMENT_PREFIX = "comicdesk-export"
#: ComicBookInfo's ``appID``.
APP_ID = f"comicdesk/{_comicdesk_version}"
TEMP_SUFFIX = ".comicdesk-partial"
COMICINFO_NAME = "ComicInfo.xml"
#: Bytes of a page read for its header on the kernel-copy path.
HEAD_BYTES = 64 * 1024
_TEMP_RE = re.compile(r"^\.(?P<name>.+)\.(?P<pid>\d+)\.[^.]+" + re.escape(TEMP_SUFFIX) + "$")


class ExportError(ComicdeskError):
    """An export that could not be done (one line for the person)."""

    kind = "export"


class OutputRefused(ExportError):
    """The output is somewhere an export must never write (a library, a source)."""

    kind = "output-refused"


class VerifyError(ExportError):
    """The written file did not read back as written."""

    kind = "verify-failed"


@dataclass(frozen=True)
class PageChoice:
    """What happens to one source page."""

    index: int  # source page index
    label: str | None  # its page class (None: no label)
    keep: bool  # written into the output
    deleted: bool = False  # written with ``Deleted`` added to its Type (mark-only)


@dataclass(frozen=True)
class Metadata:
    """Values that replace the source ComicInfo's (from Calibre); None leaves a field alone.
    ``authors``: the writers one by one (a name may hold a comma: ``writer`` is them joined with
    ", " for ComicInfo's ``Writer``); ComicBookInfo gets one ``Writer`` credit each, the first
    marked ``primary``."""

    title: str | None = None
    series: str | None = None
    number: str | None = None
    writer: str | None = None
    authors: tuple[str, ...] = ()

    def as_dict(self) -> dict:
        return {"title": self.title, "series": self.series, "number": self.number, "writer": self.writer,
                "authors": list(self.authors)}


@dataclass
class WriteReport:
    output: Path
    pages_kept: int
    pages_dropped: int
    pages_marked: int
    rendered: list[int] = field(default_factory=list)  # source indexes of rendered pages written
    names: list[str] = field(default_factory=list)
    bytes_written: int = 0
    warnings: list[str] = field(default_factory=list)


# -- where an output may go ----------------------------------------------------------------------
def resolve_loose(path: Path) -> Path:
    """``path`` made absolute with symlinks resolved as far as it exists (the rest appended)."""
    path = Path(path).expanduser().absolute()
    missing: list[str] = []
    probe = path
    while not probe.exists() and probe != probe.parent:
        missing.append(probe.name)
        probe = probe.parent
    return probe.resolve().joinpath(*reversed(missing))


def check_output_location(output: Path, roots: Iterable[tuple[Path, str]]) -> None:
    """Refuse an output inside any of ``roots`` (``(root, what)`` pairs: library roots)."""
    target = resolve_loose(output)
    for root, what in roots:
        try:
            root = Path(root).resolve()
        except OSError:
            continue
        if target == root or target.is_relative_to(root):
            raise OutputRefused(f"{output} is inside {what} {root}; an export never writes into a "
                                f"library: choose a folder outside it")


def make_folders(folder: Path, marked_from: Path | None = None) -> list[Path]:
    """Create ``folder`` and its missing parents. Each folder created at or below ``marked_from``
    (default: ``folder`` itself) gets the export marker; parents created on the way above it do
    not (they are the person's folders, not export folders)."""
    folder = Path(folder)
    top = Path(marked_from) if marked_from is not None else folder
    missing = []
    probe = folder
    while not probe.exists():
        missing.append(probe)
        if probe == probe.parent:
            break
        probe = probe.parent
    created = []
    for f in reversed(missing):
        try:
            f.mkdir()
        except FileExistsError:
            continue
        except OSError as exc:
            raise ExportError(f"cannot create the folder {f}: {exc.strerror or exc}") from None
        created.append(f)
        if f == top or f.is_relative_to(top):
            write_marker(f)
    if not folder.is_dir():
        raise ExportError(f"{folder} is not a folder")
    return created


def write_marker(folder: Path) -> None:
    marker = Path(folder) / MARKER
    if marker.exists():
        return
    try:
        marker.write_text("This folder holds books written by `comicdesk export`.\n"
                          "comicdesk never scans it as part of a library.\n", encoding="utf-8")
    except OSError as exc:
        raise ExportError(f"cannot write {marker}: {exc.strerror or exc}") from None


# -- the ZIP comment: ComicBookInfo and our marker --------------------------------------------------
def last_modified(mtime: float | None) -> str:
    """ComicBookInfo's ``lastModified`` (``2009-10-25 14:51:31 +0000``, UTC): the source's
    modification time, so the same input gives the same file."""
    t = time.gmtime(mtime if mtime is not None else time.time())
    return time.strftime("%Y-%m-%d %H:%M:%S +0000", t)


def make_comment(fingerprint: str, rendered: list[int], cbi=None, mtime: float | None = None) -> bytes:
    """The export's ZIP comment: the ComicBookInfo document of ``cbi`` (an empty one when None)
    with our marker ``"comicdesk-export": {"version", "fp", "rendered"}`` as an extra top-level
    key. ASCII JSON, at most 65,535 bytes."""
    from comicdesk.archive.comicbookinfo import EXPORT_KEY, ComicBookInfo, serialise

    marker = {"version": int(EXPORT_FORMAT_VERSION), "fp": fingerprint, "rendered": list(rendered)}
    return serialise(cbi if cbi is not None else ComicBookInfo(), APP_ID, last_modified(mtime),
                     {EXPORT_KEY: marker})


def read_export_comment(path: Path) -> dict | None:
    """``{"version", "fingerprint", "rendered"}`` from a CBZ written by this exporter (the
    ComicBookInfo comment with our key, or the text comment of earlier exports); None for any
    other file (or one that cannot be read)."""
    from comicdesk.archive.comicbookinfo import export_marker

    try:
        with zipfile.ZipFile(path) as zf:
            comment = zf.comment
    except (OSError, zipfile.BadZipFile, ValueError):
        return None
    return export_marker(comment)


# -- ComicInfo ----------------------------------------------------------------------------------
def _page_types(choice: PageChoice, source_page) -> list[str]:
    from comicdesk.archive.comicinfo import page_types_for_class

    if choice.label is not None:
        return page_types_for_class(choice.label, deleted=choice.deleted)
    # No class: keep what the source said (e.g. Other), with Deleted as the choice says.
    types = [t for t in (source_page.types if source_page is not None else []) if t.casefold() != "deleted"]
    if choice.deleted:
        types.append("Deleted")
    return types


def build_comicinfo(source, written: list[tuple[PageChoice, int, int | None, int | None]],
                    metadata: Metadata | None, source_cbi=None) -> bytes:
    """The output's ComicInfo.xml (strict v2.0). ``written``: per output page, in order, the
    choice, the byte size and the pixel size (None when the header could not be read)."""
    return output_comicinfo(source, written, metadata, source_cbi).to_bytes(strict=True)


def output_comicinfo(source, written: list[tuple[PageChoice, int, int | None, int | None]],
                     metadata: Metadata | None, source_cbi=None):
    """The output's :class:`~comicdesk.archive.comicinfo.ComicInfo`: the source's with the pages
    rewritten, Calibre's values (``metadata``) replacing title, series, number and writer, and
    fields still empty filled from the source's ComicBookInfo (``source_cbi``)."""
    from comicdesk.archive.comicbookinfo import fill_comicinfo
    from comicdesk.archive.comicinfo import ComicInfo, ComicPageInfo

    base = source if source is not None else ComicInfo()
    pages = []
    for position, (choice, size, width, height) in enumerate(written):
        src = base.page(choice.index) if source is not None else None
        page = ComicPageInfo(image=position, types=_page_types(choice, src), image_size=size,
                             key=src.key if src is not None else None,
                             bookmark=src.bookmark if src is not None else None)
        if width and height:
            page.image_width, page.image_height = width, height
            page.double_page = width > height
        pages.append(page)
    ci = base.with_pages(pages)
    if metadata is not None:
        for attr in ("title", "series", "number", "writer"):
            value = getattr(metadata, attr)
            if value:
                setattr(ci, attr, value)
    fill_comicinfo(ci, source_cbi)
    return ci


def output_comicbookinfo(ci, metadata: Metadata | None, source_cbi=None):
    """The output's ComicBookInfo: what its ComicInfo (``ci``, from :func:`output_comicinfo`)
    says, each creator a credit with its ComicInfo role (Calibre's authors: ``Writer``, one
    credit per author, the first ``primary``), plus what only the source's ComicBookInfo held.
    From Calibre, ``volume`` is left out: Calibre (by default) reads its series index from
    ``volume`` before ``issue``, and Calibre's number is the issue."""
    from comicdesk.archive.comicbookinfo import from_comicinfo

    calibre_writers = list(metadata.authors) if metadata is not None and metadata.authors else None
    return from_comicinfo(ci, source_cbi, writers=calibre_writers,
                          primary_writer=calibre_writers is not None,
                          volume=metadata is None)


# -- the write --------------------------------------------------------------------------------------
def _output_stream(raw: IO[bytes]) -> IO[bytes]:
    """The stream the ZIP is written to (a seam for tests that simulate a full disk)."""
    return raw


def _before_verify(path: Path) -> None:
    """Called after the fsync, before verification (a seam for tests that damage the file)."""


def _pid_alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    except OSError:
        return True
    return True


#: The longest file name (bytes) common file systems take.
NAME_MAX = 255


def temp_prefix(output_name: str, pid: int | None = None) -> str:
    """``.<name>.<pid>.`` for the hidden temporary file, ``<name>`` shortened (whole characters)
    so that the prefix, mkstemp's 8 random characters and :data:`TEMP_SUFFIX` fit in
    :data:`NAME_MAX` bytes: a legal 255-byte output name must not fail on its temporary name."""
    pid_part = f".{os.getpid() if pid is None else pid}."
    budget = NAME_MAX - len(("." + pid_part + "x" * 8 + TEMP_SUFFIX).encode())
    raw = output_name.encode("utf-8", "surrogateescape")
    if len(raw) > budget:
        raw = raw[:budget]
        lead = len(raw)
        while lead > 0 and raw[lead - 1] & 0xC0 == 0x80:  # continuation bytes at the cut
            lead -= 1
        if lead > 0 and raw[lead - 1] >= 0xC0:
            width = 2 if raw[lead - 1] < 0xE0 else 3 if raw[lead - 1] < 0xF0 else 4
            if len(raw) - (lead - 1) < width:  # the cut fell inside this character
                raw = raw[:lead - 1]
    return "." + raw.decode("utf-8", "surrogateescape") + pid_part


def clean_stale_temps(folder: Path) -> int:
    """Remove temporary files of exports whose process is gone (killed mid-write)."""
    removed = 0
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return 0
    for entry in entries:
        m = _TEMP_RE.match(entry.name)
        if m is None or _pid_alive(int(m.group("pid"))):
            continue
        try:
            os.unlink(entry.path)
            removed += 1
        except OSError:
            pass
    return removed


def _zip_time(mtime: float | None) -> tuple[int, int, int, int, int, int]:
    t = time.localtime(mtime if mtime is not None else time.time())
    if t.tm_year < 1980:
        return (1980, 1, 1, 0, 0, 0)
    if t.tm_year > 2107:
        return (2107, 12, 31, 23, 59, 58)
    return (t.tm_year, t.tm_mon, t.tm_mday, t.tm_hour, t.tm_min, t.tm_sec)


def _write_failure(exc: BaseException, output: Path) -> ExportError:
    if isinstance(exc, ExportError):
        return exc
    if isinstance(exc, OSError):
        if exc.errno in (errno.ENOSPC, errno.EDQUOT):
            return ExportError(f"no space left on the disk holding {output.parent} "
                               f"({exc.strerror or 'disk full'}); nothing written")
        if exc.errno == errno.EROFS:
            return ExportError(f"{output.parent} is on a read-only disk; nothing written")
        if isinstance(exc, PermissionError):
            return ExportError(f"cannot write in {output.parent}: permission denied; nothing written")
        return ExportError(f"cannot write {output}: {exc.strerror or exc}; nothing written")
    return ExportError(f"cannot write {output}: {one_line(exc, 'internal error: ')}; nothing written")


def _direct_zip_pages(book, indexes: list[int]) -> dict[int, tuple[int, int, int]] | None:
    """``{page: (data offset, size, crc32)}`` when every one of these pages is a stored,
    unencrypted entry of a ZIP source (CBZ, EPUB): they can be copied by the kernel. None
    otherwise (the pages are then read through the book)."""
    if book.format not in ("zip", "epub"):
        return None
    out = {}
    try:
        fd = os.open(book.path, os.O_RDONLY)
    except OSError:
        return None
    try:
        for i in indexes:
            info = book.pages[i].member.key
            if (not isinstance(info, zipfile.ZipInfo) or info.compress_type != zipfile.ZIP_STORED
                    or info.flag_bits & 0x1 or info.compress_size != info.file_size):
                return None
            head = os.pread(fd, 30, info.header_offset)
            if len(head) != 30 or head[:4] != b"PK\x03\x04":
                return None
            name_len, extra_len = int.from_bytes(head[26:28], "little"), int.from_bytes(head[28:30], "little")
            out[i] = (info.header_offset + 30 + name_len + extra_len, info.file_size, info.CRC)
    except OSError:
        return None
    finally:
        os.close(fd)
    return out


def _direct_pages(book, indexes, direct, src_fd):
    """(index, first bytes of the page) in reading order, for the kernel-copy path."""
    for i in indexes:
        offset, size, _ = direct[i]
        try:
            yield i, os.pread(src_fd, min(size, HEAD_BYTES), offset)
        except OSError as exc:
            yield i, exc


def _pixel_size(head: bytes, size: int, index: int, page, book, src_fd, direct, report):
    """Width and height from the image header (no pixel is decoded); (None, None) when the bytes
    are not an image we can read (the page is still copied as it is)."""
    from comicdesk.archive import images

    try:
        info = images.probe(head, book.limits.max_image_pixels)
        return info.width, info.height
    except PageError as exc:
        reason = exc.reason
    if direct is not None and size > len(head):  # a header past the first bytes (big EXIF)
        offset = direct[index][0]
        try:
            info = images.probe(os.pread(src_fd, size, offset), book.limits.max_image_pixels)
            return info.width, info.height
        except (PageError, OSError) as exc:
            reason = getattr(exc, "reason", None) or str(exc)
    report.warnings.append(f"page {index} ({page.name}): {reason}; copied as is")
    return None, None


def page_names(book, choices: list[PageChoice]) -> list[tuple[PageChoice, str]]:
    kept = [c for c in choices if c.keep]
    width = max(3, len(str(len(kept))))
    out = []
    for position, choice in enumerate(kept, start=1):
        ext = PurePosixPath(book.pages[choice.index].name).suffix.casefold() or ".jpg"
        out.append((choice, f"{position:0{width}d}{ext}"))
    return out


def write_cbz(book, choices: list[PageChoice], output: Path, *, metadata: Metadata | None = None,
              fingerprint: str = "", source_comicinfo=None, source_cbi=None, on_page=None) -> WriteReport:
    """Write ``book`` (an open :class:`~comicdesk.archive.book.Book`) as a CBZ at ``output``
    following ``choices`` (one per source page, in page order). ``source_comicinfo``: the parsed
    source ComicInfo, ``source_cbi`` the source's ComicBookInfo (both read from the book when not
    given). ``on_page(done, total)`` after each page.
    Raises :class:`ExportError` (one line); on any failure nothing is left at ``output``."""
    output = Path(output)
    if len(choices) != len(book.pages) or [c.index for c in choices] != list(range(len(book.pages))):
        raise ExportError("the page choices do not match the book's pages; scan it again")
    named = page_names(book, choices)
    if not named:
        raise ExportError("the filter drops every page of this book; nothing written")
    folder = output.parent
    if not folder.is_dir():
        raise ExportError(f"{folder} is not a folder")
    if output.exists():
        try:
            if os.path.samefile(output, book.path):
                raise OutputRefused(f"{output} is the source book itself; it is never overwritten")
        except OSError:
            pass
        if output.is_dir():
            raise ExportError(f"{output} is a folder; give a file name ending in .cbz")
    report = WriteReport(output, pages_kept=len(named), pages_dropped=sum(not c.keep for c in choices),
                         pages_marked=sum(c.keep and c.deleted for c in choices))
    if source_comicinfo is None:
        source_comicinfo = book.comicinfo()
    if source_cbi is None:
        from comicdesk.archive.comicbookinfo import from_book

        source_cbi = from_book(book)
    try:
        mtime = os.stat(book.path).st_mtime
    except OSError:
        mtime = None
    date_time = _zip_time(mtime)
    name_of = {c.index: n for c, n in named}
    choice_of = {c.index: c for c, _ in named}
    clean_stale_temps(folder)
    try:
        fd, tmp_name = tempfile.mkstemp(prefix=temp_prefix(output.name), suffix=TEMP_SUFFIX, dir=folder)
    except OSError as exc:
        raise _write_failure(exc, output) from None
    tmp = Path(tmp_name)
    try:
        umask = os.umask(0)
        os.umask(umask)
        os.fchmod(fd, 0o666 & ~umask)
        expected: dict[str, tuple[int, int]] = {}
        order: list[str] = []  # entries as written (the order the container delivered pages)
        sizes: dict[int, tuple[int, int | None, int | None]] = {}
        with open(fd, "wb", buffering=1 << 20) as raw:
            stream = _output_stream(raw)
            zw = ZipStreamWriter(stream, date_time)
            kept = [c.index for c, _ in named]
            direct = _direct_zip_pages(book, kept) if stream is raw else None
            src_fd = os.open(book.path, os.O_RDONLY) if direct is not None else None
            try:
                pages = _direct_pages(book, kept, direct, src_fd) if direct is not None else book.iter_page_bytes(kept)
                for done, (index, data) in enumerate(pages, start=1):
                    page = book.pages[index]
                    if isinstance(data, Exception):
                        raise ExportError(f"page {index} ({page.name}) cannot be read: "
                                          f"{getattr(data, 'reason', data)}; nothing written")
                    name = name_of[index]
                    if direct is not None:  # data: the page's first bytes (for its header)
                        offset, size, crc = direct[index]
                        zw.add_copy(name, src_fd, offset, size, crc)
                        head = data
                    else:
                        crc, size = zw.add_bytes(name, data)
                        head = data
                    expected[name] = (crc, size)
                    order.append(name)
                    width, height = _pixel_size(head, size, index, page, book, src_fd, direct, report)
                    sizes[index] = (size, width, height)
                    if page.member.rendered:
                        report.rendered.append(index)
                    if on_page is not None:
                        on_page(done, len(named))
            finally:
                if src_fd is not None:
                    os.close(src_fd)
            report.rendered.sort()
            written = [(choice_of[c.index], *sizes[c.index]) for c, _ in named]
            ci = output_comicinfo(source_comicinfo, written, metadata, source_cbi)
            expected[COMICINFO_NAME] = zw.add_bytes(COMICINFO_NAME, ci.to_bytes(strict=True), compress=True)
            zw.comment = make_comment(fingerprint, report.rendered,
                                      output_comicbookinfo(ci, metadata, source_cbi), mtime)
            zw.close()
            stream.flush()
            raw.flush()
            # fsync and verification overlap (both wait on the kernel, not on Python): the
            # verification re-opens the file by its name and reads every entry back.
            synced: list[BaseException | None] = []

            def sync() -> None:
                try:
                    os.fsync(raw.fileno())
                    synced.append(None)
                except BaseException as exc:  # noqa: BLE001 - re-raised below
                    synced.append(exc)

            syncer = threading.Thread(target=sync, name="export-fsync", daemon=True)
            syncer.start()
            try:
                _before_verify(tmp)
                verify_cbz(tmp, expected, len(named), order, zw.comment)
            finally:
                syncer.join()
            if synced and synced[0] is not None:
                raise synced[0]
        os.replace(tmp, output)
    except BaseException as exc:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        if isinstance(exc, (KeyboardInterrupt, SystemExit)):
            raise
        raise _write_failure(exc, output) from None
    _fsync_folder(folder)
    report.names = [n for _, n in named]
    try:
        report.bytes_written = output.stat().st_size
    except OSError:
        pass
    return report


def _fsync_folder(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def verify_cbz(path: Path, expected: dict[str, tuple[int, int]], page_count: int,
               order: list[str] | None = None, comment: bytes | None = None) -> None:
    """Re-open ``path`` from disk and check it holds exactly the ``expected`` entries
    (``{name: (crc32, size)}``), each recorded with that CRC-32 and size and read back in full
    (:mod:`zipfile` recomputes the CRC of what it reads and fails on a mismatch), that its
    ComicInfo.xml says ``PageCount`` = ``page_count`` and (when given) that its ZIP comment is
    ``comment``. Raises :class:`VerifyError`."""
    from comicdesk.archive.comicinfo import ComicInfo

    def fail(why: str) -> VerifyError:
        return VerifyError(f"the written file did not read back correctly ({why}); nothing written "
                           f"(is the disk failing?)")

    try:
        with open(path, "rb") as fh, zipfile.ZipFile(fh) as zf:
            infos = zf.infolist()
            names = [i.filename for i in infos]
            if sorted(names) != sorted(expected) or len(names) != len(set(names)):
                raise fail(f"{len(names)} entries instead of {len(expected)}")
            if order is not None and [n for n in names if n != COMICINFO_NAME] != order:
                raise fail("pages out of order")
            images = [n for n in names if n != COMICINFO_NAME]
            if len(images) != page_count:
                raise fail(f"{len(images)} pages instead of {page_count}")
            for info in infos:
                crc, size = expected[info.filename]
                if info.CRC != crc or info.file_size != size:
                    raise fail(f"entry {info.filename} recorded with another CRC or size")
            _check_entries(fh, zf, infos, fail)
            ci = ComicInfo.from_bytes(zf.read(COMICINFO_NAME))
            if ci.page_count != page_count or len(ci.pages) != page_count:
                raise fail("ComicInfo.xml PageCount does not match the pages")
            if comment is not None and zf.comment != comment:
                raise fail("the ZIP comment (ComicBookInfo) reads back differently")
    except VerifyError:
        raise
    except (zipfile.BadZipFile, zipfile.LargeZipFile, ComicdeskError, ValueError, EOFError) as exc:
        raise fail(one_line(exc)) from None


def _check_entries(fh, zf: zipfile.ZipFile, infos: list, fail) -> None:
    """Read every entry back and check its CRC-32: stored entries straight from a read-only
    memory map of the file (no copy into Python), others through :mod:`zipfile` (which checks
    the CRC of what it inflates)."""
    import mmap

    size = os.fstat(fh.fileno()).st_size
    stored = [i for i in infos if i.compress_type == zipfile.ZIP_STORED]
    others = [i for i in infos if i.compress_type != zipfile.ZIP_STORED]
    for info in others:
        zf.read(info)
    if not stored:
        return
    flags = getattr(mmap, "MAP_SHARED", 1) | getattr(mmap, "MAP_POPULATE", 0)
    try:
        mm = mmap.mmap(fh.fileno(), 0, flags=flags, prot=mmap.PROT_READ)
    except (AttributeError, TypeError, OSError, ValueError):
        mm = mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ)
    try:
        with memoryview(mm) as view:
            spans = []
            for info in stored:
                at = info.header_offset
                if at + 30 > size or view[at:at + 4] != b"PK\x03\x04":
                    raise fail(f"entry {info.filename} has no local header")
                name_len = int.from_bytes(view[at + 26:at + 28], "little")
                extra_len = int.from_bytes(view[at + 28:at + 30], "little")
                start = at + 30 + name_len + extra_len
                end = start + info.compress_size
                if end > size:
                    raise fail(f"entry {info.filename} is cut short")
                spans.append((info, start, end))
            # zlib.crc32 lets go of the GIL on large buffers: check the pages on two threads.
            bad = _crc_mismatches(view, spans)
            if bad:
                raise fail(f"entry {bad[0].filename} reads back with another CRC")
    finally:
        mm.close()


def _crc_mismatches(view, spans: list, threads: int = 2) -> list:
    """The entries of ``spans`` (``(info, start, end)``) whose bytes do not have ``info.CRC``."""
    def check(part):
        return [info for info, a, b in part if zlib.crc32(view[a:b]) != info.CRC]

    total = sum(b - a for _, a, b in spans)
    if threads < 2 or total < (8 << 20) or len(spans) < 2:
        return check(spans)
    from concurrent.futures import ThreadPoolExecutor

    halves: list[list] = [[], []]
    sizes = [0, 0]
    for item in sorted(spans, key=lambda t: t[1] - t[2]):  # largest first, to the lighter half
        k = 0 if sizes[0] <= sizes[1] else 1
        halves[k].append(item)
        sizes[k] += item[2] - item[1]
    with ThreadPoolExecutor(max_workers=2, thread_name_prefix="comicdesk-verify") as pool:
        found = list(pool.map(check, halves))
    return found[0] + found[1]
