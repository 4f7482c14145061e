"""The run history in the state database: runs begun and finished, their steps, and how each
app's latest apply went."""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, get_args

from apps.errors import StateError
from state.db import Connected
from state.records import RunOutcome, StepResult

if TYPE_CHECKING:  # loaded by the methods that make them: a no-op pass never does
    from state.runs import LastApply, RunRecord, StepOutcome

__all__ = ["RunHistory"]

_RUN_OUTCOMES = get_args(RunOutcome)
_STEP_RESULTS = get_args(StepResult)
_RUN_COLS = "id, command, plan_text, started_at, finished_at, outcome, duration"


class RunHistory(Connected):
    """The `Store` methods that record and read runs (one statement or transaction each)."""

    def begin_run(self, command: str, plan_text: str, *, started_at: float | None = None) -> int:
        """Record the start of a run; returns its id for `finish_run`. A run never finished
        (the process died) keeps outcome "" and finished_at None."""
        at = time.time() if started_at is None else started_at
        with self._write() as conn:
            cur = conn.execute(
                "INSERT INTO runs (command, plan_text, started_at, outcome) VALUES (?, ?, ?, '')",
                (command, plan_text, at),
            )
        assert cur.lastrowid is not None
        return cur.lastrowid

    def finish_run(
        self,
        run_id: int,
        outcome: RunOutcome,
        steps: Sequence[StepOutcome] = (),
        *,
        finished_at: float | None = None,
    ) -> None:
        """Record how run `run_id` ended and each step's outcome (one transaction)."""
        if outcome not in _RUN_OUTCOMES:
            raise ValueError(f"run outcome must be one of {_RUN_OUTCOMES}, not {outcome!r}")
        bad = [s.outcome for s in steps if s.outcome not in _STEP_RESULTS]
        if bad:
            raise ValueError(f"step outcome must be one of {_STEP_RESULTS}, not {bad[0]!r}")
        at = time.time() if finished_at is None else finished_at
        with self._write() as conn:
            cur = conn.execute(
                "UPDATE runs SET finished_at = ?, outcome = ?, duration = ? - started_at"
                " WHERE id = ? AND finished_at IS NULL",
                (at, outcome, at, run_id),
            )
            if cur.rowcount != 1:
                raise StateError(f"run {run_id} does not exist or is already finished")
            conn.executemany(
                "INSERT INTO run_steps (run_id, step_id, app, action, target, cause, outcome,"
                " message, duration) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [(run_id, s.step_id, s.app, s.action, s.target, s.cause, s.outcome, s.message,
                  s.duration) for s in steps],
            )  # fmt: skip

    def runs(self, limit: int = 20) -> tuple[RunRecord, ...]:
        """The last `limit` runs, newest first."""
        from state.runs import RunRecord

        with self._read() as conn:
            rows = conn.execute(
                f"SELECT {_RUN_COLS} FROM runs ORDER BY id DESC LIMIT ?", (limit,)
            ).fetchall()
        return tuple(RunRecord(*r) for r in rows)

    def last_run(self) -> RunRecord | None:
        """The newest run, finished or not."""
        found = self.runs(1)
        return found[0] if found else None

    def run_steps(self, run_id: int) -> tuple[StepOutcome, ...]:
        """The step outcomes of run `run_id`, in the order they were recorded."""
        from state.runs import StepOutcome

        with self._read() as conn:
            rows = conn.execute(
                "SELECT step_id, app, action, target, cause, outcome, message, duration"
                " FROM run_steps WHERE run_id = ? ORDER BY id",
                (run_id,),
            ).fetchall()
        return tuple(StepOutcome(*r) for r in rows)

    def last_applies(self) -> dict[str, LastApply]:
        """Per app, how the latest run with steps for it went for it (its failed step, else
        its last one), however many runs for other apps came after (one query)."""
        from state.runs import LastApply

        with self._read() as conn:
            rows = conn.execute(
                "WITH latest AS (SELECT app, MAX(run_id) AS run_id FROM run_steps GROUP BY app)"
                " SELECT s.app, s.step_id, s.action, s.target, s.outcome, s.message,"
                " COALESCE(r.finished_at, r.started_at), s.run_id FROM run_steps s"
                " JOIN latest l ON l.app = s.app AND l.run_id = s.run_id"
                " JOIN runs r ON r.id = s.run_id ORDER BY s.app, s.id"
            ).fetchall()
        out: dict[str, LastApply] = {}
        for row in rows:
            step = LastApply(*row)
            known = out.get(step.app)
            if known is None or known.outcome != "failed":
                out[step.app] = step
        return out
