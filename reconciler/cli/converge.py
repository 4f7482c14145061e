"""Commands that change (or would change) what runs: `plan`, `reconcile`, `down`.

Exit codes: 0 success (nothing changed, or in sync), 1 error, 2 changes made or pending (with
--detailed-exitcode)."""

from __future__ import annotations

import sys
from contextlib import nullcontext
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from reconciler.apply.pipeline import PassResult, prepare, run_pass
from reconciler.cli.options import (
    BackendOpt,
    DeadlineOpt,
    DetailOpt,
    FileOpt,
    HealthOpt,
    JsonOpt,
    KeepOpt,
    LockOpt,
    LogJsonOpt,
    ParallelOpt,
    PullOpt,
    RegistryOpt,
    StateOpt,
    VerboseOpt,
    errors,
    render,
    session,
    settings_from,
)
from reconciler.logs import setup_logging

if TYPE_CHECKING:
    from reconciler.apply.executor import StepOutcome

__all__ = ["down", "plan_cmd", "reconcile"]


def plan_cmd(file: FileOpt = Path("apps.star"), state_dir: StateOpt = None,
             as_json: JsonOpt = False, pull: PullOpt = "missing", detailed: DetailOpt = False,
             keep_images: KeepOpt = 2, verbose: VerboseOpt = False,
             log_json: LogJsonOpt = False,
             backend: BackendOpt = "docker", registry: RegistryOpt = "") -> None:
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
        raise typer.Exit(1)
    raise typer.Exit(2 if detailed and the_plan.steps else 0)


def _quiet(kind: str, outcome: StepOutcome) -> None:
    """No progress display (JSON output, logs, or not a terminal)."""


def reconcile(file: FileOpt = Path("apps.star"), state_dir: StateOpt = None,
              dry_run: Annotated[bool, typer.Option("--dry-run", help="Plan only.")] = False,
              as_json: JsonOpt = False, detailed: DetailOpt = False, pull: PullOpt = "missing",
              parallel: ParallelOpt = 16, health_timeout: HealthOpt = 60.0,
              lock_timeout: LockOpt = 60.0, deadline: DeadlineOpt = 2.0,
              keep_images: KeepOpt = 2, verbose: VerboseOpt = False,
              log_json: LogJsonOpt = False,
              backend: BackendOpt = "docker", registry: RegistryOpt = "") -> None:
    """Converge what runs to what the apps file declares."""
    setup_logging(json_lines=log_json, verbose=verbose)
    with errors():
        settings = settings_from(file, state_dir, pull=pull, parallel=parallel,
                                 health_timeout=health_timeout, deadline=deadline,
                                 keep_images=keep_images, backend=backend, registry=registry)
        tty = sys.stderr.isatty() and not as_json and not log_json
        shown = render.progress(True) if tty else nullcontext(_quiet)
        with session(settings, lock_timeout=lock_timeout) as (store, engine), \
                shown as on_event:
            res = run_pass(settings, store, engine, dry_run=dry_run, on_event=on_event)
    _report(res, as_json=as_json, dry_run=dry_run, verbose=verbose)
    if not res.ok:
        raise typer.Exit(1)
    pending = res.changed or (dry_run and bool(res.plan.steps))
    raise typer.Exit(2 if detailed and pending else 0)


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
    if dry_run:
        render.print_plan(res.plan, verbose=verbose)
    else:
        render.print_outcomes(outcomes)
        if verbose:
            render.print_plan(res.plan, verbose=True)
    render.print_warnings(res.evaluation.warnings)
    render.print_errors(res.evaluation.errors)


def down(targets: Annotated[list[str] | None, typer.Argument(help="App paths (default: all).")]
         = None, file: FileOpt = Path("apps.star"), state_dir: StateOpt = None,
         images: Annotated[bool, typer.Option("--images", help="Remove ace's images too.")] = False,
         volumes: Annotated[bool, typer.Option("--volumes", help="Remove named volumes.")] = False,
         lock_timeout: LockOpt = 60.0, verbose: VerboseOpt = False, log_json: LogJsonOpt = False,
         backend: BackendOpt = "docker", registry: RegistryOpt = "") -> None:
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
        raise typer.Exit(1)
