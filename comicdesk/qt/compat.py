"""Work-arounds for the Qt binding in use.

**Singletons losing references (shiboken6 6.12.0 on Python ≤ 3.11).** The 6.12.0 wheels treat
``None``, ``True`` and ``False`` as immortal objects, as Python 3.12 does (PEP 683), and stop
counting the references they hand out. On Python 3.11 each such hand-out is one reference taken
and never given back. Measured here, per call: −1 on ``None`` for every Qt call returning
``None`` (``QObject.parent()`` of a top-level object, ``QModelIndex.data(role)`` for an empty
role) and for every signal delivered to a Python slot (its return value); −1 on ``True`` or
``False`` for every ``Signal.emit()``. CPython 3.11 aborts ("none_dealloc"/"bool_dealloc:
deallocating None/True or False") when a count reaches zero, and ``None`` starts near 5,000: a
grid being scrolled or a scan reporting progress crashes the app within seconds. 6.11.3 does not
do this, and on Python 3.12+ these objects are immortal anyway.

:func:`guard_immortals` does on 3.11 what 3.12 does: it gives those objects (and the other objects
3.12 makes immortal: ``Ellipsis``, ``NotImplemented``, the empty tuple, string and bytes, small
integers and one-character strings) 2**40 extra references, so the leak cannot reach zero in
the life of a process. It is idempotent and does nothing on Python 3.12+ or outside CPython.
"""

from __future__ import annotations

import sys
import threading
from concurrent.futures import ThreadPoolExecutor

_BOOST = 1 << 40
_done = False


def _immortal_in_312() -> list[object]:
    objs: list[object] = [None, True, False, Ellipsis, NotImplemented, (), "", b""]
    objs += list(range(-5, 257))
    objs += [chr(i) for i in range(256)]
    return objs


def guard_immortals() -> bool:
    """Make the objects Python 3.12 treats as immortal effectively immortal on CPython < 3.12;
    True when it did something."""
    global _done
    if _done or sys.version_info >= (3, 12) or sys.implementation.name != "cpython":
        return False
    import ctypes

    for obj in _immortal_in_312():
        refcnt = ctypes.c_ssize_t.from_address(id(obj))  # ob_refcnt: the first field of PyObject
        if refcnt.value < _BOOST:
            refcnt.value += _BOOST
    _done = True
    return True


def lower_thread_priority(nice: int) -> None:
    """Lower the calling thread's CPU priority (Linux schedules threads separately and a thread's
    niceness is inherited by the threads it starts; elsewhere this does nothing). Background
    threads use it so the UI thread gets the CPU first on a busy machine."""
    import os
    import threading

    if nice <= 0 or not sys.platform.startswith("linux"):
        return
    try:
        tid = threading.get_native_id()
        os.setpriority(os.PRIO_PROCESS, tid, min(19, os.getpriority(os.PRIO_PROCESS, tid) + nice))
    except (OSError, AttributeError):
        pass


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
