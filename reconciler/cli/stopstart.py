"""`ace stop APP...` and `ace start APP...`: stop apps and keep them stopped — across
reconciles and `ace watch` passes — until they are started again.

The choice is recorded in the state database (the planner reads it with the applied snapshots)
and applied at once through the ordinary pass, restricted to the named apps: stopping removes
their containers; starting builds or pulls what is missing and starts them."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from apps.errors import AceError
from reconciler.apply.pipeline import PassResult, Prepared, prepare, run_pass
from reconciler.cli.flags import (
    BackendOpt,
    FileOpt,
    HealthOpt,
    JsonOpt,
    LockOpt,
    LogJsonOpt,
    RegistryOpt,
    StateOpt,
    VerboseOpt,
)
from reconciler.cli.options import (
    errors,
    render,
    session,
    settings_from,
)
from reconciler.core.types import Plan
from reconciler.logs import setup_logging

__all__ = ["start_cmd", "stop_cmd"]

AppsArg = Annotated[list[str], typer.Argument(help="App paths, e.g. /web.")]


def stop_cmd(targets: AppsArg, file: FileOpt = Path("apps.star"), state_dir: StateOpt = None,
             as_json: JsonOpt = False, lock_timeout: LockOpt = 60.0,
             verbose: VerboseOpt = False, log_json: LogJsonOpt = False,
             backend: BackendOpt = "docker", registry: RegistryOpt = "") -> None:
    """Stop apps and keep them stopped (reconcile and watch leave them) until `ace start`."""
    _switch(targets, stop=True, file=file, state_dir=state_dir, as_json=as_json,
            health_timeout=60.0, lock_timeout=lock_timeout, verbose=verbose,
            log_json=log_json, backend=backend, registry=registry)


def start_cmd(targets: AppsArg, file: FileOpt = Path("apps.star"), state_dir: StateOpt = None,
              as_json: JsonOpt = False, health_timeout: HealthOpt = 60.0,
              lock_timeout: LockOpt = 60.0, verbose: VerboseOpt = False,
              log_json: LogJsonOpt = False, backend: BackendOpt = "docker",
              registry: RegistryOpt = "") -> None:
    """Start apps stopped with `ace stop` again (and keep them running from then on)."""
    _switch(targets, stop=False, file=file, state_dir=state_dir, as_json=as_json,
            health_timeout=health_timeout, lock_timeout=lock_timeout, verbose=verbose,
            log_json=log_json, backend=backend, registry=registry)


def _check(targets: list[str], prepared: Prepared, file: Path) -> None:
    """Every target names a declared app with a service (AceError otherwise)."""
    desired = prepared.desired
    services = {a.path for a in desired.apps if a.service}
    for t in targets:
        if t not in desired.declared:
            known = ", ".join(sorted(desired.declared)) or "none"
            raise AceError(f"app {t} is not declared in {file} (declared apps: {known})")
        if t not in services and t not in desired.held:
            raise AceError(f"app {t} runs no service (lifetime is command): nothing to stop or "
                           "start; its actions run with ace run")


def _switch(targets: list[str], *, stop: bool, file: Path, state_dir: Path | None,
            as_json: bool, health_timeout: float, lock_timeout: float, verbose: bool,
            log_json: bool, backend: str, registry: str) -> None:
    setup_logging(json_lines=log_json, verbose=verbose)
    wanted = frozenset(targets)

    def only_these(prepared: Prepared) -> Plan:
        return Plan(tuple(s for s in prepared.plan.steps if s.app in wanted), prepared.plan.noops)

    with errors():
        settings = settings_from(file, state_dir, health_timeout=health_timeout,
                                 backend=backend, registry=registry)
        with session(settings, lock_timeout=lock_timeout) as (store, engine):
            _check(targets, prepare(settings, store, engine), settings.apps_file)
            if stop:
                store.stop_apps(targets)
            else:
                store.start_apps(targets)
            res = run_pass(settings, store, engine, command="stop" if stop else "start",
                           select=only_these)
    ok = res.applied is None or res.applied.ok  # another app's evaluation error is no failure
    _report(res, targets, stop=stop, as_json=as_json, ok=ok)
    if not ok:
        raise typer.Exit(1)


def _report(res: PassResult, targets: list[str], *, stop: bool, as_json: bool,
            ok: bool) -> None:
    if as_json:
        render.print_json({**render.plan_json(res.selected, res.outcomes),
                           "apps": targets, "stopped": stop, "ok": ok,
                           "errors": [e.to_json() for e in res.evaluation.errors]})
        return
    render.print_outcomes(res.outcomes)
    if ok:
        note = "stopped by user; `ace start` starts it again" if stop else "started"
        for t in targets:
            render.console.print(f"{t} {note}", soft_wrap=True, markup=False)
