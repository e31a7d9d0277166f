"""Choose a reader by what a file *is* (magic bytes), never by its extension.

A ``.cbr`` that is really a ZIP opens with the ZIP reader, a ``.cbz`` that is really a RAR with the
RAR reader. Readers are tried in the order of :data:`READERS`; the first whose ``sniff`` says yes
wins. Adding a format is one module plus one entry here.
"""

from __future__ import annotations

import importlib
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


def read_head(path: Path, n: int = HEAD_BYTES) -> bytes:
    if path.is_dir():
        return b""
    with open(path, "rb") as fh:
        return fh.read(n)


def detect(path: Path | str) -> type[Reader]:
    """The reader class for ``path``; raises a one-line :class:`BookError` when there is none."""
    path = Path(path)
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
