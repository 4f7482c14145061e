"""Schema version, migrations, and preparing a database for use.

`MIGRATIONS[v]` upgrades a database at version v to v + 1, inside the opener's write
transaction. To change the schema: edit models.py, bump SCHEMA_VERSION, and add the step from
the previous version here (ALTER TABLE ..., data rewrites), then regenerate `state/ddl.py`
(`python scripts/gen_ddl.py`). Tables and indexes new in a version are created from that DDL after
the steps run, so a step only changes what already exists.

The DDL is compiled from the sqlmodel tables ahead of time, so that creating a database needs
no SQLAlchemy (about 0.3 s of imports, on every fresh state dir: each CI runner's first pass);
tests/state/test_schema.py fails while `state/ddl.py` differs from what the models compile to.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable, Mapping
from pathlib import Path

from apps.errors import StateError
from state.db import BUSY_TIMEOUT_MS, transaction

__all__ = ["MIGRATIONS", "SCHEMA_VERSION", "Migration", "compiled_ddl", "create_tables",
           "ddl_module", "migrate", "prepare"]

SCHEMA_VERSION = 4

Migration = Callable[[sqlite3.Connection], None]


def _v1_to_v2(conn: sqlite3.Connection) -> None:
    """v2 adds the eval_cache table only (created from the models after the steps run)."""


def _v2_to_v3(conn: sqlite3.Connection) -> None:
    """v3 adds the stopped_apps table only (`ace stop` / `ace start`)."""


def _v3_to_v4(conn: sqlite3.Connection) -> None:
    """v4 adds the idle_apps table only (apps asleep under `ace watch/serve --idle-shutdown`)."""


MIGRATIONS: dict[int, Migration] = {
    1: _v1_to_v2,
    2: _v2_to_v3,
    3: _v3_to_v4,
}


def migrate(
    conn: sqlite3.Connection,
    from_version: int,
    *,
    to_version: int = SCHEMA_VERSION,
    migrations: Mapping[int, Migration] | None = None,
    where: str = "",
) -> None:
    """Run the steps from `from_version` up to `to_version` on `conn` (in a transaction).

    Raises StateError when a step is missing: that database predates anything this ace knows.
    """
    steps = MIGRATIONS if migrations is None else migrations
    missing = [v for v in range(from_version, to_version) if v not in steps]
    if missing:
        raise StateError(
            f"state database {where} has schema version {from_version}, which this ace cannot "
            f"migrate (no migration from version {missing[0]}); move the state dir aside to "
            "start afresh (running containers are re-adopted from their labels)"
        )
    for version in range(from_version, to_version):
        steps[version](conn)


def compiled_ddl() -> tuple[str, ...]:
    """CREATE TABLE/INDEX IF NOT EXISTS for every model, compiled from the sqlmodel tables by
    SQLAlchemy, whitespace collapsed: what `state/ddl.py` must hold."""
    from sqlalchemy.dialects import sqlite
    from sqlalchemy.schema import CreateIndex, CreateTable

    from state.models import TABLES

    dialect = sqlite.dialect()
    out: list[str] = []
    for tbl in TABLES:
        out.append(str(CreateTable(tbl, if_not_exists=True).compile(dialect=dialect)))
        for index in sorted(tbl.indexes, key=lambda i: str(i.name)):
            out.append(str(CreateIndex(index, if_not_exists=True).compile(dialect=dialect)))
    return tuple(" ".join(statement.split()) for statement in out)


def create_tables(conn: sqlite3.Connection) -> None:
    """Create every table and index that does not exist yet, from `state/ddl.py`."""
    from state.ddl import STATEMENTS

    for statement in STATEMENTS:
        conn.execute(statement)


def ddl_module(statements: tuple[str, ...]) -> str:
    """The text of `state/ddl.py` holding `statements` (whitespace collapsed), each wrapped
    into lines that join back with single spaces."""
    import textwrap

    body = ""
    for statement in statements:
        first, *rest = textwrap.wrap(statement, 80, break_long_words=False,
                                     break_on_hyphens=False)
        lines = [first, *(" " + line for line in rest)]
        body += "    (\n" + "".join(f"        {x!r}\n" for x in lines) + "    ),\n"
    return (
        '"""The schema\'s DDL, compiled from the sqlmodel tables in state/models.py. Generated:\n'
        'after editing the models, run `python scripts/gen_ddl.py` (tests/state/test_schema.py\n'
        'fails while this file is stale)."""\n\n'
        f"STATEMENTS: tuple[str, ...] = (\n{body})\n"
    )


