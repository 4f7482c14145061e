"""Frozen values a pass reads from the store: RecordedState is the planner's third input.
`state/` owns them: it imports nothing of `reconciler/`, which reads the record through these
types. The records of runs, images, containers and sleeping apps are in `runs` (a no-op pass
never needs them: each value class costs ~0.5 ms to define)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

__all__ = [
    "DigestEntries",
    "Pairs",
    "RecordedApp",
    "RecordedState",
    "RunOutcome",
    "StepResult",
]

Pairs = tuple[tuple[str, str], ...]
RunOutcome = Literal["ok", "failed", "partial"]
StepResult = Literal["done", "failed", "skipped"]
# path -> (size, mtime_ns, digest)
DigestEntries = dict[str, tuple[int, int, str]]


@dataclass(frozen=True, slots=True)
class RecordedApp:
    """What the database remembers of an app's last successful apply."""

    path: str
    version: str
    image: str
    container_id: str = ""
    files: Pairs = ()  # build-input manifest of the last build
    spec_json: str = ""  # canonical JSON of the last applied ContainerSpec


@dataclass(frozen=True, slots=True)
class RecordedState:
    """Every app's last successful apply, and the apps the user stopped (`ace stop`), as the
    planner reads them."""

    apps: tuple[RecordedApp, ...] = ()
    stopped: frozenset[str] = frozenset()

    def get(self, path: str) -> RecordedApp | None:
        for a in self.apps:
            if a.path == path:
                return a
        return None
