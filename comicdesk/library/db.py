"""A small generic SQLite layer (no domain knowledge): connections, transactions, migrations.

Versioned migrations: a database's ``PRAGMA user_version`` is the number of migrations applied to
it. A migration is a function taking the connection; :func:`migrate` runs the missing ones in order,
all in one ``BEGIN IMMEDIATE`` transaction together with the ``user_version`` bump, so a crash or a
failing step leaves the database at the version it had, and a reader (which takes no lock) sees
either that version or the latest, never one in between — a reader that found a half-made new
catalogue at version 2 of 4 would think it was written by an older comicdesk. A database newer
than the code is refused with a clear line rather than guessed at. Adding a table later is appending one function to a list.

Paths are stored as TEXT; a file name that is not valid UTF-8 (possible on Linux) is stored as a
BLOB of its raw bytes instead (:func:`path_to_db` / :func:`path_from_db`).
"""

from __future__ import annotations

import logging
import os
import sqlite3
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Iterator, Sequence

from comicdesk.core.errors import flat
from comicdesk.core.text import clean_text  # noqa: F401  (the catalogue's display columns; callers import it from here too)
from comicdesk.library.errors import CatalogError

Migration = Callable[[sqlite3.Connection], None]

#: One line for the person about the cache's health (a damaged file moved aside, books to analyse
#: again): the command line prints it on stderr, the app shows it.
HEALTH = logging.getLogger("comicdesk.health")

#: SQLite result codes of a damaged file: SQLITE_CORRUPT, SQLITE_NOTADB.
_DAMAGE_CODES = (11, 26)


def is_damage(exc: BaseException) -> bool:
    """Whether a SQLite error says the file itself is damaged (not busy, full or read-only)."""
    if isinstance(exc, DatabaseDamaged):
        return True
    if not isinstance(exc, sqlite3.DatabaseError) or isinstance(exc, (sqlite3.IntegrityError,
                                                                       sqlite3.ProgrammingError)):
        return False
    if getattr(exc, "sqlite_errorcode", None) in _DAMAGE_CODES:
        return True
    text = str(exc).lower()
    return "malformed" in text or "not a database" in text


class DatabaseDamaged(CatalogError, sqlite3.DatabaseError):
    """One of our SQLite files is damaged (``database disk image is malformed``, ``file is not a
    database``). Still an ``sqlite3.DatabaseError``, so code that goes on without the cache when
    it cannot be read keeps doing so; its reason is one line saying what happens next."""

    kind = "damaged"


class _Connection(sqlite3.Connection):
    """A connection whose damage errors become :class:`DatabaseDamaged` with the line its owner
    gave (``on_damage(exc) -> str``, which may also leave a note for the next writer)."""

    on_damage: Callable[[BaseException], str] | None = None

    last_damage: str | None = None  # SQLite's own words for the last damage error

    def _damaged(self, exc: sqlite3.DatabaseError) -> DatabaseDamaged:
        self.last_damage = flat(exc)[:200]
        handler = self.on_damage
        reason = handler(exc) if handler is not None else f"a cache file is damaged ({exc})"
        return DatabaseDamaged(reason)

    def execute(self, *args):  # noqa: D102
        try:
            return super().execute(*args)
        except sqlite3.DatabaseError as exc:
            if is_damage(exc) and not isinstance(exc, DatabaseDamaged):
                raise self._damaged(exc) from None
            raise

    def executemany(self, *args):  # noqa: D102
        try:
            return super().executemany(*args)
        except sqlite3.DatabaseError as exc:
            if is_damage(exc) and not isinstance(exc, DatabaseDamaged):
                raise self._damaged(exc) from None
            raise


