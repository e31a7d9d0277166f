from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from helpers import fixtures_dir  # noqa: E402


@pytest.fixture(scope="session")
def fixtures() -> Path:
    return fixtures_dir()
