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

import os
import sqlite3
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Iterator, Sequence

from comicdesk.library.errors import CatalogError

Migration = Callable[[sqlite3.Connection], None]


def connect(path: Path, *, readonly: bool = False, timeout: float = 10.0) -> sqlite3.Connection:
    """Open one of *our* databases (catalogue, user data). Writers get WAL mode."""
    try:
        if readonly:
            conn = sqlite3.connect(f"{Path(path).absolute().as_uri()}?mode=ro", uri=True,
                                   timeout=timeout, isolation_level=None, check_same_thread=False)
        else:
            Path(path).parent.mkdir(parents=True, exist_ok=True)
            conn = sqlite3.connect(str(path), timeout=timeout, isolation_level=None,
                                   check_same_thread=False)
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
        conn.execute("PRAGMA foreign_keys=ON")
    except sqlite3.DatabaseError as exc:
        raise CatalogError(f"cannot open {path}: {exc}") from None
    return conn


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


def clean_text(text: str | None) -> str | None:
    """Text for a TEXT column: characters that cannot be UTF-8 (undecodable bytes of a file name,
    carried as lone surrogates) become U+FFFD. For display columns only; paths use
    :func:`path_to_db`, which keeps them exactly."""
    if text is None:
        return None
    try:
        text.encode("utf-8")
        return text
    except UnicodeEncodeError:
        try:
            raw = text.encode("utf-8", "surrogateescape")
        except UnicodeEncodeError:
            raw = text.encode("utf-8", "surrogatepass")
        return raw.decode("utf-8", "replace")


def path_to_db(path: str | os.PathLike) -> str | bytes:
    text = os.fspath(path)
    try:
        text.encode("utf-8")
        return text
    except UnicodeEncodeError:
        return os.fsencode(text)


def path_from_db(value: str | bytes) -> str:
    return os.fsdecode(value) if isinstance(value, bytes) else value
