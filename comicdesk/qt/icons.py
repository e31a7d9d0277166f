"""The app icon, from ``resources/`` (the checkout, or the bundle made by ``packaging/``)."""

from __future__ import annotations

import sys
from pathlib import Path

from PySide6.QtGui import QIcon


def resource_dirs() -> list[Path]:
    dirs = []
    bundle = getattr(sys, "_MEIPASS", None)  # a PyInstaller bundle
    if bundle:
        dirs.append(Path(bundle) / "resources")
    dirs.append(Path(__file__).resolve().parents[2] / "resources")  # the checkout
    dirs.append(Path(sys.prefix) / "share" / "comicdesk")
    return dirs


def app_icon() -> QIcon:
    icon = QIcon()
    for d in resource_dirs():
        for name in ("icon.svg", "icon-256.png"):
            p = d / name
            if p.is_file():
                icon.addFile(str(p))
        if not icon.isNull():
            break
    return icon
