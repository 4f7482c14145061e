"""Apply a plan: run its steps against the engine and record results. No decisions are made here
beyond the order the plan gives; failures are values (StepOutcome), never exceptions that stop
other apps. Replacing a service is zero-downtime: new container, health check, then old one out.
"""

from __future__ import annotations

import contextvars
import re
import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

from apps.errors import EngineError
from reconciler.apply.health import wait_healthy
from reconciler.apply.mounts import app_mounts
from reconciler.apply.network import aliases, join, retire
from reconciler.core.desired import Naming
from reconciler.core.types import (
    LABEL_APP,
    LABEL_HEALTH,
    LABEL_INPUTS,
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
    RecordedApp,
    RecordedState,
    Step,
)
from reconciler.driver.ports import Engine, VolumeMount
from reconciler.logs import get_logger

__all__ = [
    "ApplyOptions",
    "ApplyResult",
    "HoldHook",
    "Recorder",
    "StepOutcome",
    "SwitchHook",
    "adopt",
    "apply_plan",
]

log = get_logger("ace.apply")
Outcome = Literal["done", "failed", "skipped"]


class Recorder(Protocol):
    """What the executor writes to the state store."""

    def record_image(
        self, *, app: str, tag: str, image_id: str, input_hash: str,
        files: tuple[tuple[str, str], ...],
    ) -> None: ...

    def record_container(
        self, container_id: str, *, app: str, name: str, version: str, host_port: int | None,
        state: str, health: str,
    ) -> None: ...

    def forget_container(self, container_id: str) -> None: ...

    def record_applied(self, app: RecordedApp) -> None: ...

    def forget_app(self, app: str) -> None: ...


# on_switch(app path, new container URL, previous container URL or None, new container's
# network address "ip:port" or ""): called once a new container of the app is healthy (start,
# replace, restart), before an old one is stopped; a proxy points new requests at the new
# container and returns when the old one's requests drained.
SwitchHook = Callable[[str, str, "str | None", str], None]


# on_hold(app path, held): called with True before a running container of the app restarts in
# place (dev mode) and with False once it is healthy again (or failed): a proxy holds the app's
# new requests in between instead of failing them.
HoldHook = Callable[[str, bool], None]


@dataclass(frozen=True, slots=True)
class ApplyOptions:
    parallel: int = 4
    health_timeout: float = 60.0
    stop_timeout: float = 5.0
    on_switch: SwitchHook | None = None
    on_hold: HoldHook | None = None


@dataclass(frozen=True, slots=True)
class StepOutcome:
    """How one step ended. `exit_code`/`logs` describe a container the step found exited on
    its own (a crash) before it restarted or removed it."""

    step: Step
    outcome: Outcome
    message: str = ""
    seconds: float = 0.0
    url: str = ""
    exit_code: str = ""
    logs: str = ""


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
    exit_code: str = ""
    logs: str = ""


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
    }


def _mounts(ctx: _Context, app: DesiredApp) -> list[VolumeMount]:
    return app_mounts(ctx.engine, ctx.naming.install, app)



def _healthy_or_fail(ctx: _Context, app: DesiredApp, c: ObservedContainer) -> None:
    if c.host_port is None:
        now = ctx.engine.inspect(c.id)
        if now is not None and now.state != "running":  # it exited before it was published
            tail = ctx.engine.logs(c.id, tail=20).rstrip()
            raise StepFailed(f"container {c.name} exited at once: {now.status or now.state}"
                             + (f"\nlast log lines:\n{tail}" if tail else ""))
        raise StepFailed(f"container {c.name} published no port for {app.spec.port}")

    def exited() -> str | None:
        now = ctx.engine.inspect(c.id)
        if now is None:
            return "container removed"
        return None if now.state == "running" else (now.status or now.state)

    result = wait_healthy(scheme=app.scheme, port=c.host_port, path=app.health,
                          deadline_s=ctx.options.health_timeout, exited=exited)
    if not result.ok:
        tail = ctx.engine.logs(c.id, tail=20).rstrip()
        raise StepFailed(f"health check {app.scheme}://127.0.0.1:{c.host_port}{app.health} failed: "
                         f"{result.detail}" + (f"\nlast log lines:\n{tail}" if tail else ""))


