"""Starting the app: QApplication, the log file, preferences, the main window, and the qasync
event loop (:func:`run_event_loop`: a ``qasync.QEventLoop`` on the main thread through
``asyncio.Runner`` — not ``qasync.run``, whose loop policy makes every thread's new asyncio loop a
Qt one, see there).

Only Qt itself is imported before the window shows; the library and archive code is imported
by the worker threads when they first need it, so the first window appears fast.
"""

from __future__ import annotations

import asyncio
import logging
import os
import sys
import time
from dataclasses import replace
from pathlib import Path
from typing import Callable

log = logging.getLogger("comicdesk.qt")

SCREENSHOT_TIMEOUT_S = 120.0


def _make_app():
    from PySide6.QtCore import Qt
    from PySide6.QtGui import QGuiApplication
    from PySide6.QtWidgets import QApplication

    from comicdesk.qt.compat import guard_immortals

    guard_immortals()
    app = QApplication.instance()
    if app is None:
        QGuiApplication.setHighDpiScaleFactorRoundingPolicy(Qt.HighDpiScaleFactorRoundingPolicy.PassThrough)
        app = QApplication([sys.argv[0] if sys.argv else "comicdesk"])
    app.setApplicationName("comicdesk")
    app.setApplicationDisplayName("comicdesk")
    app.setDesktopFileName("comicdesk")
    app.setQuitOnLastWindowClosed(False)  # the asyncio main() decides when we are done
    return app


def effective_settings(settings, prefs, *, cache_given: bool, profile_given: bool):
    """A cache location or profile chosen in the app's Settings applies unless the command line
    or the environment chose one."""
    changes = {}
    if prefs.cache_dir and not cache_given:
        changes["cache_root"] = Path(prefs.cache_dir).expanduser().absolute()
    if prefs.profile and not profile_given:
        changes["profile"] = prefs.profile
    return replace(settings, **changes) if changes else settings


def run(path: str | None, settings, *, screenshot: str | None = None, cache_given: bool = True,
        profile_given: bool = True, on_shown: Callable[[float], None] | None = None,
        log_to_file: bool = True) -> int:
    """Open the app; returns the exit code. ``screenshot``: render the first screen to that PNG
    and exit. ``on_shown(t)``: called with ``time.time()`` at the window's first paint (the
    benchmark's cold-start probe; the app then quits)."""
    from PySide6.QtCore import QEvent, QObject, QTimer

    from comicdesk.qt.logs import route_qt_messages, setup_logging, stop_logging
    from comicdesk.qt.prefs import load_prefs

    app = _make_app()
    log_file = setup_logging() if log_to_file else None
    route_qt_messages()
    prefs = load_prefs(settings.data_root)
    settings = effective_settings(settings, prefs, cache_given=cache_given, profile_given=profile_given)
    log.info("starting: path=%s cache=%s data=%s profile=%s platform=%s", path, settings.cache_root,
             settings.data_root, settings.profile, app.platformName())

    from comicdesk.qt.icons import app_icon
    from comicdesk.qt.main_window import MainWindow

    app.setWindowIcon(app_icon())
    # A screenshot (docs, smoke tests) or the start-up probe leaves the person's recent list,
    # last library and window geometry alone, and always renders at the same size.
    quiet = bool(screenshot) or on_shown is not None
    win = MainWindow(settings, prefs, log_file=log_file, persist_prefs=not quiet)
    if quiet:
        win.resize(1200, 820)
        win.prefs.analyse = False  # the app exits right after the first screen: no analysis to start
    rc_holder = {"rc": 0}

    class FirstPaint(QObject):
        def __init__(self, callback):
            super().__init__()
            self.callback = callback
            self.fired = False

        def eventFilter(self, obj, event):  # noqa: N802
            if not self.fired and event.type() == QEvent.Type.Paint:
                self.fired = True
                QTimer.singleShot(0, lambda: self.callback(time.time()))
            return False

    async def main() -> int:
        loop = asyncio.get_running_loop()
        done: asyncio.Future = loop.create_future()

        def finish(rc: int) -> None:
            if not done.done():
                done.set_result(rc)

        class Closed(QObject):
            def eventFilter(self, obj, event):  # noqa: N802
                if obj is win and event.type() == QEvent.Type.Close:
                    QTimer.singleShot(0, lambda: finish(rc_holder["rc"]))
                return False

        closed = Closed()
        win.installEventFilter(closed)
        probe = None
        if on_shown is not None:
            def shown(t: float) -> None:
                on_shown(t)
                finish(0)
            probe = FirstPaint(shown)
            win.stack.installEventFilter(probe)
            for w in (win.welcome, win.library, win.reader):
                w.installEventFilter(probe)
        if screenshot:
            _arm_screenshot(win, Path(screenshot), finish, rc_holder)
        _quit_on_signals(win)
        win.show()
        if on_shown is None:
            QTimer.singleShot(0, lambda: win.start(path))
        rc = await done
        if win.isVisible():
            win.close()
        return rc

    try:
        try:
            rc = run_event_loop(main())
        except RuntimeError as exc:
            if not _loop_quit_early(exc):
                raise
            # Qt quit by itself before the window closed (the display went away, the session
            # ended): background work is stopped below as on a normal close.
            log.warning("the app was stopped before its window closed: %s", exc)
            rc = 0
    finally:
        win.shutdown()
        log.info("stopped")
        stop_logging()
    return rc


