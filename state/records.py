"""Frozen values the store returns and accepts. `state/` owns them: it imports nothing of
`reconciler/`, which reads the record through these types (RecordedState is the planner's
third input)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

__all__ = [
    "Pairs",
    "RecordedApp",
    "RecordedState",
    "ContainerRecord",
    "DigestEntries",
    "IdleApp",
    "ImageRecord",
    "LastApply",
    "RunOutcome",
    "RunRecord",
    "StepOutcome",
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


@dataclass(frozen=True, slots=True)
class IdleApp:
    """An app `ace watch`/`ace serve` put to sleep (or did not start yet: lazy): its container
    stays stopped until a request comes. `reason` says why ("no request for 300 s")."""

    app: str
    since: float
    reason: str


@dataclass(frozen=True, slots=True)
class ImageRecord:
    """An image ace built from `input_hash`; `files` is the (relpath, digest) manifest."""

    app: str
    tag: str
    image_id: str
    input_hash: str
    files: Pairs
    created_at: float


@dataclass(frozen=True, slots=True)
class ContainerRecord:
    """A container ace created, as last recorded (the engine remains the truth)."""

    container_id: str
    app: str
    name: str
    version: str
    host_port: int | None
    state: str
    health: str
    created_at: float
    updated_at: float


@dataclass(frozen=True, slots=True)
class StepOutcome:
    """How one plan step ended: `done`, `failed` (message says why) or `skipped`."""

    step_id: str
    app: str
    action: str
    target: str
    cause: str
    outcome: StepResult
    message: str = ""
    duration: float = 0.0



@dataclass(frozen=True, slots=True)
class LastApply:
    """How the latest run that had steps for an app went for it: its failed step when one
    failed, else its last step. `at` is when that run finished (or started, if it never did)."""

    app: str
    step_id: str
    action: str
    target: str
    outcome: StepResult
    message: str
    at: float
    run_id: int


@dataclass(frozen=True, slots=True)
class RunRecord:
    """One recorded run. `outcome` is "" and `finished_at` None while running, or if the
    process died before finishing."""

    id: int
    command: str
    plan_text: str
    started_at: float
    finished_at: float | None
    outcome: str
    duration: float | None

    @property
    def finished(self) -> bool:
        return self.finished_at is not None
