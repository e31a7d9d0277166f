"""One writer per library, across processes: an advisory lock on ``<cache dir>/writer.lock``.

The lock is held through an OS file lock (``flock`` on POSIX, ``msvcrt.locking`` on Windows), so it
is released by the OS when the holder exits or crashes: a stale lock file never blocks anyone. The
holder writes its pid into the file so a waiting process can say who it is waiting for.

A second writer waits up to ``timeout`` seconds and then gets :class:`LibraryBusy`; readers do not
take the lock at all (they open the catalogue read-only; SQLite's WAL mode lets them read while
the writer writes).
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Callable

from comicdesk.library.errors import LibraryBusy

LOCK_FILE = "writer.lock"

try:  # POSIX
    import fcntl

    def _try_lock(fd: int) -> bool:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return True
        except BlockingIOError:
            return False

    def _unlock(fd: int) -> None:
        fcntl.flock(fd, fcntl.LOCK_UN)

except ImportError:  # pragma: no cover - Windows
    import msvcrt

    def _try_lock(fd: int) -> bool:
        try:
            os.lseek(fd, 0, os.SEEK_SET)
            msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
            return True
        except OSError:
            return False

    def _unlock(fd: int) -> None:
        os.lseek(fd, 0, os.SEEK_SET)
        msvcrt.locking(fd, msvcrt.LK_UNLCK, 1)


class FileLock:
    """``with FileLock(path, timeout=30): ...`` — exclusive access between processes."""

    what = "this file"

    def __init__(self, path: Path, *, timeout: float = 30.0, poll: float = 0.05,
                 on_wait: Callable[[str], None] | None = None):
        self.path = Path(path)
        self.timeout = timeout
        self.poll = poll
        self.on_wait = on_wait
        self._fd: int | None = None

    def holder(self) -> str:
        try:
            pid = self.path.read_text(encoding="ascii").strip()
        except (OSError, UnicodeDecodeError):
            return ""
        return pid if pid.isdigit() else ""

    def acquire(self) -> None:
        if self._fd is not None:
            raise RuntimeError("lock already held by this object")
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        deadline = time.monotonic() + self.timeout
        told = False
        while not _try_lock(fd):
            if time.monotonic() >= deadline:
                os.close(fd)
                pid = self.holder()
                who = f"another comicdesk process (pid {pid})" if pid else "another comicdesk process"
                raise LibraryBusy(f"{who} is writing {self.what}; waited {self.timeout:g} s — "
                                  f"try again when it has finished")
            if not told and self.on_wait is not None:
                pid = self.holder()
                self.on_wait(f"waiting for another comicdesk process{f' (pid {pid})' if pid else ''} "
                             f"writing {self.what}")
                told = True
            time.sleep(self.poll)
        os.ftruncate(fd, 0)
        os.lseek(fd, 0, os.SEEK_SET)
        os.write(fd, f"{os.getpid()}\n".encode("ascii"))
        self._fd = fd

    def release(self) -> None:
        if self._fd is None:
            return
        fd, self._fd = self._fd, None
        try:
            os.ftruncate(fd, 0)
            _unlock(fd)
        finally:
            os.close(fd)

    def __enter__(self) -> "FileLock":
        self.acquire()
        return self

    def __exit__(self, *exc) -> None:
        self.release()


class LibraryLock(FileLock):
    """The writer lock of one library: ``<cache dir>/writer.lock``."""

    what = "this library"

    def __init__(self, cache_dir: Path, **kwargs):
        super().__init__(Path(cache_dir) / LOCK_FILE, **kwargs)

    @classmethod
    def at_once(cls, cache_dir: Path) -> "LibraryLock | None":
        """The library's lock, taken, when no one holds it; None (no wait) when someone does or
        the cache cannot hold a lock file: a reader saves what it computed only when it can."""
        lock = cls(cache_dir, timeout=0)
        try:
            lock.acquire()
        except (LibraryBusy, OSError):
            return None
        return lock
