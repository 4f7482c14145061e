"""The `ace` command line. SDK and store errors become messages and exit codes here, only here.

Exit codes: 0 success (nothing changed, or in sync), 1 error, 2 changes made or pending (with
--detailed-exitcode for plan/reconcile; always for drift)."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext, suppress
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

import apps
from apps.errors import AceError, EngineError
from reconciler.logs import setup_logging
from reconciler.pipeline import PassResult, Settings, prepare, run_pass, state_dir_for
from reconciler.planner import PullPolicy
from reconciler.ports import Engine
from state import StateLock, Store

if TYPE_CHECKING:
    pass

if TYPE_CHECKING:
    from reconciler.executor import StepOutcome

__all__ = ["app", "main"]


class _LazyRender:
    """rich loads only when something is printed: a silent no-op reconcile never needs it."""

    def __getattr__(self, name: str) -> Any:
        from reconciler import render as module

        return getattr(module, name)


render = _LazyRender()

app = typer.Typer(no_args_is_help=True, add_completion=False, rich_markup_mode=None,
                  pretty_exceptions_enable=False,
                  help="ace: declarative reconciliation of app containers described in Starlark.")

FileOpt = Annotated[Path, typer.Option("-f", "--file", envvar="ACE_FILE",
                                       help="The apps file (state file).")]
StateOpt = Annotated[Path | None, typer.Option("--state-dir", envvar="ACE_STATE_DIR",
                                               help="State dir (default: .ace by the apps file).")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON for machines.")]
LogJsonOpt = Annotated[bool, typer.Option("--log-json", help="structlog JSON lines on stderr.")]
VerboseOpt = Annotated[bool, typer.Option("-v", "--verbose", help="More detail.")]
PullOpt = Annotated[PullPolicy, typer.Option("--pull", help="missing | always | never")]
ParallelOpt = Annotated[int, typer.Option("--parallel", min=1, help="Apps applied at once.")]
HealthOpt = Annotated[float, typer.Option("--health-timeout", help="Seconds to wait for health.")]
LockOpt = Annotated[float, typer.Option("--lock-timeout", help="Seconds to wait for the lock.")]
DeadlineOpt = Annotated[float, typer.Option("--eval-deadline", help="Seconds per app evaluation.")]
DetailOpt = Annotated[bool, typer.Option("--detailed-exitcode",
                                         help="Exit 2 when changes were made or are pending.")]



def _engine() -> Engine:
    """The engine, not yet contacted: the first call (usually the container listing) fails
    with the same "not answering" message a ping would give, one round trip cheaper."""
    from reconciler.driver import DockerEngine

    return DockerEngine()


@contextmanager
def _errors() -> Iterator[None]:
    """Translate ace's errors into one clear line and exit 1."""
    try:
        yield
    except EngineError as exc:
        render.err_console.print(f"[red]error[/] Docker engine: {render.escape(str(exc))}",
                                 soft_wrap=True)
        if exc.retryable:
            render.err_console.print("  Is the engine running? Start it (README: set-up) or set "
                                     "DOCKER_HOST.", soft_wrap=True)
        raise typer.Exit(1) from None
    except AceError as exc:
        render.err_console.print(f"[red]error[/] {render.escape(str(exc))}", soft_wrap=True)
        raise typer.Exit(1) from None


def _settings(file: Path, state_dir: Path | None, **kw: Any) -> Settings:
    if not file.exists():
        raise AceError(f"apps file {file} not found: pass -f FILE or set ACE_FILE")
    return Settings(apps_file=file.resolve(),
                    state_dir=state_dir_for(file, str(state_dir) if state_dir else None), **kw)


@contextmanager
def _session(settings: Settings, *, lock_timeout: float | None) -> Iterator[tuple[Store, Engine]]:
    lock = None
    if lock_timeout is not None:
        lock = StateLock(settings.state_dir).acquire(
            lock_timeout,
            lambda msg: render.err_console.print(msg, style="yellow", markup=False))
    try:
        with Store.open(settings.state_dir) as store:
            yield store, _engine()
    finally:
        if lock is not None:
            lock.release()


