from __future__ import annotations

from pathlib import Path

import pytest
from libhelpers import build_library

from comicdesk.core.settings import Settings


@pytest.fixture
def settings(tmp_path) -> Settings:
    """Cache and data roots inside tmp_path: tests never touch the real user folders."""
    return Settings.resolve(tmp_path / "cache", tmp_path / "data", env={})


@pytest.fixture
def library(tmp_path) -> Path:
    return build_library(tmp_path / "lib")
