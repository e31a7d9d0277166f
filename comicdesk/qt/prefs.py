"""App-wide preferences: ``<data root>/app.json`` (no Qt here).

The person's choices that are not about one library: recent libraries, the last one opened, the
model profile, device and threads for analysis, a cache location chosen in Settings, the reader's
defaults and the window geometry. Per-library and per-book choices (a book read right-to-left)
live in that library's ``user.sqlite`` (:class:`comicdesk.library.userdata.UserData`).

Read once at start (a few hundred bytes); written atomically (temp file + rename) on a worker.
A damaged file is set aside as ``app.json.damaged`` and defaults are used.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

from comicdesk.core.settings import DEVICES  # noqa: F401  (the names --device takes; re-exported)
from comicdesk.services.library import write_text

PREFS_FILE = "app.json"
MAX_RECENT = 10


@dataclass
class Prefs:
    recent: list[str] = field(default_factory=list)
    last: str | None = None
    profile: str = "standard"
    device: str = "auto"
    threads: int = 0  # 0: automatic
    cache_dir: str | None = None  # None: the platform cache folder
    analyse: bool = True  # analyse opened libraries in the background
    reader_fit: str = "page"  # page | width | height | original
    reader_double: bool = False
    reader_continuous: bool = False
    geometry: str | None = None  # base64 of QMainWindow.saveGeometry()
    export_dir: str | None = None  # where the last export went (the export dialog starts there)

    def add_recent(self, path: str) -> None:
        self.recent = [path] + [p for p in self.recent if p != path]
        del self.recent[MAX_RECENT:]
        self.last = path

    def forget_recent(self, path: str) -> None:
        self.recent = [p for p in self.recent if p != path]
        if self.last == path:
            self.last = None


def prefs_path(data_root: Path) -> Path:
    return Path(data_root) / PREFS_FILE


def load_prefs(data_root: Path) -> Prefs:
    path = prefs_path(data_root)
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
        if not isinstance(raw, dict):
            raise ValueError("not an object")
    except FileNotFoundError:
        return Prefs()
    except (OSError, ValueError):
        try:
            os.replace(path, path.with_name(PREFS_FILE + ".damaged"))
        except OSError:
            pass
        return Prefs()
    known = {f.name: f for f in fields(Prefs)}
    p = Prefs()
    for k, v in raw.items():
        if k in known:
            setattr(p, k, v)
    if not isinstance(p.recent, list):
        p.recent = []
    p.recent = [str(x) for x in p.recent if isinstance(x, str)][:MAX_RECENT]
    if p.profile not in ("standard", "cosmo"):
        p.profile = "standard"
    if p.device not in DEVICES:
        p.device = "auto"
    if not isinstance(p.threads, int) or p.threads < 0:
        p.threads = 0
    p.analyse = bool(p.analyse)
    if not isinstance(p.export_dir, str) or not p.export_dir:
        p.export_dir = None
    if p.reader_fit not in ("page", "width", "height", "original"):
        p.reader_fit = "page"
    return p


def save_prefs(data_root: Path, prefs: Prefs) -> None:
    path = prefs_path(data_root)
    path.parent.mkdir(parents=True, exist_ok=True)
    text = json.dumps(asdict(prefs), indent=2, ensure_ascii=False)
    write_text(path, text + "\n")
