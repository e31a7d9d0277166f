"""The layers of ARCHITECTURE.md hold: the import-linter contracts in pyproject.toml pass on the
code, and each kind of broken rule fails them (shown on a copy of the package with one bad import
planted, inside a function as the lazy imports are)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
LINT = Path(sys.executable).with_name("lint-imports")

def lint(root: Path) -> subprocess.CompletedProcess:
    """``lint-imports`` on the package under ``root`` (its pyproject.toml), that copy first on the
    path so the installed comicdesk is not the one read."""
    assert LINT.is_file(), "import-linter is not installed: pip install -e '.[test]' (setup.sh does)"
    env = dict(os.environ, PYTHONPATH=str(root), NO_COLOR="1", COLUMNS="200")
    return subprocess.run([str(LINT), "--no-cache", "--config", str(root / "pyproject.toml")], cwd=root,
                          env=env, capture_output=True, text=True, timeout=120)


def test_the_code_keeps_every_import_contract():
    result = lint(REPO)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


@pytest.fixture(scope="module")
def copy(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("layers")
    shutil.copytree(REPO / "comicdesk", root / "comicdesk", ignore=shutil.ignore_patterns("__pycache__", "*.np[yz]"))
    shutil.copy(REPO / "pyproject.toml", root / "pyproject.toml")
    return root


# (module planted, its source, what the report names, the contract it breaks)
BREAKS = [
    ("comicdesk/core/planted.py", "def f():\n    from comicdesk.pipeline import runner\n",
     "comicdesk.core.planted -> comicdesk.pipeline.runner", "Layers"),
    ("comicdesk/search/planted.py", "def f():\n    from comicdesk.pipeline.stage import STANDARD_MODEL\n",
     "comicdesk.search.planted -> comicdesk.pipeline.stage", "Layers"),
    ("comicdesk/pipeline/planted.py", "def f():\n    import comicdesk.services.analysis\n",
     "comicdesk.pipeline.planted -> comicdesk.services.analysis", "Layers"),
    ("comicdesk/commands/planted.py", "def f():\n    from comicdesk.cli import note\n",
     "comicdesk.commands.planted -> comicdesk.cli", "Layers"),
    ("comicdesk/library/planted.py", "def f():\n    from comicdesk.ml.page_head import PageHead\n",
     "comicdesk.library.planted -> comicdesk.ml.page_head", "never use the models"),
    ("comicdesk/export/planted.py", "def f():\n    from comicdesk.cache.vectors import VectorStore\n",
     "comicdesk.export.planted -> comicdesk.cache.vectors", "not the vector cache"),
    ("comicdesk/services/planted.py", "def f():\n    from PySide6 import QtCore\n",
     "comicdesk.services.planted -> PySide6", "Only comicdesk.qt imports Qt"),
    ("comicdesk/qt/planted.py", "def f():\n    from comicdesk.pipeline.runner import Runner\n",
     "comicdesk.qt.planted -> comicdesk.pipeline.runner", "use services and core"),
    ("comicdesk/pipeline/planted.py", "def f():\n    import ray\n",
     "comicdesk.pipeline.planted -> ray", "Only the Ray engine imports Ray"),
]


@pytest.mark.parametrize("path, source, edge, contract", BREAKS, ids=[b[0].split("/")[1] for b in BREAKS])
def test_one_bad_import_breaks_the_contract(copy, path, source, edge, contract):
    planted = copy / path
    planted.write_text(source)
    try:
        result = lint(copy)
    finally:
        planted.unlink()
    out = result.stdout + result.stderr
    assert result.returncode != 0, out
    assert "1 broken" in out, out
    broken = out[out.index("Broken contracts"):]
    assert contract in broken and edge in broken, out
