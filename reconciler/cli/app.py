"""The `ace` command line: the typer app, every command registered here from its module, and
`main`. Commands import their shared options from `cli.options`; nothing imports this module."""

from __future__ import annotations

import typer

from reconciler.cli import converge, inspect, run, serve, stopstart, watch

__all__ = ["app", "main"]

app = typer.Typer(no_args_is_help=True, add_completion=False, rich_markup_mode=None,
                  pretty_exceptions_enable=False,
                  help="ace: declarative reconciliation of app containers described in Starlark.")

app.command()(inspect.config)
app.command("plan")(converge.plan_cmd)
app.command()(converge.reconcile)
app.command()(inspect.status)
app.command()(inspect.drift)
app.command()(converge.down)
app.command("stop")(stopstart.stop_cmd)
app.command("start")(stopstart.start_cmd)
app.command()(inspect.logs)
app.command("run")(run.run_cmd)
app.command("actions")(run.actions_cmd)
app.command()(watch.watch)
app.command()(serve.serve)


def main() -> None:
    app()
