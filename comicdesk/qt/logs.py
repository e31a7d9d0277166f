"""The app's log file: ``platformdirs.user_log_dir("comicdesk")/comicdesk.log`` (rotated at 2 MB,
three kept), or ``$COMICDESK_LOG_DIR``. Records are handed to a queue and written by a listener
thread, so logging never makes the UI thread wait on the disk."""

from __future__ import annotations

import logging
import logging.handlers
import os
import queue
from pathlib import Path

LOG_FILE = "comicdesk.log"
_listener: logging.handlers.QueueListener | None = None


def log_dir() -> Path:
    env = os.environ.get("COMICDESK_LOG_DIR")
    if env:
        return Path(env).expanduser()
    import platformdirs

    return Path(platformdirs.user_log_dir("comicdesk", appauthor=False))


def setup_logging(level: int = logging.INFO) -> Path | None:
    """Start logging to the log file; returns its path (None when the folder cannot be made)."""
    global _listener
    if _listener is not None:
        return Path(_listener.handlers[0].baseFilename)  # type: ignore[attr-defined]
    folder = log_dir()
    try:
        folder.mkdir(parents=True, exist_ok=True)
        handler = logging.handlers.RotatingFileHandler(folder / LOG_FILE, maxBytes=2_000_000,
                                                       backupCount=3, encoding="utf-8")
    except OSError:
        return None
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s [%(threadName)s] %(message)s"))
    q: queue.SimpleQueue = queue.SimpleQueue()
    root = logging.getLogger("comicdesk")
    root.setLevel(level)
    root.addHandler(logging.handlers.QueueHandler(q))
    _listener = logging.handlers.QueueListener(q, handler, respect_handler_level=False)
    _listener.start()
    return folder / LOG_FILE


def stop_logging() -> None:
    global _listener
    if _listener is not None:
        _listener.stop()
        for h in _listener.handlers:
            h.close()
        _listener = None


#: Qt messages that say nothing to a person (the offscreen platform used for screenshots)
_QUIET_QT = ("does not support propagateSizeHints",)


def route_qt_messages() -> None:
    """Qt's own warnings go to the log file instead of the terminal."""
    from PySide6.QtCore import QtMsgType, qInstallMessageHandler

    qt_log = logging.getLogger("comicdesk.qt.qt")
    levels = {QtMsgType.QtDebugMsg: logging.DEBUG, QtMsgType.QtInfoMsg: logging.INFO,
              QtMsgType.QtWarningMsg: logging.WARNING, QtMsgType.QtCriticalMsg: logging.ERROR,
              QtMsgType.QtFatalMsg: logging.CRITICAL}

    def handler(kind, context, message: str) -> None:
        if any(q in message for q in _QUIET_QT):
            return
        qt_log.log(levels.get(kind, logging.WARNING), "%s", message)

    qInstallMessageHandler(handler)
