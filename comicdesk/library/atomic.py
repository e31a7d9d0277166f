"""Write a file so that readers see either the old content or the new, never a half-written one."""

from __future__ import annotations

import os
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Iterator


@contextmanager
def replacing(target: Path, *, binary: bool = True, fsync: bool = False) -> Iterator[IO]:
    """Yield a temporary file beside ``target``; on a clean exit it replaces ``target`` (rename),
    on an error it is removed and ``target`` is left as it was."""
    target = Path(target)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.stem}-", suffix=".tmp", dir=target.parent)
    try:
        with os.fdopen(fd, "wb" if binary else "w", **({} if binary else {"encoding": "utf-8"})) as fh:
            yield fh
            if fsync:
                fh.flush()
                os.fsync(fh.fileno())
        os.replace(tmp, target)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def write_text(target: Path, text: str, *, fsync: bool = False) -> None:
    with replacing(target, binary=False, fsync=fsync) as fh:
        fh.write(text)
