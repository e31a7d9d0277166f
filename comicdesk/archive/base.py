"""The contract every container reader fulfils.

A reader opens one container (a CBZ, a CBR, a PDF, a folder of images, ...) read-only and lists
its *members*: the regular files inside, with safe names and declared sizes. It never writes
anything anywhere and never extracts to disk. :mod:`comicdesk.archive.book` turns members into
pages (junk dropped, natural order) and decodes images.

Adding a format is one module with a :class:`Reader` subclass plus one line in
:mod:`comicdesk.archive.registry`; the shared contract tests in ``tests/archive`` then run
against it.
"""

from __future__ import annotations

import posixpath
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Iterable, Iterator

from comicdesk.core.errors import TooLarge


@dataclass(frozen=True)
class Limits:
    """Safety limits that keep a hostile or broken file from eating memory or time."""

    #: Largest uncompressed member we will hold in memory (a page, a ComicInfo.xml).
    max_member_bytes: int = 256 * 1024 * 1024
    #: Largest decoded image, in pixels (a decompression bomb is bigger).
    max_image_pixels: int = 180_000_000
    #: Largest number of members listed from one container.
    max_members: int = 100_000
    #: Largest total uncompressed size of a book we agree to read (declared sizes).
    max_total_bytes: int = 16 * 1024**3


DEFAULT_LIMITS = Limits()


@dataclass(frozen=True)
class Member:
    """One regular file inside a container.

    ``name`` is the safe, normalised entry name ('/'-separated, no leading '/', no '..'),
    ``size`` the declared uncompressed size in bytes (-1 when the format does not say), ``key``
    whatever the reader needs to find the member again (the raw entry name, a page number, ...).
    """

    name: str
    size: int
    key: Any = field(default=None, compare=False)
    #: PDF only: True when reading this member renders the page instead of copying bytes.
    rendered: bool = False


def safe_member_name(raw: str) -> str | None:
    """Normalise an entry name; ``None`` when it tries to leave the container.

    Backslashes count as separators (archives made on Windows). Absolute paths, drive letters and
    any '..' component are refused rather than silently rewritten: comicdesk never extracts to
    disk, but a name like that is a sign of a hostile or broken archive.
    """
    name = raw.replace("\\", "/")
    if name.startswith("/") or (len(name) > 1 and name[1] == ":"):
        return None
    parts = [p for p in name.split("/") if p not in ("", ".")]
    if not parts or any(p == ".." for p in parts):
        return None
    return posixpath.join(*parts)


def read_limited(stream, limit: int, what: str) -> bytes:
    """Read a whole stream, refusing to hold more than ``limit`` bytes (real size, not declared)."""
    chunks = []
    total = 0
    while True:
        # Small reads keep a decompressor from inflating more than one chunk at a time.
        chunk = stream.read(min(1 << 20, limit + 1 - total))
        if not chunk:
            break
        chunks.append(chunk)
        total += len(chunk)
        if total > limit:
            raise TooLarge(f"{what} is larger than {limit // (1024 * 1024)} MiB uncompressed")
    return b"".join(chunks)


class Reader(ABC):
    """Read-only access to one container. Subclasses set ``format`` and implement the rest."""

    #: Sniffed format name, one of zip|rar|7z|tar|pdf|epub|folder.
    format: ClassVar[str]
    #: True when pages are ordered by natural sort of member names (archives, folders); False
    #: when ``members()`` already lists pages in reading order (PDF pages, an EPUB's spine).
    natural_order: ClassVar[bool] = True

    def __init__(self, path: Path, limits: Limits = DEFAULT_LIMITS):
        self.path = Path(path)
        self.limits = limits
        #: One-line notes about things skipped or repaired while listing (unsafe names, ...).
        self.warnings: list[str] = []

    # -- detection ---------------------------------------------------------------------------
    @classmethod
    @abstractmethod
    def sniff(cls, path: Path, head: bytes) -> bool:
        """True when ``path`` (whose first bytes are ``head``; empty for a folder) is ours."""

    # -- listing and reading -----------------------------------------------------------------
    @abstractmethod
    def members(self) -> list[Member]:
        """Every regular file in the container, in stored order, with safe names.

        Raises a :class:`~comicdesk.core.errors.BookError` subclass with one clear reason when
        the container cannot be listed (corrupt, password-protected, ...).
        """

    @abstractmethod
    def read(self, member: Member) -> bytes:
        """The member's bytes, exactly as stored (never re-encoded), within the size limit."""

    def read_many(self, members: Iterable[Member]) -> Iterator[tuple[Member, bytes | Exception]]:
        """Read several members; formats that decompress sequentially (solid RAR, 7z) override
        this to read them in one pass. A member that fails yields its exception, not a raise."""
        for m in members:
            try:
                yield m, self.read(m)
            except Exception as exc:  # noqa: BLE001 - reported per member
                yield m, exc

    def read_head(self, member: Member, n: int) -> bytes:
        """At least the first ``n`` bytes of a member (all of it when it is shorter). Formats with
        streaming access override this so reading an image header does not inflate the page."""
        return self.read(member)[:n]

    def image_info(self, member: Member):
        """The :class:`~comicdesk.archive.images.ImageInfo` a member will decode to, when the
        reader knows it without reading (a PDF page it renders); None otherwise."""
        return None

    def check_size(self, member: Member) -> None:
        if member.size > self.limits.max_member_bytes:
            raise TooLarge(
                f"entry {member.name!r} declares {member.size // (1024 * 1024)} MiB uncompressed, "
                f"over the {self.limits.max_member_bytes // (1024 * 1024)} MiB limit"
            )

    def close(self) -> None:
        """Release file handles. Safe to call twice."""

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
