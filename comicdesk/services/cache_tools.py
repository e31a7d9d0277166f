"""Measuring and clearing the cache (no Qt). Runs on a worker thread.

Clearing removes what is under ``<cache root>/libraries/<id>/`` — catalogues, thumbnails, vectors:
everything can be rebuilt by scanning again. It never touches the data root (the person's labels,
reading positions and settings), even when someone put one inside the other: a library cache
folder that contains the data root, or lies inside it, is skipped. A library another process is
writing (its writer lock is held) is skipped too, and said so.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path

LIBRARIES = "libraries"


def folder_size(path: Path) -> int:
    total = 0
    for dirpath, _dirs, files in os.walk(path, followlinks=False):
        for name in files:
            try:
                total += os.lstat(os.path.join(dirpath, name)).st_size
            except OSError:
                pass
    return total


def cache_size(cache_root: Path) -> int:
    libs = Path(cache_root) / LIBRARIES
    return folder_size(libs) if libs.is_dir() else 0


@dataclass
class ClearResult:
    freed: int = 0
    cleared: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)  # one line each: why


def _overlaps(a: Path, b: Path) -> bool:
    return a == b or a.is_relative_to(b) or b.is_relative_to(a)


def clear_cache(cache_root: Path, data_root: Path) -> ClearResult:
    from comicdesk.library.errors import LibraryBusy
    from comicdesk.library.lock import LOCK_FILE, LibraryLock

    out = ClearResult()
    libs = Path(cache_root) / LIBRARIES
    if not libs.is_dir() or libs.is_symlink():
        return out
    data = Path(data_root).resolve()
    for child in sorted(libs.iterdir()):
        if child.is_symlink() or not child.is_dir():
            continue
        real = child.resolve()
        if _overlaps(real, data):
            out.skipped.append(f"{child}: holds your data folder, left alone")
            continue
        lock = LibraryLock(child, timeout=0.0)
        try:
            lock.acquire()
        except LibraryBusy:
            out.skipped.append(f"{child.name}: another comicdesk process is writing it")
            continue
        except OSError as exc:
            out.skipped.append(f"{child.name}: {exc.strerror or exc}")
            continue
        try:
            size = folder_size(child)
            for entry in child.iterdir():
                if entry.name == LOCK_FILE:
                    continue
                try:
                    if entry.is_dir() and not entry.is_symlink():
                        shutil.rmtree(entry)
                    else:
                        entry.unlink()
                except OSError as exc:
                    out.skipped.append(f"{entry}: {exc.strerror or exc}")
            out.freed += max(0, size - folder_size(child))
            out.cleared.append(child.name)
        finally:
            lock.release()
    return out
