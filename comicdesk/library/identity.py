"""Who a book is: its content key.

A book's identity is its *content key*: its size plus a BLAKE2b hash of its first and last 64 KiB.
Reading 128 KiB is cheap whatever the book's size, and two different comics practically never share
both their size and their head and tail. The path, mtime and size are only *hints* that let a
rescan skip a file without reading it; a moved or touched book keeps its key, so its analysis and
the person's labels (both keyed by content key) follow it.

A folder of images has no bytes of its own; its key hashes the names and sizes of the files in it
plus the first 64 KiB of its first page and the last 64 KiB of its last page (natural order).

Page content hashes (thumbnails, duplicate pages) are a separate thing: a hash of a page's whole
bytes, computed only when those bytes are read anyway (:func:`page_hash`).
"""

from __future__ import annotations

import os
from hashlib import blake2b
from pathlib import Path

CHUNK = 64 * 1024
DIGEST_SIZE = 16


def content_key(path: str | os.PathLike) -> str:
    """``"<size>:<hex>"`` for a file. Raises :class:`OSError` when it cannot be read."""
    with open(path, "rb") as fh:
        size = os.fstat(fh.fileno()).st_size
        h = blake2b(digest_size=DIGEST_SIZE)
        h.update(size.to_bytes(8, "little"))
        h.update(fh.read(CHUNK))
        if size > CHUNK:
            # The tail never re-reads bytes of the head (files between 64 and 128 KiB).
            fh.seek(max(size - CHUNK, CHUNK))
            h.update(fh.read(CHUNK))
    return f"{size}:{h.hexdigest()}"


def folder_key(files: list[tuple[str, int]], first: str | os.PathLike, last: str | os.PathLike) -> str:
    """Key of an image folder from its ``(relative name, size)`` list (any order) and the paths of
    its first and last page."""
    h = blake2b(digest_size=DIGEST_SIZE, person=b"folder")
    total = 0
    for name, size in sorted(files):
        h.update(os.fsencode(name) + b"\0" + size.to_bytes(8, "little"))
        total += size
    with open(first, "rb") as fh:
        h.update(fh.read(CHUNK))
    with open(last, "rb") as fh:
        size = os.fstat(fh.fileno()).st_size
        fh.seek(max(size - CHUNK, 0))
        h.update(fh.read(CHUNK))
    return f"{total}:d{h.hexdigest()}"


def open_folder_key(book) -> str:
    """The content key of an open folder book (:class:`comicdesk.archive.Book` of a folder)."""
    files = [(p.name, p.member.size) for p in book.pages]
    return folder_key(files, book.pages[0].member.key, book.pages[-1].member.key)


def page_hash(data: bytes) -> str:
    """Hash of a page's exact bytes (thumbnail cache key, duplicate detection)."""
    return blake2b(data, digest_size=DIGEST_SIZE).hexdigest()


def library_id_for_root(root: Path) -> str:
    """A folder library's id: a short hash of its resolved root path."""
    return blake2b(os.fsencode(str(root)), digest_size=8).hexdigest()


def book_key(book) -> str:
    """The content key of an open book (:class:`comicdesk.archive.Book`), as the scanner records
    it: an image folder's from its pages (:func:`open_folder_key`), a file's from its bytes
    (:func:`content_key`)."""
    return open_folder_key(book) if book.format == "folder" else content_key(book.path)


def path_key(path: str | os.PathLike) -> str:
    """The content key of the book at ``path`` (a file or an image folder), as the scanner records
    it. Raises :class:`OSError` (or the reader's ``BookError`` for a folder) when it cannot be read."""
    p = Path(path)
    if not p.is_dir():
        return content_key(p)
    from comicdesk.archive import open_book

    with open_book(p) as book:
        return open_folder_key(book)
