"""What every command shares: the option types, error translation (ace's errors become one line
and exit 1 here, only here), settings from options, the state session, the engine, and a lazy
handle on the rendering module (rich loads only when something is printed)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any, Literal

import typer

from apps.errors import AceError, EngineError
from reconciler.apply.pipeline import Settings, state_dir_for
from reconciler.core.planner import PullPolicy
from reconciler.driver.ports import Engine
from state import StateLock, Store

__all__ = [
    "BackendOpt",
    "DeadlineOpt",
    "DetailOpt",
    "FileOpt",
    "HealthOpt",
    "JsonOpt",
    "KeepOpt",
    "LockOpt",
    "LogJsonOpt",
    "ParallelOpt",
    "PullOpt",
    "RegistryOpt",
    "StateOpt",
    "VerboseOpt",
    "engine",
    "errors",
    "render",
    "require_file",
    "session",
    "settings_from",
]


class _LazyRender:
    """rich loads only when something is printed: a silent no-op reconcile never needs it."""

    def __getattr__(self, name: str) -> Any:
        from reconciler.cli import render as module

        return getattr(module, name)


render = _LazyRender()

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


def engine(backend: str = "docker", registry: str = "", timeout: float = 30.0) -> Engine:
    """The engine, not yet contacted: the first call (usually the container listing) fails
    with the same "not answering" message a ping would give, one round trip cheaper."""
    if backend == "swarm":
        from reconciler.driver.swarm import SwarmEngine

        return SwarmEngine(timeout=timeout, registry=registry)
    if backend != "docker":
        raise AceError(f"unknown backend {backend!r}: use docker or swarm")
    from reconciler.driver.engine import DockerEngine

    return DockerEngine(timeout=timeout)


@contextmanager
def errors() -> Iterator[None]:
    """Translate ace's errors into one clear line and exit 1."""
    try:
        yield
    except EngineError as exc:
        render.err_console.print(f"[red]error[/] Docker engine: {render.escape(str(exc))}",
                                 soft_wrap=True)
        if exc.retryable:
            render.err_console.print("  Is the engine running? Start one (as root: bash "
                                     "scripts/ensure-engine.sh, in ace's checkout) or point "
                                     "DOCKER_HOST at one.", soft_wrap=True)
        raise typer.Exit(1) from None
    except AceError as exc:
        render.err_console.print(f"[red]error[/] {render.escape(str(exc))}", soft_wrap=True)
        raise typer.Exit(1) from None


def require_file(file: Path) -> None:
    if not file.exists():
        raise AceError(f"apps file {file} not found: pass -f FILE or set ACE_FILE")


def settings_from(file: Path, state_dir: Path | None, **kw: Any) -> Settings:
    """Settings for a command run on `file` (AceError when it does not exist)."""
    require_file(file)
    return Settings(apps_file=file.resolve(),
                    state_dir=state_dir_for(file, str(state_dir) if state_dir else None), **kw)


@contextmanager
def session(settings: Settings, *, lock_timeout: float | None) -> Iterator[tuple[Store, Engine]]:
    """The state store (and the state lock when `lock_timeout` is given) and the engine."""
    lock = None
    if lock_timeout is not None:
        lock = StateLock(settings.state_dir).acquire(
            lock_timeout,
            lambda msg: render.err_console.print(msg, style="yellow", markup=False))
    try:
        with Store.open(settings.state_dir) as store:
            yield store, engine(settings.backend, settings.registry)
    finally:
        if lock is not None:
            lock.release()
