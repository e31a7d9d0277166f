"""Issue 21, item 2: no cache or data folder inside a library. An explicit one (flag or environment)
inside the library being scanned, or inside any registered library, is refused with one line
before anything is created; the platform's default folders inside a library are skipped."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

from helpers import REPO, run_comicdesk, tree_digest

SAMPLE_CBZ = REPO / "resources" / "sample-library" / "Captain Science" / "Captain Science #001 (1950).cbz"


def _env(tmp_path: Path, **extra) -> dict:
    home = tmp_path / "home"
    home.mkdir(exist_ok=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("COMICDESK_", "XDG_"))}
    env.update(HOME=str(home), XDG_CACHE_HOME=str(home / ".cache"), XDG_DATA_HOME=str(home / ".local/share"))
    env.update({k: str(v) for k, v in extra.items()})
    return env


@pytest.fixture
def lib(tmp_path) -> Path:
    lib = tmp_path / "lib"
    lib.mkdir()
    shutil.copyfile(SAMPLE_CBZ, lib / "book.cbz")
    return lib


@pytest.mark.parametrize("where", ["cache", "data", "both"])
def test_explicit_dir_inside_the_scanned_library_is_refused(tmp_path, lib, where):
    before = tree_digest(lib)
    cache = lib / ".cache" if where in ("cache", "both") else tmp_path / "cache"
    data = lib / "mydata" if where in ("data", "both") else tmp_path / "data"
    for command in ("scan", "index"):
        proc = run_comicdesk([command, lib, "--cache-dir", cache, "--data-dir", data], _env(tmp_path), check_rc=1)
        assert proc.stderr.count("\n") == 1 and "inside the library" in proc.stderr, proc.stderr
        assert str(lib) in proc.stderr and proc.stdout == ""
    assert tree_digest(lib) == before
    assert not (tmp_path / "cache").exists() and not (tmp_path / "data").exists()


def test_environment_dir_inside_the_library_is_refused(tmp_path, lib):
    before = tree_digest(lib)
    env = _env(tmp_path, COMICDESK_CACHE_DIR=lib / "sub" / "cache", COMICDESK_DATA_DIR=tmp_path / "data")
    proc = run_comicdesk(["scan", lib / "book.cbz"], env, check_rc=1)  # a one-book library rooted at lib
    assert "cache folder" in proc.stderr and "inside the library" in proc.stderr
    assert tree_digest(lib) == before and not (tmp_path / "data").exists()


def test_dir_inside_a_registered_library_is_refused_for_every_command(tmp_path, lib):
    data = tmp_path / "data"
    run_comicdesk(["scan", lib, "--cache-dir", tmp_path / "cache", "--data-dir", data], _env(tmp_path))
    before = tree_digest(lib)
    other = tmp_path / "other"
    other.mkdir()
    shutil.copyfile(SAMPLE_CBZ, other / "b.cbz")
    for argv in (["scan", other], ["pages", other / "b.cbz"], ["label", other / "b.cbz", "0", "story"],
                 ["duplicates", other]):
        proc = run_comicdesk([*argv, "--cache-dir", lib / "cache2", "--data-dir", data], _env(tmp_path), check_rc=1)
        assert proc.stderr.count("\n") == 1 and f"inside the library {lib}" in proc.stderr, (argv, proc.stderr)
    assert tree_digest(lib) == before


def test_a_registered_library_under_a_symlink_is_still_seen(tmp_path, lib):
    link = tmp_path / "link"
    link.symlink_to(lib)
    before = tree_digest(lib)
    proc = run_comicdesk(["scan", link, "--cache-dir", link / "c", "--data-dir", tmp_path / "d"], _env(tmp_path), check_rc=1)
    assert "inside the library" in proc.stderr
    assert tree_digest(lib) == before


def test_platform_default_dirs_inside_a_library_are_skipped(tmp_path):
    """A library rooted at the home folder whose platform cache and data folders are not hidden:
    the scan catalogues the book, never comicdesk's own files (thumbnails would be a folder book)."""
    home = tmp_path / "home"
    home.mkdir()
    shutil.copyfile(SAMPLE_CBZ, home / "book.cbz")
    env = _env(tmp_path)
    env.update(XDG_CACHE_HOME=str(home / "Caches"), XDG_DATA_HOME=str(home / "Data"))
    thumbs = home / "Caches" / "comicdesk" / "libraries" / "x" / "thumbs" / "ab"
    thumbs.mkdir(parents=True)
    (thumbs / "abc-256.jpg").write_bytes((SAMPLE_CBZ.parent / "cover.jpg").read_bytes()
                                         if (SAMPLE_CBZ.parent / "cover.jpg").exists() else _a_jpeg())
    models = home / "Data" / "comicdesk" / "pages"
    models.mkdir(parents=True)
    (models / "p.jpg").write_bytes(_a_jpeg())
    proc = run_comicdesk(["--json", "scan", home], env)
    rows = [json.loads(line) for line in proc.stdout.splitlines()]
    assert [Path(r["path"]).name for r in rows] == ["book.cbz"]
    assert (home / "Caches" / "comicdesk").is_dir()


def _a_jpeg() -> bytes:
    import io

    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", (40, 60), (200, 10, 10)).save(buf, "JPEG")
    return buf.getvalue()
