"""What the watch loop tells its display: the `Reporter` protocol (one call per fact) and the
table `Row`s built from a pass. The displays themselves (a live terminal table, JSON lines) live
in `reconciler.cli.watch_view`: the loop never imports them.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Protocol

from apps.model import EvalError
from reconciler.apply.executor import StepOutcome
from reconciler.core.report import status_rows
from reconciler.core.types import DesiredState, ObservedState, current_container
from reconciler.watch.backoff import Attempts

__all__ = ["Reporter", "Row", "build_failure_text", "build_rows", "first_line"]


@dataclass(frozen=True, slots=True)
class Row:
    app: str
    state: str  # running, stopped, idle, missing, failed, crash-looping, build-failed, error,
    #             orphaned, command
    health: str
    url: str
    last_change: str
    last_error: str
    mode: str = "normal"  # "dev": runs from its mounted source

    def to_json(self) -> dict[str, str]:
        return {"app": self.app, "state": self.state, "health": self.health, "url": self.url,
                "last_change": self.last_change, "last_error": self.last_error,
                "mode": self.mode}


def first_line(text: str, width: int = 120) -> str:
    line = text.strip().splitlines()[0] if text.strip() else ""
    return line if len(line) <= width else line[: width - 1] + "…"


def build_failure_text(o: StepOutcome) -> str:
    """A failed build in one line: where it failed, its exit code, its last output line."""
    at = f" at step {o.failed_step}" if o.failed_step else ""
    where = f" ({os.path.basename(o.where)})" if o.where else ""  # the app column says which
    code = f": exit code {o.exit_code}" if o.exit_code else ""
    last = o.logs.strip().splitlines()[-1:] if o.logs.strip() else []
    head = f"build failed{at}{where}{code}" if (at or code) else first_line(o.message)
    return " | ".join([head, *last])


def build_rows(
    desired: DesiredState, observed: ObservedState, health: Mapping[str, str],
    attempts: Mapping[str, Attempts], changes: Mapping[str, str], errors: Mapping[str, str],
    builds: Mapping[str, StepOutcome] | None = None,
    stopped: frozenset[str] = frozenset(),
) -> tuple[Row, ...]:
    """One row per app: status_rows of the last pass, with failed builds (the version that
    runs keeps serving: its URL is shown), crash loops and last events. An app that does not
    evaluate shows what runs of it, its error as the last error."""
    out: list[Row] = []
    for r in status_rows(desired, observed, dict(health), stopped=stopped):
        state, err = r.state, errors.get(r.path, "") or r.error
        a = attempts.get(r.path)
        failed_build = (builds or {}).get(r.path)
        if failed_build is not None:
            state, err = "build-failed", build_failure_text(failed_build)
            old = current_container(observed.containers, r.path)
            if not r.url and old is not None and old.state == "running" and old.host_port:
                app = next(x for x in desired.apps if x.path == r.path)
                r = replace(r, url=f"{app.scheme}://127.0.0.1:{old.host_port}")
        elif a is not None and a.crash_looping:
            state = "crash-looping"
            tail = " | ".join(a.logs.strip().splitlines()[-2:])
            err = f"exit code {a.exit_code or '?'}" + (f"; last log: {tail}" if tail else "")
        elif not err and r.detail and r.state not in ("running", "command", "idle"):
            err = r.detail
        out.append(Row(r.path, state, r.health, r.url, changes.get(r.path, ""),
                       first_line(err), r.mode))
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
    def build_failed(self, outcome: StepOutcome) -> None: ...
    def engine_unavailable(self, error: str, retry_in: float) -> None: ...
    def engine_back(self, down_for: float) -> None: ...
    def lock_busy(self, holder: str) -> None: ...
    def rows(self, rows: Sequence[Row]) -> None: ...
    def stopped(self, reason: str, down: Sequence[str]) -> None: ...

