"""Persistence: the SQLite record of a state dir (what was built and applied, each run) and the
lock that keeps one ace command per state dir. The only package that opens the database; it
imports nothing of `reconciler`.

- `store`: `Store`, every read and write of the record
- `records`: the frozen values it takes and returns (RecordedState is the planner's third input)
- `models`: the sqlmodel tables; `schema`: creating and migrating them
- `db`: connections, transactions, the installation id
- `lock`: `StateLock`, one ace command per state dir
"""

from state.db import BUSY_TIMEOUT_MS, INSTALL_ID_ENV, derive_install_id
from state.lock import LOCK_NAME, StateLock
from state.records import (
    ContainerRecord,
    DigestEntries,
    ImageRecord,
    LastApply,
    RunOutcome,
    RunRecord,
    StepOutcome,
    StepResult,
)
from state.schema import SCHEMA_VERSION
from state.store import DB_NAME, Store

__all__ = [
    "BUSY_TIMEOUT_MS",
    "DB_NAME",
    "INSTALL_ID_ENV",
    "LOCK_NAME",
    "LastApply",
    "SCHEMA_VERSION",
    "ContainerRecord",
    "DigestEntries",
    "ImageRecord",
    "RunOutcome",
    "RunRecord",
    "StateLock",
    "StepOutcome",
    "StepResult",
    "Store",
    "derive_install_id",
]
