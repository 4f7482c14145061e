"""Engine setup shared by the store: connection pragmas, transaction mode, identity."""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
from pathlib import Path
from typing import Any, cast

from sqlalchemy import Connection, Engine, Table, create_engine, event
from sqlalchemy.dialects.sqlite import insert
from sqlalchemy.engine import URL

from reconciler.types import Pairs

__all__ = [
    "BUSY_TIMEOUT_MS",
    "INSTALL_ID_ENV",
    "derive_install_id",
    "dump_pairs",
    "load_pairs",
    "make_engine",
    "reason",
    "upsert",
    "writer",
]

BUSY_TIMEOUT_MS = 5000
INSTALL_ID_ENV = "ACE_INSTALL_ID"
_WRITE = "ace_write"
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


def _on_connect(dbapi_conn: sqlite3.Connection, _record: object) -> None:
    dbapi_conn.isolation_level = None  # we issue BEGIN ourselves (see _on_begin)
    dbapi_conn.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
    dbapi_conn.execute("PRAGMA synchronous=NORMAL")
    dbapi_conn.execute("PRAGMA foreign_keys=ON")


def _on_begin(conn: Connection) -> None:
    if conn.get_execution_options().get(_WRITE):
        conn.exec_driver_sql("BEGIN IMMEDIATE")


def dump_pairs(pairs: Pairs) -> str:
    return json.dumps([[a, b] for a, b in pairs], separators=(",", ":"))


def load_pairs(text: str) -> Pairs:
    return cast(Pairs, tuple(map(tuple, _decode(text)))) if text else ()


def make_engine(path: Path) -> Engine:
    """An engine on the SQLite file `path`: every connection gets busy_timeout and
    synchronous=NORMAL; transactions begin only on engines made by `writer`."""
    engine = create_engine(
        URL.create("sqlite", database=str(path)),
        connect_args={"check_same_thread": False, "timeout": BUSY_TIMEOUT_MS / 1000},
    )
    event.listen(engine, "connect", _on_connect)
    event.listen(engine, "begin", _on_begin)
    return engine


def writer(engine: Engine) -> Engine:
    """The same engine, whose transactions start with BEGIN IMMEDIATE: writers queue on the
    busy timeout up front instead of failing to upgrade a read lock ("database is locked")."""
    return engine.execution_options(**{_WRITE: True})


def reason(error: BaseException) -> str:
    """The driver's message for a SQLAlchemy error (its wrapper repeats the statement)."""
    return str(getattr(error, "orig", None) or error)


def upsert(conn: Connection, tbl: Table, rows: list[dict[str, Any]], *keys: str) -> None:
    """INSERT ... ON CONFLICT(keys) DO UPDATE every other column of `rows`, as one batch."""
    stmt = insert(tbl)
    fields = [c for c in rows[0] if c not in keys]
    stmt = stmt.on_conflict_do_update(
        index_elements=list(keys), set_={c: stmt.excluded[c] for c in fields}
    )
    conn.execute(stmt, rows)
