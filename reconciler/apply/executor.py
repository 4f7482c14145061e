"""Apply a plan: run its steps against the engine and record results. No decisions are made here
beyond the order the plan gives; failures are values (StepOutcome), never exceptions that stop
other apps. Replacing a service is zero-downtime: new container, health check, then old one out.
An image the engine will not remove because a container uses it is kept: that step is done.
"""

from __future__ import annotations

import contextvars
import os
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

from apps.errors import EngineError
from reconciler.apply.health import wait_healthy
from reconciler.apply.mounts import app_mounts
from reconciler.apply.network import aliases, join, retire
from reconciler.apply.record import Recorder, recorded_app
from reconciler.core.desired import Naming
from reconciler.core.types import (
    LABEL_APP,
    LABEL_APPS_FILE,
    LABEL_HEALTH,
    LABEL_INSTALL,
    LABEL_MANAGED,
    LABEL_PORT,
    LABEL_SCHEME,
    LABEL_VERSION,
    DesiredApp,
    DesiredState,
    ObservedContainer,
    ObservedState,
    Plan,
    Step,
)
from reconciler.driver.ports import Engine, ImageInUse, VolumeMount
from reconciler.logs import get_logger

__all__ = [
    "BUILDS_AT_ONCE",
    "DEFAULT_PARALLEL",
    "ApplyOptions",
    "ApplyResult",
    "HoldHook",
    "OutputHook",
    "StepOutcome",
    "SwitchHook",
    "apply_plan",
]

log = get_logger("ace.apply")
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


class StepFailed(Exception):
    pass


_EXITED = re.compile(r"Exited \((-?\d+)\)")
_CRASH_LOG_LINES = 10


@dataclass
class _Done:
    url: str = ""
    note: str = ""  # the message of a step that succeeded by leaving things as they are
    exit_code: str = ""
    logs: str = ""
    ran_for: float | None = None
    failed_step: str = ""
    where: str = ""


@dataclass
class _Context:
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


def _labels(naming: Naming, app: DesiredApp) -> dict[str, str]:
    return {
        LABEL_MANAGED: "1",
        LABEL_INSTALL: naming.install,
        LABEL_APP: app.path,
        LABEL_VERSION: app.version,
        LABEL_PORT: str(app.spec.port),
        LABEL_SCHEME: app.scheme,
        LABEL_HEALTH: app.health,
        **({LABEL_APPS_FILE: naming.apps_file} if naming.apps_file else {}),
    }


def _mounts(ctx: _Context, app: DesiredApp) -> list[VolumeMount]:
    return app_mounts(ctx.engine, ctx.naming.install, app)


def _exited_at_start(ctx: _Context, c: ObservedContainer, now: ObservedContainer | None,
                     done: _Done | None) -> StepFailed:
    """The failure of a container that stopped before it served (a crash): its exit status and
    last log lines (never a bare "published no port")."""
    status = "it was removed" if now is None else (now.status or now.state)
    try:
        tail = ctx.engine.logs(c.id, tail=_CRASH_LOG_LINES).rstrip() if now else ""
    except EngineError:
        tail = ""
    if done is not None and now is not None:
        m = _EXITED.search(now.status)
        done.exit_code, done.logs = (m.group(1) if m else ""), tail
    return StepFailed(f"container {c.name} exited at start: {status}"
                      + (f"\nlast log lines:\n{tail}" if tail else ""))


def _stopping(ctx: _Context) -> bool:
    return ctx.options.stop is not None and ctx.options.stop.is_set()


def _cancel(ctx: _Context) -> dict[str, Any]:
    """A health wait's `sleep` and `cancelled` when ace may be asked to stop meanwhile."""
    stop = ctx.options.stop
    return {} if stop is None else {"sleep": stop.wait, "cancelled": stop.is_set}


def _healthy_or_fail(ctx: _Context, app: DesiredApp, c: ObservedContainer,
                     done: _Done | None = None) -> ObservedContainer:
    """Wait until `c` answers its health check (every task of a cluster service); returns it
    as last seen. A container that exits first is a crash (its exit code and logs in `done`)."""
    if c.replicas:
        return _tasks_healthy_or_fail(ctx, app, c)

    def exited() -> str | None:
        now = ctx.engine.inspect(c.id)
        if now is None:
            return "container removed"
        return None if now.state == "running" else (now.status or now.state)

    def failed(where: str, detail: str) -> StepFailed:
        tail = ctx.engine.logs(c.id, tail=20).rstrip()
        return StepFailed(f"health check {where} failed: {detail}"
                          + (f"\nlast log lines:\n{tail}" if tail else ""))

    if c.host_port is None:  # it exited before the engine showed a port: a crash
        now = ctx.engine.inspect(c.id)
        if now is None or now.state != "running":
            raise _exited_at_start(ctx, c, now, done)
        raise StepFailed(f"container {c.name} published no port for {app.spec.port}")
    result = wait_healthy(scheme=app.scheme, port=c.host_port, path=app.health,
                          deadline_s=ctx.options.health_timeout, exited=exited,
                          **_cancel(ctx))
    if not result.ok:
        raise failed(f"{app.scheme}://127.0.0.1:{c.host_port}{app.health}", result.detail)
    return c


