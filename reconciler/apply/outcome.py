"""What applying a plan is given and gives back: options, hooks, step outcomes, the result."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from reconciler.core.types import Step

__all__ = [
    "BUILDS_AT_ONCE",
    "DEFAULT_PARALLEL",
    "ApplyOptions",
    "ApplyResult",
    "HoldHook",
    "Outcome",
    "OutputHook",
    "StepOutcome",
    "SwitchHook",
]

Outcome = Literal["done", "failed", "skipped"]


# on_switch(app path, new container URL, previous container URL or None, new container's
# network address "ip:port" or ""): called once a new container of the app is healthy (start,
# replace, restart), before an old one is stopped; a proxy points new requests at the new
# container and returns when the old one's requests drained.
SwitchHook = Callable[[str, str, "str | None", str], None]
# on_output(app path, line): each line of a build's output, as the build prints it.
OutputHook = Callable[[str, str], None]


# on_hold(app path, held): called with True before a running container of the app restarts in
# place (dev mode) and with False once it is healthy again (or failed): a proxy holds the app's
# new requests in between instead of failing them.
HoldHook = Callable[[str, bool], None]


# Apps applied at once by default: starting containers is the engine's work, and it starts 40
# busybox services in ~12 s with 16 requests in flight against ~18 s with 4 (no faster with 100)
DEFAULT_PARALLEL = 16
# builds and pulls at once, whatever `parallel` allows: they load the machine itself
BUILDS_AT_ONCE = 4


@dataclass(frozen=True, slots=True)
class ApplyOptions:
    parallel: int = DEFAULT_PARALLEL
    health_timeout: float = 60.0
    stop_timeout: float = 5.0
    on_switch: SwitchHook | None = None
    on_output: OutputHook | None = None
    on_hold: HoldHook | None = None
    # set when ace is stopping (`ace watch`/`serve` got a signal): health gates give up at
    # once (the unproven new container is removed, the old one keeps serving) and steps not
    # yet started are skipped
    stop: threading.Event | None = None


@dataclass(frozen=True, slots=True)
class StepOutcome:
    """How one step ended. `exit_code`/`logs` describe a container the step found exited on
    its own (a crash) before it restarted or removed it, or that exited at start, and `ran_for`
    how many seconds that container had run before it exited (None when unknown): `ace watch`
    counts a short run as a crash. For a failed build they are the failing command's exit code
    and last output lines, with `failed_step` (e.g. "[2/3] RUN make") and `where` (the container
    file's file:line) set."""

    step: Step
    outcome: Outcome
    message: str = ""
    seconds: float = 0.0
    url: str = ""
    exit_code: str = ""
    logs: str = ""
    ran_for: float | None = None
    failed_step: str = ""
    where: str = ""


@dataclass(frozen=True, slots=True)
class ApplyResult:
    outcomes: tuple[StepOutcome, ...]

    @property
    def ok(self) -> bool:
        return all(o.outcome == "done" for o in self.outcomes)

    @property
    def changed(self) -> bool:
        return any(o.outcome == "done" for o in self.outcomes)
