"""Connections to the state database, installation identity, and JSON helpers.

The store talks to SQLite through the stdlib driver: importing SQLAlchemy and pydantic (through
sqlmodel) costs ~0.7 s per ace command, more than everything else a no-op reconcile does. The
sqlmodel tables (models.py) remain the schema's definition; they are imported only to create
or migrate a database (schema.py).
"""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import cast

from apps.errors import StateError
from state.records import Pairs

__all__ = [
    "BUSY_TIMEOUT_MS",
    "INSTALL_ID_ENV",
    "Connected",
    "connect",
    "damaged",
    "derive_install_id",
    "dump_pairs",
    "load_pairs",
    "transaction",
    "translated",
]

BUSY_TIMEOUT_MS = 5000
INSTALL_ID_ENV = "ACE_INSTALL_ID"
_decode = json.JSONDecoder().decode


def derive_install_id(state_dir: str | Path) -> str:
    """The installation id: `$ACE_INSTALL_ID` if set, else 12 hex digits of a hash of the
    resolved absolute state dir path — a state dir deleted and recreated in the same place
    keeps its id, so ace re-adopts its containers from their labels."""
    override = os.environ.get(INSTALL_ID_ENV, "").strip()
    if override:
        return override
    resolved = str(Path(state_dir).expanduser().resolve())
    return hashlib.sha256(resolved.encode()).hexdigest()[:12]


def connect(path: Path) -> sqlite3.Connection:
    """A connection in autocommit mode (transactions only through `transaction`), with
    busy_timeout and synchronous=NORMAL. Shared by threads under the caller's lock."""
    conn = sqlite3.connect(
        path, timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None, check_same_thread=False
    )
    try:
        conn.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
        conn.execute("PRAGMA synchronous=NORMAL")
        conn.execute("PRAGMA foreign_keys=ON")
    except BaseException:
        conn.close()
        raise
    return conn


@contextmanager
def transaction(conn: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    """A write transaction. BEGIN IMMEDIATE takes the write lock up front, so a concurrent
    writer waits on busy_timeout instead of failing a read-to-write lock upgrade with
    "database is locked"."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield conn
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")


_DAMAGED = (sqlite3.SQLITE_CORRUPT, sqlite3.SQLITE_NOTADB)


def damaged(path: Path, e: sqlite3.Error) -> StateError | None:
    """The StateError for a database file SQLite cannot read (not a database, malformed), with
    the way out; None for other errors. The installation id comes from the state dir's path,
    so a fresh state dir in the same place adopts the containers the old one made."""
    if getattr(e, "sqlite_errorcode", None) not in _DAMAGED:
        return None
    state_dir = path.parent
    return StateError(
        f"the state database {path} is damaged ({e}). Move the state dir away "
        f"(mv {state_dir} {state_dir}.damaged); the next reconcile adopts what runs from its "
        "labels"
    )


@contextmanager
def translated(path: Path) -> Iterator[None]:
    """Turn driver errors into StateError naming the database (a damaged one says how to
    recover)."""
    try:
        yield
    except sqlite3.Error as e:
        raise damaged(path, e) or StateError(f"state database {path}: {e}") from e


class Connected:
    """One connection to a state database, shared by threads under a lock (the executor records
    from worker threads): `_read` for autocommit SELECTs, `_write` for one write transaction.
    The base of `Store` and of the parts of it in other modules."""

    def __init__(self, conn: sqlite3.Connection, path: Path, install_id: str) -> None:
        self._conn = conn
        self._path = path
        self._install_id = install_id
        self._mutex = threading.RLock()

    @contextmanager
    def _read(self) -> Iterator[sqlite3.Connection]:
        with self._mutex, translated(self._path):
            yield self._conn

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        with self._mutex, translated(self._path), transaction(self._conn) as conn:
            yield conn


def dump_pairs(pairs: Pairs) -> str:
    return json.dumps([[a, b] for a, b in pairs], separators=(",", ":"))


def load_pairs(text: str) -> Pairs:
    return cast(Pairs, tuple(map(tuple, _decode(text)))) if text else ()
