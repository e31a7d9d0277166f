"""The thread pool the front ends run their work on (no Qt: the app's windows and the services
share it)."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor


class EagerThreadPool(ThreadPoolExecutor):
    """A :class:`~concurrent.futures.ThreadPoolExecutor` that starts all its threads when it is
    made. A plain one starts a thread on a later ``submit``, and ``Thread.start`` waits until the
    new thread has run: from the UI thread, while other threads are busy with Python work, that
    wait is the time the new thread needs to get the GIL — 26 ms median, 79 ms worst measured here
    with three busy threads, a visible stall. Made at a quiet moment (before a scan starts),
    starting them costs nothing noticeable."""

    def __init__(self, max_workers: int, **kwargs):
        super().__init__(max_workers=max_workers, **kwargs)
        # Each task holds its thread until all have started, so every submit finds no idle
        # thread and starts a new one.
        gate = threading.Barrier(max_workers)
        for _ in range(max_workers):
            self.submit(_wait_at, gate)

    def threads_started(self) -> int:
        return len(self._threads)


def _wait_at(gate: threading.Barrier) -> None:
    try:
        gate.wait(timeout=10.0)
    except threading.BrokenBarrierError:  # shut down before every thread started: nothing lost
        pass
