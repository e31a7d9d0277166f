"""After the person relabels pages: the library's page-class head learns from their labels and the
other pages are re-scored (:func:`comicdesk.services.labels.rescore`), off the UI thread.

The labels themselves are written by the session's I/O thread at once and shown at once; this only
moves the *model's* labels of the other pages. One re-score runs at a time, on its own
background thread; labels set while one runs start one more afterwards (never one per click).
When the analysis process holds the library lock, ``relabel`` stores the head and marks it
pending (the next writer applies it); the view updates when the analysis ends.
"""

from __future__ import annotations

import logging

from PySide6.QtCore import QObject, Signal

from comicdesk.core.threads import lower_thread_priority
from comicdesk.qt.bridge import one_line
from comicdesk.qt.jobs import IN_PROCESS_NICE
from comicdesk.services.threads import EagerThreadPool

log = logging.getLogger("comicdesk.qt")

LOCK_WAIT_S = 0.5  # how long a re-score waits for the library lock before leaving it pending


def rescore_library(cache_dir, data_dir):
    """(worker) Retrain the head and re-score."""
    from comicdesk.services.labels import rescore

    return rescore(cache_dir, data_dir, lock_timeout=LOCK_WAIT_S)


class Rescorer(QObject):
    """Runs :func:`rescore_library` for the open library after labels change."""

    finished = Signal(object, object)  # session, RelabelResult | None
    failed = Signal(object, str)  # session, one line

    def __init__(self, bridge, parent: QObject | None = None, *, fn=rescore_library):
        super().__init__(parent)
        self.bridge = bridge
        self.fn = fn
        self._executor = EagerThreadPool(max_workers=1, thread_name_prefix="comicdesk-relabel",
                                            initializer=lower_thread_priority, initargs=(IN_PROCESS_NICE,))
        self._running = None  # the session being re-scored
        self._again = None  # a session whose labels changed meanwhile

    @property
    def busy(self) -> bool:
        return self._running is not None

    def request(self, session) -> None:
        if session is None or session.closed:
            return
        if self._running is not None:
            self._again = session
            return
        self._start(session)

    def _start(self, session) -> None:
        self._running = session
        fut = self.bridge.run(self._executor, self.fn, session.cache_dir, session.data_dir,
                              on_done=lambda r: self._done(session, r, None),
                              on_error=lambda e: self._done(session, None, e), owner=self)
        if fut is None:
            self._running = None

    def _done(self, session, result, error) -> None:
        self._running = None
        if error is not None:
            log.warning("re-scoring after a relabel failed: %s", one_line(error))
            self.failed.emit(session, one_line(error))
        else:
            self.finished.emit(session, result)
        again, self._again = self._again, None
        if again is not None and not again.closed:
            self._start(again)

    def close(self, wait: bool = False) -> None:
        self._executor.shutdown(wait=wait, cancel_futures=True)


def describe(result) -> str:
    """The status-bar line for a finished re-score."""
    if result is None:
        return "Your labels are saved"
    if getattr(result, "pending", False):
        return ("Your labels are saved; the other pages are re-scored when the analysis running now "
                "finishes")
    pages = getattr(result, "rescored_pages", 0)
    if pages:
        return f"Your labels are saved; {pages} page{'s' if pages != 1 else ''} re-scored from them"
    reason = getattr(result, "reason", None)
    return f"Your labels are saved ({reason})" if reason else "Your labels are saved"
