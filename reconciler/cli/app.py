"""The `ace` command line: `main`, and the typer app with every command registered from its
module. `main` runs the common invocations without typer (`cli.fast`: typer and its click take
~35 ms to import and build, most of a no-op reconcile's own time); the typer app answers
everything else (help, errors, the other commands) and is built on first use (`app`)."""

from __future__ import annotations

import sys
from functools import cache
from typing import TYPE_CHECKING, Any

from reconciler.cli.options import flags
from reconciler.version import DISTRIBUTION, version

if TYPE_CHECKING:
    import typer

__all__ = ["DISTRIBUTION", "build", "main", "version"]  # and `app`, built on first use

HELP = "ace: declarative reconciliation of app containers described in Starlark."


def _options(show: flags.VersionOpt = False) -> None:
    """ace: declarative reconciliation of app containers described in Starlark."""


@cache
def build() -> typer.Typer:
    """The typer app with every command (built once)."""
    import typer

    from reconciler.cli import converge, inspect, logs, run, serve, stopstart, watch

    app = typer.Typer(no_args_is_help=True, add_completion=False, rich_markup_mode=None,
                      pretty_exceptions_enable=False,
                      context_settings={"help_option_names": ["-h", "--help"]}, help=HELP)
    app.callback()(_options)
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
    return app


def __getattr__(name: str) -> Any:
    """`app`: the typer app, built on first use (tests and the CLI reference generator)."""
    if name == "app":
        return build()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def main() -> None:
    from reconciler.cli import fast

    if not fast.run(sys.argv[1:]):
        build()()
