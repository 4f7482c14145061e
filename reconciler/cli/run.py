"""`ace run` and `ace actions`.

`ace run APP [ACTION] [--param NAME=VALUE ...]` makes sure the app's image exists (build or pull,
through the plan/apply machinery, holding the state lock), then calls the action's
`run(dry_run, args)`; its `container.run(...)` calls each run in a fresh container of the image.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from apps.errors import AceError
from reconciler.actions.runner import DEFAULT_TIMEOUT
from reconciler.cli.flags import (
    BackendOpt,
    DeadlineOpt,
    FileOpt,
    JsonOpt,
    LockOpt,
    LogJsonOpt,
    PullOpt,
    RegistryOpt,
    StateOpt,
    VerboseOpt,
)
from reconciler.cli.options import (
    engine,
    errors,
    render,
    require_file,
    settings_from,
)

__all__ = ["actions_cmd", "run_cmd"]


ParamOpt = Annotated[list[str] | None, typer.Option(
    "--param", "-p", help="NAME=VALUE: a param value for this run (repeatable).")]
DryRunOpt = Annotated[bool, typer.Option("--dry-run", help="Call the action with dry_run=True.")]
TimeoutOpt = Annotated[float, typer.Option(
    "--timeout", min=0.1, help="Seconds each container.run command may take.")]


def _live(text: str) -> None:
    """Output of `container.run(..., stream=True)` as it comes, on stderr."""
    sys.stderr.write(text)
    sys.stderr.flush()


def run_cmd(target: Annotated[str, typer.Argument(metavar="APP", help="App path, e.g. /cmd")],
            action: Annotated[str | None, typer.Argument(
                metavar="[ACTION]",
                help="Action name (or path); optional with one action.")] = None,
            file: FileOpt = Path("apps.star"), state_dir: StateOpt = None,
            param: ParamOpt = None, dry_run: DryRunOpt = False, as_json: JsonOpt = False,
            timeout: TimeoutOpt = DEFAULT_TIMEOUT, pull: PullOpt = "missing",
            lock_timeout: LockOpt = 60.0, deadline: DeadlineOpt = 2.0,
            verbose: VerboseOpt = False, log_json: LogJsonOpt = False,
            backend: BackendOpt = "docker", registry: RegistryOpt = "") -> None:
    """Run an app's action; its container.run calls run in fresh containers of its image."""
    from reconciler.actions.run import run_action
    from reconciler.cli.results import print_result
    from reconciler.logs import setup_logging

    setup_logging(json_lines=log_json, verbose=verbose)
    with errors():
        try:
            settings = settings_from(file, state_dir, pull=pull, deadline=deadline,
                                     backend=backend, registry=registry)
            done = run_action(
                settings, engine(backend, registry), target, action, param or (), dry_run=dry_run,
                timeout=timeout, lock_timeout=lock_timeout,
                on_wait=lambda msg: render.err_console.print(msg, style="yellow", markup=False),
                on_output=_live)
        except AceError as exc:
            if as_json:
                render.print_json({"ok": False, "app": target, "error": str(exc)})
            raise
    if as_json:
        render.print_json({"ok": True, **done.to_json()})
        return
    print_result(done.result)
    if verbose:
        for c in done.calls:
            render.err_console.print(
                f"[dim]ran {' '.join(c['command'])} → exit {c['exit_code']} "
                f"in {c['seconds']:.2f} s[/]", soft_wrap=True)


def actions_cmd(target: Annotated[str | None, typer.Argument(
                    metavar="[APP]", help="Only this app's actions.")] = None,
                file: FileOpt = Path("apps.star"), as_json: JsonOpt = False,
                deadline: DeadlineOpt = 2.0, verbose: VerboseOpt = False,
                log_json: LogJsonOpt = False) -> None:
    """List apps' actions with their descriptions. Touches no engine."""
    import apps
    from reconciler.actions.run import find_app
    from reconciler.cli.results import actions_json, print_actions
    from reconciler.logs import setup_logging

    setup_logging(json_lines=log_json, verbose=verbose)

    with errors():
        require_file(file)
        result = apps.evaluate(file, deadline=deadline)
        shown = result.apps if target is None else (find_app(result, target)[0],)
        errs = [e for e in result.errors if target is None or e.app == target]
    if as_json:
        render.print_json({"apps": actions_json(shown),
                           "errors": [e.to_json() for e in errs]})
    else:
        print_actions(shown)
        render.print_errors(errs)
    if errs:
        raise typer.Exit(1)
