"""What the step runners of one apply share: the context, a step's details so far, its failure."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from reconciler.apply.outcome import BUILDS_AT_ONCE, ApplyOptions, StepOutcome
from reconciler.apply.record import Recorder
from reconciler.core.desired import Naming
from reconciler.core.types import DesiredApp, ObservedContainer
from reconciler.driver.ports import Engine

__all__ = ["Context", "Done", "StepFailed", "cancel", "stopping"]


class StepFailed(Exception):
    pass


@dataclass
class Done:
    url: str = ""
    note: str = ""  # the message of a step that succeeded by leaving things as they are
    exit_code: str = ""
    logs: str = ""
    ran_for: float | None = None
    failed_step: str = ""
    where: str = ""


@dataclass
class Context:
    engine: Engine
    recorder: Recorder
    naming: Naming
    desired: dict[str, DesiredApp]
    declared: frozenset[str]
    network: str  # the app network every service joins ("" = none)
    by_name: dict[str, ObservedContainer]
    options: ApplyOptions
    on_event: Callable[[str, StepOutcome], None]
    lock: threading.Lock = field(default_factory=threading.Lock)
    builds: threading.Semaphore = field(
        default_factory=lambda: threading.Semaphore(BUILDS_AT_ONCE))

    def record(self, fn: Callable[..., None], **kw: Any) -> None:
        with self.lock:
            fn(**kw)


def stopping(ctx: Context) -> bool:
    return ctx.options.stop is not None and ctx.options.stop.is_set()


def cancel(ctx: Context) -> dict[str, Any]:
    """A health wait's `sleep` and `cancelled` when ace may be asked to stop meanwhile."""
    stop = ctx.options.stop
    return {} if stop is None else {"sleep": stop.wait, "cancelled": stop.is_set}
