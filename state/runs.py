"""Frozen values of what the store records beyond a pass's read: images built, containers made,
runs and their steps, the last apply of each app, and apps put to sleep."""

from __future__ import annotations

from dataclasses import dataclass

from state.records import Pairs, StepResult

__all__ = [
    "ContainerRecord",
    "IdleApp",
    "ImageRecord",
    "LastApply",
    "RunRecord",
    "StepOutcome",
]


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
