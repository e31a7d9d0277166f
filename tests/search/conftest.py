from __future__ import annotations

import pytest

from comicdesk import cli
from comicdesk.core.settings import Settings


@pytest.fixture
def settings(tmp_path) -> Settings:
    return Settings.resolve(tmp_path / "cache", tmp_path / "data", env={})


@pytest.fixture
def similar_cli(capsys, settings):
    """``comicdesk similar ARGV`` against the test's cache and data folders: (exit code, stdout,
    stderr)."""

    def run(*argv):
        code = cli.main(["similar", *argv, "--cache-dir", str(settings.cache_root), "--data-dir",
                         str(settings.data_root)])
        out, err = capsys.readouterr()
        return code, out, err

    return run