def connect(path: Path, *, readonly: bool = False, timeout: float = 10.0,
            on_damage: Callable[[BaseException], str] | None = None) -> sqlite3.Connection:
    """Open one of *our* databases (catalogue, user data). Writers get WAL mode. ``on_damage``
    gives the one line a damaged file is reported with (:class:`DatabaseDamaged`)."""
    conn = None
    try:
        if readonly:
            conn = sqlite3.connect(f"{Path(path).absolute().as_uri()}?mode=ro", uri=True,
                                   timeout=timeout, isolation_level=None, check_same_thread=False,
                                   factory=_Connection)
        else:
            Path(path).parent.mkdir(parents=True, exist_ok=True)
            conn = sqlite3.connect(str(path), timeout=timeout, isolation_level=None,
                                   check_same_thread=False, factory=_Connection)
        conn.on_damage = on_damage
        if not readonly:
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
        conn.execute("PRAGMA foreign_keys=ON")
    except DatabaseDamaged:
        if conn is not None:
            conn.close()
        raise
    except sqlite3.DatabaseError as exc:
        if conn is not None:
            conn.close()
        if is_damage(exc):
            raise DatabaseDamaged(on_damage(exc) if on_damage is not None
                                  else f"{path} is damaged ({exc})") from None
        raise CatalogError(f"cannot open {path}: {exc}") from None
    return conn


def quick_check(conn: sqlite3.Connection) -> str | None:
    """``PRAGMA quick_check``: None when the file is sound, else the first problem (one line).
    It reads the whole file: seconds on a large catalogue, so only where damage is looked for."""
    try:
        rows = conn.execute("PRAGMA quick_check(1)").fetchall()
    except sqlite3.DatabaseError as exc:
        if isinstance(exc, DatabaseDamaged):
            return getattr(conn, "last_damage", None) or exc.reason
        return str(exc)
    first = rows[0][0] if rows else "no answer"
    return None if first == "ok" else flat(first)[:200]


def move_aside(path: Path) -> Path:
    """Rename a damaged database (and its WAL and shared-memory files, which belong to it and
    must never be replayed into a new one) to ``<name>.damaged-<time>``; returns the new path."""
    path = Path(path)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    aside = path.with_name(f"{path.name}.damaged-{stamp}")
    n = 1
    while aside.exists():
        n += 1
        aside = path.with_name(f"{path.name}.damaged-{stamp}-{n}")
    for suffix in ("-wal", "-shm"):
        extra = path.with_name(path.name + suffix)
        if extra.exists():
            os.replace(extra, aside.with_name(aside.name + suffix))
    if path.exists():
        os.replace(path, aside)
    return aside


@contextmanager
def transaction(conn: sqlite3.Connection, mode: str = "IMMEDIATE") -> Iterator[sqlite3.Connection]:
    """All or nothing: ``BEGIN <mode>`` ... ``COMMIT``, rolled back on any exception."""
    conn.execute(f"BEGIN {mode}")
    try:
        yield conn
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")


def schema_version(conn: sqlite3.Connection) -> int:
    return conn.execute("PRAGMA user_version").fetchone()[0]


def check_version(conn: sqlite3.Connection, migrations: Sequence[Migration], what: str) -> int:
    """The database's schema version; a clear error when it is newer than this code."""
    current = schema_version(conn)
    if current > len(migrations):
        raise CatalogError(f"{what} was written by a newer version of comicdesk "
                           f"(schema {current}, this version knows {len(migrations)}); update comicdesk")
    return current


def migrate(conn: sqlite3.Connection, migrations: Sequence[Migration], what: str) -> int:
    """Bring the database up to ``len(migrations)``; returns the version it is now at."""
    target = len(migrations)
    if check_version(conn, migrations, what) == target:
        return target
    with transaction(conn):
        # Re-read inside the write lock: another process may have migrated meanwhile.
        current = check_version(conn, migrations, what)
        for version in range(current, target):
            migrations[version](conn)
        if current < target:
            conn.execute(f"PRAGMA user_version = {target}")
    return schema_version(conn)


def run_script(conn: sqlite3.Connection, script: str) -> None:
    """Execute several statements inside the current transaction (``executescript`` would commit
    it first)."""
    statement = ""
    for line in script.splitlines(keepends=True):
        statement += line
        if sqlite3.complete_statement(statement):
            conn.execute(statement)
            statement = ""
    if statement.strip():
        conn.execute(statement)


def path_to_db(path: str | os.PathLike) -> str | bytes:
    text = os.fspath(path)
    try:
        text.encode("utf-8")
        return text
    except UnicodeEncodeError:
        return os.fsencode(text)


def path_from_db(value: str | bytes) -> str:
    return os.fsdecode(value) if isinstance(value, bytes) else value
