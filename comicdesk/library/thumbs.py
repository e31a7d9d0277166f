"""Cover and page thumbnails, cached under ``<cache dir>/thumbs/``, made off the caller's thread.

A thumbnail is keyed by its page's *content hash* (BLAKE2b of the page's exact bytes): the same
page in two books, or in a moved book, is one file, and an edited page gets a new one. The hash is
computed from the bytes read to make the thumbnail anyway; a caller that already knows it (the
catalogue records it, see :meth:`Catalog.set_page_hash`) passes ``known_hash`` and a cached
thumbnail is then returned without opening the book at all.

Files: ``thumbs/<hash[:2]>/<hash>-<size>.<jpg|webp>``, written to a temp file and renamed, so a
reader never sees half a thumbnail. JPEG by default (every image toolkit reads it); WebP on request.

Work runs on a small thread pool (Pillow and the archive readers release the GIL while they decode
or inflate); every call returns a :class:`concurrent.futures.Future` at once, so a UI thread never
waits. Two requests for the same page while it is being made share one future.
"""

from __future__ import annotations

import os
import threading
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from comicdesk.library import atomic
from comicdesk.library.identity import page_hash

THUMBS_DIR = "thumbs"
FORMATS = {"jpeg": ("jpg", "JPEG", {"quality": 85}), "webp": ("webp", "WEBP", {"quality": 80, "method": 4})}


@dataclass(frozen=True)
class Thumb:
    path: Path  # the cached thumbnail file
    page_hash: str  # content hash of the page it shows (record it to skip the book next time)


class ThumbnailCache:
    def __init__(self, cache_dir: Path, *, size: int = 256, fmt: str = "jpeg", workers: int = 2):
        if fmt not in FORMATS:
            raise ValueError(f"thumbnail format must be one of {', '.join(FORMATS)}")
        self.dir = Path(cache_dir) / THUMBS_DIR
        self.size = size
        self.ext, self._pil_format, self._save_args = FORMATS[fmt]
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="comicdesk-thumbs")
        self._lock = threading.Lock()
        self._in_flight: dict[tuple, Future] = {}

    # -- lookups -----------------------------------------------------------------------------
    def path_for(self, content_hash: str) -> Path:
        return self.dir / content_hash[:2] / f"{content_hash}-{self.size}.{self.ext}"

    def cached(self, content_hash: str | None) -> Path | None:
        """The thumbnail file for a page hash when it is already made (no I/O beyond a stat)."""
        if not content_hash:
            return None
        p = self.path_for(content_hash)
        return p if p.is_file() else None

    # -- requests (return at once) ------------------------------------------------------------
    def page(self, book_path: str | os.PathLike, index: int, known_hash: str | None = None) -> "Future[Thumb]":
        """The thumbnail of page ``index`` of a book. The future raises
        :class:`~comicdesk.core.errors.BookError` / :class:`~comicdesk.core.errors.PageError`
        when the book or page cannot be read."""
        hit = self.cached(known_hash)
        if hit is not None:
            done: Future = Future()
            done.set_result(Thumb(hit, known_hash))
            return done
        return self._submit(("page", os.fspath(book_path), index), self._make_page, os.fspath(book_path), index)

    def cover(self, book_path: str | os.PathLike, known_hash: str | None = None,
              cover_file: str | os.PathLike | None = None) -> "Future[Thumb]":
        """A book's cover: ``cover_file`` (Calibre's cover.jpg) when given and readable, else its
        first page."""
        hit = self.cached(known_hash)
        if hit is not None:
            done: Future = Future()
            done.set_result(Thumb(hit, known_hash))
            return done
        if cover_file is not None:
            return self._submit(("file", os.fspath(cover_file)), self._make_from_file,
                                os.fspath(cover_file), os.fspath(book_path))
        return self.page(book_path, 0)

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)

    def __enter__(self) -> "ThumbnailCache":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # -- work (on the pool) --------------------------------------------------------------------
    def _submit(self, key: tuple, fn, *args) -> Future:
        with self._lock:
            fut = self._in_flight.get(key)
            if fut is not None:
                return fut
            fut = self._pool.submit(fn, *args)
            self._in_flight[key] = fut
        fut.add_done_callback(lambda _f, key=key: self._forget(key))
        return fut

    def _forget(self, key: tuple) -> None:
        with self._lock:
            self._in_flight.pop(key, None)

    def _make_page(self, book_path: str, index: int) -> Thumb:
        from comicdesk.archive import open_book

        with open_book(book_path) as book:
            data = book.page_bytes(index)
            return self._store(data, book.limits.max_image_pixels)

    def _make_from_file(self, cover_file: str, book_path: str) -> Thumb:
        from comicdesk.archive.base import DEFAULT_LIMITS
        from comicdesk.core.errors import PageError

        try:
            with open(cover_file, "rb") as fh:
                data = fh.read(DEFAULT_LIMITS.max_member_bytes + 1)
            if len(data) > DEFAULT_LIMITS.max_member_bytes:
                raise PageError("cover image is too large")
            return self._store(data, DEFAULT_LIMITS.max_image_pixels)
        except (OSError, PageError):
            return self._make_page(book_path, 0)  # an unreadable cover.jpg: use the first page

    def _store(self, data: bytes, max_pixels: int) -> Thumb:
        from comicdesk.archive import images

        content_hash = page_hash(data)
        target = self.path_for(content_hash)
        if target.is_file():
            return Thumb(target, content_hash)
        im = images.thumbnail(data, self.size, max_pixels)  # what Book.thumbnail does, on bytes we hold
        target.parent.mkdir(parents=True, exist_ok=True)
        with atomic.replacing(target) as fh:
            im.save(fh, self._pil_format, **self._save_args)
        return Thumb(target, content_hash)
