"""Opening a state dir: WAL, pragmas, schema versions and migrations, identity, no writes."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

import state.schema
import state.store
from apps.errors import StateError
from reconciler.core.types import RecordedApp
from state import DB_NAME, INSTALL_ID_ENV, SCHEMA_VERSION, Store, derive_install_id

REPO = Path(__file__).resolve().parents[2]


def _meta(db: Path) -> dict[str, str]:
    with sqlite3.connect(db) as conn:
        return dict(conn.execute("SELECT key, value FROM meta"))


def test_open_creates_wal_database_with_pragmas(state_dir: Path) -> None:
    """Open creates the dir and ace.db in WAL mode at the current schema version; each
    connection has a 5 s busy timeout and synchronous=NORMAL."""
    with Store.open(state_dir / "nested") as s:
        assert s.path == state_dir / "nested" / DB_NAME
        assert s.schema_version() == SCHEMA_VERSION
        conn = s._conn
        assert conn.execute("PRAGMA busy_timeout").fetchone() == (5000,)
        assert conn.execute("PRAGMA synchronous").fetchone() == (1,)  # NORMAL
    with sqlite3.connect(state_dir / "nested" / DB_NAME) as other:
        assert other.execute("PRAGMA journal_mode").fetchone() == ("wal",)
    meta = _meta(state_dir / "nested" / DB_NAME)
    assert meta["schema_version"] == str(SCHEMA_VERSION)
    assert meta["install_id"] == derive_install_id(state_dir / "nested")


def _populate(state_dir: Path) -> None:
    with Store.open(state_dir) as s:
        s.record_applied(RecordedApp("/web", "v1", "ace/web:1", "c1", (("a", "d"),)))
        s.save_digests({"/ctx/a": (1, 2, "d")})
        s.finish_run(s.begin_run("reconcile", "plan"), "ok")


def test_open_and_read_existing_database_writes_nothing(state_dir: Path) -> None:
    """The no-op path (open, read everything, close) leaves ace.db byte-for-byte untouched."""
    _populate(state_dir)
    db = state_dir / DB_NAME
    before = (db.stat().st_mtime_ns, db.read_bytes())
    for _ in range(2):
        with Store.open(state_dir) as s:
            s.recorded()
            s.digest_cache("/ctx/")
            s.containers()
            s.runs()
            s.save_digests({})  # nothing changed: no write
    assert (db.stat().st_mtime_ns, db.read_bytes()) == before


def test_reads_are_one_statement_and_open_does_not_write(
    state_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Opening a current database issues only PRAGMAs and SELECTs; each read method runs
    exactly one statement."""
    _populate(state_dir)
    statements: list[str] = []
    real_connect = state.store.connect

    def traced(path: Path) -> sqlite3.Connection:
        conn = real_connect(path)
        conn.set_trace_callback(statements.append)
        return conn

    monkeypatch.setattr(state.store, "connect", traced)
    with Store.open(state_dir) as s:
        assert statements and all(q.split()[0] in ("PRAGMA", "SELECT") for q in statements)
        for read in (s.recorded, s.containers, s.runs, lambda: s.digest_cache("/ctx/"),
                     lambda: s.images_for("/web"), lambda: s.run_steps(1)):  # fmt: skip
            statements.clear()
            read()
            assert len(statements) == 1 and statements[0].startswith("SELECT")


def test_newer_schema_version_is_refused_with_advice(state_dir: Path) -> None:
    """A database written by a newer ace is refused, saying what to do, and left untouched."""
    _populate(state_dir)
    db = state_dir / DB_NAME
    with sqlite3.connect(db) as conn:
        conn.execute("UPDATE meta SET value = ? WHERE key = 'schema_version'",
                     (str(SCHEMA_VERSION + 1),))  # fmt: skip
    with pytest.raises(StateError) as err:
        Store.open(state_dir)
    message = str(err.value)
    assert f"schema version {SCHEMA_VERSION + 1}, newer than this ace supports" in message
    assert "Upgrade ace, or use another --state-dir" in message
    assert _meta(db)["schema_version"] == str(SCHEMA_VERSION + 1)


