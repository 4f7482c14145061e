"""The pure planner: desired x observed x recorded -> Plan. No I/O, no clock, no logging.

Rules (pinned by tests/reconciler/test_planner.py):
- an unchanged app gives no step, only a NoOp with the reason;
- build-input change -> build + replace; env/port/volume/command/image change -> replace only;
  health path or scheme -> nothing (they are not part of the container version);
- a service whose container exited -> restart; none at all -> start; a running one marked
  unhealthy (by `ace watch` after failed probes) or a paused one (the engine cannot start it)
  -> replace with a fresh container; one created but never started (a run killed between
  create and start) counts as none: start, which removes it first (a cluster service is
  never paused or created-but-unstarted, so those two rules do not fire for one);
- a cluster service (observed with replicas) running fewer or more tasks than the app's
  `replicas` -> scale in place; one changed by hand (its task template) -> replace;
- command-lifetime apps get their image and no container (a running one is stopped);
- an app stopped by the user (`ace stop`, in the record) gets no container either: its
  containers are stopped (and removed), nothing is built or started, until `ace start`;
- containers of apps gone from the apps file are removed; apps that failed to evaluate are held;
- dev mode: a dev app's image depends only on its container file, build args, target and env
  files; a change to its mounted source (`DesiredState.touched`, from `ace watch`) restarts the
  running container (reload=restart), replaces it (recreate) or does nothing (none: the app's
  own reloader sees the file); switching an app between dev and normal mode replaces it; on a
  cluster a source change's restart or recreate comes before a scale (which follows next pass);
- the app network (`DesiredState.network`): a running service container not on it joins it in
  place (`connect`, never a recreate); a `network` step (run before any app's steps) creates
  it when a step needs it and it is missing (`ObservedState.networks`; when those were not
  listed and no running container shows it, the step says so and `prepare` lists them);
- idle apps (`DesiredState.idle`, from `ace watch`/`serve`): their running containers go to
  sleep (`sleep`: stopped, kept), nothing starts them; their images are still built; an app a
  request waits for (`DesiredState.wake`) starts with that cause.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Literal

from reconciler.core.types import (
    BuildInputs,
    DesiredApp,
    DesiredState,
    NoOp,
    ObservedContainer,
    ObservedState,
    Plan,
    RecordedApp,
    RecordedState,
    Step,
    container_rank,
)

__all__ = ["WAKE_CAUSE", "PlanOptions", "plan"]

PullPolicy = Literal["missing", "always", "never"]


@dataclass(frozen=True, slots=True)
class PlanOptions:
    pull: PullPolicy = "missing"


def _newest_first(cs: Sequence[ObservedContainer]) -> list[ObservedContainer]:
    return sorted(cs, key=container_rank, reverse=True)


def _files_cause(recorded: RecordedApp | None, files: Sequence[tuple[str, str]]) -> str:
    if recorded is None or not recorded.files:
        return "image not built yet"
    from reconciler.core.changes import changed_files  # only for a change (a no-op never)

    changed = changed_files(recorded.files, files)
    if not changed:
        return "build inputs changed: container file or build args"
    shown = ", ".join(changed[:3]) + (f" (+{len(changed) - 3} more)" if len(changed) > 3 else "")
    return f"build inputs changed: {shown}"


def _spec_cause(recorded: RecordedApp | None, app: DesiredApp) -> str:
    """What changed, with values (`env COUNT: 1 → 2`; secret-derived env values masked)."""
    if recorded is None or not recorded.spec_json:
        return "container version changed"
    from reconciler.core.changes import spec_changes, summary

    changes = spec_changes(recorded.spec_json, app.spec_json, app.secret_env)
    return summary(changes) if changes else "container version changed"


def _was_dev(recorded: RecordedApp | None) -> bool | None:
    """Whether the recorded container ran in dev mode (None: nothing recorded)."""
    if recorded is None or not recorded.spec_json:
        return None
    try:
        doc = json.loads(recorded.spec_json)
    except ValueError:
        return None
    return bool(doc.get("workdir")) and doc.get("entrypoint") == ["sh", "-c"]


def _mode_cause(app: DesiredApp, recorded: RecordedApp | None) -> str:
    """"dev mode on"/"dev mode off" when the app switched modes since its last apply, else ""."""
    was = _was_dev(recorded)
    if was is None or was == (app.mode == "dev"):
        return ""
    return "dev mode on" if app.mode == "dev" else "dev mode off"


def _dev_build_cause(recorded: RecordedApp | None, build: BuildInputs) -> str:
    """What changed in a dev image's inputs: its container file and env files by name (the
    manifest lists both), else its build args or target stage."""
    if recorded is None:
        return "dev image not built yet"
    from reconciler.core.changes import changed_files

    changed = changed_files(recorded.files, build.files)
    if not changed:
        return "dev image inputs changed: build args or target"
    shown = ", ".join(changed[:3]) + (f" (+{len(changed) - 3} more)" if len(changed) > 3 else "")
    if build.containerfile.rpartition("/")[2] not in changed:
        return "dev: env file changed: " + shown
    return "dev image inputs changed: " + shown


def _exit_cause(c: ObservedContainer) -> str:
    return f"container {c.state}" + (f": {c.status}" if c.status else "")


def _image_steps(
    app: DesiredApp, tags: frozenset[str], recorded: RecordedApp | None, opts: PlanOptions
) -> tuple[list[Step], str | None]:
    """Steps that make the app's image present; the second value is a blocking reason."""
    if app.build is not None:
        if app.image in tags:
            return [], None
        cause = _mode_cause(app, recorded) or (
            _dev_build_cause(recorded, app.build) if app.mode == "dev"
            else _files_cause(recorded, app.build.files))
        if recorded is not None and recorded.image == app.image:
            cause = "image removed outside ace"
        return [Step(f"build:{app.path}", "build", app.path, app.image, cause)], None
    if opts.pull == "always":
        return [Step(f"pull:{app.path}", "pull", app.path, app.image, "--pull always")], None
    if app.image in tags:
        return [], None
    if opts.pull == "never":
        return [], f"image {app.image} is missing and --pull never forbids pulling it"
    return [Step(f"pull:{app.path}", "pull", app.path, app.image, "image missing locally")], None


