"""Choose a reader by what a file *is* (magic bytes), never by its extension.

A ``.cbr`` that is really a ZIP opens with the ZIP reader, a ``.cbz`` that is really a RAR with the
RAR reader. Readers are tried in the order of :data:`READERS`; the first whose ``sniff`` says yes
wins. Adding a format is one module plus one entry here.
"""

from __future__ import annotations

import errno
import importlib
import os
import stat
from functools import lru_cache
from pathlib import Path

from comicdesk.archive.base import DEFAULT_LIMITS, Limits, Reader
from comicdesk.core.errors import BookError, CorruptArchive, UnsupportedFormat, file_error

#: (module, class) in sniffing order. EPUB precedes ZIP (an EPUB is a ZIP with a mimetype entry).
READERS: tuple[tuple[str, str], ...] = (
    ("comicdesk.archive.folder", "FolderReader"),
    ("comicdesk.archive.pdf", "PdfReader"),
    ("comicdesk.archive.epub", "EpubReader"),
    ("comicdesk.archive.zip", "ZipReader"),
    ("comicdesk.archive.rar", "RarReader"),
    ("comicdesk.archive.sevenzip", "SevenZipReader"),
    ("comicdesk.archive.tar", "TarReader"),
)

HEAD_BYTES = 4096


@lru_cache(maxsize=None)
def reader_classes() -> tuple[type[Reader], ...]:
    classes = []
    for module, name in READERS:
        classes.append(getattr(importlib.import_module(module), name))
    return tuple(classes)


def special_file_reason(mode: int) -> str | None:
    """Why a file of this ``st_mode`` is never opened (reading a FIFO waits for a writer forever,
    a device may never end); None for a regular file or a folder."""
    if stat.S_ISREG(mode) or stat.S_ISDIR(mode):
        return None
    if stat.S_ISFIFO(mode):
        kind = "a FIFO"
    elif stat.S_ISSOCK(mode):
        kind = "a socket"
    elif stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        kind = "a device"
    else:
        kind = "a special file"
    return f"not a regular file ({kind}): comics are files or folders"


def stat_book_path(path: Path | str) -> os.stat_result:
    """``os.stat`` of a book path, refusing special files and symlink loops with a one-line
    :class:`BookError` (nothing is opened)."""
    try:
        st = os.stat(path)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise BookError("symlink loop (a link that leads back to itself)") from None
        raise file_error(exc) from None
    reason = special_file_reason(st.st_mode)
    if reason is not None:
        raise UnsupportedFormat(reason)
    return st


def read_head(path: Path, n: int = HEAD_BYTES) -> bytes:
    if path.is_dir():
        return b""
    with open(path, "rb") as fh:
        return fh.read(n)


def detect(path: Path | str) -> type[Reader]:
    """The reader class for ``path``; raises a one-line :class:`BookError` when there is none."""
    path = Path(path)
    stat_book_path(path)  # before any open(): a FIFO would block it
    try:
        head = read_head(path)
    except IsADirectoryError:  # pragma: no cover - races with a folder appearing
        head = b""
    except OSError as exc:
        raise file_error(exc) from None
    if not path.is_dir() and not head:
        raise CorruptArchive("empty file (0 bytes)")
    for cls in reader_classes():
        if cls.sniff(path, head):
            return cls
    raise UnsupportedFormat("not a comic book: unknown file format")


def sniff_format(path: Path | str) -> str:
    """The sniffed format name (zip|rar|7z|tar|pdf|epub|folder)."""
    return detect(path).format


def is_continuation_volume(path: Path | str) -> bool:
    """True for the second and later parts of a multi-volume archive (they are not books)."""
    path = Path(path)
    try:
        cls = detect(path)
    except BookError:
        return False
    probe = getattr(cls, "is_continuation", None)
    return bool(probe and probe(path, read_head(path)))


def open_reader(path: Path | str, limits: Limits = DEFAULT_LIMITS) -> Reader:
    cls = detect(path)
    return cls(Path(path), limits)