def run_event_loop(coro):
    """Run ``coro`` to its end on a qasync ``QEventLoop`` on this (the main) thread; returns its
    result.

    Not ``qasync.run``: that installs qasync's event loop *policy* for as long as the app runs, so
    every ``asyncio.new_event_loop()`` in any thread makes a Qt event loop — and one made off the
    main thread never runs. Zarr makes its own asyncio loop in a thread on first use, so the app's
    first in-process Zarr read (similar panels, the re-scoring after a relabel, an export that
    analyses its books) waited forever. ``asyncio.Runner`` with a loop factory leaves the policy
    alone: other threads get ordinary asyncio loops."""
    import qasync
    from PySide6.QtWidgets import QApplication

    app = QApplication.instance()
    with asyncio.Runner(loop_factory=lambda: qasync.QEventLoop(app)) as runner:
        return runner.run(coro)


def _loop_quit_early(exc: BaseException) -> bool:
    """asyncio's error when the loop stops (QApplication quit) before ``main()`` returned."""
    return "Event loop stopped before Future completed" in str(exc)


def _quit_on_signals(win) -> None:
    """Ctrl+C in the terminal or SIGTERM closes the window the normal way (the reading position
    and settings are saved, background work is cancelled). Python handles signals only when it
    runs, so a timer wakes it up four times a second."""
    import signal

    from PySide6.QtCore import QTimer

    def close(*_args) -> None:
        QTimer.singleShot(0, win.close)

    try:
        signal.signal(signal.SIGINT, close)
        signal.signal(signal.SIGTERM, close)
    except ValueError:  # not the main thread (embedded): leave the defaults
        return
    win._signal_tick = tick = QTimer(win)
    tick.timeout.connect(lambda: None)
    tick.start(250)


def _arm_screenshot(win, target: Path, finish, rc_holder) -> None:
    from PySide6.QtCore import QTimer

    started = time.monotonic()
    state = {"taken": False}

    def take(complete: bool) -> None:
        if state["taken"]:
            return
        state["taken"] = True
        pm = win.grab()
        target.parent.mkdir(parents=True, exist_ok=True)
        if not pm.save(str(target), "PNG"):
            sys.stderr.write(f"comicdesk: cannot write the screenshot {target}\n")
            finish(1)
            return
        note = "" if complete else f" (not every thumbnail had loaded after {SCREENSHOT_TIMEOUT_S:.0f} s)"
        sys.stderr.write(f"comicdesk: screenshot written to {target} "
                         f"({pm.width()}×{pm.height()}, {time.monotonic() - started:.1f} s){note}\n")
        finish(0)

    def failed(line: str) -> None:
        if not state["taken"]:
            state["taken"] = True
            sys.stderr.write(f"comicdesk: {line}\n")
            rc_holder["rc"] = 1
            finish(1)

    # Let the last covers paint before grabbing.
    win.first_screen_ready.connect(lambda: QTimer.singleShot(150, lambda: take(True)))
    win.open_failed.connect(failed)
    QTimer.singleShot(int(SCREENSHOT_TIMEOUT_S * 1000), lambda: take(False))


def prepare_platform(screenshot: bool, env=os.environ) -> None:
    """Pick Qt's platform before Qt starts: without a display, a screenshot renders offscreen and
    a window cannot open at all (one clear line instead of Qt's abort)."""
    from comicdesk.core.errors import ComicdeskError

    if env.get("QT_QPA_PLATFORM"):
        return
    if sys.platform.startswith("linux") and not (env.get("DISPLAY") or env.get("WAYLAND_DISPLAY")):
        if screenshot:
            env["QT_QPA_PLATFORM"] = "offscreen"
            return
        raise ComicdeskError("no display to open a window on (DISPLAY is not set); "
                             "use --screenshot FILE to render the first screen without one")
