"""The one bridge between worker threads and the Qt main thread.

Everything slow (disk, archives, SQLite, models) runs on an executor. Its answer comes back here:
:meth:`Bridge.run` submits a call and, when its :class:`~concurrent.futures.Future` is done,
delivers the result (or the exception) to a callback **on the main thread**, through a queued
signal. Progress events (``comicdesk.core.events.Progress``, ``BookFailed`` and the job objects of
:mod:`comicdesk.qt.jobs`) are posted from any thread with :meth:`Bridge.post` and arrive on the
main thread as :attr:`Bridge.event`. Nothing here ever waits on a future.

A callback tied to a widget (``owner``) is dropped when the widget has been deleted by then, and
a callback can be made stale with a ticket (see :class:`Tickets`), so a late answer for a book the
person has already left never paints over the current one.
"""

from __future__ import annotations

import logging
import threading
from concurrent.futures import Executor, Future
from typing import Any, Callable

from PySide6.QtCore import QObject, Qt, Signal, Slot

from comicdesk.core.errors import one_line as core_one_line

log = logging.getLogger("comicdesk.qt")


def _alive(owner: QObject | None) -> bool:
    if owner is None:
        return True
    try:
        import shiboken6

        return shiboken6.isValid(owner)
    except Exception:  # noqa: BLE001
        return True


class Bridge(QObject):
    """Delivers worker results and progress events onto the thread the bridge lives in."""

    #: any event object posted from a worker thread (Progress, BookFailed, job updates, ...)
    event = Signal(object)
    _deliver = Signal(object)  # (callback, owner, value, error) packed in a tuple

    def __init__(self, parent: QObject | None = None):
        super().__init__(parent)
        self._main = threading.get_ident()
        self._deliver.connect(self._on_deliver, Qt.ConnectionType.QueuedConnection)

    # -- events ------------------------------------------------------------------------------
    def post(self, event: Any) -> None:
        """Publish an event from any thread; it reaches :attr:`event` listeners on the main thread."""
        self.event.emit(event)

    # -- calls -------------------------------------------------------------------------------
    def watch(self, future: Future, on_done: Callable[[Any], None] | None = None,
              on_error: Callable[[BaseException], None] | None = None,
              owner: QObject | None = None) -> Future:
        """Call ``on_done(result)`` or ``on_error(exc)`` on the main thread when ``future`` is done."""

        def finished(fut: Future) -> None:
            if fut.cancelled():
                return
            exc = fut.exception()
            if exc is not None:
                self._deliver.emit((on_error, owner, None, exc))
            else:
                self._deliver.emit((on_done, owner, fut.result(), None))

        future.add_done_callback(finished)
        return future

    def run(self, executor: Executor, fn: Callable, *args, on_done=None, on_error=None,
            owner: QObject | None = None, **kwargs) -> Future | None:
        """``fn(*args, **kwargs)`` on ``executor``; its answer comes back on the main thread.
        Returns None (and calls nothing) when the executor has been shut down: the library or
        book it served was closed, so nobody is waiting for the answer any more."""
        try:
            fut = executor.submit(fn, *args, **kwargs)
        except RuntimeError:  # "cannot schedule new futures after shutdown"
            log.debug("dropped a request to a closed executor: %s", getattr(fn, "__qualname__", fn))
            return None
        return self.watch(fut, on_done, on_error, owner)

    def call_soon(self, fn: Callable, *args) -> None:
        """Run ``fn(*args)`` on the main thread at the next turn of the event loop (any thread)."""
        self._deliver.emit((lambda _v: fn(*args), None, None, None))

    @Slot(object)
    def _on_deliver(self, packed) -> None:
        callback, owner, value, error = packed
        if not _alive(owner):
            return
        try:
            if error is not None:
                if callback is None:
                    log.warning("background task failed: %s", one_line(error))
                else:
                    callback(error)
            elif callback is not None:
                callback(value)
        except Exception:  # noqa: BLE001 - a broken callback must not take the app down
            log.exception("error in a callback on the main thread")


class Tickets:
    """Monotonic tickets: ``t = tickets.next()`` before a request, ``tickets.current(t)`` when the
    answer arrives — False once a newer request was made (the answer is stale)."""

    def __init__(self):
        self._n = 0

    def next(self) -> int:
        self._n += 1
        return self._n

    def current(self, ticket: int) -> bool:
        return ticket == self._n


def one_line(exc: BaseException) -> str:
    """The app's one line for an error: :func:`comicdesk.core.errors.one_line`, an OS error in the
    system's words with the file's name."""
    return core_one_line(exc, os_error="path")
