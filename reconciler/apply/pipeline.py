"""One reconcile pass: evaluate -> observe -> plan -> apply. `ace reconcile`, `ace watch` and
`ace run` all call `run_pass`; nothing else decides what to do.

- `prepare` is the read half (evaluate, hash, observe, plan) that `plan`, `status` and `drift`
  stop after; it writes only changed file digests and evaluation-cache entries.
- `run_pass` adds the write half: adopt what runs unrecorded, apply the (selected) plan, record
  the run. Every log line of the pass carries one `cycle` id.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING

import apps
from apps.errors import EngineError
from apps.locate import entry_column
from apps.model import EvalError, EvalResult
from apps.preload import preload
from reconciler.apply.observe import EarlyListing, observe, with_health
from reconciler.apply.record import adopt
from reconciler.core.desired import Naming, desired_state, special_file_warnings, with_errors
from reconciler.core.gc import DEFAULT_KEEP_IMAGES, collect_images, gc_apps
from reconciler.core.hashing import DigestCache
from reconciler.core.planner import PlanOptions, PullPolicy, plan
from reconciler.core.types import DesiredState, ObservedState, Plan, RecordedState
from reconciler.driver.ports import Engine, SeesOtherInstalls
from reconciler.logs import bound, get_logger
from state import RunOutcome, Store
from state.records import Pairs

if TYPE_CHECKING:  # the executor (and the build logs) load only when a plan has steps
    import threading

    from reconciler.apply.executor import (
        ApplyResult,
        HoldHook,
        OutputHook,
        StepOutcome,
        SwitchHook,
    )

__all__ = [
    "PassResult",
    "Prepared",
    "Settings",
    "prepare",
    "run_pass",
    "state_dir_for",
]

log = get_logger("ace.pass")

# what a pass that changes something loads after the evaluation: imported while the evaluation's
# sandbox child runs (apps.preload), so a change does not wait for them afterwards
_APPLY_MODULES = ("reconciler.core.changes", "state.runs", "reconciler.apply.executor",
                  "reconciler.applogs.buildlogs", "reconciler.driver.lifecycle")


def state_dir_for(apps_file: str | Path, override: str | None = None) -> Path:
    """`--state-dir`, else env ACE_STATE_DIR, else `.ace/` beside the apps file."""
    chosen = override or os.environ.get("ACE_STATE_DIR")
    if chosen:
        return Path(chosen).resolve()
    return Path(apps_file).resolve().parent / ".ace"


@dataclass(frozen=True, slots=True)
class Settings:
    """What every command that runs a pass is configured with."""

    apps_file: Path
    state_dir: Path
    pull: PullPolicy = "missing"
    parallel: int = 16  # apps applied at once (executor.DEFAULT_PARALLEL; builds: at most 4)
    health_timeout: float = 60.0
    deadline: float = 2.0
    backend: str = "docker"  # "docker": one engine; "swarm": a cluster (DOCKER_HOST: a manager)
    registry: str = ""  # HOST[:PORT] the swarm backend pushes built images to
    dev_apps: frozenset[str] = frozenset()  # run in dev mode whatever the apps file says
    keep_images: int = DEFAULT_KEEP_IMAGES  # versions of an app's images kept (0: all)


@dataclass(frozen=True, slots=True)
class Prepared:
    """The read half of a pass: what was declared, what runs, what was recorded, and the plan
    that takes the one to the other."""

    evaluation: EvalResult
    desired: DesiredState
    observed: ObservedState
    recorded: RecordedState
    plan: Plan
    timings: Mapping[str, float] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class PassResult:
    """Everything one pass saw and did. `plan` is the whole plan; `selected` the part that was
    applied (the same unless the caller's `select` filtered it); `applied` is None when nothing
    was applied (dry run, or nothing to do)."""

    cycle: str
    reason: str
    prepared: Prepared
    selected: Plan
    applied: ApplyResult | None = None
    adopted: tuple[str, ...] = ()
    seconds: float = 0.0

    @property
    def evaluation(self) -> EvalResult:
        return self.prepared.evaluation

    @property
    def plan(self) -> Plan:
        return self.prepared.plan

    @property
    def outcomes(self) -> tuple[StepOutcome, ...]:
        return self.applied.outcomes if self.applied else ()

    @property
    def ok(self) -> bool:
        return not self.evaluation.errors and (self.applied is None or self.applied.ok)

    @property
    def changed(self) -> bool:
        return self.applied is not None and self.applied.changed


def _naming(settings: Settings, store: Store) -> Naming:
    return Naming(store.install_id, str(settings.state_dir),
                  apps_file=os.path.abspath(settings.apps_file))


def _digest_prefix(result: EvalResult) -> str:
    dirs = [a.container.build_dir for a in result.apps if a.container and a.container.build_dir]
    return os.path.commonpath(dirs) if dirs else "/"


def asleep(store: Store, state_dir: Path) -> Pairs:
    """The apps the store records asleep, while an `ace watch`/`ace serve` proxy that can wake
    them serves this state dir; none otherwise (nothing could wake them: they run)."""
    from reconciler.proxy.address import public_base

    if not public_base(state_dir):
        return ()
    return tuple((a.app, a.reason) for a in store.idle_apps())


def prepare(
    settings: Settings, store: Store, engine: Engine, *, evaluation: EvalResult | None = None,
    marks: Mapping[str, str] | None = None, touched: frozenset[str] = frozenset(),
    idle: Pairs | None = None, wake: frozenset[str] = frozenset(),
) -> Prepared:
    """Evaluate (unless given), hash, observe and plan. `marks` (container id -> "unhealthy:
    ...") are written onto the observed containers before planning; `touched` names the dev
    apps whose mounted source changed; `idle` the apps kept asleep, with why (default:
    `asleep`), `wake` those a request waits for. Special files found in build contexts (dev
    apps' too) are added to the evaluation's warnings. Writes only changed file digests and
    evaluation-cache entries."""
    t: dict[str, float] = {}
    t0 = time.perf_counter()
    result = evaluation
    early = None
    if result is None:  # evaluating takes a while: the listing overlaps it
        early = EarlyListing(engine, store.install_id)
        with preload(*_APPLY_MODULES):
            result, update = apps.evaluate_cached(
                settings.apps_file, store.eval_cache(), deadline=settings.deadline,
                dev_apps=settings.dev_apps,
            )
        store.save_eval_cache(update.save, drop=update.drop)
    t["evaluate"] = time.perf_counter() - t0
    naming = _naming(settings, store)
    t1 = time.perf_counter()
    cache = DigestCache(known=store.digest_cache(_digest_prefix(result)))
    # a cluster's services get no app network (yet): no aliases to collide either
    desired = desired_state(result, naming, cache, network=settings.backend == "docker")
    result = with_errors(result, desired.errors)
    if idle is None:
        idle = asleep(store, settings.state_dir)
    if touched or idle or wake:
        desired = replace(desired, touched=touched, idle=idle, wake=wake)
    if cache.fresh:
        store.save_digests(cache.fresh)
    special = special_file_warnings(desired)
    if special:
        result = replace(result, warnings=result.warnings + special)
    t["hash"] = time.perf_counter() - t1
    t2 = time.perf_counter()
    observed = with_health(observe(engine, store.install_id, desired, early), marks or {})
    t["observe"] = time.perf_counter() - t2
    recorded = store.recorded()
    options = PlanOptions(pull=settings.pull)
    the_plan = plan(desired, observed, recorded, options)
    if observed.networks is None and any(s.action == "network" for s in the_plan.steps):
        # a step needs the app network and no running container shows it: look (one call)
        observed = replace(observed, networks=engine.list_networks(store.install_id))
        the_plan = plan(desired, observed, recorded, options)
    elsewhere = _run_elsewhere(result, the_plan, engine, naming)
    if elsewhere:
        result = replace(result, warnings=result.warnings + elsewhere)
    collect = gc_apps(the_plan, desired, settings.keep_images)
    if collect:  # a build or replace: list those apps' images (never on a no-op pass)
        images = engine.list_images([naming.image_repo(a) for a in collect])
        the_plan = collect_images(the_plan, desired, observed, images,
                                  {a: store.images_for(a) for a in collect}, naming,
                                  settings.keep_images)
    return Prepared(result, desired, observed, recorded, the_plan, t)


def _run_elsewhere(result: EvalResult, the_plan: Plan, engine: Engine, naming: Naming
                   ) -> tuple[EvalError, ...]:
    """A warning for each app the plan starts that another ace installation (another state
    dir) already runs from the same apps file. One extra listing, only when the plan starts
    something."""
    starting = {s.app for s in the_plan.steps if s.action == "start"}
    if not starting or not isinstance(engine, SeesOtherInstalls):
        return ()
    try:
        others = engine.running_elsewhere(naming.install, naming.apps_file)
    except EngineError:  # only a warning: the pass itself goes on
        return ()
    entries = {a.path: a.entry for a in result.apps}
    out: dict[str, EvalError] = {}
    for c in others:
        if c.app in starting and c.app in entries and c.app not in out:
            e = entries[c.app]
            out[c.app] = EvalError(
                c.app, e.file, e.line, entry_column(e),
                f"another ace installation (another state dir) already runs app {c.app} of "
                f"this apps file: container {c.name}; starting it here runs a second copy. "
                "Manage an apps file from one state dir (--state-dir), or `ace down` in the "
                "other",
            )
    return tuple(out.values())


def _apply(prepared: Prepared, selected: Plan, *, settings: Settings, store: Store,
           engine: Engine, command: str, on_event: Callable[[str, StepOutcome], None],
           on_switch: SwitchHook | None, on_hold: HoldHook | None,
           on_output: OutputHook | None, stop: threading.Event | None) -> ApplyResult:
    """Apply a plan and record it as one run with per-step outcomes; builds' output goes to
    the build log files (and `on_output`) as it comes."""
    run_id = store.begin_run(command, selected.render())
    from reconciler.applogs.buildlogs import BuildLogWriter
    from reconciler.apply.executor import ApplyOptions, ApplyResult, Interrupted, apply_plan
    from state.runs import StepOutcome as StoredOutcome

    logs = BuildLogWriter(settings.state_dir)

    def output(app: str, line: str) -> None:
        logs(app, line)
        if on_output is not None:
            on_output(app, line)

    def finish(applied: ApplyResult) -> ApplyResult:
        outcome: RunOutcome = "ok" if applied.ok else ("partial" if applied.changed else "failed")
        store.finish_run(run_id, outcome, [
            StoredOutcome(o.step.id, o.step.app, o.step.action, o.step.target, o.step.cause,
                          o.outcome, o.message, o.seconds)
            for o in applied.outcomes
        ])
        return applied

    try:
        return finish(apply_plan(
            selected, prepared.desired, prepared.observed, engine=engine, recorder=store,
            naming=_naming(settings, store),
            options=ApplyOptions(parallel=settings.parallel,
                                 health_timeout=settings.health_timeout, on_switch=on_switch,
                                 on_hold=on_hold, on_output=output, stop=stop),
            on_event=on_event,
        ))
    except Interrupted as cut:  # Ctrl-C: the steps stopped; the run is recorded as it ended
        finish(ApplyResult(cut.outcomes))
        raise
    finally:
        logs.close()


def run_pass(
    settings: Settings,
    store: Store,
    engine: Engine,
    *,
    reason: str = "reconcile",
    command: str = "reconcile",
    cycle: str | None = None,
    dry_run: bool = False,
    evaluation: EvalResult | None = None,
    marks: Mapping[str, str] | None = None,
    touched: frozenset[str] = frozenset(),
    idle: Pairs | None = None,
    wake: frozenset[str] = frozenset(),
    select: Callable[[Prepared], Plan] | None = None,
    on_event: Callable[[str, StepOutcome], None] = lambda kind, outcome: None,
    on_switch: SwitchHook | None = None,
    on_hold: HoldHook | None = None,
    on_output: OutputHook | None = None,
    stop: threading.Event | None = None,
    log_finished: bool = True,
) -> PassResult:
    """The one pass body: prepare, adopt, apply what `select` keeps of the plan, record.

    - `reason` says why the pass runs ("reconcile", "files", "resync", "run"); `command` names
      the run in the store's history.
    - `evaluation`: an evaluation the caller already made (watch's incremental one, `ace run`'s
      with action runtimes); the caller then reports its errors (and those the desired state
      adds: `prepared.evaluation`). Otherwise this pass evaluates and logs each app error as
      `app_error`.
    - `select(prepared) -> Plan`: the part of the plan to apply (watch holds back apps that are
      backing off; `ace run` keeps one app's image steps). Default: all of it.
    - `dry_run`: prepare and stop (nothing adopted, applied or recorded).
    - `marks`, `touched`: what `ace watch` saw (unhealthy containers, dev sources changed).
    - `idle`, `wake`: apps kept asleep (default: as the store records them, while a loop's proxy
      can wake them) and apps a request waits for (`ace watch`/`serve` with idle shutdown or
      lazy start).
    - `on_switch`, `on_hold`: the proxy's hooks (a new container serves; hold an app's
      requests while its container restarts in place).
    - `on_output(app, line)`: each line a build prints, as it comes (the lines also go to the
      app's build log file in the state dir, which `ace logs` reads).
    - `stop`: set when ace is stopping; health gates give up (the unproven new container is
      removed, the old one kept) and steps not started are skipped.
    - `log_finished`: log `pass_finished` here. The watch loop logs it itself (one event per
      pass), once its proxy routes what the pass did.
    """
    cycle = cycle or os.urandom(4).hex()  # 8 random hex digits (uuid costs an import)
    with bound(cycle=cycle):
        start = time.perf_counter()
        prepared = prepare(settings, store, engine, evaluation=evaluation, marks=marks,
                           touched=touched, idle=idle, wake=wake)
        if evaluation is None:
            for err in prepared.evaluation.errors:
                log.warning("app_error", app=err.app, file=err.file, line=err.line,
                            column=err.column, error=err.message)
            for w in prepared.evaluation.warnings:
                log.warning("app_warning", app=w.app, file=w.file, line=w.line,
                            column=w.column, warning=w.message)
        selected = select(prepared) if select is not None else prepared.plan
        log.info("plan_computed", reason=reason, steps=len(prepared.plan.steps),
                 selected=len(selected.steps), noops=len(prepared.plan.noops))
        applied: ApplyResult | None = None
        adopted: tuple[str, ...] = ()
        if not dry_run:
            adopted = adopt(prepared.desired, prepared.observed, prepared.recorded, store)
            if selected.steps:
                applied = _apply(prepared, selected, settings=settings, store=store,
                                 engine=engine, command=command, on_event=on_event,
                                 on_switch=on_switch, on_hold=on_hold, on_output=on_output,
                                 stop=stop)
        seconds = time.perf_counter() - start
        if log_finished:
            log.info("pass_finished", seconds=round(seconds, 3),
                     steps=len(applied.outcomes) if applied else 0, dry_run=dry_run)
    return PassResult(cycle, reason, prepared, selected, applied, adopted, seconds)
