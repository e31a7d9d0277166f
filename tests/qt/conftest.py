"""Fixtures for the app's tests: Qt offscreen, temporary cache/data/log folders, small libraries
built from the public-domain Captain Science pages, and a main window torn down properly."""

from __future__ import annotations

import os

os.environ["QT_QPA_PLATFORM"] = "offscreen"  # before Qt is imported anywhere

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from comicdesk.core.settings import Settings  # noqa: E402
from comicdesk.qt.compat import guard_immortals  # noqa: E402

guard_immortals()  # shiboken6 6.12 on Python 3.11 leaks references to None, True, False


@pytest.fixture(autouse=True)
def _temp_log_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("COMICDESK_LOG_DIR", str(tmp_path / "log"))


@pytest.fixture
def settings(tmp_path) -> Settings:
    """Cache and data roots inside tmp_path: tests never touch the real user folders."""
    return Settings.resolve(tmp_path / "cache", tmp_path / "data", env={})


@pytest.fixture
def pages() -> list[Path]:
    from helpers import captain_science_pages

    found = captain_science_pages()
    assert len(found) == 5
    return found


@pytest.fixture
def library(tmp_path, pages) -> Path:
    """12 readable books in two series, one damaged file, one folder book."""
    from qthelpers import make_book

    root = tmp_path / "Comics"
    for n in range(1, 8):
        make_book(root / "Captain Science" / f"Captain Science #{n:03d} (1950).cbz", pages,
                  series="Captain Science", number=str(n), title=f"Story {n}", writer="Joe Orlando")
    for n in range(1, 5):
        make_book(root / "Space Adventures" / f"Space Adventures {n:02d}.cbz", pages[:3])
    make_book(root / "Manga" / "Right To Left.cbz", pages, title="Manga Volume", manga=True)
    (root / "Broken").mkdir(parents=True)
    (root / "Broken" / "damaged.cbz").write_bytes(b"PK\x03\x04 this is not a zip at all")
    loose = root / "Loose" / "Captain Science 099"
    loose.mkdir(parents=True)
    for p in pages:
        (loose / p.name).write_bytes(p.read_bytes())
    return root


@pytest.fixture
def window(qtbot, settings):
    from qthelpers import new_window

    win = new_window(qtbot, settings)
    yield win
    if win.isVisible():
        win.close()
    win.shutdown()


@pytest.fixture
def wide_page(tmp_path) -> Path:
    from PIL import Image

    p = tmp_path / "wide.jpg"
    Image.new("RGB", (320, 160), (200, 60, 40)).save(p, quality=80)
    return p