def _tasks_healthy_or_fail(ctx: _Context, app: DesiredApp, c: ObservedContainer
                           ) -> ObservedContainer:
    from reconciler.apply.replicas import wait_tasks_healthy  # cluster services only

    result, seen = wait_tasks_healthy(inspect=lambda: ctx.engine.inspect(c.id),
                                      replicas=c.replicas, scheme=app.scheme, path=app.health,
                                      deadline_s=ctx.options.health_timeout, **_cancel(ctx))
    if not result.ok or seen is None:
        try:
            tail = ctx.engine.logs(c.id, tail=20).rstrip()
        except EngineError:
            tail = ""
        raise StepFailed(f"health check {app.scheme}://<task>{app.health} of service {c.name} "
                         f"failed: {result.detail}" + (f"\nlast log lines:\n{tail}" if tail
                                                       else ""))
    return seen


def _url(app: DesiredApp, c: ObservedContainer) -> str:
    """Where the app answers: its container's loopback port, or its first task."""
    if c.replicas:
        tasks = c.running_tasks
        return f"{app.scheme}://{tasks[0].address}" if tasks else ""
    return f"{app.scheme}://127.0.0.1:{c.host_port}" if c.host_port else ""


def _record_running(ctx: _Context, app: DesiredApp, c: ObservedContainer) -> None:
    ctx.record(ctx.recorder.record_container, app=app.path, name=c.name, container_id=c.id,
               version=app.version, host_port=c.host_port, state="running", health="healthy")
    ctx.record(ctx.recorder.record_applied, app=recorded_app(app, c.id))


def _launch(ctx: _Context, app: DesiredApp, done: _Done | None = None,
            replacing: ObservedContainer | None = None) -> ObservedContainer:
    """Start a container of the desired version and wait for health; remove it on failure.
    A running container of the same version being replaced keeps its name until it stops:
    the new one takes a suffixed name (containers are known by their labels, not names)."""
    name = ctx.naming.container_name(app.path, app.version)
    if replacing is not None and replacing.name == name and replacing.state == "running":
        name = f"{name}-{os.urandom(3).hex()}"
    leftover = ctx.by_name.get(name)
    if leftover is not None:  # same version, not running: the planner would restart it
        ctx.engine.stop_and_remove(leftover.id, timeout=ctx.options.stop_timeout)
    c = ctx.engine.run_container(
        name=name, image=app.image, port=app.spec.port, command=app.spec.command,
        env=dict(app.spec.env), mounts=_mounts(ctx, app), labels=_labels(ctx.naming, app),
        cpus=app.spec.cpus, memory=app.spec.memory, entrypoint=app.spec.entrypoint,
        workdir=app.spec.workdir, replicas=app.replicas, network=ctx.network,
        aliases=aliases(ctx.network, app),
    )
    try:
        return _healthy_or_fail(ctx, app, c, done)
    except BaseException:  # never served: when ace is stopping, it is killed, not waited for
        ctx.engine.stop_and_remove(c.id, timeout=0 if _stopping(ctx) else ctx.options.stop_timeout)
        raise


def _switch(ctx: _Context, app: DesiredApp, new: ObservedContainer,
            old: ObservedContainer | None) -> None:
    """Tell `on_switch` (a proxy) that `new` serves the app now; errors there never fail the
    step (the proxy also learns from the next pass)."""
    if ctx.options.on_switch is None or not _url(app, new):
        return
    old_url = (_url(app, old) or None) if old else None
    # a cluster service: every task's "node-ip:port", comma-separated (the proxy spreads
    # requests over them); one container: its address on the container network
    address = ",".join(t.address for t in new.running_tasks) if new.replicas else new.address
    try:
        ctx.options.on_switch(app.path, _url(app, new), old_url, address)
    except Exception as exc:  # a hook must not break the apply
        log.warning("switch_hook_failed", app=app.path, error=str(exc))


