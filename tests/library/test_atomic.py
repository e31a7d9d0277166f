"""Atomic replacement: readers see the old file or the new one, never half of either."""

from __future__ import annotations

import pytest

from comicdesk.library import atomic


def test_replace_then_failure_keeps_the_old_content_and_leaves_no_temp(tmp_path):
    target = tmp_path / "prefs.json"
    atomic.write_text(target, "one\n", fsync=True)
    assert target.read_text() == "one\n"
    with pytest.raises(RuntimeError):
        with atomic.replacing(target) as fh:
            fh.write(b"half of tw")
            raise RuntimeError("disk full")
    assert target.read_text() == "one\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["prefs.json"]
    with atomic.replacing(target) as fh:
        fh.write(b"two\n")
    assert target.read_bytes() == b"two\n"
