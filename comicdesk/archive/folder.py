"""A folder of images read as one book (sub-folders included, symlinks never followed out)."""

from __future__ import annotations

import os
from pathlib import Path

from comicdesk.archive.base import DEFAULT_LIMITS, Member, Reader, read_limited
from comicdesk.core.errors import BookError, TooLarge

MAX_DEPTH = 8


class FolderReader(Reader):
    format = "folder"

    @classmethod
    def sniff(cls, path: Path, head: bytes) -> bool:
        return path.is_dir()

    def __init__(self, path, limits=DEFAULT_LIMITS):
        super().__init__(path, limits)
        self._root = self.path.resolve()

    def members(self) -> list[Member]:
        out: list[Member] = []
        try:
            self._walk(self._root, "", 0, out)
        except PermissionError:
            raise BookError("permission denied") from None
        except FileNotFoundError:
            raise BookError("folder not found") from None
        return out

    def _walk(self, folder: Path, prefix: str, depth: int, out: list[Member]) -> None:
        if depth > MAX_DEPTH:
            return
        with os.scandir(folder) as it:
            entries = sorted(it, key=lambda e: e.name)
        for entry in entries:
            name = f"{prefix}{entry.name}"
            try:
                if entry.is_dir(follow_symlinks=False):
                    self._walk(Path(entry.path), name + "/", depth + 1, out)
                elif entry.is_file(follow_symlinks=True):
                    if entry.is_symlink() and not self._inside(Path(entry.path)):
                        self.warnings.append(f"skipped a link pointing outside the book ({name})")
                        continue
                    out.append(Member(name, entry.stat().st_size, entry.path))
            except OSError:
                continue  # unreadable entry: not listed; the rest of the folder still is
            if len(out) > self.limits.max_members:
                raise TooLarge(f"folder holds over {self.limits.max_members} files")

    def _inside(self, p: Path) -> bool:
        try:
            return p.resolve().is_relative_to(self._root)
        except OSError:
            return False

    def read(self, member: Member) -> bytes:
        self.check_size(member)
        try:
            with open(member.key, "rb") as fh:
                return read_limited(fh, self.limits.max_member_bytes, f"file {member.name!r}")
        except PermissionError:
            raise BookError(f"permission denied: {member.name}") from None
        except OSError as exc:
            raise BookError(f"cannot read {member.name}: {exc.strerror or exc}") from None

    def read_head(self, member: Member, n: int) -> bytes:
        try:
            with open(member.key, "rb") as fh:
                return fh.read(n)
        except OSError:
            return self.read(member)[:n]