def _replace(ctx: _Context, app: DesiredApp, old: ObservedContainer | None,
             done: _Done) -> None:
    """Zero-downtime: a new container, healthy, switched to; then the old one out."""
    c = _launch(ctx, app, done, old)
    _switch(ctx, app, c, old)
    if old is not None:
        retire(ctx.engine, ctx.network, old, ctx.options.stop_timeout)
        ctx.record(ctx.recorder.forget_container, container_id=old.id)
    _record_running(ctx, app, c)
    done.url = _url(app, c)


def _restart_in_place(ctx: _Context, app: DesiredApp, c: ObservedContainer,
                      done: _Done) -> None:
    """Restart a running container (dev mode, reload=restart) with the app's new requests held
    at the proxy meanwhile; if it does not come back healthy, recreate it (as OpenRun does)."""
    hold = ctx.options.on_hold
    if hold is not None:
        hold(app.path, True)
    try:
        try:
            join(ctx.engine, ctx.network, app, c)
            again = ctx.engine.restart(c.id, timeout=ctx.options.stop_timeout)
            again = _healthy_or_fail(ctx, app, again, done)
        except (StepFailed, EngineError) as exc:
            log.warning("restart_failed_recreating", app=app.path, error=str(exc))
            now = ctx.engine.inspect(c.id)
            _replace(ctx, app, now, done)
            return
        _switch(ctx, app, again, None)
        _record_running(ctx, app, again)
        done.url = _url(app, again)
    finally:
        if hold is not None:
            hold(app.path, False)


def _crashed(ctx: _Context, c: ObservedContainer | None, done: _Done) -> None:
    """Keep the exit code and last log lines of a container that stopped by itself."""
    if c is None or c.state in ("running", "created", "paused", "restarting"):
        return
    m = _EXITED.search(c.status)
    done.exit_code = m.group(1) if m else ""
    try:
        done.logs = ctx.engine.logs(c.id, tail=_CRASH_LOG_LINES)
        seen = ctx.engine.inspect(c.id)
    except EngineError:
        return
    if seen is not None and seen.started_at and seen.finished_at:
        # a process that exits at once may be stamped finished a hair before started
        done.ran_for = max(0.0, seen.finished_at - seen.started_at)


def _run_step(ctx: _Context, step: Step, done: _Done) -> None:
    """Execute one step; `done` receives the URL of a started service and crash details."""
    app = ctx.desired.get(step.app)
    if step.action == "build":
        from reconciler.apply.building import build_image  # loaded for builds only
        from reconciler.driver.buildfail import BuildFailed

        assert app is not None and app.build is not None
        try:
            with ctx.builds:
                image_id = build_image(ctx.engine, ctx.naming.install, app, step.cause,
                                       ctx.options.on_output)
        except BuildFailed as exc:
            f = exc.failure
            done.exit_code, done.logs = f.exit_code, "\n".join(f.output)
            done.failed_step, done.where = f.step, f.where
            raise
        ctx.record(ctx.recorder.record_image, app=app.path, tag=app.image, image_id=image_id,
                   input_hash=app.build.input_hash, files=app.build.files)
        return
    if step.action == "pull":
        with ctx.builds:
            ctx.engine.pull(step.target)
        return
    if step.action in ("start", "replace"):
        assert app is not None
        old = ctx.by_name.get(step.target) if step.action == "replace" else None
        _crashed(ctx, old, done)
        _replace(ctx, app, old, done)
        return
    if step.action in ("restart", "scale"):
        assert app is not None
        before = ctx.by_name[step.target]
        if step.action == "scale":
            c = _healthy_or_fail(ctx, app, ctx.engine.scale(before.id, app.replicas))
        elif before.state == "running":
            _restart_in_place(ctx, app, before, done)
            return
        else:
            _crashed(ctx, before, done)
            try:
                join(ctx.engine, ctx.network, app, before)
                c = ctx.engine.start(before.id)
            except EngineError as exc:
                if exc.retryable:  # the engine is down: nothing to recreate against
                    raise
                # it cannot start again (a port taken meanwhile, a leftover of a killed
                # run...): the same version afresh, so one pass converges (_launch removes it
                # by name and returns it healthy; a cluster service's name has a nonce, so
                # the refused one is removed here)
                log.warning("restart_refused", app=app.path, container=before.name,
                            error=str(exc))
                c = _launch(ctx, app, done)
                if c.name != before.name:
                    ctx.engine.stop_and_remove(before.id, timeout=ctx.options.stop_timeout)
                    ctx.record(ctx.recorder.forget_container, container_id=before.id)
            else:
                c = _healthy_or_fail(ctx, app, c, done)
        _switch(ctx, app, c, None)
        _record_running(ctx, app, c)
        done.url = _url(app, c)
        return
    if step.action == "remove_image":
        try:
            ctx.engine.remove_image(step.target)
        except ImageInUse as exc:  # a container the pass did not see (`ace run`, not ace's)
            log.warning("image_kept", app=step.app, image=step.target, reason=str(exc))
            done.note = "kept: a container uses it"
            return
        ctx.record(ctx.recorder.forget_image, app=step.app, tag=step.target)
        return
    if step.action == "network":
        ctx.engine.ensure_network(step.target, {LABEL_MANAGED: "1",
                                                LABEL_INSTALL: ctx.naming.install})
        return
    if step.action == "connect":
        assert app is not None
        ctx.engine.connect(ctx.by_name[step.target].id, ctx.network, aliases(ctx.network, app))
        return
    if step.action == "sleep":
        ctx.engine.stop(ctx.by_name[step.target].id, timeout=ctx.options.stop_timeout)
        return
    if step.action in ("stop", "remove"):
        c = ctx.by_name[step.target]
        ctx.engine.stop_and_remove(c.id, timeout=ctx.options.stop_timeout)
        ctx.record(ctx.recorder.forget_container, container_id=c.id)
        if step.app not in ctx.declared or (app is not None and not app.service):
            ctx.record(ctx.recorder.forget_app, app=step.app)
        return
    raise StepFailed(f"unknown action {step.action}")


