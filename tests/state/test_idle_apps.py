"""The store's record of sleeping apps (idle shutdown, lazy start)."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from state import DB_NAME, SCHEMA_VERSION, Store
from state.runs import IdleApp


def test_idle_apps_round_trip(store: Store) -> None:
    """set_idle keeps the first time an app fell asleep; clear_idle and forget_app wake it."""
    store.set_idle({"/web": "no request for 30 s", "/api": "not started yet"}, now=10.0)
    store.set_idle({"/web": "again"}, now=20.0)
    assert store.idle_apps() == (IdleApp("/api", 10.0, "not started yet"),
                                 IdleApp("/web", 10.0, "no request for 30 s"))
    store.clear_idle(["/api"])
    assert [a.app for a in store.idle_apps()] == ["/web"]
    store.forget_app("/web")
    assert store.idle_apps() == ()
    store.set_idle({"/a": "x", "/b": "y"})
    store.clear_idle()
    assert store.idle_apps() == ()


def test_a_version_3_state_dir_gains_the_table(tmp_path: Path) -> None:
    """A state dir from before idle apps opens at the current version with its rows kept."""
    with Store.open(tmp_path) as s:
        s.record_container("c1", app="/web", name="n", version="v")
    with sqlite3.connect(tmp_path / DB_NAME) as conn:
        conn.execute("DROP TABLE idle_apps")
        conn.execute("UPDATE meta SET value = '3' WHERE key = 'schema_version'")
    with Store.open(tmp_path) as s:
        assert s.schema_version() == SCHEMA_VERSION
        assert [c.container_id for c in s.containers()] == ["c1"]
        s.set_idle({"/web": "idle"}, now=1.0)
        assert s.idle_apps() == (IdleApp("/web", 1.0, "idle"),)