def _recorded(app: DesiredApp, container_id: str) -> RecordedApp:
    return RecordedApp(path=app.path, version=app.version, image=app.image,
                       container_id=container_id, files=app.build.files if app.build else (),
                       spec_json=app.spec_json)


def _record_running(ctx: _Context, app: DesiredApp, c: ObservedContainer) -> None:
    ctx.record(ctx.recorder.record_container, app=app.path, name=c.name, container_id=c.id,
               version=app.version, host_port=c.host_port, state="running", health="healthy")
    ctx.record(ctx.recorder.record_applied, app=_recorded(app, c.id))


def _launch(ctx: _Context, app: DesiredApp, replacing: ObservedContainer | None = None
            ) -> ObservedContainer:
    """Start a container of the desired version and wait for health; remove it on failure.
    A running container of the same version being replaced keeps its name until it stops:
    the new one takes a suffixed name (containers are known by their labels, not names)."""
    name = ctx.naming.container_name(app.path, app.version)
    if replacing is not None and replacing.name == name and replacing.state == "running":
        name = f"{name}-{uuid.uuid4().hex[:6]}"
    leftover = ctx.by_name.get(name)
    if leftover is not None:  # same version, not running: the planner would restart it
        ctx.engine.stop_and_remove(leftover.id, timeout=ctx.options.stop_timeout)
    c = ctx.engine.run_container(
        name=name, image=app.image, port=app.spec.port, command=app.spec.command,
        env=dict(app.spec.env), mounts=_mounts(ctx, app), labels=_labels(ctx.naming, app),
        cpus=app.spec.cpus, memory=app.spec.memory, entrypoint=app.spec.entrypoint,
        workdir=app.spec.workdir, network=ctx.network, aliases=aliases(ctx.network, app),
    )
    try:
        _healthy_or_fail(ctx, app, c)
    except BaseException:
        ctx.engine.stop_and_remove(c.id, timeout=ctx.options.stop_timeout)
        raise
    return c


def _switch(ctx: _Context, app: DesiredApp, new: ObservedContainer,
            old: ObservedContainer | None) -> None:
    """Tell `on_switch` (a proxy) that `new` serves the app now; errors there never fail the
    step (the proxy also learns from the next pass)."""
    if ctx.options.on_switch is None or new.host_port is None:
        return
    old_url = f"{app.scheme}://127.0.0.1:{old.host_port}" if old and old.host_port else None
    try:
        ctx.options.on_switch(app.path, f"{app.scheme}://127.0.0.1:{new.host_port}", old_url,
                              new.address)
    except Exception as exc:  # a hook must not break the apply
        log.warning("switch_hook_failed", app=app.path, error=str(exc))


def _replace(ctx: _Context, app: DesiredApp, old: ObservedContainer | None,
             done: _Done) -> None:
    """Zero-downtime: a new container, healthy, switched to; then the old one out."""
    c = _launch(ctx, app, old)
    _switch(ctx, app, c, old)
    if old is not None:
        retire(ctx.engine, ctx.network, old, ctx.options.stop_timeout)
        ctx.record(ctx.recorder.forget_container, container_id=old.id)
    _record_running(ctx, app, c)
    done.url = f"{app.scheme}://127.0.0.1:{c.host_port}"


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
            _healthy_or_fail(ctx, app, again)
        except (StepFailed, EngineError) as exc:
            log.warning("restart_failed_recreating", app=app.path, error=str(exc))
            now = ctx.engine.inspect(c.id)
            _replace(ctx, app, now, done)
            return
        _switch(ctx, app, again, None)
        _record_running(ctx, app, again)
        done.url = f"{app.scheme}://127.0.0.1:{again.host_port}"
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
    except EngineError:
        done.logs = ""


