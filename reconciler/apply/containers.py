"""Container steps: launch behind a health gate, zero-downtime replace, restart, crash details."""

from __future__ import annotations

import os
import re

from apps.errors import EngineError
from reconciler.apply.context import Context, Done, StepFailed, cancel, stopping
from reconciler.apply.health import wait_healthy
from reconciler.apply.mounts import app_mounts
from reconciler.apply.network import aliases, join, retire
from reconciler.apply.record import recorded_app
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
    ObservedContainer,
    Step,
)
from reconciler.driver.ports import VolumeMount
from reconciler.logs import get_logger

__all__ = ["crashed", "replace", "restart"]

log = get_logger("ace.apply")

_EXITED = re.compile(r"Exited \((-?\d+)\)")
_CRASH_LOG_LINES = 10


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


def _mounts(ctx: Context, app: DesiredApp) -> list[VolumeMount]:
    return app_mounts(ctx.engine, ctx.naming.install, app)


def _exited_at_start(ctx: Context, c: ObservedContainer, now: ObservedContainer | None,
                     done: Done | None) -> StepFailed:
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


def _healthy_or_fail(ctx: Context, app: DesiredApp, c: ObservedContainer,
                     done: Done | None = None) -> ObservedContainer:
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
                          **cancel(ctx))
    if not result.ok:
        raise failed(f"{app.scheme}://127.0.0.1:{c.host_port}{app.health}", result.detail)
    return c


def _tasks_healthy_or_fail(ctx: Context, app: DesiredApp, c: ObservedContainer
                           ) -> ObservedContainer:
    from reconciler.apply.replicas import wait_tasks_healthy  # cluster services only

    result, seen = wait_tasks_healthy(inspect=lambda: ctx.engine.inspect(c.id),
                                      replicas=c.replicas, scheme=app.scheme, path=app.health,
                                      deadline_s=ctx.options.health_timeout, **cancel(ctx))
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


def _record_running(ctx: Context, app: DesiredApp, c: ObservedContainer) -> None:
    ctx.record(ctx.recorder.record_container, app=app.path, name=c.name, container_id=c.id,
               version=app.version, host_port=c.host_port, state="running", health="healthy")
    ctx.record(ctx.recorder.record_applied, app=recorded_app(app, c.id))


def _launch(ctx: Context, app: DesiredApp, done: Done | None = None,
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
        ctx.engine.stop_and_remove(c.id, timeout=0 if stopping(ctx) else ctx.options.stop_timeout)
        raise


def _switch(ctx: Context, app: DesiredApp, new: ObservedContainer,
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


def replace(ctx: Context, app: DesiredApp, old: ObservedContainer | None,
            done: Done) -> None:
    """Zero-downtime: a new container, healthy, switched to; then the old one out."""
    c = _launch(ctx, app, done, old)
    _switch(ctx, app, c, old)
    if old is not None:
        retire(ctx.engine, ctx.network, old, ctx.options.stop_timeout)
        ctx.record(ctx.recorder.forget_container, container_id=old.id)
    _record_running(ctx, app, c)
    done.url = _url(app, c)


def _restart_in_place(ctx: Context, app: DesiredApp, c: ObservedContainer,
                      done: Done) -> None:
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
            replace(ctx, app, now, done)
            return
        _switch(ctx, app, again, None)
        _record_running(ctx, app, again)
        done.url = _url(app, again)
    finally:
        if hold is not None:
            hold(app.path, False)


def crashed(ctx: Context, c: ObservedContainer | None, done: Done) -> None:
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


def restart(ctx: Context, app: DesiredApp, step: Step, done: Done) -> None:
    """A "restart" or "scale" step: the container again (in place when it runs), healthy."""
    before = ctx.by_name[step.target]
    if step.action == "scale":
        c = _healthy_or_fail(ctx, app, ctx.engine.scale(before.id, app.replicas))
    elif before.state == "running":
        _restart_in_place(ctx, app, before, done)
        return
    else:
        crashed(ctx, before, done)
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
