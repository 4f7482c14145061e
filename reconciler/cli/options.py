"""What every command shares: error translation (ace's errors become one line and exit 1 here,
only here), settings from options, the state session, the engine, and lazy handles on the
rendering module (rich loads only when something is printed) and on the option declarations
(`flags`: typer loads only when it builds the command line). Nothing here imports typer: the
common invocations run without it (`cli.fast`)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from importlib import import_module
from pathlib import Path
from typing import TYPE_CHECKING, Any

from apps.errors import AceError, EngineError
from reconciler.apply.pipeline import Settings, state_dir_for
from reconciler.driver.choose import engine_for as engine
from reconciler.driver.ports import Engine
from state import StateLock, Store

if TYPE_CHECKING:
    from reconciler.cli import flags

__all__ = [
    "engine",
    "errors",
    "flags",
    "render",
    "require_file",
    "session",
    "settings_from",
]


class _Lazy:
    """A module imported on first attribute access."""

    def __init__(self, module: str) -> None:
        self._module = module

    def __getattr__(self, name: str) -> Any:
        return getattr(import_module(self._module), name)


# rich loads only when something is printed: a silent no-op reconcile never needs it
render = _Lazy("reconciler.cli.render")
if not TYPE_CHECKING:
    # the commands' annotations name `flags.FileOpt` ...: evaluated only when typer reads them
    flags = _Lazy("reconciler.cli.flags")

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
        raise SystemExit(1) from None
    except AceError as exc:
        render.err_console.print(f"[red]error[/] {render.escape(str(exc))}", soft_wrap=True)
        raise SystemExit(1) from None


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
