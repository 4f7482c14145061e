"""Apply a plan: run its steps against the engine and record results. No decisions are made here
beyond the order the plan gives; failures are values (StepOutcome), never exceptions that stop
other apps. Replacing a service is zero-downtime: new container, health check, then old one out.
An image the engine will not remove because a container uses it is kept: that step is done.
This module is the plan-level driver (apps in parallel, an app's steps in order); steps.py runs
one step, containers.py the container steps, outcome.py holds the options and outcome types.
"""

from __future__ import annotations

import contextvars
import threading
import time
from collections.abc import Callable
from dataclasses import replace

from apps.errors import EngineError
from reconciler.apply.context import Context, Done, StepFailed, stopping
from reconciler.apply.outcome import BUILDS_AT_ONCE as BUILDS_AT_ONCE
from reconciler.apply.outcome import DEFAULT_PARALLEL as DEFAULT_PARALLEL
from reconciler.apply.outcome import ApplyOptions, ApplyResult, Outcome, StepOutcome
from reconciler.apply.outcome import HoldHook as HoldHook
from reconciler.apply.outcome import OutputHook as OutputHook
from reconciler.apply.outcome import SwitchHook as SwitchHook
from reconciler.apply.record import Recorder
from reconciler.apply.steps import run_step
from reconciler.core.desired import Naming
from reconciler.core.types import DesiredState, ObservedState, Plan, Step
from reconciler.driver.ports import Engine
from reconciler.logs import get_logger

# the option, hook and outcome types (outcome.py, re-exported above with `as`) are imported
# from here too, as before the split
__all__ = ["ApplyOptions", "ApplyResult", "Interrupted", "StepOutcome", "apply_plan"]

log = get_logger("ace.apply")


def _run_group(ctx: Context, steps: list[Step],
               before: dict[str, Outcome] | None = None) -> list[StepOutcome]:
    """Run one app's steps in order; `before` holds the outcomes of the installation's steps
    (the app network), which ran first."""
    done: dict[str, Outcome] = dict(before or {})
    out: list[StepOutcome] = []
    for step in steps:
        slog = log.bind(step=step.id, action=step.action, app=step.app, cause=step.cause)
        bad = [d for d in step.depends_on if done.get(d, "done") != "done"]
        if bad or stopping(ctx):
            why = f"{bad[0]} did not succeed" if bad else "ace is stopping"
            res = StepOutcome(step, "skipped", f"skipped: {why}")
            slog.info("step_skipped", reason=res.message)
        else:
            ctx.on_event("start", StepOutcome(step, "skipped"))
            slog.info("step_started")
            t0 = time.monotonic()
            done_ = Done()
            try:
                run_step(ctx, step, done_)
                res = StepOutcome(step, "done", done_.note, time.monotonic() - t0, done_.url,
                                  done_.exit_code, done_.logs, done_.ran_for)
                slog.info("step_done", seconds=round(res.seconds, 3))
            except (StepFailed, EngineError, OSError) as exc:
                res = StepOutcome(step, "failed", str(exc), time.monotonic() - t0, "",
                                  done_.exit_code, done_.logs, done_.ran_for, done_.failed_step,
                                  done_.where)
                slog.warning("step_failed", error=str(exc), seconds=round(res.seconds, 3))
        done[step.id] = res.outcome
        out.append(res)
        ctx.on_event("end", res)
    return out


class Interrupted(KeyboardInterrupt):
    """Ctrl-C while a plan's steps ran. They were told to stop and have ended: a health gate
    gave up (the unproven new container removed, an old one kept serving), steps not started
    were skipped. `outcomes`: how each step ended, in the plan's order."""

    def __init__(self, outcomes: tuple[StepOutcome, ...]) -> None:
        super().__init__("interrupted")
        self.outcomes = outcomes


def _interrupted(ctx: Context) -> None:
    """Tell the running steps that ace stops, as `ace watch`'s stop does, so that an interrupt
    waits neither for a health timeout nor for every queued app (a pool's shutdown runs them
    all)."""
    if ctx.options.stop is not None:
        ctx.options.stop.set()


def _alone(ctx: Context, group: list[Step], before: dict[str, Outcome]
           ) -> tuple[list[StepOutcome], bool]:
    """One app's steps on a worker thread, as the pool runs them (the caller's context bound),
    and whether the caller was interrupted meanwhile (the steps then stopped early)."""
    done: list[list[StepOutcome]] = []
    failed: list[BaseException] = []
    run = contextvars.copy_context().run

    def work() -> None:
        try:
            done.append(run(_run_group, ctx, group, before))
        except BaseException as exc:  # noqa: BLE001 - re-raised in the caller
            failed.append(exc)

    worker = threading.Thread(target=work, name="ace-apply")
    worker.start()
    cut = False
    try:
        worker.join()
    except KeyboardInterrupt:
        _interrupted(ctx)
        cut = True
        worker.join()
    except BaseException:
        _interrupted(ctx)
        raise
    if failed:
        raise failed[0]
    return done[0], cut


def apply_plan(
    plan: Plan,
    desired: DesiredState,
    observed: ObservedState,
    *,
    engine: Engine,
    recorder: Recorder,
    naming: Naming,
    options: ApplyOptions = ApplyOptions(),  # noqa: B008 - frozen, shared safely
    on_event: Callable[[str, StepOutcome], None] = lambda kind, outcome: None,
) -> ApplyResult:
    """Run the plan: the installation's steps (app "": the app network) first, then apps in
    parallel (bounded by options.parallel; builds and pulls by BUILDS_AT_ONCE too), steps of
    an app in order."""
    if options.stop is None:  # set on an interrupt (`_interrupted`)
        options = replace(options, stop=threading.Event())
    ctx = Context(engine, recorder, naming, {a.path: a for a in desired.apps},
                  desired.declared, desired.network, {c.name: c for c in observed.containers},
                  options, on_event)
    groups: dict[str, list[Step]] = {}
    for step in plan.steps:
        groups.setdefault(step.app, []).append(step)
    if not groups:
        return ApplyResult(())
    first = _run_group(ctx, groups.pop("", []))
    before = {o.step.id: o.outcome for o in first}
    cut = False
    if len(groups) == 1:  # one app: one thread of its own, no pool to load
        alone, cut = _alone(ctx, next(iter(groups.values())), before)
        results = [first, alone]
    else:
        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(max_workers=max(1, options.parallel)) as pool:
            # each app's steps log with the caller's bound context (the pass's cycle id)
            runs = [pool.submit(contextvars.copy_context().run, _run_group, ctx, g, before)
                    for g in groups.values()]
            try:
                results = [first, *(r.result() for r in runs)]
            except KeyboardInterrupt:
                _interrupted(ctx)  # before the pool's shutdown would run the queued apps
                cut = True
                results = [first, *(r.result() for r in runs)]  # each ends at once now
            except BaseException:
                _interrupted(ctx)
                raise
    order = {s.id: i for i, s in enumerate(plan.steps)}
    outcomes = tuple(sorted((o for r in results for o in r), key=lambda o: order[o.step.id]))
    if cut:
        raise Interrupted(outcomes)
    return ApplyResult(outcomes)
