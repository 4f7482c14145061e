"""The state store: the only code that opens the SQLite database of a state dir.

Each method is one statement (or one write transaction). Reads are autocommit SELECTs, which
in WAL mode neither block on writers nor write. One connection per Store, shared by threads
under a lock (the executor records from worker threads).
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, get_args

from apps.errors import StateError
from state.db import (
    connect,
    damaged,
    derive_install_id,
    dump_pairs,
    load_pairs,
    transaction,
    translated,
)
from state.records import (
    DigestEntries,
    Pairs,
    RecordedApp,
    RecordedState,
    RunOutcome,
    StepResult,
)
from state.schema import prepare

if TYPE_CHECKING:  # loaded by the methods that make them: a no-op pass never does
    from state.runs import ContainerRecord, IdleApp, ImageRecord, LastApply, RunRecord, StepOutcome

__all__ = ["DB_NAME", "Store"]

DB_NAME = "ace.db"

_RUN_OUTCOMES = get_args(RunOutcome)
_STEP_RESULTS = get_args(StepResult)
_RUN_COLS = "id, command, plan_text, started_at, finished_at, outcome, duration"


class Store:
    """The state database of one state dir. Use `Store.open(dir)`; close it (or use `with`)."""

    def __init__(self, conn: sqlite3.Connection, path: Path, install_id: str) -> None:
        self._conn = conn
        self._path = path
        self._install_id = install_id
        self._mutex = threading.RLock()

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

    @contextmanager
    def _read(self) -> Iterator[sqlite3.Connection]:
        with self._mutex, translated(self._path):
            yield self._conn

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        with self._mutex, translated(self._path), transaction(self._conn) as conn:
            yield conn

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

    # -- runs ----------------------------------------------------------------------------------

    def begin_run(self, command: str, plan_text: str, *, started_at: float | None = None) -> int:
        """Record the start of a run; returns its id for `finish_run`. A run never finished
        (the process died) keeps outcome "" and finished_at None."""
        at = time.time() if started_at is None else started_at
        with self._write() as conn:
            cur = conn.execute(
                "INSERT INTO runs (command, plan_text, started_at, outcome) VALUES (?, ?, ?, '')",
                (command, plan_text, at),
            )
        assert cur.lastrowid is not None
        return cur.lastrowid

    def finish_run(
        self,
        run_id: int,
        outcome: RunOutcome,
        steps: Sequence[StepOutcome] = (),
        *,
        finished_at: float | None = None,
    ) -> None:
        """Record how run `run_id` ended and each step's outcome (one transaction)."""
        if outcome not in _RUN_OUTCOMES:
            raise ValueError(f"run outcome must be one of {_RUN_OUTCOMES}, not {outcome!r}")
        bad = [s.outcome for s in steps if s.outcome not in _STEP_RESULTS]
        if bad:
            raise ValueError(f"step outcome must be one of {_STEP_RESULTS}, not {bad[0]!r}")
        at = time.time() if finished_at is None else finished_at
        with self._write() as conn:
            cur = conn.execute(
                "UPDATE runs SET finished_at = ?, outcome = ?, duration = ? - started_at"
                " WHERE id = ? AND finished_at IS NULL",
                (at, outcome, at, run_id),
            )
            if cur.rowcount != 1:
                raise StateError(f"run {run_id} does not exist or is already finished")
            conn.executemany(
                "INSERT INTO run_steps (run_id, step_id, app, action, target, cause, outcome,"
                " message, duration) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [(run_id, s.step_id, s.app, s.action, s.target, s.cause, s.outcome, s.message,
                  s.duration) for s in steps],
            )  # fmt: skip

    def runs(self, limit: int = 20) -> tuple[RunRecord, ...]:
        """The last `limit` runs, newest first."""
        from state.runs import RunRecord

        with self._read() as conn:
            rows = conn.execute(
                f"SELECT {_RUN_COLS} FROM runs ORDER BY id DESC LIMIT ?", (limit,)
            ).fetchall()
        return tuple(RunRecord(*r) for r in rows)

    def last_run(self) -> RunRecord | None:
        """The newest run, finished or not."""
        found = self.runs(1)
        return found[0] if found else None

    def run_steps(self, run_id: int) -> tuple[StepOutcome, ...]:
        """The step outcomes of run `run_id`, in the order they were recorded."""
        from state.runs import StepOutcome

        with self._read() as conn:
            rows = conn.execute(
                "SELECT step_id, app, action, target, cause, outcome, message, duration"
                " FROM run_steps WHERE run_id = ? ORDER BY id",
                (run_id,),
            ).fetchall()
        return tuple(StepOutcome(*r) for r in rows)

    def last_applies(self) -> dict[str, LastApply]:
        """Per app, how the latest run with steps for it went for it (its failed step, else
        its last one), however many runs for other apps came after (one query)."""
        from state.runs import LastApply

        with self._read() as conn:
            rows = conn.execute(
                "WITH latest AS (SELECT app, MAX(run_id) AS run_id FROM run_steps GROUP BY app)"
                " SELECT s.app, s.step_id, s.action, s.target, s.outcome, s.message,"
                " COALESCE(r.finished_at, r.started_at), s.run_id FROM run_steps s"
                " JOIN latest l ON l.app = s.app AND l.run_id = s.run_id"
                " JOIN runs r ON r.id = s.run_id ORDER BY s.app, s.id"
            ).fetchall()
        out: dict[str, LastApply] = {}
        for row in rows:
            step = LastApply(*row)
            known = out.get(step.app)
            if known is None or known.outcome != "failed":
                out[step.app] = step
        return out

    # -- file digest cache ---------------------------------------------------------------------

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
        rows = [(p, s, m, d) for p, (s, m, d) in entries.items()]
        gone = [(p,) for p in drop]
        if not rows and not gone:
            return
        with self._write() as conn:
            conn.executemany(
                "INSERT INTO file_digests (path, size, mtime_ns, digest) VALUES (?, ?, ?, ?)"
                " ON CONFLICT(path) DO UPDATE SET size = excluded.size,"
                " mtime_ns = excluded.mtime_ns, digest = excluded.digest",
                rows,
            )
            conn.executemany("DELETE FROM file_digests WHERE path = ?", gone)

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
        rows = [(slot, key, value) for slot, (key, value) in entries.items()]
        gone = [(slot,) for slot in drop]
        if not rows and not gone:
            return
        with self._write() as conn:
            conn.executemany(
                "INSERT INTO eval_cache (slot, key, value) VALUES (?, ?, ?)"
                " ON CONFLICT(slot) DO UPDATE SET key = excluded.key, value = excluded.value",
                rows,
            )
            conn.executemany("DELETE FROM eval_cache WHERE slot = ?", gone)
