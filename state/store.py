"""The state store: the only code that opens the SQLite database of a state dir.

Each method is one statement (or one write transaction). Reads are autocommit SELECTs, which
in WAL mode neither block on writers nor write. One connection per Store, shared by threads
under a lock (the executor records from worker threads).
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterable, Mapping
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING

from apps.errors import StateError
from state.caches import Caches
from state.db import connect, damaged, derive_install_id, dump_pairs, load_pairs, translated
from state.history import RunHistory
from state.records import Pairs, RecordedApp, RecordedState
from state.schema import prepare

if TYPE_CHECKING:  # loaded by the methods that make them: a no-op pass never does
    from state.runs import ContainerRecord, IdleApp, ImageRecord

__all__ = ["DB_NAME", "Store"]

DB_NAME = "ace.db"


class Store(RunHistory, Caches):
    """The state database of one state dir. Use `Store.open(dir)`; close it (or use `with`).
    Its runs are `RunHistory`'s methods, its caches `Caches`'."""

    # -- lifecycle -----------------------------------------------------------------------------

    @classmethod
    def open(cls, state_dir: str | Path) -> Store:
        """Open (creating if needed) `<state_dir>/ace.db`, migrating an older schema.

        Writes nothing when the database exists with the current schema."""
        directory = Path(state_dir)
        try:
            directory.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise StateError(f"cannot create state dir {directory}: {e}") from e
        path = directory / DB_NAME
        install_id = derive_install_id(directory)
        try:
            conn = connect(path)
        except sqlite3.Error as e:
            raise damaged(path, e) or StateError(f"cannot open state database {path}: {e}") from e
        try:
            with translated(path):
                prepare(conn, path, install_id)
        except BaseException:
            conn.close()
            raise
        return cls(conn, path, install_id)

    def close(self) -> None:
        with self._mutex:
            self._conn.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    @property
    def path(self) -> Path:
        """The database file."""
        return self._path

    @property
    def install_id(self) -> str:
        """This installation's id (see `derive_install_id`): the value of ace's install label."""
        return self._install_id

    def schema_version(self) -> int:
        with self._read() as conn:
            row = conn.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
        return int(row[0])

    # -- images --------------------------------------------------------------------------------

    def record_image(
        self,
        app: str,
        tag: str,
        image_id: str,
        input_hash: str,
        files: Pairs = (),
        *,
        created_at: float | None = None,
    ) -> None:
        """Remember that `image_id`, tagged `tag`, was built for `app` from these inputs
        (a rebuild of the same app and tag replaces the record)."""
        at = time.time() if created_at is None else created_at
        with self._write() as conn:
            conn.execute(
                "INSERT INTO images (app, tag, image_id, input_hash, files_json, created_at)"
                " VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT(app, tag) DO UPDATE SET"
                " image_id = excluded.image_id, input_hash = excluded.input_hash,"
                " files_json = excluded.files_json, created_at = excluded.created_at",
                (app, tag, image_id, input_hash, dump_pairs(files), at),
            )

    def forget_image(self, app: str, tag: str) -> None:
        """Forget the image `tag` built for `app` (it was removed)."""
        with self._write() as conn:
            conn.execute("DELETE FROM images WHERE app = ? AND tag = ?", (app, tag))

    def images_for(self, app: str) -> tuple[ImageRecord, ...]:
        """The images built for `app`, newest first."""
        from state.runs import ImageRecord

        with self._read() as conn:
            rows = conn.execute(
                "SELECT app, tag, image_id, input_hash, files_json, created_at FROM images"
                " WHERE app = ? ORDER BY created_at DESC, id DESC",
                (app,),
            ).fetchall()
        return tuple(ImageRecord(a, t, i, h, load_pairs(f), c) for a, t, i, h, f, c in rows)

    # -- containers ----------------------------------------------------------------------------

    def record_container(
        self,
        container_id: str,
        *,
        app: str,
        name: str,
        version: str,
        host_port: int | None = None,
        state: str = "",
        health: str = "",
        now: float | None = None,
    ) -> None:
        """Insert or update container `container_id` (an update keeps its created_at)."""
        at = time.time() if now is None else now
        with self._write() as conn:
            conn.execute(
                "INSERT INTO containers (container_id, app, name, version, host_port, state,"
                " health, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"
                " ON CONFLICT(container_id) DO UPDATE SET app = excluded.app,"
                " name = excluded.name, version = excluded.version,"
                " host_port = excluded.host_port, state = excluded.state,"
                " health = excluded.health, updated_at = excluded.updated_at",
                (container_id, app, name, version, host_port, state, health, at, at),
            )

    def forget_container(self, container_id: str) -> None:
        with self._write() as conn:
            conn.execute("DELETE FROM containers WHERE container_id = ?", (container_id,))

    def containers(self) -> tuple[ContainerRecord, ...]:
        """Every recorded container, by app then name."""
        from state.runs import ContainerRecord

        with self._read() as conn:
            rows = conn.execute(
                "SELECT container_id, app, name, version, host_port, state, health, created_at,"
                " updated_at FROM containers ORDER BY app, name"
            ).fetchall()
        return tuple(ContainerRecord(*r) for r in rows)

    # -- applied snapshots ---------------------------------------------------------------------

    def record_applied(self, app: RecordedApp, *, now: float | None = None) -> None:
        """Remember `app` as the last successfully applied desired snapshot of `app.path`."""
        at = time.time() if now is None else now
        with self._write() as conn:
            conn.execute(
                "INSERT INTO applied (app, version, image, container_id, spec_json, files_json,"
                " applied_at) VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT(app) DO UPDATE SET"
                " version = excluded.version, image = excluded.image,"
                " container_id = excluded.container_id, spec_json = excluded.spec_json,"
                " files_json = excluded.files_json, applied_at = excluded.applied_at",
                (app.path, app.version, app.image, app.container_id, app.spec_json,
                 dump_pairs(app.files), at),
            )  # fmt: skip

    def forget_app(self, app: str, *, images: bool = False) -> None:
        """Forget an app's applied snapshot and containers (and its built images if asked)."""
        with self._write() as conn:
            conn.execute("DELETE FROM applied WHERE app = ?", (app,))
            conn.execute("DELETE FROM containers WHERE app = ?", (app,))
            conn.execute("DELETE FROM idle_apps WHERE app = ?", (app,))
            if images:
                conn.execute("DELETE FROM images WHERE app = ?", (app,))

    # -- apps asleep (idle shutdown, lazy start) ------------------------------------------------

    def idle_apps(self) -> tuple[IdleApp, ...]:
        """The apps kept asleep until a request, by path (one query; never writes)."""
        from state.runs import IdleApp

        with self._read() as conn:
            rows = conn.execute("SELECT app, since, reason FROM idle_apps ORDER BY app")
            return tuple(IdleApp(a, s, r) for a, s, r in rows.fetchall())

    def set_idle(self, apps: Mapping[str, str], *, now: float | None = None) -> None:
        """Remember `apps` (path -> why) as asleep; an app asleep already keeps its time."""
        at = time.time() if now is None else now
        with self._write() as conn:
            conn.executemany(
                "INSERT INTO idle_apps (app, since, reason) VALUES (?, ?, ?)"
                " ON CONFLICT(app) DO NOTHING", [(a, at, r) for a, r in apps.items()])

    def clear_idle(self, apps: Iterable[str] | None = None) -> None:
        """Forget that `apps` (all when None) are asleep."""
        with self._write() as conn:
            if apps is None:
                conn.execute("DELETE FROM idle_apps")
            else:
                conn.executemany("DELETE FROM idle_apps WHERE app = ?", [(a,) for a in apps])

    def recorded(self) -> RecordedState:
        """Every app's last applied snapshot, by path, and the apps stopped by the user (one
        query; never writes)."""
        with self._read() as conn:
            rows = conn.execute(
                "SELECT 0, app, version, image, container_id, files_json, spec_json FROM applied"
                " UNION ALL SELECT 1, app, '', '', '', '', '' FROM stopped_apps ORDER BY 2, 1"
            ).fetchall()
        return RecordedState(
            tuple(RecordedApp(a, v, i, c, load_pairs(f), s)
                  for stop, a, v, i, c, f, s in rows if not stop),
            frozenset(a for stop, a, *_ in rows if stop),
        )

    # -- apps stopped by the user --------------------------------------------------------------

    def stop_apps(self, apps: Iterable[str], *, now: float | None = None) -> None:
        """Remember `apps` as stopped by the user (kept stopped until `start_apps`)."""
        at = time.time() if now is None else now
        with self._write() as conn:
            conn.executemany(
                "INSERT INTO stopped_apps (app, stopped_at) VALUES (?, ?)"
                " ON CONFLICT(app) DO NOTHING",
                [(a, at) for a in apps],
            )

    def start_apps(self, apps: Iterable[str]) -> None:
        """Forget that `apps` were stopped by the user."""
        with self._write() as conn:
            conn.executemany("DELETE FROM stopped_apps WHERE app = ?", [(a,) for a in apps])
