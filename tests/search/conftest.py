from __future__ import annotations

import pytest

from comicdesk.core.settings import Settings


@pytest.fixture
def settings(tmp_path) -> Settings:
    return Settings.resolve(tmp_path / "cache", tmp_path / "data", env={})
