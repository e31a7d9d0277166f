"""The person's own data for one library: ``<data dir>/user.sqlite`` (never in the cache).

Everything is keyed by the book's *content key* (and page index), not by path, so a label or a
reading position follows a book that is moved, renamed or touched, and survives the cache being
cleared. Schema version 1:

- ``page_labels(content_key, page, label, set_at)`` — a page class the person chose
  (one of :data:`~comicdesk.core.pages.PAGE_CLASSES`);
- ``positions(content_key, page, updated_at)`` — where the person stopped reading;
- ``settings(key, value)`` — per-library settings, JSON values.

The per-library classifier head learnt from the labels is a later migration (a blob table).
Each write is its own transaction.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from comicdesk.core.pages import PAGE_CLASSES
from comicdesk.library import db

USER_FILE = "user.sqlite"


def _v1(conn) -> None:
    db.run_script(conn, """
        CREATE TABLE page_labels (
            content_key TEXT NOT NULL,
            page        INTEGER NOT NULL,
            label       TEXT NOT NULL,
            set_at      REAL NOT NULL,
            PRIMARY KEY (content_key, page)
        ) WITHOUT ROWID;
        CREATE TABLE positions (
            content_key TEXT PRIMARY KEY,
            page        INTEGER NOT NULL,
            updated_at  REAL NOT NULL
        );
        CREATE TABLE settings (key TEXT PRIMARY KEY, value TEXT NOT NULL);
        """)


MIGRATIONS: list[db.Migration] = [_v1]


class UserData:
    def __init__(self, data_dir: Path, *, readonly: bool = False):
        self.path = Path(data_dir) / USER_FILE
        self.conn = db.connect(self.path, readonly=readonly)
        try:
            if readonly:
                db.check_version(self.conn, MIGRATIONS, "your library data")
            else:
                db.migrate(self.conn, MIGRATIONS, "your library data")
        except BaseException:
            self.conn.close()
            raise

    def close(self) -> None:
        self.conn.close()

    def __enter__(self) -> "UserData":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # -- page labels ------------------------------------------------------------------------
    def set_label(self, content_key: str, page: int, label: str | None) -> None:
        """Set the person's label for a page; ``None`` clears it."""
        if page < 0:
            raise ValueError("page indexes count from 0")
        with db.transaction(self.conn):
            if label is None:
                self.conn.execute("DELETE FROM page_labels WHERE content_key = ? AND page = ?",
                                  (content_key, page))
                return
            if label not in PAGE_CLASSES:
                raise ValueError(f"unknown page class {label!r}; expected one of {', '.join(PAGE_CLASSES)}")
            self.conn.execute(
                "INSERT INTO page_labels(content_key, page, label, set_at) VALUES (?,?,?,?) "
                "ON CONFLICT(content_key, page) DO UPDATE SET label=excluded.label, set_at=excluded.set_at",
                (content_key, page, label, time.time()))

    def labels(self, content_key: str) -> dict[int, str]:
        return dict(self.conn.execute(
            "SELECT page, label FROM page_labels WHERE content_key = ? ORDER BY page", (content_key,)))

    # -- reading positions ------------------------------------------------------------------
    def set_position(self, content_key: str, page: int) -> None:
        with db.transaction(self.conn):
            self.conn.execute(
                "INSERT INTO positions(content_key, page, updated_at) VALUES (?,?,?) "
                "ON CONFLICT(content_key) DO UPDATE SET page=excluded.page, updated_at=excluded.updated_at",
                (content_key, page, time.time()))

    def position(self, content_key: str) -> int | None:
        row = self.conn.execute("SELECT page FROM positions WHERE content_key = ?", (content_key,)).fetchone()
        return None if row is None else row[0]

    # -- settings ---------------------------------------------------------------------------
    def set_setting(self, key: str, value: Any) -> None:
        with db.transaction(self.conn):
            self.conn.execute("INSERT INTO settings(key, value) VALUES (?, ?) "
                              "ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                              (key, json.dumps(value)))

    def setting(self, key: str, default: Any = None) -> Any:
        row = self.conn.execute("SELECT value FROM settings WHERE key = ?", (key,)).fetchone()
        return default if row is None else json.loads(row[0])