def _dev_reload(app: DesiredApp, keep: ObservedContainer, deps: tuple[str, ...]
                ) -> tuple[list[Step], str]:
    """What a change to a dev app's mounted source does to its running container."""
    if app.reload == "restart":
        return [Step(f"restart:{app.path}", "restart", app.path, keep.name,
                     "dev: source changed, reload restart", deps, reload=True)], ""
    if app.reload == "recreate":
        return [Step(f"replace:{app.path}", "replace", app.path, keep.name,
                     "dev: source changed, reload recreate", deps, reload=True)], ""
    return [], "dev: source changed, reload none: the app's own reloader sees it"


def _service_steps(
    app: DesiredApp,
    mine: list[ObservedContainer],
    recorded: RecordedApp | None,
    image_steps: list[Step],
    touched: bool = False,
) -> tuple[list[Step], str]:
    deps = tuple(s.id for s in image_steps)
    # never started (a run killed between create and start): no container of this version
    # yet; the launch of the new one removes it (same name)
    leftover = [c for c in mine if c.version == app.version and c.state == "created"]
    current = [c for c in mine if c.version == app.version and c not in leftover]
    others = [c for c in mine if c.version != app.version]
    steps: list[Step] = []
    keep: ObservedContainer | None = None
    dev_reason = ""
    if current:
        keep = current[0]
        if keep.state == "paused":  # `start` cannot resume it: a fresh container
            steps.append(Step(f"replace:{app.path}", "replace", app.path, keep.name,
                              "container paused", deps))
        elif keep.state != "running":
            steps.append(Step(f"restart:{app.path}", "restart", app.path, keep.name,
                              _exit_cause(keep), deps))
        elif keep.health.startswith("unhealthy"):
            detail = keep.health.partition(": ")[2] or "unhealthy"
            steps.append(Step(f"replace:{app.path}", "replace", app.path, keep.name,
                              f"health check failing: {detail}", deps))
        elif keep.changed_outside:
            steps.append(Step(f"replace:{app.path}", "replace", app.path, keep.name,
                              f"changed outside ace: {keep.changed_outside}", deps))
        elif touched and app.mode == "dev" and app.reload in ("restart", "recreate"):
            steps, dev_reason = _dev_reload(app, keep, deps)
        elif keep.replicas and keep.replicas != app.replicas:
            steps.append(Step(f"scale:{app.path}", "scale", app.path, keep.name,
                              f"replicas {keep.replicas} -> {app.replicas}", deps))
        elif touched and app.mode == "dev":  # reload none: nothing to do
            steps, dev_reason = _dev_reload(app, keep, deps)
    elif others:
        running_old = next((c for c in others if c.state == "running"), others[0])
        if image_steps and image_steps[0].action == "build":
            cause = image_steps[0].cause
        else:
            cause = _mode_cause(app, recorded) or _spec_cause(recorded, app)
        steps.append(Step(f"replace:{app.path}", "replace", app.path, running_old.name, cause,
                          deps))
        others = [c for c in others if c is not running_old]
    else:
        cause = "new app" if recorded is None else "container gone"
        if leftover:
            cause = "container created but never started"
        steps.append(Step(f"start:{app.path}", "start", app.path, app.image, cause, deps))
    after = tuple(s.id for s in steps)
    for extra in [c for c in current if c is not keep] + others + (leftover if keep else []):
        cause = "duplicate container" if extra.version == app.version else "stale older version"
        steps.append(Step(f"remove:{app.path}:{extra.name}", "remove", app.path, extra.name,
                          cause, after))
    reason = "running " + app.version[:12] if keep and keep.state == "running" else ""
    return steps, dev_reason or reason


