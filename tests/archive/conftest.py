from __future__ import annotations

import pytest

from helpers import captain_science_pages


@pytest.fixture(scope="module")
def jpegs() -> list[tuple[str, bytes]]:
    """(file name, bytes) of the five Captain Science pages."""
    pages = captain_science_pages()
    assert len(pages) == 5
    return [(p.name, p.read_bytes()) for p in pages]
