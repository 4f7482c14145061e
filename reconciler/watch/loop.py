"""`ace watch`: the reconcile pass, run again whenever something may have changed.

Triggers: a burst of relevant file changes (coalesced), and a resync timer. Each pass is the
ordinary one (`run_pass`) given the incremental evaluation, the loop's health marks, and a
`select` that holds back the retry steps of apps still backing off. Events never say what to do,
only when to look.

- The state lock is held only during a pass; `ace reconcile` meanwhile waits for it.
- Health: on each resync tick running services are probed; after `unhealthy_after` failures in
  a row, the container is handed to the planner marked unhealthy and the planner replaces it.
- Engine outages: said once, retried with backoff (capped), reconciled when it answers again.
- Idle apps (`--idle-shutdown`, `--lazy`; `sleeper`): the loop hands the planner the apps to
  keep asleep; a request for one (the proxy calls `request_wake`) wakes the loop, whose next
  pass starts it.
"""

from __future__ import annotations

import os
import threading
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace

from apps.errors import AceError, EngineError, StateError
from apps.incremental import EvalMemory, evaluate_incremental
from apps.model import EvalError, EvalResult
from reconciler.apply.executor import ApplyResult, HoldHook, StepOutcome, SwitchHook
from reconciler.apply.health import probe_services
from reconciler.apply.observe import observe
from reconciler.apply.pipeline import PassResult, Prepared, Settings, run_pass
from reconciler.core.types import DesiredState, ObservedState, Plan
from reconciler.driver.ports import Engine
from reconciler.logs import get_logger
from reconciler.watch.backoff import (
    Attempts,
    Backoff,
    Probe,
    desired_key,
    hold_back,
    record_attempts,
    record_probes,
    settle,
    unhealthy_marks,
)
from reconciler.watch.files import FileWatcher, WatchSet, dev_touched
from reconciler.watch.reporter import Reporter, Row, build_rows
from reconciler.watch.sleeper import Sleeper, SleepOptions, running_apps
from state import StateLock, Store

__all__ = ["Watch", "WatchOptions"]

log = get_logger("ace.watch")


@dataclass(frozen=True, slots=True)
class WatchOptions:
    resync: float = 5.0  # seconds between level-triggered passes without events
    unhealthy_after: int = 3  # failed probes in a row before a replace
    backoff: Backoff = field(default_factory=Backoff)
    engine_retry_cap: float = 8.0
    down_on_exit: bool = False
    step_ms: int = 60  # quiet time that ends a burst of file changes
    watch_files: bool = True  # False: resync timer only (`ace serve`)
    # The proxy's hooks (`ace watch` / `ace serve`, see cli.loop.proxy_hooks): the executor's
    # on_switch and on_hold, and on_pass(evaluation, desired, observed, app errors) after
    # every pass, before the pass is reported (its rows, pass_finished): a client that saw the
    # report finds the proxy routing what the pass did.
    on_switch: SwitchHook | None = None
    on_hold: HoldHook | None = None
    on_pass: Callable[[EvalResult, DesiredState, ObservedState, dict[str, str]], None] | None = None
    sleep: SleepOptions = field(default_factory=SleepOptions)  # idle shutdown, lazy start




