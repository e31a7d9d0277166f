"""EagerThreadPool: every thread starts when the pool is made, so a later submit (from the UI
thread) never waits for a new thread to get the GIL."""

from __future__ import annotations

import threading

from comicdesk.qt.compat import EagerThreadPool


def test_all_threads_start_at_once_and_work_goes_on():
    pool = EagerThreadPool(max_workers=3, thread_name_prefix="eager-test")
    try:
        assert pool.threads_started() == 3
        before = {t.name for t in threading.enumerate() if t.name.startswith("eager-test")}
        assert len(before) == 3
        results = [pool.submit(lambda x=x: x * 2) for x in range(10)]
        assert [f.result(timeout=5) for f in results] == [x * 2 for x in range(10)]
        after = {t.name for t in threading.enumerate() if t.name.startswith("eager-test")}
        assert after == before  # no thread started by a submit
    finally:
        pool.shutdown(wait=True)


def test_an_initializer_runs_in_every_thread():
    seen = []
    lock = threading.Lock()

    def init(tag):
        with lock:
            seen.append((tag, threading.current_thread().name))

    pool = EagerThreadPool(max_workers=2, thread_name_prefix="eager-init", initializer=init, initargs=("x",))
    try:
        pool.submit(lambda: None).result(timeout=5)
        assert len(seen) == 2 and {t for t, _ in seen} == {"x"}
    finally:
        pool.shutdown(wait=True)
