"""EagerThreadPool: every thread starts when the pool is made, so a later submit (from the UI
thread) never waits for a new thread to get the GIL."""

from __future__ import annotations

import threading

from comicdesk.services.threads import EagerThreadPool


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


def test_the_apps_event_loop_leaves_other_threads_asyncio_loops_alone(qapp, tmp_path):
    """The app runs on a qasync loop. qasync.run installed its loop policy for the whole process:
    Zarr's own loop (made in a thread on first use) became a Qt loop off the main thread that never
    ran, and the app's first in-process Zarr read — similar panels, re-scoring after a relabel, an
    export that analyses — waited forever. pytest-qt does not run qasync, so only this test sees it."""
    import asyncio
    import concurrent.futures
    import time

    from comicdesk.qt.app import run_event_loop

    def zarr_in_a_thread():
        import numpy as np
        import zarr

        group = zarr.open_group(str(tmp_path / "v.zarr"), mode="a")
        arr = group.create_array("x", shape=(4, 2), dtype="float32")
        arr[:] = np.ones((4, 2), np.float32)
        return float(arr[:].sum()), type(asyncio.get_event_loop_policy()).__module__

    async def main():
        with concurrent.futures.ThreadPoolExecutor(1) as pool:
            fut = pool.submit(zarr_in_a_thread)
            deadline = time.monotonic() + 30
            while not fut.done() and time.monotonic() < deadline:
                await asyncio.sleep(0.05)
            assert fut.done(), "a Zarr read in a worker thread hung under the app's event loop"
            return fut.result(), type(asyncio.get_running_loop()).__module__

    (total, policy_module), loop_module = run_event_loop(main())
    assert total == 8.0
    assert loop_module.startswith("qasync")  # the UI thread's loop is Qt's...
    assert not policy_module.startswith("qasync")  # ...other threads' loops are asyncio's


def test_qt_quitting_by_itself_ends_the_app_loop_without_an_internal_error():
    """When Qt quits on its own (the X server went away, the session ended) the loop stops before
    the app's main() returns; asyncio says so with a RuntimeError that the app recognises. In a
    child interpreter: a QApplication that has quit is no good to the tests after this one."""
    import json
    import os
    import subprocess
    import sys

    code = (
        "import asyncio, json\n"
        "from PySide6.QtCore import QTimer\n"
        "from comicdesk.qt.app import _loop_quit_early, _make_app, run_event_loop\n"
        "app = _make_app()\n"
        "async def main():\n"
        "    QTimer.singleShot(50, app.quit)\n"
        "    await asyncio.sleep(30)\n"
        "try:\n"
        "    run_event_loop(main())\n"
        "    print(json.dumps('returned'))\n"
        "except RuntimeError as exc:\n"
        "    print(json.dumps([_loop_quit_early(exc), _loop_quit_early(RuntimeError('other'))]))\n"
    )
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, env=env)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout.strip().splitlines()[-1]) == [True, False]