def _make_v0(state_dir: Path) -> Path:
    """A synthetic version-0 database: containers without the health column, one row."""
    state_dir.mkdir(parents=True)
    db = state_dir / DB_NAME
    with sqlite3.connect(db) as conn:
        conn.execute("CREATE TABLE meta (key VARCHAR PRIMARY KEY, value VARCHAR NOT NULL)")
        conn.execute("INSERT INTO meta VALUES ('schema_version', '0')")
        conn.execute(
            "CREATE TABLE containers (container_id VARCHAR PRIMARY KEY, app VARCHAR NOT NULL,"
            " name VARCHAR NOT NULL, version VARCHAR NOT NULL, host_port INTEGER,"
            " state VARCHAR NOT NULL, created_at FLOAT NOT NULL, updated_at FLOAT NOT NULL)"
        )
        conn.execute("INSERT INTO containers VALUES ('c1', '/web', 'n', 'v', 80, 'running', 1, 2)")
    return db


def _add_health(conn: sqlite3.Connection) -> None:
    conn.execute("ALTER TABLE containers ADD COLUMN health VARCHAR NOT NULL DEFAULT ''")


def test_older_schema_is_migrated_keeping_data(
    state_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Opening an older database runs the migrations from its version up, creates the tables
    it lacked, records the new version, and keeps existing rows."""
    db = _make_v0(state_dir)
    monkeypatch.setattr(state.schema, "MIGRATIONS", {**state.schema.MIGRATIONS, 0: _add_health})
    with Store.open(state_dir) as s:
        assert s.schema_version() == SCHEMA_VERSION
        (c,) = s.containers()
        assert (c.container_id, c.state, c.health, c.host_port) == ("c1", "running", "", 80)
        s.record_applied(RecordedApp("/web", "v", "img"))  # a table new since v0
        assert s.recorded().get("/web") is not None
    assert _meta(db)["schema_version"] == str(SCHEMA_VERSION)


def test_failed_migration_rolls_back(state_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A migration that fails leaves the database at its old version, with nothing half-done."""
    db = _make_v0(state_dir)

    def broken(conn: sqlite3.Connection) -> None:
        _add_health(conn)
        conn.execute("ALTER TABLE no_such_table ADD COLUMN x INTEGER")

    monkeypatch.setattr(state.schema, "MIGRATIONS", {**state.schema.MIGRATIONS, 0: broken})
    with pytest.raises(StateError, match="no such table: no_such_table"):
        Store.open(state_dir)
    assert _meta(db)["schema_version"] == "0"
    with sqlite3.connect(db) as conn:
        columns = [r[1] for r in conn.execute("PRAGMA table_info(containers)")]
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    assert "health" not in columns
    assert tables == {"meta", "containers"}


def test_unknown_old_version_is_refused(state_dir: Path) -> None:
    """A version with no migration path is refused with a clear message."""
    _make_v0(state_dir)
    with pytest.raises(StateError, match="schema version 0, which this ace cannot migrate"):
        Store.open(state_dir)


def test_foreign_files_are_refused(tmp_path: Path) -> None:
    """A file that is not a database, a database that is not ace's, and a state dir that is a
    file are StateErrors."""
    garbage = tmp_path / "garbage"
    garbage.mkdir()
    (garbage / DB_NAME).write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(StateError, match="cannot open state database|not a database"):
        Store.open(garbage)
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    with sqlite3.connect(foreign / DB_NAME) as conn:
        conn.execute("CREATE TABLE users (id INTEGER)")
    with pytest.raises(StateError, match="not an ace state database"):
        Store.open(foreign)
    (tmp_path / "file").write_text("x")
    with pytest.raises(StateError, match="cannot create state dir"):
        Store.open(tmp_path / "file")


def test_install_id_is_stable_per_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The install id is 12 hex digits derived from the resolved path: the same for the same
    place (relative or absolute, even after the dir is deleted and recreated), different for
    another place, and overridden by ACE_INSTALL_ID."""
    monkeypatch.delenv(INSTALL_ID_ENV, raising=False)
    a, b = tmp_path / "a", tmp_path / "b"
    with Store.open(a) as s:
        first = s.install_id
    assert len(first) == 12 and int(first, 16) >= 0
    (a / DB_NAME).unlink()
    for extra in a.iterdir():
        extra.unlink()
    a.rmdir()
    with Store.open(a) as s:
        assert s.install_id == first
    monkeypatch.chdir(tmp_path)
    assert derive_install_id("a") == first == derive_install_id(tmp_path / "x" / ".." / "a")
    with Store.open(b) as s:
        assert s.install_id != first
    monkeypatch.setenv(INSTALL_ID_ENV, "fixed-id")
    with Store.open(a) as s:
        assert s.install_id == "fixed-id"
    assert _meta(a / DB_NAME)["install_id"] == "fixed-id"  # shown for display, updated


def test_import_does_not_load_sqlalchemy() -> None:
    """`import state` stays cheap: SQLAlchemy/sqlmodel load only for `compiled_ddl`."""
    code = "import state, sys; print('sqlalchemy' in sys.modules, 'sqlmodel' in sys.modules)"
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         env=env, check=True, cwd=REPO)  # fmt: skip
    assert out.stdout.split() == ["False", "False"]


@pytest.mark.parametrize("damage", ["garbage", "pages"])
def test_damaged_database_says_how_to_recover(tmp_path: Path, damage: str) -> None:
    """A database file that is garbage, or whose pages are overwritten, is a StateError that
    says it is damaged and to move the state dir away: the next reconcile adopts what runs."""
    state_dir = tmp_path / ".ace"
    with Store.open(state_dir):
        pass
    db = state_dir / DB_NAME
    if damage == "garbage":
        db.write_bytes(b"\x13garbage" * 4000)
    else:
        data = db.read_bytes()
        db.write_bytes(data[:4096] + b"\x5a" * (len(data) - 4096))
    with pytest.raises(StateError) as info, Store.open(state_dir) as store:
        store.recorded()
    message = str(info.value)
    assert f"the state database {db} is damaged" in message
    assert f"Move the state dir away (mv {state_dir} {state_dir}.damaged); the next reconcile " \
           "adopts what runs from its labels" in message


def test_ddl_is_what_the_models_compile_to() -> None:
    """state/ddl.py holds exactly the DDL SQLAlchemy compiles from the sqlmodel tables."""
    from state.ddl import STATEMENTS

    assert state.schema.compiled_ddl() == STATEMENTS, (
        "state/ddl.py is stale: run `python scripts/gen_ddl.py` after editing state/models.py")


def test_a_fresh_state_dir_is_made_without_sqlalchemy(tmp_path: Path) -> None:
    """Creating a state database (every CI runner's first pass) imports neither SQLAlchemy
    nor sqlmodel, and gives the tables and indexes the models declare."""
    code = ("import sys; from state import Store\n"
            f"Store.open({str(tmp_path / 'fresh')!r}).close()\n"
            "print(sorted({m.split('.')[0] for m in sys.modules} & {'sqlalchemy', 'sqlmodel'}))")
    out = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True,
                         text=True, timeout=60, env={**os.environ, "PYTHONPATH": str(REPO)})
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"
    with sqlite3.connect(tmp_path / "fresh" / DB_NAME) as conn:
        made = {n for (n,) in conn.execute(
            "SELECT name FROM sqlite_master WHERE type IN ('table', 'index')"
            " AND name NOT LIKE 'sqlite_%'")}
    from state.models import TABLES

    declared = {t.name for t in TABLES} | {str(i.name) for t in TABLES for i in t.indexes}
    assert made == declared