@app.command()
def config(file: FileOpt = Path("apps.star"), as_json: JsonOpt = False,
           deadline: DeadlineOpt = 2.0, log_json: LogJsonOpt = False) -> None:
    """Evaluate the apps file and every app; print the desired state. Touches no engine."""
    setup_logging(json_lines=log_json)
    with _errors():
        if not file.exists():
            raise AceError(f"apps file {file} not found: pass -f FILE or set ACE_FILE")
        result = apps.evaluate(file, deadline=deadline)
    if as_json:
        render.print_json(result.to_json())
    else:
        render.print_config(result)
    raise typer.Exit(1 if result.errors else 0)


@app.command("plan")
def plan_cmd(file: FileOpt = Path("apps.star"), state_dir: StateOpt = None,
             as_json: JsonOpt = False, pull: PullOpt = "missing", detailed: DetailOpt = False,
             verbose: VerboseOpt = False, log_json: LogJsonOpt = False) -> None:
    """Show the steps a reconcile would take, and why; apply nothing."""
    setup_logging(json_lines=log_json, verbose=verbose)
    with _errors():
        settings = _settings(file, state_dir, pull=pull)
        with _session(settings, lock_timeout=None) as (store, engine):
            result, _, _, _, the_plan, _ = prepare(settings, store, engine)
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


@app.command()
def reconcile(file: FileOpt = Path("apps.star"), state_dir: StateOpt = None,
              dry_run: Annotated[bool, typer.Option("--dry-run", help="Plan only.")] = False,
              as_json: JsonOpt = False, detailed: DetailOpt = False, pull: PullOpt = "missing",
              parallel: ParallelOpt = 4, health_timeout: HealthOpt = 60.0,
              lock_timeout: LockOpt = 60.0, deadline: DeadlineOpt = 2.0,
              verbose: VerboseOpt = False, log_json: LogJsonOpt = False) -> None:
    """Converge what runs to what the apps file declares."""
    setup_logging(json_lines=log_json, verbose=verbose)
    with _errors():
        settings = _settings(file, state_dir, pull=pull, parallel=parallel,
                             health_timeout=health_timeout, deadline=deadline)
        tty = sys.stderr.isatty() and not as_json and not log_json
        shown = render.progress(True) if tty else nullcontext(_quiet)
        with _session(settings, lock_timeout=lock_timeout) as (store, engine), \
                shown as on_event:
            res = run_pass(settings, store, engine, dry_run=dry_run, on_event=on_event)
    _report(res, as_json=as_json, dry_run=dry_run, verbose=verbose)
    if not res.ok:
        raise typer.Exit(1)
    pending = res.changed or (dry_run and bool(res.plan.steps))
    raise typer.Exit(2 if detailed and pending else 0)


def _report(res: PassResult, *, as_json: bool, dry_run: bool, verbose: bool) -> None:
    outcomes = res.applied.outcomes if res.applied else ()
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


@app.command()
def status(file: FileOpt = Path("apps.star"), state_dir: StateOpt = None,
           as_json: JsonOpt = False, log_json: LogJsonOpt = False) -> None:
    """Per app: state, health, URL, container, since."""
    setup_logging(json_lines=log_json)
    with _errors():
        settings = _settings(file, state_dir)
        with _session(settings, lock_timeout=None) as (store, engine):
            result, desired, observed, _, _, _ = prepare(settings, store, engine)
            last = store.last_run()
            failed = {s.app: s.message for s in (store.run_steps(last.id) if last else ())
                      if s.outcome == "failed"}
    from reconciler.proxy.address import public_base, public_urls
    from reconciler.report import probe_health, status_rows

    base = public_base(settings.state_dir)  # "" unless `ace watch`/`ace serve` runs a proxy
    rows = status_rows(desired, observed, probe_health(desired, observed), failed,
                       public=public_urls(result.apps, base) if base else None)
    if as_json:
        render.print_json({"apps": [r.to_json() for r in rows],
                           "errors": [e.to_json() for e in result.errors]})
    else:
        render.print_status(rows)
        render.print_errors(result.errors)


