"""One reconcile pass: evaluate -> observe -> plan -> apply. The CLI and the watch loop both call
`run_pass`; nothing else decides what to do."""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import apps
from apps.model import EvalResult
from reconciler.desired import Naming, desired_state
from reconciler.executor import (
    ApplyOptions,
    ApplyResult,
    StepOutcome,
    SwitchHook,
    adopt,
    apply_plan,
)
from reconciler.hashing import DigestCache
from reconciler.logs import get_logger
from reconciler.planner import PlanOptions, PullPolicy, plan
from reconciler.ports import Engine
from reconciler.types import DesiredState, ObservedState, Plan, RecordedState
from state import RunOutcome, Store
from state.records import StepOutcome as StoredOutcome

__all__ = [
    "PassResult",
    "Settings",
    "apply_recorded",
    "observe",
    "prepare",
    "run_pass",
    "state_dir_for",
]

log = get_logger("ace.pass")


def state_dir_for(apps_file: str | Path, override: str | None = None) -> Path:
    """`--state-dir`, else env ACE_STATE_DIR, else `.ace/` beside the apps file."""
    chosen = override or os.environ.get("ACE_STATE_DIR")
    if chosen:
        return Path(chosen).resolve()
    return Path(apps_file).resolve().parent / ".ace"


@dataclass(frozen=True, slots=True)
class Settings:
    apps_file: Path
    state_dir: Path
    pull: PullPolicy = "missing"
    parallel: int = 4
    health_timeout: float = 60.0
    deadline: float = 2.0


@dataclass(frozen=True, slots=True)
class PassResult:
    """Everything one pass saw and did."""

    cycle: str
    evaluation: EvalResult
    desired: DesiredState
    observed: ObservedState
    recorded: RecordedState
    plan: Plan
    applied: ApplyResult | None = None
    adopted: tuple[str, ...] = ()
    seconds: float = 0.0
    timings: dict[str, float] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.evaluation.errors and (self.applied is None or self.applied.ok)

    @property
    def changed(self) -> bool:
        return self.applied is not None and self.applied.changed


def observe(engine: Engine, install: str, desired: DesiredState | None = None) -> ObservedState:
    """The engine's truth: one sparse container listing, and the images it leaves open.

    Containers of `ace run` commands carry no version label: they are transient and never
    planned for. Without `desired`, every image is listed (status, drift). With it, an app whose
    container of the desired version runs under its image's name vouches for that image; only
    the other apps' images are listed, filtered by the engine — none at all when everything
    runs, so a no-op pass is a single listing call."""
    containers = tuple(c for c in engine.list_containers(install) if c.version)
    if desired is None:
        return ObservedState(containers, engine.list_images())
    running = {(c.app, c.version, c.image) for c in containers if c.state == "running"}
    vouched = frozenset(a.image for a in desired.apps
                        if a.service and (a.path, a.version, a.image) in running)
    needed = sorted({a.image for a in desired.apps} - vouched)
    images = engine.list_images(needed) if needed else ()
    return ObservedState(containers, images, vouched)


def _digest_prefix(result: EvalResult) -> str:
    dirs = [a.container.build_dir for a in result.apps if a.container and a.container.build_dir]
    return os.path.commonpath(dirs) if dirs else "/"


def prepare(
    settings: Settings, store: Store, engine: Engine, *, evaluation: EvalResult | None = None
) -> tuple[EvalResult, DesiredState, ObservedState, RecordedState, Plan, dict[str, float]]:
    """Evaluate (unless given), hash, observe and plan. Writes only changed file digests."""
    t: dict[str, float] = {}
    t0 = time.perf_counter()
    result = evaluation
    if result is None:
        result, update = apps.evaluate_cached(
            settings.apps_file, store.eval_cache(), deadline=settings.deadline
        )
        store.save_eval_cache(update.save, drop=update.drop)
    t["evaluate"] = time.perf_counter() - t0
    naming = Naming(store.install_id, str(settings.state_dir))
    t1 = time.perf_counter()
    cache = DigestCache(known=store.digest_cache(_digest_prefix(result)))
    desired = desired_state(result, naming, cache)
    if cache.fresh:
        store.save_digests(cache.fresh)
    t["hash"] = time.perf_counter() - t1
    t2 = time.perf_counter()
    observed = observe(engine, store.install_id, desired)
    t["observe"] = time.perf_counter() - t2
    recorded = store.recorded()
    the_plan = plan(desired, observed, recorded, PlanOptions(pull=settings.pull))
    return result, desired, observed, recorded, the_plan, t


def apply_recorded(
    the_plan: Plan,
    desired: DesiredState,
    observed: ObservedState,
    *,
    settings: Settings,
    store: Store,
    engine: Engine,
    command: str,
    on_event: Callable[[str, StepOutcome], None] = lambda kind, outcome: None,
    on_switch: SwitchHook | None = None,
) -> ApplyResult:
    """Apply a plan and record it as one run with per-step outcomes (reconcile, watch and
    `ace run` all go through here)."""
    run_id = store.begin_run(command, the_plan.render())
    applied = apply_plan(
        the_plan, desired, observed, engine=engine, recorder=store,
        naming=Naming(store.install_id, str(settings.state_dir)),
        options=ApplyOptions(parallel=settings.parallel, health_timeout=settings.health_timeout,
                             on_switch=on_switch),
        on_event=on_event,
    )
    outcome: RunOutcome = "ok" if applied.ok else ("partial" if applied.changed else "failed")
    store.finish_run(run_id, outcome, [
        StoredOutcome.of(o.step, o.outcome, o.message, o.seconds) for o in applied.outcomes
    ])
    return applied


def run_pass(
    settings: Settings,
    store: Store,
    engine: Engine,
    *,
    dry_run: bool = False,
    command: str = "reconcile",
    evaluation: EvalResult | None = None,
    on_event: Callable[[str, StepOutcome], None] = lambda kind, outcome: None,
) -> PassResult:
    cycle = uuid.uuid4().hex[:8]
    bound = log.bind(cycle=cycle)
    start = time.perf_counter()
    result, desired, observed, recorded, the_plan, timings = prepare(
        settings, store, engine, evaluation=evaluation
    )
    for err in result.errors:
        bound.warning("app_error", app=err.app, file=err.file, line=err.line, error=err.message)
    for w in result.warnings:
        bound.warning("app_warning", app=w.app, file=w.file, line=w.line, warning=w.message)
    bound.info("plan_computed", steps=len(the_plan.steps), noops=len(the_plan.noops))
    applied: ApplyResult | None = None
    adopted: tuple[str, ...] = ()
    if not dry_run:
        adopted = adopt(desired, observed, recorded, store)
        if the_plan.steps:
            applied = apply_recorded(the_plan, desired, observed, settings=settings, store=store,
                                     engine=engine, command=command, on_event=on_event)
    seconds = time.perf_counter() - start
    bound.info("pass_finished", seconds=round(seconds, 3), dry_run=dry_run)
    return PassResult(cycle, result, desired, observed, recorded, the_plan, applied, adopted,
                      seconds, timings)
