"""Reading comic containers: one reader per format, chosen by magic bytes; ComicInfo.xml."""

from comicdesk.archive.base import DEFAULT_LIMITS, Limits, Member, Reader  # noqa: F401
from comicdesk.archive.book import Book, PageRef, open_book  # noqa: F401
from comicdesk.archive.registry import detect, sniff_format  # noqa: F401