def _run_step(ctx: _Context, step: Step, done: _Done) -> None:
    """Execute one step; `done` receives the URL of a started service and crash details."""
    app = ctx.desired.get(step.app)
    if step.action == "build":
        assert app is not None and app.build is not None
        b = app.build
        labels = {LABEL_MANAGED: "1", LABEL_INSTALL: ctx.naming.install, LABEL_APP: app.path,
                  LABEL_INPUTS: b.input_hash}
        image_id = ctx.engine.build(context_dir=b.context_dir, containerfile=b.containerfile,
                                    tag=app.image, build_args=dict(b.build_args), labels=labels,
                                    target=b.target)
        ctx.record(ctx.recorder.record_image, app=app.path, tag=app.image, image_id=image_id,
                   input_hash=b.input_hash, files=b.files)
        return
    if step.action == "pull":
        ctx.engine.pull(step.target)
        return
    if step.action in ("start", "replace"):
        assert app is not None
        old = ctx.by_name.get(step.target) if step.action == "replace" else None
        _crashed(ctx, old, done)
        _replace(ctx, app, old, done)
        return
    if step.action == "restart":
        assert app is not None
        before = ctx.by_name[step.target]
        if before.state == "running":
            _restart_in_place(ctx, app, before, done)
            return
        _crashed(ctx, before, done)
        join(ctx.engine, ctx.network, app, before)
        c = ctx.engine.start(before.id)
        _healthy_or_fail(ctx, app, c)
        _switch(ctx, app, c, None)
        _record_running(ctx, app, c)
        done.url = f"{app.scheme}://127.0.0.1:{c.host_port}"
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
        if bad:
            res = StepOutcome(step, "skipped", f"skipped: {bad[0]} did not succeed")
            slog.info("step_skipped", reason=res.message)
        else:
            ctx.on_event("start", StepOutcome(step, "skipped"))
            slog.info("step_started")
            t0 = time.monotonic()
            done_ = _Done()
            try:
                _run_step(ctx, step, done_)
                res = StepOutcome(step, "done", "", time.monotonic() - t0, done_.url,
                                  done_.exit_code, done_.logs)
                slog.info("step_done", seconds=round(res.seconds, 3))
            except (StepFailed, EngineError, OSError) as exc:
                res = StepOutcome(step, "failed", str(exc), time.monotonic() - t0, "",
                                  done_.exit_code, done_.logs)
                slog.warning("step_failed", error=str(exc), seconds=round(res.seconds, 3))
        done[step.id] = res.outcome
        out.append(res)
        ctx.on_event("end", res)
    return out


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
    parallel (bounded by options.parallel), steps of an app in order."""
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
    with ThreadPoolExecutor(max_workers=max(1, options.parallel)) as pool:
        # each app's steps log with the caller's bound context (the pass's cycle id)
        runs = [pool.submit(contextvars.copy_context().run, _run_group, ctx, g, before)
                for g in groups.values()]
        results = [first, *(r.result() for r in runs)]
    order = {s.id: i for i, s in enumerate(plan.steps)}
    outcomes = sorted((o for r in results for o in r), key=lambda o: order[o.step.id])
    return ApplyResult(tuple(outcomes))


def adopt(
    desired: DesiredState, observed: ObservedState, recorded: RecordedState, recorder: Recorder
) -> tuple[str, ...]:
    """Record running containers of the desired version that the store does not know (after the
    state dir was lost, or a kill between start and record). Writes nothing when all is known."""
    adopted: list[str] = []
    for app in desired.apps:
        if not app.service or app.path in desired.held:
            continue
        rec = recorded.get(app.path)
        running = [c for c in observed.containers
                   if c.app == app.path and c.version == app.version and c.state == "running"]
        if not running:
            continue
        c = max(running, key=lambda x: x.created)
        if rec is not None and rec.version == app.version and rec.container_id == c.id:
            continue
        recorder.record_container(c.id, app=app.path, name=c.name,
                                  version=app.version, host_port=c.host_port, state=c.state,
                                  health="unknown")
        recorder.record_applied(_recorded(app, c.id))
        adopted.append(app.path)
    return tuple(adopted)
