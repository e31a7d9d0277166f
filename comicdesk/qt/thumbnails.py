"""Thumbnails for the grids: asked for lazily (only rows being painted), newest request first,
made by :class:`comicdesk.library.thumbs.ThumbnailCache` off the main thread, loaded and scaled
into a ``QImage`` on a worker, and kept as ``QPixmap`` in a small LRU on the main thread.

The main thread only looks up the LRU and queues requests; it never opens a book or a file.
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from concurrent.futures import Future
from typing import Callable, Hashable

from PySide6.QtCore import QObject, QSize, Qt, Signal
from PySide6.QtGui import QImage, QPixmap

from comicdesk.core.threads import lower_thread_priority
from comicdesk.qt.bridge import Bridge, one_line
from comicdesk.services.threads import EagerThreadPool

log = logging.getLogger("comicdesk.qt")


MAX_UPSCALE = 2.0  # small pages are shown at most twice their size


def display_size(size: QSize, box: QSize) -> QSize:
    """The size a thumbnail is shown at: fitted in ``box``, enlarged at most MAX_UPSCALE times."""
    fitted = size.scaled(box, Qt.AspectRatioMode.KeepAspectRatio)
    if fitted.width() > size.width() * MAX_UPSCALE:
        fitted = QSize(int(size.width() * MAX_UPSCALE), int(size.height() * MAX_UPSCALE))
    return QSize(max(1, fitted.width()), max(1, fitted.height()))


class PixmapLRU:
    """At most ``capacity`` pixmaps; the least recently used goes first."""

    def __init__(self, capacity: int = 600):
        self.capacity = capacity
        self._items: OrderedDict[Hashable, QPixmap] = OrderedDict()

    def get(self, key: Hashable) -> QPixmap | None:
        pm = self._items.get(key)
        if pm is not None:
            self._items.move_to_end(key)
        return pm

    def put(self, key: Hashable, pm: QPixmap) -> None:
        self._items[key] = pm
        self._items.move_to_end(key)
        while len(self._items) > self.capacity:
            self._items.popitem(last=False)

    def __contains__(self, key: Hashable) -> bool:
        return key in self._items

    def __len__(self) -> int:
        return len(self._items)

    def clear(self) -> None:
        self._items.clear()


class ThumbLoader(QObject):
    """Lazy, bounded thumbnail loading for one view.

    ``pixmap(key, make)`` returns the cached pixmap or None; on a miss it queues ``make`` — a
    callable returning a ``Future[Thumb]`` (``ThumbnailCache.cover``/``.page``), called on a
    worker. At most ``in_flight`` thumbnails are being made at once and the newest request goes
    first, so the rows on screen win over rows scrolled past; the queue keeps ``max_pending``.
    """

    ready = Signal(object)  # key: its pixmap is now in the LRU
    failed = Signal(object, str)  # key, reason
    thumb = Signal(object, object)  # key, Thumb (to remember the page hash)

    def __init__(self, bridge: Bridge, size: QSize, *, capacity: int = 600, in_flight: int = 4,
                 max_pending: int = 256, parent: QObject | None = None):
        super().__init__(parent)
        self.bridge = bridge
        self.size = QSize(size)
        self.lru = PixmapLRU(capacity)
        self.errors: dict[Hashable, str] = {}
        self.in_flight = in_flight
        self.max_pending = max_pending
        self._pending: OrderedDict[Hashable, Callable[[], Future]] = OrderedDict()
        self._running: set[Hashable] = set()
        # Slightly below the UI thread; ThumbnailCache's threads, started from these, inherit it.
        self._pool = EagerThreadPool(max_workers=2, thread_name_prefix="comicdesk-thumbload",
                                        initializer=lower_thread_priority, initargs=(5,))
        self._closed = False
        self.requested = 0  # requests made (for tests and the benchmark)

    # -- main thread ---------------------------------------------------------------------------
    def pixmap(self, key: Hashable, make: Callable[[], Future]) -> QPixmap | None:
        pm = self.lru.get(key)
        if pm is None and key not in self.errors:
            self.request(key, make)
        return pm

    def error(self, key: Hashable) -> str | None:
        return self.errors.get(key)

    def request(self, key: Hashable, make: Callable[[], Future]) -> None:
        if self._closed or key in self._running or key in self.lru:
            return
        self._pending[key] = make
        self._pending.move_to_end(key)
        while len(self._pending) > self.max_pending:
            self._pending.popitem(last=False)
        self._pump()

    def idle(self) -> bool:
        return not self._pending and not self._running

    def forget(self) -> None:
        """Drop queued requests (the view changed); work already running still lands."""
        self._pending.clear()

    def clear(self) -> None:
        self._pending.clear()
        self.lru.clear()
        self.errors.clear()

    def close(self) -> None:
        self._closed = True
        self._pending.clear()
        self._pool.shutdown(wait=False, cancel_futures=True)

    def _pump(self) -> None:
        while self._pending and len(self._running) < self.in_flight and not self._closed:
            key, make = self._pending.popitem(last=True)
            self._running.add(key)
            self.requested += 1
            try:
                self._pool.submit(self._start, key, make)
            except RuntimeError:  # shut down
                self._running.discard(key)
                return

    def _landed(self, key, image: QImage | None, thumb, reason: str | None) -> None:
        self._running.discard(key)
        if self._closed:
            return
        if image is None:
            self.errors[key] = reason or "no thumbnail"
            self.failed.emit(key, self.errors[key])
        else:
            self.lru.put(key, QPixmap.fromImage(image))
            if thumb is not None:
                self.thumb.emit(key, thumb)
            self.ready.emit(key)
        self._pump()

    # -- workers -------------------------------------------------------------------------------
    def _start(self, key, make) -> None:
        try:
            fut = make()
        except Exception as exc:  # noqa: BLE001
            self.bridge.call_soon(self._landed, key, None, None, one_line(exc))
            return
        fut.add_done_callback(lambda f: self._submit_load(key, f))

    def _submit_load(self, key, fut: Future) -> None:
        try:
            self._pool.submit(self._load, key, fut)
        except RuntimeError:  # the loader was closed meanwhile
            pass

    def _load(self, key, fut: Future) -> None:
        try:
            thumb = fut.result()
            image = QImage(str(thumb.path))
            if image.isNull():
                raise ValueError("the thumbnail file does not decode")
            target = display_size(image.size(), self.size)
            if target != image.size():  # scaled once here, so painting is a plain copy
                image = image.scaled(target, Qt.AspectRatioMode.IgnoreAspectRatio,
                                     Qt.TransformationMode.SmoothTransformation)
        except Exception as exc:  # noqa: BLE001 - shown as this item's problem
            self.bridge.call_soon(self._landed, key, None, None, one_line(exc))
            return
        self.bridge.call_soon(self._landed, key, image, thumb, None)