def _run_group(ctx: _Context, steps: list[Step],
               before: dict[str, Outcome] | None = None) -> list[StepOutcome]:
    """Run one app's steps in order; `before` holds the outcomes of the installation's steps
    (the app network), which ran first."""
    done: dict[str, Outcome] = dict(before or {})
    out: list[StepOutcome] = []
    for step in steps:
        slog = log.bind(step=step.id, action=step.action, app=step.app, cause=step.cause)
        bad = [d for d in step.depends_on if done.get(d, "done") != "done"]
        if bad or _stopping(ctx):
            why = f"{bad[0]} did not succeed" if bad else "ace is stopping"
            res = StepOutcome(step, "skipped", f"skipped: {why}")
            slog.info("step_skipped", reason=res.message)
        else:
            ctx.on_event("start", StepOutcome(step, "skipped"))
            slog.info("step_started")
            t0 = time.monotonic()
            done_ = _Done()
            try:
                _run_step(ctx, step, done_)
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


def _alone(ctx: _Context, group: list[Step], before: dict[str, Outcome]) -> list[StepOutcome]:
    """One app's steps on a worker thread, as the pool runs them (the caller's context bound;
    an interrupted caller leaves the step to finish, as a pool's shutdown would)."""
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
    worker.join()
    if failed:
        raise failed[0]
    return done[0]


def apply_plan(
    plan: Plan,
    desired: DesiredState,
    observed: ObservedState,
    *,
    engine: Engine,
    recorder: Recorder,
    naming: Naming,
    options: ApplyOptions = ApplyOptions(),
    on_event: Callable[[str, StepOutcome], None] = lambda kind, outcome: None,
) -> ApplyResult:
    """Run the plan: the installation's steps (app "": the app network) first, then apps in
    parallel (bounded by options.parallel; builds and pulls by BUILDS_AT_ONCE too), steps of
    an app in order."""
    ctx = _Context(engine, recorder, naming, {a.path: a for a in desired.apps},
                   desired.declared, desired.network, {c.name: c for c in observed.containers},
                   options, on_event)
    groups: dict[str, list[Step]] = {}
    for step in plan.steps:
        groups.setdefault(step.app, []).append(step)
    if not groups:
        return ApplyResult(())
    first = _run_group(ctx, groups.pop("", []))
    before = {o.step.id: o.outcome for o in first}
    if len(groups) == 1:  # one app: one thread of its own, no pool to load
        results = [first, _alone(ctx, next(iter(groups.values())), before)]
    else:
        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(max_workers=max(1, options.parallel)) as pool:
            # each app's steps log with the caller's bound context (the pass's cycle id)
            runs = [pool.submit(contextvars.copy_context().run, _run_group, ctx, g, before)
                    for g in groups.values()]
            results = [first, *(r.result() for r in runs)]
    order = {s.id: i for i, s in enumerate(plan.steps)}
    outcomes = sorted((o for r in results for o in r), key=lambda o: order[o.step.id])
    return ApplyResult(tuple(outcomes))


