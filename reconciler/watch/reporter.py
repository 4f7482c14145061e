"""What the watch loop tells its display: the `Reporter` protocol (one call per fact) and the
table `Row`s built from a pass. The displays themselves (a live terminal table, JSON lines) live
in `reconciler.cli.watch_view`: the loop never imports them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

from apps.model import EvalError
from reconciler.apply.executor import StepOutcome
from reconciler.core.report import status_rows
from reconciler.core.types import DesiredState, ObservedState
from reconciler.watch.backoff import Attempts

__all__ = ["Reporter", "Row", "build_rows", "first_line"]


@dataclass(frozen=True, slots=True)
class Row:
    app: str
    state: str  # running, stopped, idle, missing, failed, crash-looping, error, orphaned, command
    health: str
    url: str
    last_change: str
    last_error: str

    def to_json(self) -> dict[str, str]:
        return {"app": self.app, "state": self.state, "health": self.health, "url": self.url,
                "last_change": self.last_change, "last_error": self.last_error}


def first_line(text: str, width: int = 120) -> str:
    line = text.strip().splitlines()[0] if text.strip() else ""
    return line if len(line) <= width else line[: width - 1] + "…"


def build_rows(
    desired: DesiredState, observed: ObservedState, health: Mapping[str, str],
    attempts: Mapping[str, Attempts], changes: Mapping[str, str], errors: Mapping[str, str],
) -> tuple[Row, ...]:
    """One row per app: status_rows of the last pass, with crash loops and last events. An app
    that does not evaluate shows what runs of it, its error as the last error."""
    out: list[Row] = []
    for r in status_rows(desired, observed, dict(health)):
        state, err = r.state, errors.get(r.path, "") or r.error
        a = attempts.get(r.path)
        if a is not None and a.crash_looping and a.failed:
            state = "crash-looping"
            tail = " | ".join(a.logs.strip().splitlines()[-2:])
            err = f"exit code {a.exit_code or '?'}" + (f"; last log: {tail}" if tail else "")
        elif not err and r.detail and r.state not in ("running", "command", "idle"):
            err = r.detail
        out.append(Row(r.path, state, r.health, r.url, changes.get(r.path, ""),
                       first_line(err)))
    return tuple(out)


class Reporter(Protocol):
    def started(self, apps_file: str, roots: Sequence[str], resync: float) -> None: ...
    def files_changed(self, paths: Sequence[str]) -> None: ...
    def pass_started(self, cycle: str, reason: str, reevaluated: Sequence[str]) -> None: ...
    def app_errors(self, errors: Sequence[EvalError]) -> None: ...
    def app_warnings(self, warnings: Sequence[EvalError]) -> None: ...
    def step(self, outcome: StepOutcome) -> None: ...
    def pass_finished(self, cycle: str, seconds: float, steps: int, held: Sequence[str]) -> None:
        ...
    def crash_loop(self, a: Attempts, retry_in: float) -> None: ...
    def engine_unavailable(self, error: str, retry_in: float) -> None: ...
    def engine_back(self, down_for: float) -> None: ...
    def lock_busy(self, holder: str) -> None: ...
    def rows(self, rows: Sequence[Row]) -> None: ...
    def stopped(self, reason: str, down: Sequence[str]) -> None: ...

