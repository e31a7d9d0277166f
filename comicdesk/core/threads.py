"""Thread helpers every layer may use (standard library only)."""

from __future__ import annotations

import os
import sys
import threading


def lower_thread_priority(nice: int) -> None:
    """Lower the calling thread's CPU priority by ``nice`` (Linux schedules threads separately, so
    only this thread is affected, and the threads it starts inherit its niceness; elsewhere this
    does nothing). The analysis's workers and the app's background threads use it so the UI
    thread gets the CPU first on a busy machine."""
    if nice <= 0 or not sys.platform.startswith("linux"):
        return
    try:
        tid = threading.get_native_id()
        os.setpriority(os.PRIO_PROCESS, tid, min(19, os.getpriority(os.PRIO_PROCESS, tid) + nice))
    except (OSError, AttributeError):
        pass