class Watch:
    """The loop. `run()` blocks until `request_stop()` (signals, tests)."""

    def __init__(self, settings: Settings, engine: Engine, reporter: Reporter,
                 options: WatchOptions = WatchOptions(),
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.settings = settings
        self.engine = engine
        self.reporter = reporter
        self.options = options
        self.clock = clock
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._paths: list[str] = []
        self._paths_lock = threading.Lock()
        self.memory = EvalMemory(str(settings.apps_file), dev_apps=settings.dev_apps)
        self._touched: frozenset[str] = frozenset()
        self.attempts: dict[str, Attempts] = {}
        self.probes: dict[str, Probe] = {}
        self.health: dict[str, str] = {}
        self.changes: dict[str, str] = {}
        self.builds: dict[str, tuple[str, StepOutcome]] = {}  # app -> (key, its failed build)
        self.passes = 0
        self.in_pass = False
        self._errors: tuple[EvalError, ...] = ()
        self._desired_errors: tuple[EvalError, ...] = ()  # network alias collisions
        self._warnings: tuple[EvalError, ...] = ()
        self._pass_warnings: tuple[EvalError, ...] = ()  # found by the pass (special files)
        self._last: tuple[DesiredState, ObservedState] | None = None
        self._down_since: float | None = None
        self._engine_fails = 0
        self._watcher = FileWatcher(self._on_files, step_ms=options.step_ms)
        self.sleeper = Sleeper(options.sleep, clock)

    # -- triggers ---------------------------------------------------------------------------

    def _marks(self) -> Mapping[str, str]:
        return unhealthy_marks(self.probes, self.options.unhealthy_after)

    def _on_files(self, paths: tuple[str, ...]) -> None:
        with self._paths_lock:
            self._paths.extend(paths)
        self._wake.set()

    def request_wake(self, app: str) -> str:
        """For the proxy (its own thread): a request waits for sleeping `app`. Returns "" when
        the next pass starts it, else why it does not (its starts failed: backing off)."""
        a = self.attempts.get(app)
        now = self.clock()
        if a is not None and a.failed and now < a.until:
            tail = " | ".join(a.logs.strip().splitlines()[-2:])
            return (f"app {app} failed to start ({a.count} tries); the next try is in "
                    f"{a.until - now:.0f} s" + (f"; last log: {tail}" if tail else ""))
        self.sleeper.ask(app)
        self._wake.set()
        return ""

    def request_stop(self) -> None:
        self._stop.set()
        self._wake.set()

    @property
    def stopping(self) -> bool:
        return self._stop.is_set()

    # -- the loop ---------------------------------------------------------------------------

    def run(self) -> None:
        with Store.open(self.settings.state_dir) as store:
            self.reporter.started(str(self.settings.apps_file), (), self.options.resync)
            due = self.clock()
            try:
                while not self._stop.is_set():
                    self._wake.wait(timeout=max(0.0, due - self.clock()))
                    if self._stop.is_set():
                        break
                    tick = self.clock() >= due
                    self._wake.clear()
                    with self._paths_lock:
                        paths, self._paths = self._paths, []
                    if paths:
                        self.reporter.files_changed(paths)
                    elif not tick and not self.sleeper.asked:
                        continue
                    if tick and self._last is not None and self._down_since is None:
                        self._probe()
                    self.in_pass = True
                    try:
                        why = "files" if paths else "resync" if tick else "wake"
                        delay = self._one_pass(store, why, paths)
                    except AceError as exc:  # e.g. the state store: say it, retry next tick
                        log.warning("pass_failed", error=str(exc))
                        delay = self.options.resync
                    finally:
                        self.in_pass = False
                    due = self.clock() + delay
            finally:
                self._watcher.stop()
                removed = self._down(store) if self.options.down_on_exit else []
                self.reporter.stopped("signal" if self._stop.is_set() else "error", removed)

    def _probe(self) -> None:
        assert self._last is not None
        desired = self._last[0]
        versions = {a.path: a.version for a in desired.apps}
        results = {app: (p.container, p.ok, p.detail)  # the desired version's container only
                   for app, p in probe_services(*self._last).items()
                   if p.version == versions[app]}
        self.probes = record_probes(self.probes, results)
        self.health = {app: "healthy" if ok else f"unhealthy: {detail}"
                       for app, (_, ok, detail) in results.items()}
        keys = {a.path: desired_key(a) for a in self._last[0].apps}
        healthy = [app for app, (_, ok, _) in results.items() if ok]
        self.attempts = settle(self.attempts, healthy, keys, self.clock(), self.options.backoff)

    def _lock(self) -> StateLock | None:
        lock = StateLock(self.settings.state_dir, command="ace watch")
        told = False
        while not self._stop.is_set():
            try:
                return lock.acquire(0.5)
            except StateError:
                if not told:
                    self.reporter.lock_busy(lock.holder())
                    told = True
        return None

    def _one_pass(self, store: Store, reason: str, paths: Sequence[str] = ()) -> float:
        """Run one pass; returns the seconds until the next timed one. `paths` changed since
        the last pass: dev apps whose mounted source they touch reload (until a pass ran)."""
        cycle = uuid.uuid4().hex[:8]
        evaluated = evaluate_incremental(self.memory, deadline=self.settings.deadline)
        self.memory = evaluated.memory
        self._touched |= dev_touched(evaluated.result.apps, paths)
        self.reporter.pass_started(cycle, reason, evaluated.reevaluated)
        errors = evaluated.result.errors
        if errors != self._errors:
            self.reporter.app_errors([e for e in errors if e not in self._errors])
            self._errors = errors
        warnings = evaluated.result.warnings
        if warnings != self._warnings:  # like errors: each is told once, not on every pass
            self.reporter.app_warnings([w for w in warnings if w not in self._warnings])
            self._warnings = warnings
        if self._last is None and self.options.watch_files:  # no pass yet (engine down?):
            self._watcher.update(self._watch_set(DesiredState(())))  # watch the app files
        lock = self._lock()
        if lock is None:
            return 0.0
        start = self.clock()
        held: tuple[str, ...] = ()

        def select(prepared: Prepared) -> Plan:
            nonlocal held
            keys = {a.path: desired_key(a) for a in prepared.desired.apps}
            kept, held = hold_back(prepared.plan, self.attempts, keys, self.clock())
            return kept

        def running() -> frozenset[str]:
            last = self._last[1] if self._last is not None else observe(self.engine,
                                                                        store.install_id)
            return running_apps(last)

        try:
            idle, wake = self.sleeper.before_pass(store, evaluated.result.apps, running)
            res = run_pass(self.settings, store, self.engine, reason=reason, command="watch",
                           cycle=cycle, evaluation=evaluated.result, marks=self._marks(),
                           touched=self._touched, select=select, on_event=self._on_step,
                           on_switch=self.options.on_switch, on_hold=self.options.on_hold,
                           idle=idle, wake=wake, stop=self._stop, log_finished=False)
            self._touched = frozenset()
            if res.applied is not None and not res.applied.ok:
                self.engine.ping()  # an outage mid-apply is an outage, not a crash loop
        except EngineError as exc:
            return self._engine_down(str(exc))
        finally:
            lock.release()
        self.passes += 1
        found = tuple(w for w in res.evaluation.warnings if w not in warnings)
        if found != self._pass_warnings:  # told once each, like evaluation warnings
            self.reporter.app_warnings([w for w in found if w not in self._pass_warnings])
            self._pass_warnings = found
        if self._down_since is not None:
            self.reporter.engine_back(self.clock() - self._down_since)
            self._down_since, self._engine_fails = None, 0
        desired, observed = res.prepared.desired, res.prepared.observed
        if res.changed:  # show what runs now, not before
            observed = observe(self.engine, store.install_id, desired)
        self._last = (desired, observed)
        self._report_desired_errors(desired)
        shown = self._after_wake(store, res, observed)
        errs, rows = self._after(res, observed, held, shown)
        for app in self.sleeper.started_now:  # a start a request asked for is no crash retry
            self.attempts.pop(app, None)
        if self.options.watch_files:  # watching before the proxy serves what this pass did
            self._watcher.update(self._watch_set(desired))
        if self.options.on_pass is not None:  # the proxy routes what the pass did first
            self.options.on_pass(evaluated.result, desired, observed, errs)
        self.reporter.rows(rows)
        self.reporter.pass_finished(cycle, self.clock() - start, len(res.outcomes), held)
        return self._next_delay()

    def _report_desired_errors(self, desired: DesiredState) -> None:
        """Errors the desired state adds (network alias collisions), told once each."""
        if desired.errors != self._desired_errors:
            self.reporter.app_errors([e for e in desired.errors
                                      if e not in self._desired_errors])
            self._desired_errors = desired.errors

    def _after_wake(self, store: Store, res: PassResult, observed: ObservedState
                    ) -> DesiredState:
        """Book the apps this pass woke; returns the desired state to show (an app whose
        start failed is asleep again; the proxy still gets the pass's, which ends the wait of
        its requests)."""
        failed = {o.step.app: o.message for o in res.outcomes if o.outcome == "failed"}
        self.sleeper.after_pass(store, running_apps(observed), failed)
        desired = res.prepared.desired
        idle = tuple(sorted(self.sleeper.idle.items()))
        return desired if idle == desired.idle else replace(desired, idle=idle)

    def _next_delay(self) -> float:
        """The resync period, or sooner when the backoff of any app ends: its retry comes on
        its own timer, whether or not this pass held a step of it back."""
        now = self.clock()
        ends = [a.until - now for a in self.attempts.values() if a.until > now]
        return max(0.05, min([self.options.resync, *ends]))

    def _on_step(self, kind: str, o: StepOutcome) -> None:
        if kind != "end" or o.outcome == "skipped":
            return
        self.reporter.step(o)
        if o.outcome == "done" and o.step.action not in ("build", "pull", "remove_image"):
            self.changes[o.step.app] = f"{time.strftime('%H:%M:%S')} {o.step.action}: " \
                                       f"{o.step.cause}"

    def _after(self, res: PassResult, observed: ObservedState, held: tuple[str, ...],
               shown: DesiredState | None = None) -> tuple[dict[str, str], tuple[Row, ...]]:
        """Book-keeping after a pass; returns each app's error (evaluation or failed step) and
        the table's rows (reported once the proxy follows the pass). `shown`: the desired
        state the table shows (default: the pass's)."""
        desired, applied = res.prepared.desired, res.applied
        keys = {a.path: desired_key(a) for a in desired.apps}
        now = self.clock()
        builds = self._builds(applied, keys)
        if applied is not None:
            before = self.attempts
            self.attempts = record_attempts(before, applied.outcomes, keys, now,
                                            self.options.backoff)
            for app, a in self.attempts.items():
                if a is not before.get(app) and a.crash_looping \
                        and app not in builds:  # a failed build is not a crash loop
                    self.reporter.crash_loop(a, a.until - now)
        self.attempts = {app: a for app, a in settle(self.attempts, (), keys, now,
                                                     self.options.backoff).items()
                         if a.key == keys.get(app)}  # a new save starts afresh
        errs = {e.app: f"{e.where}: {e.message}" for e in self._errors + self._desired_errors}
        for o in applied.outcomes if applied else ():
            if o.outcome == "failed":
                errs.setdefault(o.step.app, o.message)
        rows = build_rows(shown or desired, observed, self.health, self.attempts, self.changes,
                          errs, builds, res.prepared.recorded.stopped)
        return errs, rows

    def _builds(self, applied: ApplyResult | None, keys: Mapping[str, str]
                ) -> dict[str, StepOutcome]:
        """Apps whose build of the current version failed (the version that runs keeps
        serving); reported once per failure. Any other version (a save) clears it."""
        for o in applied.outcomes if applied else ():
            if o.step.action == "build" and o.outcome == "done":
                self.builds.pop(o.step.app, None)
            if o.step.action == "build" and o.outcome == "failed":
                prev = self.builds.get(o.step.app)
                if prev is None or (prev[0], prev[1].message) != (keys.get(o.step.app),
                                                                   o.message):
                    self.reporter.build_failed(o)
                self.builds[o.step.app] = (keys.get(o.step.app, ""), o)
        self.builds = {app: (k, o) for app, (k, o) in self.builds.items() if keys.get(app) == k}
        return {app: o for app, (_, o) in self.builds.items()}

    def _engine_down(self, error: str) -> float:
        self._engine_fails += 1
        delay = min(float(2 ** (self._engine_fails - 1)), self.options.engine_retry_cap)
        if self._down_since is None:
            self._down_since = self.clock()
            self.reporter.engine_unavailable(error, delay)
        else:
            log.debug("engine_retry", error=error, retry_in=delay)
        return delay

    def _watch_set(self, desired: DesiredState) -> WatchSet:
        contexts = [a.build.context_dir for a in desired.apps if a.build is not None]
        files = set(self.memory.watched_files())
        for a in desired.apps:  # container files outside their context
            if a.build is not None:
                files.add(a.build.containerfile)
        return WatchSet.of(files, contexts, str(self.settings.state_dir))

    def _down(self, store: Store) -> list[str]:
        from reconciler.apply.teardown import teardown

        command = "ace watch" if self.options.watch_files else "ace serve"
        lock = StateLock(self.settings.state_dir, command=f"{command} --down-on-exit")
        try:
            with lock.acquire(30.0):
                return list(teardown(self.engine, store).removed)  # the rest: logged
        except (EngineError, StateError) as exc:
            log.warning("down_on_exit_failed", error=str(exc))
            return []


def default_engine(backend: str = "docker", registry: str = "") -> Engine:
    from reconciler.driver.choose import engine_for

    return engine_for(backend, registry,
                      timeout=float(os.environ.get("ACE_ENGINE_TIMEOUT", "30")))