@app.command()
def drift(file: FileOpt = Path("apps.star"), state_dir: StateOpt = None,
          as_json: JsonOpt = False, log_json: LogJsonOpt = False) -> None:
    """What differs between declared, recorded and running (exit 0 in sync, 2 otherwise)."""
    setup_logging(json_lines=log_json)
    with _errors():
        settings = _settings(file, state_dir)
        with _session(settings, lock_timeout=None) as (store, engine):
            result, desired, observed, recorded, _, _ = prepare(settings, store, engine)
    from reconciler.report import drift_items, probe_health

    items = drift_items(desired, observed, recorded, probe_health(desired, observed))
    if as_json:
        render.print_json({"in_sync": not items, "items": [i.to_json() for i in items],
                           "errors": [e.to_json() for e in result.errors]})
    else:
        render.print_drift(items)
        render.print_errors(result.errors)
    if result.errors and not items:
        raise typer.Exit(1)
    raise typer.Exit(2 if items else 0)


@app.command()
def down(targets: Annotated[list[str] | None, typer.Argument(help="App paths (default: all).")]
         = None, file: FileOpt = Path("apps.star"), state_dir: StateOpt = None,
         images: Annotated[bool, typer.Option("--images", help="Remove ace's images too.")] = False,
         volumes: Annotated[bool, typer.Option("--volumes", help="Remove named volumes.")] = False,
         lock_timeout: LockOpt = 60.0, log_json: LogJsonOpt = False) -> None:
    """Stop and remove ace's containers (all, or of the given apps)."""
    from reconciler.teardown import teardown

    setup_logging(json_lines=log_json)
    with _errors():
        settings = _settings(file, state_dir)
        with _session(settings, lock_timeout=lock_timeout) as (store, engine):
            removed = teardown(engine, store, apps=tuple(targets or ()), images=images,
                               volumes=volumes)
    for line in removed:
        render.console.print(f"[green]✓[/] removed {line}")


def _write_out(text: str) -> None:
    sys.stdout.write(text)
    sys.stdout.flush()


def _write_note(text: str) -> None:
    render.err_console.print(text, style="dim", markup=False)


@app.command()
def logs(target: Annotated[str, typer.Argument(help="App path, e.g. /web")],
         file: FileOpt = Path("apps.star"), state_dir: StateOpt = None,
         tail: Annotated[int, typer.Option("--tail", help="Lines from the end.")] = 100,
         follow: Annotated[bool, typer.Option(
             "--follow", help="Keep printing; across replaces, follow the app's new container."
         )] = False) -> None:
    """Print the last log lines of an app's container (--follow: and what comes after)."""
    from reconciler.follow import follow_app, newest

    with _errors():
        settings = _settings(file, state_dir)
        with _session(settings, lock_timeout=None) as (store, engine):
            c = newest(engine.list_containers(store.install_id), target)
            if c is None:
                raise AceError(f"app {target} has no container (is it declared and reconciled?)")
            if not follow:
                sys.stdout.write(engine.logs(c.id, tail=tail))
                return
            with suppress(KeyboardInterrupt):
                follow_app(engine, store.install_id, target, c, tail=tail,
                           out=_write_out, note=_write_note)


from reconciler.cli_run import register as _register_run  # noqa: E402

_register_run(app)


def main() -> None:
    app()


from reconciler.cli_watch import register as _register_watch  # noqa: E402

_register_watch(app)


from reconciler.cli_serve import register as _register_serve  # noqa: E402

_register_serve(app)
