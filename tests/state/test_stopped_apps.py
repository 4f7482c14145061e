"""Apps stopped by the user (`ace stop`): recorded in the state database until `ace start`,
read with the applied snapshots in one query; a schema-2 database opens and gains the table."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from state import DB_NAME, SCHEMA_VERSION, Store
from state.records import RecordedApp


def test_stopped_apps_are_recorded_until_started(store: Store) -> None:
    """stop_apps adds (twice is once), start_apps forgets; recorded() carries the set beside
    the applied snapshots, which stay as they were."""
    store.record_applied(RecordedApp("/web", "v1", "img"))
    store.stop_apps(["/web", "/api"])
    store.stop_apps(["/web"])
    rec = store.recorded()
    assert rec.stopped == frozenset({"/web", "/api"})
    assert [a.path for a in rec.apps] == ["/web"] and rec.get("/web") == RecordedApp(
        "/web", "v1", "img")
    store.start_apps(["/web", "/never-stopped"])
    assert store.recorded().stopped == frozenset({"/api"})


def test_schema_2_database_opens_and_gains_the_table(tmp_path: Path) -> None:
    """A state dir written before `ace stop` existed (schema 2) opens at the current version,
    keeps its rows and can record stopped apps."""
    with Store.open(tmp_path) as s:
        s.record_applied(RecordedApp("/web", "v1", "img"))
    with sqlite3.connect(tmp_path / DB_NAME) as conn:
        conn.execute("DROP TABLE stopped_apps")
        conn.execute("UPDATE meta SET value = '2' WHERE key = 'schema_version'")
    with Store.open(tmp_path) as s:
        assert s.schema_version() == SCHEMA_VERSION
        assert [a.path for a in s.recorded().apps] == ["/web"]
        s.stop_apps(["/web"])
        assert s.recorded().stopped == frozenset({"/web"})