def prepare(conn: sqlite3.Connection, path: Path, install_id: str) -> None:
    """Put `path` in WAL mode and at SCHEMA_VERSION: create a fresh database, migrate an older
    one, refuse a newer one. Writes nothing when the schema and install id are current."""
    _enable_wal(conn, path)
    meta = _meta(conn, path)
    version = _version(meta, path)
    if version == SCHEMA_VERSION and meta and meta.get("install_id") == install_id:
        return  # the common case
    with transaction(conn):
        meta = _meta(conn, path)  # again, under the write lock: another opener may have won
        version = _version(meta, path)
        if version == SCHEMA_VERSION and meta and meta.get("install_id") == install_id:
            return
        if version is not None and version < SCHEMA_VERSION:
            migrate(conn, version, where=str(path))
        create_tables(conn)
        facts = {"schema_version": str(SCHEMA_VERSION), "install_id": install_id}
        if meta is None:
            facts["created_at"] = repr(time.time())
        conn.executemany(
            "INSERT INTO meta (key, value) VALUES (?, ?)"
            " ON CONFLICT(key) DO UPDATE SET value = excluded.value",
            facts.items(),
        )


def _enable_wal(conn: sqlite3.Connection, path: Path) -> None:
    """Switch to WAL (persistent, so usually already on: one read, no lock taken).

    Changing the journal mode needs an exclusive lock, and SQLite answers SQLITE_BUSY at once
    rather than through the busy handler when two processes open a fresh database together, so
    retry with a short backoff up to the busy timeout."""
    (mode,) = conn.execute("PRAGMA journal_mode").fetchone()
    deadline = time.monotonic() + BUSY_TIMEOUT_MS / 1000
    delay = 0.005
    while str(mode).lower() != "wal":
        try:
            (mode,) = conn.execute("PRAGMA journal_mode=WAL").fetchone()
        except sqlite3.OperationalError as e:
            if "locked" not in str(e) and "busy" not in str(e):
                raise
            if time.monotonic() >= deadline:
                raise
            time.sleep(delay)
            delay = min(delay * 2, 0.1)
            continue
        if str(mode).lower() != "wal":
            raise StateError(f"state database {path}: cannot enable WAL (journal mode {mode})")


def _meta(conn: sqlite3.Connection, path: Path) -> dict[str, str] | None:
    """The meta table's contents, or None when the database is empty (fresh)."""
    tables = {n for (n,) in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    if "meta" not in tables:
        if tables:
            raise StateError(
                f"{path} is not an ace state database (it has tables {sorted(tables)} but no "
                "schema version); point --state-dir elsewhere"
            )
        return None
    return dict(conn.execute("SELECT key, value FROM meta"))


def _version(meta: dict[str, str] | None, path: Path) -> int | None:
    if meta is None:
        return None
    try:
        version = int(meta["schema_version"])
    except (KeyError, ValueError) as e:
        raise StateError(f"state database {path} has no valid schema_version in meta") from e
    if version > SCHEMA_VERSION:
        raise StateError(
            f"state database {path} has schema version {version}, newer than this ace "
            f"supports ({SCHEMA_VERSION}): it was written by a newer ace. Upgrade ace, or use "
            "another --state-dir (running containers are re-adopted from their labels)"
        )
    return version
