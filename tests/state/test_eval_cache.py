"""The evaluation cache table: round trip, no write when empty, and the v1 -> v2 migration."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from state import DB_NAME, SCHEMA_VERSION, Store


def test_eval_cache_round_trip(tmp_path: Path) -> None:
    """Saved entries come back by slot; a later save replaces a slot; drop deletes it."""
    with Store.open(tmp_path) as s:
        assert s.eval_cache() == {}
        s.save_eval_cache({"": ("k0", b"apps"), "/web": ("k1", b"\x00web")})
        s.save_eval_cache({"/web": ("k2", b"new")})
        assert s.eval_cache() == {"": ("k0", b"apps"), "/web": ("k2", b"new")}
        s.save_eval_cache({}, drop=["/web"])
        assert s.eval_cache() == {"": ("k0", b"apps")}


def test_empty_save_writes_nothing(tmp_path: Path) -> None:
    """save_eval_cache with nothing to do leaves the database file untouched."""
    with Store.open(tmp_path) as s:
        s.save_eval_cache({"/a": ("k", b"v")})
    db = tmp_path / DB_NAME
    before = db.stat().st_mtime_ns, db.read_bytes()
    with Store.open(tmp_path) as s:
        s.save_eval_cache({})
        assert s.eval_cache() == {"/a": ("k", b"v")}
    assert (db.stat().st_mtime_ns, db.read_bytes()) == before


def test_v1_database_migrates_to_v2(tmp_path: Path) -> None:
    """A version-1 state dir (before the cache existed) opens, gains the table and keeps rows."""
    with Store.open(tmp_path) as s:
        s.record_container("c1", app="/web", name="n", version="v")
    db = tmp_path / DB_NAME
    with sqlite3.connect(db) as conn:
        conn.execute("DROP TABLE eval_cache")
        conn.execute("UPDATE meta SET value = '1' WHERE key = 'schema_version'")
    with Store.open(tmp_path) as s:
        assert s.schema_version() == SCHEMA_VERSION
        assert [c.container_id for c in s.containers()] == ["c1"]
        s.save_eval_cache({"/web": ("k", b"v")})
        assert s.eval_cache() == {"/web": ("k", b"v")}
