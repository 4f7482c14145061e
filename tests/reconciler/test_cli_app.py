"""The `ace` command itself: `--version` prints the installed version, `-h` is `--help` for
ace and for every command."""

from __future__ import annotations

import subprocess
import sys
from importlib.metadata import version

import pytest
from typer.testing import CliRunner

from reconciler.cli.app import DISTRIBUTION
from reconciler.cli.app import app as cli_app


def test_version_prints_the_installed_version() -> None:
    """`ace --version` prints "ace X.Y.Z" (the installed package's version) and exits 0."""
    res = CliRunner().invoke(cli_app, ["--version"])
    assert res.exit_code == 0
    assert res.stdout == f"ace {version(DISTRIBUTION)}\n"


@pytest.mark.parametrize("args", [["-h"], ["plan", "-h"], ["reconcile", "-h"], ["run", "-h"],
                                  ["watch", "-h"], ["serve", "-h"]])
def test_h_is_help(args: list[str]) -> None:
    """`-h` shows the same help as `--help`, for ace and for each command."""
    short = CliRunner().invoke(cli_app, args)
    long = CliRunner().invoke(cli_app, [*args[:-1], "--help"])
    assert short.exit_code == 0 and long.exit_code == 0
    assert short.stdout == long.stdout and "Usage:" in short.stdout


def test_version_of_the_installed_command() -> None:
    """`python -m reconciler --version` works as a process, as the `ace` script runs it."""
    out = subprocess.run([sys.executable, "-m", "reconciler", "--version"], capture_output=True,
                         text=True, timeout=60)
    assert out.returncode == 0 and out.stdout.startswith("ace ")


def test_every_command_takes_verbose_and_log_json() -> None:
    """Every command accepts `-v`/`--verbose` and `--log-json`, as the docs say."""
    import typer.main

    group = typer.main.get_command(cli_app)
    assert isinstance(group, typer.main.TyperGroup)
    missing = [(name, flag) for name, cmd in group.commands.items()
               for flag in ("-v", "--verbose", "--log-json")
               if not any(flag in p.opts for p in cmd.params)]
    assert len(group.commands) >= 13 and missing == []
