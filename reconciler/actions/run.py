"""`ace run`: find the app and its action, make sure the app's image exists (the ordinary pass,
applying only that image's steps) and the app network too, then call the action with a
`CommandRunner` serving its `container.run(...)` calls (`actions.runner`) on that network."""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import apps
from apps.errors import AceError, AppError
from apps.model import Action, App, EvalResult
from apps.params import ParamDecl, convert_value
from reconciler.actions.runner import DEFAULT_TIMEOUT, NO_VALUE, CommandRunner
from reconciler.apply.mounts import app_mounts
from reconciler.apply.pipeline import Prepared, Settings, run_pass
from reconciler.core.desired import Naming
from reconciler.core.types import LABEL_INSTALL, LABEL_MANAGED, DesiredApp, Plan
from reconciler.driver.ports import Engine
from reconciler.logs import get_logger
from state import StateLock, Store

__all__ = [
    "ActionRun",
    "command_network",
    "ensure_image",
    "find_app",
    "parse_params",
    "pick_action",
    "run_action",
]

log = get_logger("ace.run")



# ---------------------------------------------------------------------------------------------
# Finding the app, the action and the params


def find_app(result: EvalResult, path: str) -> tuple[App, apps.AppRuntime]:
    """The evaluated app at `path` and its runtime; AceError when unknown or broken."""
    if not result.apps_file_ok:
        first = result.errors[0] if result.errors else None
        raise AceError(f"the apps file has errors: {first}" if first else "the apps file failed")
    if path in result.failed:
        errs = "\n  ".join(str(e) for e in result.errors if e.app == path)
        raise AceError(f"app {path} has errors:\n  {errs}")
    app = next((a for a in result.apps if a.path == path), None)
    if app is None:
        known = ", ".join(a.path for a in result.apps) or "none"
        raise AceError(f"unknown app {path} (apps: {known})")
    runtime = result.runtimes.get(path)
    if not isinstance(runtime, apps.AppRuntime):
        raise AceError(f"app {path} has no action runtime")
    return app, runtime


def pick_action(app: App, name: str | None) -> Action:
    """The action called `name` (or whose path is `name`); with no name, the app's only one."""
    names = ", ".join(repr(a.name) for a in app.actions) or "none"
    if name is None:
        if len(app.actions) == 1:
            return app.actions[0]
        if not app.actions:
            raise AceError(f"app {app.path} has no actions")
        raise AceError(f"app {app.path} has {len(app.actions)} actions: name one of {names}")
    for a in app.actions:
        if a.name == name:
            return a
    for a in app.actions:
        if a.path == name:
            return a
    raise AceError(f"app {app.path} has no action {name!r} (actions: {names})")


def parse_params(decls: Sequence[ParamDecl], given: Sequence[str], app: str) -> dict[str, Any]:
    """`NAME=VALUE` strings -> typed values (as declared); AceError names the bad one."""
    declared = {d.name: d for d in decls}
    out: dict[str, Any] = {}
    for item in given:
        name, sep, value = item.partition("=")
        name = name.strip()
        if not sep or not name:
            raise AceError(f"--param {item!r}: expected NAME=VALUE")
        decl = declared.get(name)
        if decl is None:
            known = ", ".join(declared) or "none"
            raise AceError(f"--param {name}: app {app} has no param {name!r} (params: {known})")
        try:
            out[name] = convert_value(decl, value)
        except ValueError as e:
            raise AceError(f"--param {item}: {e}") from None
    return out


# ---------------------------------------------------------------------------------------------
# Making sure the image exists


def ensure_image(
    settings: Settings, store: Store, engine: Engine, evaluation: EvalResult, path: str,
) -> DesiredApp:
    """The ordinary pass, applying only the app's build/pull steps. Returns the app's desired
    state (its `image` is what to run). AceError when the image cannot be made."""

    def image_steps(prepared: Prepared) -> Plan:
        return Plan(tuple(s for s in prepared.plan.steps
                          if s.app == path and s.action in ("build", "pull")))

    res = run_pass(settings, store, engine, reason="run", command="run", evaluation=evaluation,
                   select=image_steps)
    target = next((a for a in res.prepared.desired.apps if a.path == path), None)
    if target is None:
        raise AceError(f"app {path} declares no container: container.run has no image to use")
    if not res.selected.steps and target.image not in res.prepared.observed.image_tags():
        why = next((n.reason for n in res.plan.noops if n.app == path), "")
        raise AceError(f"app {path}: image {target.image} is missing" + (
            f" ({why})" if why else ""))
    for o in res.outcomes:
        if o.outcome != "done":
            raise AceError(f"app {path}: could not {o.step.action} its image {o.step.target}: "
                           f"{o.message}")
    return target


