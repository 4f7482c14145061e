"""Commands that only look: `config` (no engine), `status`, `drift`."""

from __future__ import annotations

from pathlib import Path

import apps
from reconciler.apply.pipeline import prepare
from reconciler.cli.options import (
    errors,
    flags,
    render,
    require_file,
    session,
    settings_from,
)
from reconciler.logs import setup_logging

__all__ = ["config", "drift", "status"]


def config(file: flags.FileOpt = Path("apps.star"), as_json: flags.JsonOpt = False,
           deadline: flags.DeadlineOpt = 2.0, verbose: flags.VerboseOpt = False,
           log_json: flags.LogJsonOpt = False) -> None:
    """Evaluate the apps file and every app; print the desired state. Touches no engine."""
    setup_logging(json_lines=log_json, verbose=verbose)
    from reconciler.core.desired import alias_collisions, with_errors

    with errors():
        require_file(file)
        result = apps.evaluate(file, deadline=deadline)
    result = with_errors(result, tuple(alias_collisions(list(result.apps))))
    if as_json:
        render.print_json(result.to_json())
    else:
        render.print_config(result)
    raise SystemExit(1 if result.errors else 0)


def status(file: flags.FileOpt = Path("apps.star"), state_dir: flags.StateOpt = None,
           as_json: flags.JsonOpt = False, verbose: flags.VerboseOpt = False,
           log_json: flags.LogJsonOpt = False,
           backend: flags.BackendOpt = "docker", registry: flags.RegistryOpt = "") -> None:
    """Per app: state, health, URL, container, since, the last apply and any error."""
    setup_logging(json_lines=log_json, verbose=verbose)
    with errors():
        settings = settings_from(file, state_dir, backend=backend, registry=registry)
        with session(settings, lock_timeout=None) as (store, engine):
            prepared = prepare(settings, store, engine)
            applies = store.last_applies()
    from reconciler.apply.health import probe_health
    from reconciler.core.report import app_errors, status_rows
    from reconciler.proxy.address import live_proxies, public_urls, served_urls

    result, desired, observed = prepared.evaluation, prepared.desired, prepared.observed
    proxies = live_proxies(settings.state_dir)  # of each `ace watch`/`ace serve` running
    base = proxies[0] if proxies else ""
    public: dict[str, str] | None = None
    if base:  # apps that evaluate: their routes now; the others: what the proxy serves of
        # them (their last good declaration, as its record says)
        evaluated = {a.path for a in result.apps}
        public = {p: u for p, u in served_urls(settings.state_dir, base).items()
                  if p not in evaluated}
        public.update(public_urls(result.apps, base))
    rows = status_rows(desired, observed, probe_health(desired, observed), public=public,
                       errors=app_errors(result.errors), last_apply=applies,
                       stopped=prepared.recorded.stopped)
    if as_json:
        render.print_json({"apps": [r.to_json() for r in rows],
                           "errors": [e.to_json() for e in result.errors],
                           "proxies": proxies})
    else:
        render.print_status(rows)
        if len(proxies) > 1:
            render.console.print("proxies serving this state dir: " + ", ".join(proxies))
        render.print_errors(result.errors)


def drift(file: flags.FileOpt = Path("apps.star"), state_dir: flags.StateOpt = None,
          as_json: flags.JsonOpt = False, verbose: flags.VerboseOpt = False,
          log_json: flags.LogJsonOpt = False,
          backend: flags.BackendOpt = "docker", registry: flags.RegistryOpt = "") -> None:
    """What differs between declared, recorded and running (exit 0 in sync, 2 not, 1 when an
    app does not evaluate: what it declares could not be checked)."""
    setup_logging(json_lines=log_json, verbose=verbose)
    with errors():
        settings = settings_from(file, state_dir, backend=backend, registry=registry)
        with session(settings, lock_timeout=None) as (store, engine):
            prepared = prepare(settings, store, engine)
    from reconciler.apply.health import probe_health
    from reconciler.core.report import drift_items

    result = prepared.evaluation
    items = drift_items(prepared.desired, prepared.observed, prepared.recorded,
                        probe_health(prepared.desired, prepared.observed),
                        unit="service" if backend == "swarm" else "container")
    services = {a.path for a in prepared.desired.apps if a.service}
    idle = [(app, why) for app, why in prepared.desired.idle if app in services]
    if as_json:
        render.print_json({"in_sync": not items and not result.errors,
                           "items": [i.to_json() for i in items],
                           "idle": [{"app": app, "reason": why} for app, why in idle],
                           "errors": [e.to_json() for e in result.errors]})
    else:
        unchecked = sorted(result.failed) if result.apps_file_ok else ["the apps file"]
        render.print_drift(items, unchecked=unchecked if result.errors else [], idle=idle)
        render.print_errors(result.errors)
    if result.errors:  # sync that could not be checked is not claimed
        raise SystemExit(1)
    raise SystemExit(2 if items else 0)
