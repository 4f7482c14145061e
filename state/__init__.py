"""Persistence: the SQLite record of a state dir (what was built and applied, each run) and the
lock that keeps one ace command per state dir. The only package that opens the database; it
imports nothing of `reconciler`.

- `store`: `Store`, every read and write of the record (images, containers, applied snapshots,
  sleeping and stopped apps here)
- `history`: `RunHistory`, the Store's runs and their steps
- `caches`: `Caches`, the Store's file digest and evaluation caches
- `records`: the frozen values a pass reads (RecordedState is the planner's third input)
- `runs`: the frozen values of runs, steps, images, containers and sleeping apps (loaded on
  first use: `ContainerRecord`, `ImageRecord`, `LastApply`, `RunRecord`, `StepOutcome` below)
- `models`: the sqlmodel tables; `schema`: creating and migrating them
- `db`: connections, transactions, the installation id; `Connected`, the Store's base
- `lock`: `StateLock`, one ace command per state dir
"""

from typing import TYPE_CHECKING, Any

from state.db import BUSY_TIMEOUT_MS, INSTALL_ID_ENV, derive_install_id
from state.lock import LOCK_NAME, StateLock
from state.records import DigestEntries, RunOutcome, StepResult
from state.schema import SCHEMA_VERSION
from state.store import DB_NAME, Store

if TYPE_CHECKING:
    from state.runs import ContainerRecord, ImageRecord, LastApply, RunRecord, StepOutcome

_RUNS = ("ContainerRecord", "ImageRecord", "LastApply", "RunRecord", "StepOutcome")

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


def __getattr__(name: str) -> Any:
    """The records of runs load on first use (a no-op pass never makes one)."""
    if name in _RUNS:
        from state import runs

        return getattr(runs, name)
    raise AttributeError(f"module 'state' has no attribute {name!r}")
