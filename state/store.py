"""The state store: the only code that opens the SQLite database of a state dir.

Reads run as single autocommit statements (WAL: they never block on writers and never write);
writes run in `BEGIN IMMEDIATE` transactions so concurrent writers queue on `busy_timeout`
instead of failing with "database is locked" on a lock upgrade.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from types import TracebackType

from sqlalchemy import Connection, Engine, delete, select, update
from sqlalchemy.dialects.sqlite import insert
from sqlalchemy.exc import SQLAlchemyError

from apps.errors import StateError
from reconciler.types import Pairs, RecordedApp, RecordedState
from state.db import (
    derive_install_id,
    dump_pairs,
    load_pairs,
    make_engine,
    reason,
    upsert,
    writer,
)
from state.models import (
    AppliedRow,
    ContainerRow,
    DigestRow,
    ImageRow,
    MetaRow,
    RunRow,
    RunStepRow,
    table,
)
from state.records import (
    ContainerRecord,
    DigestEntries,
    ImageRecord,
    RunOutcome,
    RunRecord,
    StepOutcome,
)
from state.schema import prepare

__all__ = ["DB_NAME", "Store"]

DB_NAME = "ace.db"

_META = table(MetaRow)
_IMAGES = table(ImageRow)
_CONTAINERS = table(ContainerRow)
_APPLIED = table(AppliedRow)
_RUNS = table(RunRow)
_STEPS = table(RunStepRow)
_DIGESTS = table(DigestRow)
_RUN_COLS = (
    _RUNS.c.id,
    _RUNS.c.command,
    _RUNS.c.plan_text,
    _RUNS.c.started_at,
    _RUNS.c.finished_at,
    _RUNS.c.outcome,
    _RUNS.c.duration,
)


class Store:
    """The state database of one state dir. Use `Store.open(dir)`; close it (or use `with`)."""

    def __init__(self, engine: Engine, path: Path, install_id: str) -> None:
        self._engine = engine
        self._writer = writer(engine)
        self._path = path
        self._install_id = install_id

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
        engine = make_engine(path)
        store = cls(engine, path, derive_install_id(directory))
        try:
            prepare(engine, path, store.install_id)
        except SQLAlchemyError as e:
            engine.dispose()
            raise StateError(f"cannot open state database {path}: {reason(e)}") from e
        except BaseException:
            engine.dispose()
            raise
        return store

    def close(self) -> None:
        self._engine.dispose()

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
        return self._path

    @property
    def install_id(self) -> str:
        return self._install_id

    # -- connections ---------------------------------------------------------------------------

    @contextmanager
    def _read(self) -> Iterator[Connection]:
        try:
            with self._engine.connect() as conn:
                yield conn
        except SQLAlchemyError as e:
            raise StateError(f"state database {self._path}: {reason(e)}") from e

    @contextmanager
    def _write(self) -> Iterator[Connection]:
        try:
            with self._writer.begin() as conn:
                yield conn
        except SQLAlchemyError as e:
            raise StateError(f"state database {self._path}: {reason(e)}") from e

    def schema_version(self) -> int:
        with self._read() as conn:
            value = conn.execute(
                select(_META.c.value).where(_META.c.key == "schema_version")
            ).scalar_one()
        return int(value)

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
        """Remember that `image_id` (tagged `tag`) was built for `app` from these inputs."""
        row = {
            "app": app,
            "tag": tag,
            "image_id": image_id,
            "input_hash": input_hash,
            "files_json": dump_pairs(files),
            "created_at": time.time() if created_at is None else created_at,
        }
        with self._write() as conn:
            stmt = insert(_IMAGES).values(row)
            conn.execute(
                stmt.on_conflict_do_update(
                    index_elements=["app", "tag"],
                    set_={
                        k: stmt.excluded[k]
                        for k in ("image_id", "input_hash", "files_json", "created_at")
                    },
                )
            )

    def images_for(self, app: str) -> tuple[ImageRecord, ...]:
        """The images built for `app`, newest first."""
        t = _IMAGES
        q = (
            select(t.c.app, t.c.tag, t.c.image_id, t.c.input_hash, t.c.files_json, t.c.created_at)
            .where(t.c.app == app)
            .order_by(t.c.created_at.desc(), t.c.id.desc())
        )
        with self._read() as conn:
            rows = conn.execute(q).all()
        return tuple(ImageRecord(a, tg, i, h, load_pairs(f), c) for a, tg, i, h, f, c in rows)

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
        """Insert or update the container `container_id` (created_at is kept on update)."""
        at = time.time() if now is None else now
        row = {
            "container_id": container_id,
            "app": app,
            "name": name,
            "version": version,
            "host_port": host_port,
            "state": state,
            "health": health,
            "created_at": at,
            "updated_at": at,
        }
        with self._write() as conn:
            stmt = insert(_CONTAINERS).values(row)
            conn.execute(
                stmt.on_conflict_do_update(
                    index_elements=["container_id"],
                    set_={
                        k: stmt.excluded[k] for k in row if k not in ("container_id", "created_at")
                    },
                )
            )

    def forget_container(self, container_id: str) -> None:
        with self._write() as conn:
            conn.execute(delete(_CONTAINERS).where(_CONTAINERS.c.container_id == container_id))

    def containers(self) -> tuple[ContainerRecord, ...]:
        """Every recorded container, by app then name."""
        t = _CONTAINERS
        q = select(
            t.c.container_id,
            t.c.app,
            t.c.name,
            t.c.version,
            t.c.host_port,
            t.c.state,
            t.c.health,
            t.c.created_at,
            t.c.updated_at,
        ).order_by(t.c.app, t.c.name)
        with self._read() as conn:
            return tuple(ContainerRecord(*r) for r in conn.execute(q))

    # -- applied snapshots ---------------------------------------------------------------------

    def record_applied(self, app: RecordedApp, *, now: float | None = None) -> None:
        """Remember `app` as the last successfully applied desired snapshot of `app.path`."""
        row = {
            "app": app.path,
            "version": app.version,
            "image": app.image,
            "container_id": app.container_id,
            "spec_json": app.spec_json,
            "files_json": dump_pairs(app.files),
            "applied_at": time.time() if now is None else now,
        }
        with self._write() as conn:
            upsert(conn, _APPLIED, [row], "app")

    def forget_app(self, app: str, *, images: bool = False) -> None:
        """Forget an app's applied snapshot and containers (and its built images if asked)."""
        with self._write() as conn:
            conn.execute(delete(_APPLIED).where(_APPLIED.c.app == app))
            conn.execute(delete(_CONTAINERS).where(_CONTAINERS.c.app == app))
            if images:
                conn.execute(delete(_IMAGES).where(_IMAGES.c.app == app))

    def recorded(self) -> RecordedState:
        """Every app's last applied snapshot, by path (one query; never writes)."""
        t = _APPLIED
        q = select(
            t.c.app, t.c.version, t.c.image, t.c.container_id, t.c.files_json, t.c.spec_json
        ).order_by(t.c.app)
        with self._read() as conn:
            rows = conn.execute(q).all()
        return RecordedState(
            tuple(RecordedApp(a, v, i, c, load_pairs(f), s) for a, v, i, c, f, s in rows)
        )

    # -- runs ----------------------------------------------------------------------------------

    def begin_run(self, command: str, plan_text: str, *, started_at: float | None = None) -> int:
        """Record the start of a run; returns its id for `finish_run`."""
        at = time.time() if started_at is None else started_at
        with self._write() as conn:
            result = conn.execute(
                _RUNS.insert().values(command=command, plan_text=plan_text, started_at=at)
            )
            run_id = result.inserted_primary_key
        assert run_id is not None
        return int(run_id[0])

    def finish_run(
        self,
        run_id: int,
        outcome: RunOutcome,
        steps: Sequence[StepOutcome] = (),
        *,
        finished_at: float | None = None,
    ) -> None:
        """Record how run `run_id` ended and each step's outcome (one transaction)."""
        at = time.time() if finished_at is None else finished_at
        with self._write() as conn:
            done = conn.execute(
                update(_RUNS)
                .where(_RUNS.c.id == run_id, _RUNS.c.finished_at.is_(None))
                .values(finished_at=at, outcome=outcome, duration=at - _RUNS.c.started_at)
            )
            if done.rowcount != 1:
                raise StateError(f"run {run_id} does not exist or is already finished")
            if steps:
                conn.execute(
                    _STEPS.insert(),
                    [
                        {
                            "run_id": run_id,
                            "step_id": s.step_id,
                            "app": s.app,
                            "action": s.action,
                            "target": s.target,
                            "cause": s.cause,
                            "outcome": s.outcome,
                            "message": s.message,
                            "duration": s.duration,
                        }
                        for s in steps
                    ],
                )

    def runs(self, limit: int = 20) -> tuple[RunRecord, ...]:
        """The last `limit` runs, newest first."""
        q = select(*_RUN_COLS).order_by(_RUNS.c.id.desc()).limit(limit)
        with self._read() as conn:
            return tuple(RunRecord(*r) for r in conn.execute(q))

    def last_run(self) -> RunRecord | None:
        found = self.runs(1)
        return found[0] if found else None

    def run_steps(self, run_id: int) -> tuple[StepOutcome, ...]:
        """The step outcomes of run `run_id`, in the order they were recorded."""
        t = _STEPS
        q = (
            select(
                t.c.step_id,
                t.c.app,
                t.c.action,
                t.c.target,
                t.c.cause,
                t.c.outcome,
                t.c.message,
                t.c.duration,
            )
            .where(t.c.run_id == run_id)
            .order_by(t.c.id)
        )
        with self._read() as conn:
            return tuple(StepOutcome(*r) for r in conn.execute(q))

    # -- file digest cache ---------------------------------------------------------------------

    def digest_cache(self, paths_prefix: str) -> DigestEntries:
        """Cached digests of paths starting with `paths_prefix`: path -> (size, mtime_ns,
        digest). A hit is valid only if the file's size and mtime_ns still match."""
        t = _DIGESTS
        q = select(t.c.path, t.c.size, t.c.mtime_ns, t.c.digest)
        if paths_prefix:  # a range on the primary key (LIKE would be case-insensitive)
            q = q.where(t.c.path >= paths_prefix, t.c.path < paths_prefix + "\U0010ffff")
        with self._read() as conn:
            return {p: (s, m, d) for p, s, m, d in conn.execute(q)}

    def save_digests(
        self, entries: Mapping[str, tuple[int, int, str]], *, drop: Iterable[str] = ()
    ) -> None:
        """Bulk upsert digest cache entries, and delete the `drop` paths (files now gone)."""
        rows = [
            {"path": p, "size": s, "mtime_ns": m, "digest": d} for p, (s, m, d) in entries.items()
        ]
        gone = list(drop)
        if not rows and not gone:
            return
        with self._write() as conn:
            if rows:
                upsert(conn, _DIGESTS, rows, "path")
            if gone:
                for i in range(0, len(gone), 500):
                    conn.execute(delete(_DIGESTS).where(_DIGESTS.c.path.in_(gone[i : i + 500])))
