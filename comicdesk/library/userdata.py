"""The person's own data for one library: ``<data dir>/user.sqlite`` (never in the cache).

Everything is keyed by the book's *content key* (and page index), not by path, so a label or a
reading position follows a book that is moved, renamed or touched, and survives the cache being
cleared. Schema version 1:

- ``page_labels(content_key, page, label, set_at)`` — a page class the person chose
  (one of :data:`~comicdesk.core.pages.PAGE_CLASSES`);
- ``positions(content_key, page, updated_at)`` — where the person stopped reading;
- ``settings(key, value)`` — per-library settings, JSON values.

Schema version 2 (:func:`_v2`) adds ``heads(model_id, version, data, n_labels, labels_digest,
trained_at)``: the per-library page-class head learnt from the labels
(``comicdesk.ml.page_head``, serialised ``.npz`` bytes), one row per model id (``standard-1``,
and ``cosmo-v4`` once the cosmo profile classified a book); ``labels_digest`` says which
training labels (the person's and ComicInfo's) and which analyses it learnt from.

Each write is its own transaction.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from comicdesk.core.errors import flat
from comicdesk.core.pages import PAGE_CLASSES
from comicdesk.library import db
from comicdesk.library.errors import CatalogError

USER_FILE = "user.sqlite"
_SAID: set[str] = set()  # damaged files already told about in this process


class UserDataDamaged(CatalogError):
    """The person's data file is damaged: nothing is written to it (one line says what to do)."""

    kind = "user-data-damaged"


def say_once(path: Path, line: str) -> None:
    """One line about a damaged user data file, the first time this process meets it."""
    key = str(path)
    if key not in _SAID:
        _SAID.add(key)
        db.HEALTH.warning(line)


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


def _v2(conn) -> None:
    db.run_script(conn, """
        CREATE TABLE heads (
            model_id      TEXT PRIMARY KEY,
            version       INTEGER NOT NULL,
            data          BLOB NOT NULL,
            n_labels      INTEGER NOT NULL,
            labels_digest TEXT NOT NULL,
            trained_at    REAL NOT NULL
        );
        """)


MIGRATIONS: list[db.Migration] = [_v1, _v2]


class UserData:
    """The person's data of one library. A damaged file (``docs/library.md``, "A damaged
    cache") is never rebuilt, moved or written: a reader gets an empty, in-memory stand-in
    (``damaged`` says why; one line says so, once per file and process), so pages, search and
    exports go on without the person's labels; a writer gets :class:`UserDataDamaged`."""

    def __init__(self, data_dir: Path, *, readonly: bool = False):
        self.path = Path(data_dir) / USER_FILE
        self.damaged: str | None = None
        self.conn = None
        try:
            self.conn = db.connect(self.path, readonly=readonly, on_damage=self._damage_line)
            if readonly:
                db.check_version(self.conn, MIGRATIONS, "your library data")
            else:
                db.migrate(self.conn, MIGRATIONS, "your library data")
            problem = db.quick_check(self.conn) if self.path.is_file() else None  # small: milliseconds
            if problem is not None:
                raise db.DatabaseDamaged(self._damage_line(problem))
        except db.DatabaseDamaged as exc:
            if self.conn is not None:
                self.conn.close()
            reason = self._reason or exc.reason
            if not readonly:
                raise UserDataDamaged(
                    f"your labels and reading positions in {self.path} cannot be read: the file is "
                    f"damaged ({reason}); comicdesk leaves it untouched — move it away (or put back a "
                    f"copy) to record new ones; pages, search and export go on without them") from None
            self._stand_in(reason)
        except BaseException:
            if self.conn is not None:
                self.conn.close()
            raise

    _reason: str | None = None

    def _damage_line(self, exc) -> str:
        self._reason = flat(exc)[:200]
        return f"{self.path} is damaged ({self._reason})"

    def _stand_in(self, reason: str) -> None:
        """An empty database in memory instead of the damaged file (which is left as it is)."""
        import sqlite3

        self.damaged = reason
        self.conn = sqlite3.connect(":memory:", isolation_level=None, check_same_thread=False)
        db.migrate(self.conn, MIGRATIONS, "your library data")
        say_once(self.path, f"your labels in {self.path} cannot be read (the file is damaged: "
                            f"{reason}); it is left untouched: going on without your labels")

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

    def positions(self):
        """Every reading position, ``(content_key, page, updated_at)`` rows as they are read."""
        return self.conn.execute("SELECT content_key, page, updated_at FROM positions")

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

    # -- the page-class head (schema 2) -------------------------------------------------------
    def all_labels(self) -> list[tuple[str, int, str]]:
        """Every label the person set in this library: ``(content key, page, class)``."""
        return list(self.conn.execute(
            "SELECT content_key, page, label FROM page_labels ORDER BY content_key, page"))

    def set_head(self, model_id: str, version: int, data: bytes, n_labels: int, labels_digest: str) -> None:
        with db.transaction(self.conn):
            self.conn.execute(
                "INSERT INTO heads(model_id, version, data, n_labels, labels_digest, trained_at) "
                "VALUES (?,?,?,?,?,?) ON CONFLICT(model_id) DO UPDATE SET version=excluded.version, "
                "data=excluded.data, n_labels=excluded.n_labels, labels_digest=excluded.labels_digest, "
                "trained_at=excluded.trained_at",
                (model_id, int(version), sqlite_blob(data), int(n_labels), labels_digest, time.time()))

    def head(self, model_id: str) -> tuple[int, bytes, int, str] | None:
        """``(version, data, n_labels, labels_digest)`` of the stored head, or None."""
        row = self.conn.execute("SELECT version, data, n_labels, labels_digest FROM heads WHERE model_id = ?",
                                (model_id,)).fetchone()
        return None if row is None else (row[0], bytes(row[1]), row[2], row[3])


def sqlite_blob(data: bytes):
    import sqlite3

    return sqlite3.Binary(data)