def command_network(settings: Settings, engine: Engine, install: str) -> str:
    """The app network the commands join (so they reach the apps by alias): the installation's,
    made to exist as a pass makes it — also before any app runs, so apps started while an
    action runs (`ace watch`) are reached too. "" on a cluster, which has no app network."""
    if settings.backend != "docker":
        return ""
    network = Naming(install, "").network
    engine.ensure_network(network, {LABEL_MANAGED: "1", LABEL_INSTALL: install})
    return network


# ---------------------------------------------------------------------------------------------
# The whole of `ace run`


@dataclass(frozen=True, slots=True)
class ActionRun:
    app: str
    action: str
    image: str
    result: dict[str, Any]  # the action's ace.result(...)
    calls: tuple[dict[str, Any], ...]
    timings: dict[str, float]

    def to_json(self) -> dict[str, Any]:
        return {"app": self.app, "action": self.action, "image": self.image, **self.result,
                "commands": list(self.calls),
                "seconds": {k: round(v, 3) for k, v in self.timings.items()}}


def run_action(
    settings: Settings,
    engine: Engine,
    path: str,
    action: str | None,
    params: Sequence[str] = (),
    *,
    dry_run: bool = False,
    timeout: float = DEFAULT_TIMEOUT,
    lock_timeout: float = 60.0,
    on_wait: Callable[[str], None] | None = None,
    evaluation: EvalResult | None = None,
    on_output: Callable[[str], None] | None = None,
) -> ActionRun:
    """Evaluate, make the image exist, then call the action.

    The state lock is held while the image is made (a build or pull is a recorded apply), not
    while the action runs: a command's container carries no version label, so reconcile and
    watch passes never plan for it, and passes never remove images. A long action thus does not
    hold up `ace watch`."""
    timings: dict[str, float] = {}
    t0 = time.perf_counter()
    result = evaluation or apps.evaluate(settings.apps_file, deadline=settings.deadline)
    app, runtime = find_app(result, path)
    chosen = pick_action(app, action)
    args = parse_params(runtime.decls, params, app.path)
    timings["evaluate"] = time.perf_counter() - t0
    with Store.open(settings.state_dir) as store, StateLock(
            settings.state_dir, command=f"ace run {path}").acquire(lock_timeout, on_wait):
        t1 = time.perf_counter()
        target = ensure_image(settings, store, engine, result, app.path)
        install = store.install_id
        mounts = app_mounts(engine, install, target)
        network = command_network(settings, engine, install)
        timings["image"] = time.perf_counter() - t1
    runner = CommandRunner(engine=engine, image=target.image, app=app.path, install=install,
                           env=dict(target.spec.env), timeout=timeout,
                           output_dir=os.path.join(str(settings.state_dir), "output"),
                           mounts=mounts, network=network, on_output=on_output)
    runtime.command_runner = runner
    t2 = time.perf_counter()
    try:
        out = runtime.call_action(chosen.name, dry_run, args)
    except AppError as e:
        raise _value_error(e, runner) from None
    finally:
        runtime.command_runner = None
    timings["action"] = time.perf_counter() - t2
    return ActionRun(app.path, chosen.name, target.image, out, tuple(runner.calls), timings)


def _value_error(e: AppError, runner: CommandRunner) -> AppError:
    """Reading `.value` of a failed container.run fails in Starlark with a generic "no attribute"
    error; name the command's failure instead."""
    if e.message.startswith(NO_VALUE) and runner.last_error:
        return AppError(f"container.run failed: {runner.last_error}", app=e.app, file=e.file,
                        line=e.line, column=e.column)
    return e
