"""A book opened for reading: its pages in order, their bytes, images and thumbnails.

Pages are the container's image members after junk is dropped (``__MACOSX``, ``._*``,
``.DS_Store``, ``Thumbs.db``, hidden files, non-images), in natural order of their full entry
names ("page2" before "page10", folders in natural order too). Page indexes count from 0 and never
shift because a page fails to decode: that page keeps its slot and is reported bad.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Iterable, Iterator

from comicdesk.archive import images
from comicdesk.archive.base import DEFAULT_LIMITS, Limits, Member, Reader
from comicdesk.archive.registry import open_reader
from comicdesk.core.errors import NoImages, PageError

JUNK_NAMES = frozenset({"__macosx", ".ds_store", "thumbs.db", "desktop.ini", ".thumbnails"})


def is_junk(name: str) -> bool:
    """True for entries that are never pages: OS litter, hidden files, resource forks."""
    for part in name.split("/"):
        if part.startswith(".") or part.casefold() in JUNK_NAMES:
            return True
    return False


def is_image_name(name: str) -> bool:
    base = name.rpartition("/")[2]
    dot = base.rfind(".")
    return dot > 0 and base[dot:].casefold() in images.IMAGE_EXTENSIONS


_DIGITS = re.compile(r"(\d+)")


def natural_key(name: str) -> tuple:
    """Sort key: folder by folder, digit runs compared as numbers, case-insensitive, with the
    raw name as the final tie-break so the order is total and stable."""
    key = []
    for part in name.split("/"):
        if part:
            chunks = _DIGITS.split(part.casefold())
            key.append(tuple((1, int(c), "") if c.isdigit() else (0, 0, c) for c in chunks if c))
    # Compared component by component, which keeps each folder's pages together.
    return (tuple(key), name)


@dataclass(frozen=True)
class PageRef:
    index: int
    name: str
    member: Member

    @property
    def size(self) -> int:
        return self.member.size


class Book:
    """An open book. Use :func:`open_book`; close it (or use ``with``) when done."""

    def __init__(self, reader: Reader):
        self.reader = reader
        self.path: Path = reader.path
        self.format: str = reader.format
        self.limits: Limits = reader.limits
        members = reader.members()
        self.warnings: list[str] = list(reader.warnings)
        self.comicinfo_member: Member | None = _find_comicinfo(members)
        page_members = [m for m in members if is_image_name(m.name) and not is_junk(m.name)]
        if reader.natural_order:
            page_members.sort(key=lambda m: natural_key(m.name))
        self.pages: list[PageRef] = [PageRef(i, m.name, m) for i, m in enumerate(page_members)]
        if not self.pages:
            if not members:
                raise NoImages("the archive is empty")
            raise NoImages("no page images in this book")

    # -- metadata ---------------------------------------------------------------------------
    def __len__(self) -> int:
        return len(self.pages)

    def comicinfo_bytes(self) -> bytes | None:
        """Raw ComicInfo.xml, or None when the book has none (or it cannot be read)."""
        if self.comicinfo_member is None:
            return None
        try:
            return self.reader.read(self.comicinfo_member)
        except Exception as exc:  # noqa: BLE001 - a broken ComicInfo never stops a book
            self.warnings.append(f"ComicInfo.xml unreadable: {exc}")
            return None

    def comicinfo(self):
        """Parsed :class:`~comicdesk.archive.comicinfo.ComicInfo`, or None."""
        data = self.comicinfo_bytes()
        if data is None:
            return None
        from comicdesk.archive.comicinfo import ComicInfo

        try:
            return ComicInfo.from_bytes(data)
        except Exception as exc:  # noqa: BLE001
            self.warnings.append(f"ComicInfo.xml ignored: {exc}")
            return None

    # -- pages --------------------------------------------------------------------------------
    def page_bytes(self, index: int) -> bytes:
        """The page's original bytes, exactly as stored. Raises :class:`PageError`."""
        page = self.pages[index]
        try:
            return self.reader.read(page.member)
        except PageError:
            raise
        except Exception as exc:  # noqa: BLE001 - reported as this page's problem
            raise PageError(getattr(exc, "reason", None) or str(exc) or type(exc).__name__) from None

    def iter_page_bytes(self, indexes: Iterable[int] | None = None) -> Iterator[tuple[int, bytes | PageError]]:
        """(index, bytes or PageError) for the given pages, as the container delivers them (in
        one pass where the format benefits: solid archives; not necessarily in the order asked).
        Nothing is held back, so memory stays at one page whatever the book's length."""
        wanted = list(range(len(self.pages)) if indexes is None else indexes)
        index_of = {self.pages[i].member: i for i in wanted}
        delivered = set()
        for member, data in self.reader.read_many([self.pages[i].member for i in wanted]):
            i = index_of.get(member)
            if i is None or i in delivered:
                continue
            delivered.add(i)
            if isinstance(data, Exception) and not isinstance(data, PageError):
                data = PageError(getattr(data, "reason", None) or str(data) or type(data).__name__)
            yield i, data
        for i in wanted:
            if i not in delivered:
                yield i, PageError("page could not be read")

    def image(self, index: int):
        """The page decoded to 8-bit RGB. Raises :class:`PageError`."""
        return images.decode(self.page_bytes(index), self.limits.max_image_pixels)

    def thumbnail(self, index: int, size: int = 256):
        """A fast thumbnail (JPEG draft decoding). Raises :class:`PageError`."""
        return images.thumbnail(self.page_bytes(index), size, self.limits.max_image_pixels)

    def page_info(self, index: int) -> images.ImageInfo:
        """Format and pixel size from the image header only."""
        page = self.pages[index]
        known = self.reader.image_info(page.member)
        if known is not None:
            return known
        # Most headers sit in the first few KiB; a JPEG with a big EXIF/ICC block needs more.
        for n in (16 * 1024, 256 * 1024):
            try:
                head = self.reader.read_head(page.member, n)
                return images.probe(head, self.limits.max_image_pixels)
            except PageError:
                if len(head) < n:
                    break
            except Exception:  # noqa: BLE001 - the full read below gives the precise reason
                break
        return images.probe(self.page_bytes(index), self.limits.max_image_pixels)

    def page_infos(self) -> Iterator[tuple[int, images.ImageInfo | PageError]]:
        """(index, header info or PageError) for every page, the cheapest way the format allows:
        header reads where the reader can stream an entry's start, else one pass over the pages
        (solid 7z, where each header read would decompress from the start)."""
        streams_heads = type(self.reader).read_head is not Reader.read_head
        if streams_heads:
            for i in range(len(self.pages)):
                try:
                    yield i, self.page_info(i)
                except PageError as exc:
                    yield i, exc
            return
        pending = []
        for i in range(len(self.pages)):
            known = self.reader.image_info(self.pages[i].member)
            if known is not None:
                yield i, known
            else:
                pending.append(i)
        for i, data in self.iter_page_bytes(pending):
            if isinstance(data, PageError):
                yield i, data
                continue
            try:
                yield i, images.probe(data, self.limits.max_image_pixels)
            except PageError as exc:
                yield i, exc

    # -- lifetime -----------------------------------------------------------------------------
    def close(self) -> None:
        self.reader.close()

    def __enter__(self) -> "Book":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def _find_comicinfo(members: list[Member]) -> Member | None:
    candidates = [m for m in members if PurePosixPath(m.name).name.casefold() == "comicinfo.xml"
                  and not is_junk(m.name)]
    if not candidates:
        return None
    return min(candidates, key=lambda m: (m.name.count("/"), natural_key(m.name)))


def open_book(path: Path | str, limits: Limits = DEFAULT_LIMITS) -> Book:
    """Open any supported container read-only. Raises a one-line
    :class:`~comicdesk.core.errors.BookError` when it cannot be read at all."""
    reader = open_reader(path, limits)
    try:
        return Book(reader)
    except BaseException:
        reader.close()
        raise
