"""The typer declarations of the options several commands share. Loaded only when typer builds
the command line (help, shell use of the other commands, the CLI reference): the common
invocations of `reconcile`, `plan`, `status` and `drift` run without typer (`cli.fast`), whose
table a test keeps equal to these declarations."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

import typer

from reconciler.core.planner import PullPolicy

__all__ = [
    "Backend",
    "BackendOpt",
    "DeadlineOpt",
    "DetailOpt",
    "FileOpt",
    "HealthOpt",
    "ImagesOpt",
    "JsonOpt",
    "KeepOpt",
    "LockOpt",
    "LogJsonOpt",
    "ParallelOpt",
    "PlanOnlyOpt",
    "PullOpt",
    "RegistryOpt",
    "StateOpt",
    "TargetsArg",
    "VerboseOpt",
    "VersionOpt",
    "VolumesOpt",
]

FileOpt = Annotated[Path, typer.Option("-f", "--file", envvar="ACE_FILE",
                                       help="The apps file (state file).")]
StateOpt = Annotated[Path | None, typer.Option("--state-dir", envvar="ACE_STATE_DIR",
                                               help="State dir (default: .ace by the apps file).")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON for machines.")]
LogJsonOpt = Annotated[bool, typer.Option("--log-json", help="structlog JSON lines on stderr.")]
VerboseOpt = Annotated[bool, typer.Option(
    "-v", "--verbose", help="Info logs on stderr (and more detail where the command has it).")]
PullOpt = Annotated[PullPolicy, typer.Option("--pull", help="missing | always | never")]
ParallelOpt = Annotated[int, typer.Option("--parallel", min=1, help="Apps applied at once.")]
HealthOpt = Annotated[float, typer.Option("--health-timeout", help="Seconds to wait for health.")]
LockOpt = Annotated[float, typer.Option("--lock-timeout", help="Seconds to wait for the lock.")]
DeadlineOpt = Annotated[float, typer.Option("--eval-deadline", help="Seconds per app evaluation.")]
KeepOpt = Annotated[int, typer.Option(
    "--keep-images", min=0,
    help="After a build or replace, keep each app's last N image versions (0: keep all).")]
DetailOpt = Annotated[bool, typer.Option("--detailed-exitcode",
                                         help="Exit 2 when changes were made or are pending.")]
Backend = Literal["docker", "swarm"]
BackendOpt = Annotated[Backend, typer.Option(
    "--backend", envvar="ACE_BACKEND",
    help="docker: one engine; swarm: a Swarm cluster whose manager DOCKER_HOST names.")]
RegistryOpt = Annotated[str, typer.Option(
    "--registry", envvar="ACE_REGISTRY",
    help="HOST[:PORT] the swarm backend pushes built images to (needed with several nodes).")]
PlanOnlyOpt = Annotated[bool, typer.Option("--dry-run", help="Plan only.")]
TargetsArg = Annotated[list[str] | None, typer.Argument(help="App paths (default: all).")]
ImagesOpt = Annotated[bool, typer.Option("--images", help="Remove ace's images too.")]
VolumesOpt = Annotated[bool, typer.Option("--volumes", help="Remove named volumes.")]


def _show_version(value: bool) -> None:
    if value:
        from reconciler.version import version

        typer.echo(f"ace {version()}")
        raise typer.Exit()


VersionOpt = Annotated[bool, typer.Option("--version", is_eager=True, callback=_show_version,
                                          help="Print ace's version and exit.")]
