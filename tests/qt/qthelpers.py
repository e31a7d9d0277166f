"""Helpers for the app's tests."""

from __future__ import annotations

import zipfile
from pathlib import Path

COMICINFO = """<?xml version="1.0" encoding="utf-8"?>
<ComicInfo>{fields}</ComicInfo>
"""

WAIT_MS = 20_000


def make_book(dest: Path, pages: list[Path], *, series=None, number=None, title=None, writer=None,
              manga: bool = False) -> Path:
    dest.parent.mkdir(parents=True, exist_ok=True)
    fields = ""
    for tag, value in (("Title", title), ("Series", series), ("Number", number), ("Writer", writer)):
        if value:
            fields += f"<{tag}>{value}</{tag}>"
    if manga:
        fields += "<Manga>YesAndRightToLeft</Manga>"
    with zipfile.ZipFile(dest, "w", zipfile.ZIP_STORED) as zf:
        for i, page in enumerate(pages):
            zf.write(page, f"{i + 1:03d}{page.suffix}")
        if fields:
            zf.writestr("ComicInfo.xml", COMICINFO.format(fields=fields))
    return dest


def new_window(qtbot, settings, prefs=None):
    from comicdesk.qt.main_window import MainWindow
    from comicdesk.qt.prefs import Prefs, load_prefs

    if prefs is None:  # background analysis only where a test asks for it
        prefs = load_prefs(settings.data_root) if settings.data_root.exists() else Prefs(analyse=False)
    win = MainWindow(settings, prefs)
    qtbot.addWidget(win)
    win.resize(1100, 800)
    win.show()
    qtbot.waitExposed(win)
    return win


def open_and_wait(qtbot, win, path) -> None:
    """Open a path and wait until its first screen is complete (scan done, covers in)."""
    with qtbot.waitSignal(win.first_screen_ready, timeout=WAIT_MS):
        win.open_path(path)


def wait_reader(qtbot, win) -> None:
    qtbot.waitUntil(lambda: win.reader.count > 0 and all(win.reader.has_image(i) for i in win.reader.shown()),
                    timeout=WAIT_MS)


def titles(model) -> list[str]:
    return [model.item(r).title for r in range(model.rowCount())]
