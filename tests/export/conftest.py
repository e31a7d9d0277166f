from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from comicdesk.core.settings import Settings


@pytest.fixture
def settings(tmp_path) -> Settings:
    """Cache and data roots inside tmp_path: tests never touch the real user folders."""
    return Settings.resolve(tmp_path / "cache", tmp_path / "data", env={})