WAKE_CAUSE = "a request is waiting"
_NEEDS_NETWORK = ("start", "replace", "restart", "connect")


def _sleep_steps(app: DesiredApp, mine: list[ObservedContainer], why: str
                 ) -> tuple[list[Step], str]:
    """An idle app: its running containers stop (and are kept for the next request)."""
    steps = [Step(f"sleep:{app.path}:{c.name}", "sleep", app.path, c.name, why)
             for c in mine if c.state == "running"]
    return steps, f"idle: {why}"


def _woken(steps: list[Step]) -> list[Step]:
    """A start or restart that a request waits for says so."""
    return [replace(s, cause=WAKE_CAUSE) if s.action in ("start", "restart") else s
            for s in steps]


def _connect_step(app: DesiredApp, mine: list[ObservedContainer], svc: list[Step],
                  network: str) -> list[Step]:
    """Join the app's running container of the desired version to the app network in place,
    unless a step of this plan replaces or restarts it anyway."""
    live = next((c for c in mine if c.version == app.version and c.state == "running"), None)
    if live is None or network in dict(live.networks):
        return []
    if any(s.target == live.name and s.action in ("replace", "restart") for s in svc):
        return []
    return [Step(f"connect:{app.path}", "connect", app.path, live.name,
                 f"not on the app network {network}")]


def _with_network(desired: DesiredState, observed: ObservedState, steps: list[Step]
                  ) -> list[Step]:
    """Steps that need the app network wait for a `network` step, first in the plan, unless
    a running container attached to it shows it exists."""
    net = desired.network
    needing = [s for s in steps if s.action in _NEEDS_NETWORK]
    if not net or not needing:
        return steps
    if any(c.state == "running" and net in dict(c.networks) for c in observed.containers):
        return steps
    if observed.networks is not None and net in dict(observed.networks):
        return steps
    cause = "app network not listed yet" if observed.networks is None else "app network missing"
    step = Step(f"network:{net}", "network", "", net, cause)
    return [step] + [replace(s, depends_on=(*s.depends_on, step.id))
                     if s.action in _NEEDS_NETWORK else s for s in steps]


def plan(
    desired: DesiredState,
    observed: ObservedState,
    recorded: RecordedState,
    options: PlanOptions = PlanOptions(),
) -> Plan:
    """Compute the minimal steps, and for every app left alone the reason why."""
    by_app: dict[str, list[ObservedContainer]] = {}
    for c in observed.containers:
        by_app.setdefault(c.app, []).append(c)
    tags = observed.image_tags()
    steps: list[Step] = []
    noops: list[NoOp] = []
    wanted = set()
    idle = dict(desired.idle)
    for app in sorted(desired.apps, key=lambda a: a.path):
        wanted.add(app.path)
        if app.path in desired.held:
            noops.append(NoOp(app.path, "app has errors: left as it is"))
            continue
        rec = recorded.get(app.path)
        mine = _newest_first(by_app.get(app.path, []))
        if app.service and app.path in recorded.stopped:
            steps += [Step(f"stop:{app.path}:{c.name}", "stop", app.path, c.name,
                           "stopped by user") for c in mine]
            if not mine:
                noops.append(NoOp(app.path, "stopped by user"))
            continue
        image_steps, blocked = _image_steps(app, tags, rec, options)
        if blocked:
            noops.append(NoOp(app.path, blocked))
            continue
        if app.service and app.path in idle:
            svc, reason = _sleep_steps(app, mine, idle[app.path])
        elif app.service:
            svc, reason = _service_steps(app, mine, rec, image_steps,
                                         touched=app.path in desired.touched)
            if app.path in desired.wake:
                svc = _woken(svc)
            if desired.network:
                svc += _connect_step(app, mine, svc, desired.network)
        else:
            deps = tuple(s.id for s in image_steps)
            svc = [Step(f"stop:{app.path}:{c.name}", "stop", app.path, c.name,
                        "lifetime is command: no service runs", deps) for c in mine]
            reason = "command app: image ready"
        steps += image_steps + svc
        if not image_steps and not svc:
            noops.append(NoOp(app.path, reason or "up to date"))
    for path in sorted(by_app):
        if path in wanted:
            continue
        if path in desired.held:
            noops.append(NoOp(path, "app has errors: left as it is"))
            continue
        if not desired.prune:
            noops.append(NoOp(path, "apps file has errors: nothing is removed"))
            continue
        cause = ("app declares no container" if path in desired.declared
                 else "app removed from apps file")
        for c in _newest_first(by_app[path]):
            steps.append(Step(f"remove:{path}:{c.name}", "remove", path, c.name, cause))
    return Plan(steps=tuple(_with_network(desired, observed, steps)), noops=tuple(noops))
