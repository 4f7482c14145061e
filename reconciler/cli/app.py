"""The `ace` command line: the typer app, every command registered here from its module, and
`main`. Commands import their shared options from `cli.options`; nothing imports this module."""

from __future__ import annotations

from typing import Annotated

import typer

from reconciler.cli import converge, inspect, logs, run, serve, stopstart, watch

__all__ = ["app", "main", "version"]

app = typer.Typer(no_args_is_help=True, add_completion=False, rich_markup_mode=None,
                  pretty_exceptions_enable=False,
                  context_settings={"help_option_names": ["-h", "--help"]},
                  help="ace: declarative reconciliation of app containers described in Starlark.")


DISTRIBUTION = "ace-reconciler"  # the package's name on an index; the command is `ace`


def version() -> str:
    """ace's version, as installed ("unknown" when run from a source tree never installed)."""
    from importlib.metadata import PackageNotFoundError
    from importlib.metadata import version as installed

    try:
        return installed(DISTRIBUTION)
    except PackageNotFoundError:
        return "unknown"


def _show_version(value: bool) -> None:
    if value:
        typer.echo(f"ace {version()}")
        raise typer.Exit()


@app.callback()
def _options(show: Annotated[bool, typer.Option(
        "--version", is_eager=True, callback=_show_version,
        help="Print ace's version and exit.")] = False) -> None:
    """ace: declarative reconciliation of app containers described in Starlark."""

app.command()(inspect.config)
app.command("plan")(converge.plan_cmd)
app.command()(converge.reconcile)
app.command()(inspect.status)
app.command()(inspect.drift)
app.command()(converge.down)
app.command("stop")(stopstart.stop_cmd)
app.command("start")(stopstart.start_cmd)
app.command()(logs.logs)
app.command("run")(run.run_cmd)
app.command("actions")(run.actions_cmd)
app.command()(watch.watch)
app.command()(serve.serve)


def main() -> None:
    app()
