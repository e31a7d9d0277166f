"""Shared test helpers. The one way tests find the shared fixtures: ``$COMICDESK_FIXTURES``, else
``../shared/fixtures`` next to the checkout."""

from __future__ import annotations

import hashlib
import os
from contextlib import contextmanager
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def fixtures_dir() -> Path:
    env = os.environ.get("COMICDESK_FIXTURES")
    path = Path(env) if env else REPO.parent / "shared" / "fixtures"
    if not path.is_dir():
        raise RuntimeError(
            f"shared fixtures not found at {path}; set COMICDESK_FIXTURES to the fixtures folder"
        )
    return path


def comicbox_dir() -> Path:
    return fixtures_dir() / "archives" / "comicbox"


def rarfile_dir() -> Path:
    return fixtures_dir() / "archives" / "rarfile"


def captain_science_pages() -> list[Path]:
    """The five public-domain Captain Science #001 page JPEGs, in order."""
    return sorted((comicbox_dir() / "Captain Science 001").glob("CaptainScience#1_*.jpg"))


def tree_digest(root: Path) -> str:
    """A hash of every path, mode, size, mtime and content under root (to prove nothing changed)."""
    h = hashlib.sha256()
    root = Path(root)
    for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
        dirnames.sort()
        for name in sorted(filenames) + sorted(dirnames):
            p = Path(dirpath) / name
            st = p.lstat()
            h.update(str(p.relative_to(root)).encode("utf-8", "surrogateescape"))
            h.update(f"{st.st_mode}:{st.st_size}:{st.st_mtime_ns}".encode())
            if p.is_file() and not p.is_symlink():
                try:
                    h.update(hashlib.sha256(p.read_bytes()).digest())
                except PermissionError:
                    h.update(b"<unreadable>")
    return h.hexdigest()


def one_line(exc: BaseException) -> str:
    """The exception's message, asserted to be the one clear line a person sees."""
    text = str(exc)
    assert text and "\n" not in text and "Traceback" not in text
    return text


def book_entries(jpegs: list[tuple[str, bytes]]) -> list[tuple[str, bytes]]:
    """The five Captain Science pages under a folder, plus a ComicInfo.xml that must not become a page."""
    return [(f"Captain Science 001/{n}", d) for n, d in jpegs] + [("ComicInfo.xml", b"<ComicInfo/>")]


@contextmanager
def older_catalogue(version: int):
    """Inside, catalogues are written as by a comicdesk that knew only the first ``version`` schema
    steps (a person's cache from before an update)."""
    from comicdesk.library import catalog

    saved = catalog.MIGRATIONS
    catalog.MIGRATIONS = saved[:version]
    try:
        yield
    finally:
        catalog.MIGRATIONS = saved


def scan_as_older(root: Path, settings, version: int):
    """``scan_library`` (in process) as that older comicdesk: its catalogue stays at ``version``."""
    from comicdesk.library.service import ScanOptions, scan_library

    with older_catalogue(version):
        return scan_library(root, settings, options=ScanOptions(executor="inline"))


def run_comicdesk(argv, env: dict, check_rc: int | None = 0):
    """``python -m comicdesk ARGV`` in a child process with ``env``: never a traceback, and the
    exit status ``check_rc`` (None: any)."""
    import subprocess
    import sys

    proc = subprocess.run([sys.executable, "-m", "comicdesk", *map(str, argv)], capture_output=True,
                          text=True, env=env, timeout=120, cwd=REPO)
    assert "Traceback" not in proc.stderr
    if check_rc is not None:
        assert proc.returncode == check_rc, (proc.returncode, proc.stdout, proc.stderr)
    return proc
