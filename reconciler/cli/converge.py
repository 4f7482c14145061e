"""Commands that change (or would change) what runs: `plan`, `reconcile`, `down`.

Exit codes: 0 success (nothing changed, or in sync), 1 error, 2 changes made or pending (with
--detailed-exitcode)."""

from __future__ import annotations

import sys
from contextlib import nullcontext
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn

from reconciler.apply.pipeline import PassResult, prepare, run_pass
from reconciler.cli import lines
from reconciler.cli.options import (
    errors,
    flags,
    render,
    session,
    settings_from,
)
from reconciler.logs import setup_logging

if TYPE_CHECKING:
    from collections.abc import Sequence

    from reconciler.apply.executor import StepOutcome

__all__ = ["down", "plan_cmd", "reconcile"]


def plan_cmd(file: flags.FileOpt = Path("apps.star"), state_dir: flags.StateOpt = None,
             as_json: flags.JsonOpt = False, pull: flags.PullOpt = "missing",
             detailed: flags.DetailOpt = False, keep_images: flags.KeepOpt = 2,
             verbose: flags.VerboseOpt = False, log_json: flags.LogJsonOpt = False,
             backend: flags.BackendOpt = "docker", registry: flags.RegistryOpt = "") -> None:
    """Show the steps a reconcile would take, and why; apply nothing."""
    setup_logging(json_lines=log_json, verbose=verbose)
    with errors():
        settings = settings_from(file, state_dir, pull=pull, keep_images=keep_images,
                                 backend=backend, registry=registry)
        with session(settings, lock_timeout=None) as (store, engine):
            prepared = prepare(settings, store, engine)
    result, the_plan = prepared.evaluation, prepared.plan
    if as_json:
        render.print_json({**render.plan_json(the_plan),
                           "errors": [e.to_json() for e in result.errors],
                           "warnings": [w.to_json() for w in result.warnings]})
    else:
        render.print_plan(the_plan, verbose=verbose)
        render.print_warnings(result.warnings)
        render.print_errors(result.errors)
    if result.errors:
        raise SystemExit(1)
    raise SystemExit(2 if detailed and the_plan.steps else 0)


def _quiet(kind: str, outcome: StepOutcome) -> None:
    """No progress display (JSON output, logs, or not a terminal)."""


def reconcile(file: flags.FileOpt = Path("apps.star"), state_dir: flags.StateOpt = None,
              dry_run: flags.PlanOnlyOpt = False, as_json: flags.JsonOpt = False,
              detailed: flags.DetailOpt = False, pull: flags.PullOpt = "missing",
              parallel: flags.ParallelOpt = 16, health_timeout: flags.HealthOpt = 60.0,
              lock_timeout: flags.LockOpt = 60.0, deadline: flags.DeadlineOpt = 2.0,
              keep_images: flags.KeepOpt = 2, verbose: flags.VerboseOpt = False,
              log_json: flags.LogJsonOpt = False,
              backend: flags.BackendOpt = "docker", registry: flags.RegistryOpt = "") -> None:
    """Converge what runs to what the apps file declares."""
    setup_logging(json_lines=log_json, verbose=verbose)
    with errors():
        settings = settings_from(file, state_dir, pull=pull, parallel=parallel,
                                 health_timeout=health_timeout, deadline=deadline,
                                 keep_images=keep_images, backend=backend, registry=registry)
        tty = sys.stderr.isatty() and not as_json and not log_json
        shown = render.progress(True) if tty else nullcontext(_quiet)
        try:
            with session(settings, lock_timeout=lock_timeout) as (store, engine), \
                    shown as on_event:
                res = run_pass(settings, store, engine, dry_run=dry_run, on_event=on_event)
        except KeyboardInterrupt as cut:
            _interrupted(getattr(cut, "outcomes", None), as_json=as_json)
    _report(res, as_json=as_json, dry_run=dry_run, verbose=verbose)
    if not res.ok:
        raise SystemExit(1)
    pending = res.changed or (dry_run and bool(res.plan.steps))
    raise SystemExit(2 if detailed and pending else 0)


def _interrupted(outcomes: Sequence[StepOutcome] | None, *, as_json: bool) -> NoReturn:
    """Ctrl-C during a pass: how its steps ended (when it was applying them), then exit 130."""
    if outcomes is None:  # before the apps' steps (or a second Ctrl-C while they stopped)
        sys.stderr.write("interrupted. Run the command again to converge.\n")
        raise SystemExit(130)
    if not as_json:
        if lines.plain(sys.stdout):
            lines.plain_report(outcomes, (), ())
        else:
            render.print_outcomes(outcomes)
    sys.stderr.write("interrupted: steps not started were skipped; a new container not yet "
                     "healthy was removed (what ran before keeps running). Run the command "
                     "again to converge.\n")
    raise SystemExit(130)


def _report(res: PassResult, *, as_json: bool, dry_run: bool, verbose: bool) -> None:
    outcomes = res.outcomes
    if as_json:
        render.print_json({**render.plan_json(res.plan, outcomes), "dry_run": dry_run,
                           "changed": res.changed, "ok": res.ok, "adopted": list(res.adopted),
                           "errors": [e.to_json() for e in res.evaluation.errors],
                           "warnings": [w.to_json() for w in res.evaluation.warnings],
                           "seconds": round(res.seconds, 3)})
        return
    if not (dry_run or verbose or outcomes or res.evaluation.errors or res.evaluation.warnings):
        return  # nothing happened: say nothing (and load no rendering code)
    if not (dry_run or verbose) and lines.plain(sys.stdout) and lines.plain(sys.stderr):
        lines.plain_report(outcomes, res.evaluation.warnings, res.evaluation.errors)
        return  # what rich would print, without loading it
    if dry_run:
        render.print_plan(res.plan, verbose=verbose)
    else:
        render.print_outcomes(outcomes)
        if verbose:
            render.print_plan(res.plan, verbose=True)
    render.print_warnings(res.evaluation.warnings)
    render.print_errors(res.evaluation.errors)


def down(targets: flags.TargetsArg = None, file: flags.FileOpt = Path("apps.star"),
         state_dir: flags.StateOpt = None,
         images: flags.ImagesOpt = False, volumes: flags.VolumesOpt = False,
         lock_timeout: flags.LockOpt = 60.0, verbose: flags.VerboseOpt = False,
         log_json: flags.LogJsonOpt = False,
         backend: flags.BackendOpt = "docker", registry: flags.RegistryOpt = "") -> None:
    """Stop and remove ace's containers (all, or of the given apps). Objects whose labels are
    only partly ace's are skipped with a warning; exit 1 only when one of ace's own failed."""
    from reconciler.apply.teardown import teardown

    setup_logging(json_lines=log_json, verbose=verbose)
    with errors():
        settings = settings_from(file, state_dir, backend=backend, registry=registry)
        with session(settings, lock_timeout=lock_timeout) as (store, engine):
            done = teardown(engine, store, apps=tuple(targets or ()), images=images,
                            volumes=volumes,
                            unit="service" if backend == "swarm" else "container")
    for line in done.removed:
        render.console.print(f"[green]✓[/] removed {render.escape(line)}")
    for line in done.skipped:
        render.err_console.print(f"[yellow]warning[/] skipped {render.escape(line)}",
                                 soft_wrap=True)
    for line in done.failed:
        render.err_console.print(f"[red]error[/] could not remove {render.escape(line)}",
                                 soft_wrap=True)
    if done.failed:
        raise SystemExit(1)
