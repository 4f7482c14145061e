"""The caches in the state database: file digests (by size and mtime) and evaluations."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from state.db import Connected
from state.records import DigestEntries

__all__ = ["Caches"]


class Caches(Connected):
    """The `Store` methods that read and write the file digest and evaluation caches."""

    def digest_cache(self, paths_prefix: str) -> DigestEntries:
        """Cached digests of paths starting with `paths_prefix`: path -> (size, mtime_ns,
        digest). A hit is valid only while the file's size and mtime_ns still match."""
        # A range on the primary key: indexed, and exact (LIKE is case-insensitive in SQLite).
        with self._read() as conn:
            rows = conn.execute(
                "SELECT path, size, mtime_ns, digest FROM file_digests"
                " WHERE path >= ? AND path < ?",
                (paths_prefix, paths_prefix + "\U0010ffff"),
            ).fetchall()
        return {p: (s, m, d) for p, s, m, d in rows}

    def save_digests(
        self, entries: Mapping[str, tuple[int, int, str]], *, drop: Iterable[str] = ()
    ) -> None:
        """Bulk upsert digest cache entries, and delete the `drop` paths (files now gone)."""
        self._upsert_and_drop(
            "INSERT INTO file_digests (path, size, mtime_ns, digest) VALUES (?, ?, ?, ?)"
            " ON CONFLICT(path) DO UPDATE SET size = excluded.size,"
            " mtime_ns = excluded.mtime_ns, digest = excluded.digest",
            [(p, s, m, d) for p, (s, m, d) in entries.items()],
            "DELETE FROM file_digests WHERE path = ?", drop)

    # -- evaluation cache ----------------------------------------------------------------------

    def eval_cache(self) -> dict[str, tuple[str, bytes]]:
        """slot -> (key, pickled value) of every cached evaluation (one query)."""
        with self._read() as conn:
            rows = conn.execute("SELECT slot, key, value FROM eval_cache").fetchall()
        return {slot: (key, bytes(value)) for slot, key, value in rows}

    def save_eval_cache(
        self, entries: Mapping[str, tuple[str, bytes]], *, drop: Iterable[str] = ()
    ) -> None:
        """Upsert cached evaluations and delete the `drop` slots; no write when both are empty."""
        self._upsert_and_drop(
            "INSERT INTO eval_cache (slot, key, value) VALUES (?, ?, ?)"
            " ON CONFLICT(slot) DO UPDATE SET key = excluded.key, value = excluded.value",
            [(slot, key, value) for slot, (key, value) in entries.items()],
            "DELETE FROM eval_cache WHERE slot = ?", drop)

    def _upsert_and_drop(self, upsert: str, rows: list[tuple[object, ...]], delete: str,
                         drop: Iterable[str]) -> None:
        """`upsert` each row and `delete` each key in `drop`, in one write; none when both
        are empty."""
        gone = [(key,) for key in drop]
        if not rows and not gone:
            return
        with self._write() as conn:
            conn.executemany(upsert, rows)
            conn.executemany(delete, gone)
