"""The library registry: ``<data root>/libraries.json`` maps library roots to library ids.

A library's id is Calibre's ``library_id`` when the root is a Calibre library, else a short hash
of its resolved root path. Any path finds its library by the *longest* registered root that
contains it; a book outside every registered library becomes a one-book library rooted at its
folder (and that folder is registered, so the next command given the same book finds it).

The file is small JSON, written atomically (a temp file in the same folder, fsync, rename) under a
lock file so two processes registering at once never lose each other's entry. A damaged file is
kept aside as ``libraries.json.damaged`` and a fresh registry started: every id in it can be
recomputed from its root, so nothing of the person's is lost.

Format::

    {"version": 1, "libraries": {"/abs/root": {"id": "...", "kind": "folder|calibre",
                                                "added": "2024-01-01T12:00:00Z"}}}
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass
from pathlib import Path

from comicdesk.core.settings import Settings
from comicdesk.library import atomic
from comicdesk.library.lock import FileLock

REGISTRY_VERSION = 1


@dataclass(frozen=True)
class LibraryEntry:
    root: Path
    id: str
    kind: str  # "folder" | "calibre"


class LibraryRegistry:
    def __init__(self, settings: Settings):
        self.path = settings.registry_path

    def load(self) -> dict[Path, LibraryEntry]:
        try:
            raw = self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return {}
        try:
            data = json.loads(raw)
            libs = data["libraries"]
            return {Path(root): LibraryEntry(Path(root), str(v["id"]), str(v.get("kind", "folder")))
                    for root, v in libs.items()}
        except (ValueError, KeyError, TypeError, AttributeError):
            return self._set_aside_damaged()

    def _set_aside_damaged(self) -> dict[Path, LibraryEntry]:
        try:
            os.replace(self.path, self.path.with_name(self.path.name + ".damaged"))
        except OSError:
            pass
        return {}

    def find(self, path: Path) -> LibraryEntry | None:
        """The library whose registered root is the longest one containing ``path`` (resolved)."""
        best: LibraryEntry | None = None
        for root, entry in self.load().items():
            if path == root or path.is_relative_to(root):
                if best is None or len(root.parts) > len(best.root.parts):
                    best = entry
        return best

    def register(self, root: Path, library_id: str, kind: str) -> LibraryEntry:
        entry = LibraryEntry(root, library_id, kind)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        lock = FileLock(self.path.with_name(self.path.name + ".lock"), timeout=30.0)
        lock.what = "the library registry"
        with lock:
            current = self.load()
            old = current.get(root)
            if old == entry:
                return entry
            current[root] = entry
            self._write(current)
        return entry

    def _write(self, libs: dict[Path, LibraryEntry]) -> None:
        try:
            previous = json.loads(self.path.read_text(encoding="utf-8")).get("libraries", {})
        except (OSError, ValueError, AttributeError):
            previous = {}
        out = {}
        for root, e in sorted(libs.items(), key=lambda kv: str(kv[0])):
            added = previous.get(str(root), {}).get("added") if isinstance(previous, dict) else None
            out[str(root)] = {"id": e.id, "kind": e.kind,
                              "added": added or time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
        text = json.dumps({"version": REGISTRY_VERSION, "libraries": out}, indent=2, ensure_ascii=False)
        atomic.write_text(self.path, text + "\n", fsync=True)
