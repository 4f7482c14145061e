"""SQLModel tables: the definition of the state database schema (DDL is compiled from them).

Imported only to create or migrate a database; the store queries through the stdlib driver.
Rows never leave the `state` package.

Times are unix seconds (float). JSON columns hold compact, canonical JSON text.
"""

from __future__ import annotations

from typing import cast

from sqlalchemy import Index, Table
from sqlmodel import Field, SQLModel

__all__ = [
    "AppliedRow",
    "ContainerRow",
    "DigestRow",
    "IdleAppRow",
    "ImageRow",
    "MetaRow",
    "RunRow",
    "RunStepRow",
    "StoppedAppRow",
    "TABLES",
    "metadata",
    "table",
]

metadata = SQLModel.metadata


class MetaRow(SQLModel, table=True):
    """Key/value facts about the database itself: schema_version, install_id, created_at."""

    __tablename__ = "meta"
    key: str = Field(primary_key=True)
    value: str


class ImageRow(SQLModel, table=True):
    """An image ace built: which inputs (hash and file manifest) produced which image id."""

    __tablename__ = "images"
    __table_args__ = (Index("ix_images_app_tag", "app", "tag", unique=True),)
    id: int | None = Field(default=None, primary_key=True)
    app: str
    tag: str
    image_id: str
    input_hash: str = Field(index=True)
    files_json: str = "[]"
    created_at: float


class ContainerRow(SQLModel, table=True):
    """A container ace created, keyed by engine id."""

    __tablename__ = "containers"
    container_id: str = Field(primary_key=True)
    app: str = Field(index=True)
    name: str
    version: str
    host_port: int | None = None
    state: str = ""
    health: str = ""
    created_at: float
    updated_at: float


class AppliedRow(SQLModel, table=True):
    """The last successfully applied desired snapshot of an app."""

    __tablename__ = "applied"
    app: str = Field(primary_key=True)
    version: str
    image: str
    container_id: str = ""
    spec_json: str = ""
    files_json: str = "[]"
    applied_at: float


class RunRow(SQLModel, table=True):
    """One ace command that planned (and maybe applied). outcome is '' until finished."""

    __tablename__ = "runs"
    id: int | None = Field(default=None, primary_key=True)
    command: str
    plan_text: str = ""
    started_at: float
    finished_at: float | None = None
    outcome: str = ""
    duration: float | None = None


class RunStepRow(SQLModel, table=True):
    """The outcome of one step of a run, in execution-record order."""

    __tablename__ = "run_steps"
    id: int | None = Field(default=None, primary_key=True)
    run_id: int = Field(foreign_key="runs.id", index=True)
    step_id: str
    app: str
    action: str
    target: str
    cause: str
    outcome: str
    message: str = ""
    duration: float = 0.0


class DigestRow(SQLModel, table=True):
    """File digest cache for build-input hashing: a path's digest at (size, mtime_ns)."""

    __tablename__ = "file_digests"
    path: str = Field(primary_key=True)
    size: int
    mtime_ns: int
    digest: str


class EvalCacheRow(SQLModel, table=True):
    """Evaluated app definitions: `slot` is an app path ("" for the apps file), `key` a hash of
    everything the evaluation depended on (entry, files' size and mtime, directories), `value`
    the pickled result. A hit skips the Starlark sandbox entirely."""

    __tablename__ = "eval_cache"
    slot: str = Field(primary_key=True)
    key: str
    value: bytes


class StoppedAppRow(SQLModel, table=True):
    """An app the user stopped (`ace stop`): no container runs for it until `ace start`."""

    __tablename__ = "stopped_apps"
    app: str = Field(primary_key=True)
    stopped_at: float


class IdleAppRow(SQLModel, table=True):
    """An app asleep (idle, or not started yet under --lazy): kept stopped until a request."""

    __tablename__ = "idle_apps"
    app: str = Field(primary_key=True)
    since: float
    reason: str = ""


def table(model: type[SQLModel]) -> Table:
    """The Core table behind a model (queries use Core: cheaper than ORM rows)."""
    return cast(Table, model.__table__)  # type: ignore[attr-defined]


TABLES = [
    table(m)
    for m in (
        MetaRow,
        ImageRow,
        ContainerRow,
        AppliedRow,
        RunRow,
        RunStepRow,
        DigestRow,
        EvalCacheRow,
        StoppedAppRow,
        IdleAppRow,
    )
]
