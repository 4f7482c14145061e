"""The Starlark front end: evaluates the apps file and each app's params.star / app.star into the
desired state (`EvalResult`). Nothing here touches Docker.

- `evaluate(apps_file)` evaluates everything; one broken app never stops the others.
  `dev_apps` runs those app paths in dev mode as if the apps file said `dev=True`.
- `load_entries(apps_file)` only reads the apps file.
- `evaluate_app(entry)` re-evaluates one app (for a watcher); `evaluate_entry(entry)` also returns
  the `AppRuntime` whose `call_action(name, dry_run, args)` runs an action later.

Modules:
- `model`: frozen values (App, ContainerConfig, DevSettings, EvalResult...) and `as_text`
- `errors`: the exception root of all ace (AceError, AppError, EngineError, StateError)
- `appsfile`: the apps file's `app(...)` calls; `appstar`: one app's app.star and params
- `params`: params.star declarations and values; `permissions`: ace.permission rules
- `container`: `container.config` resolved; `container_opts`, `container_volumes`,
  `containerfile` (stages, EXPOSE), `dev_settings`: its parts; `secret_template`: cl_secret
- `builtins`, `context`: the `ace`, `param`, `container`, `proxy` builtins and their state
- `plugins`: the `container.in` / `proxy.in` modules (`container.config`, `container.run`,
  `proxy.config`)
- `sandbox`: Starlark evaluation in a child process with deadlines and memory limits; `limits`
- `channel`: the framed-pickle socket pair between ace and a sandbox child
- `preload`: modules the parent imports while a sandbox child runs (a change's next steps)
- `prints`: `print()` calls as located values, relayed from the sandbox child to a handler
- `declarations`: evaluating the apps file and params.star (no load()); `ranges`: range()
  bounded at 10,000,000 items in every user module
- `runtime`: evaluating entries (many per sandbox child), keeping each runtime for actions
- `locate`: where app files are found (never through a link out of the source), source lines
- `cache`: the persistent evaluation cache; `incremental`: `ace watch`'s in-memory one
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from apps.cache import CacheUpdate, evaluate_cached
from apps.errors import AppError
from apps.limits import DEFAULT_DEADLINE, DEFAULT_MEMORY_LIMIT
from apps.model import App, AppEntry, EvalResult

if TYPE_CHECKING:
    from apps.runtime import AppRuntime, CommandRunner, evaluate_entry

__all__ = [
    "DEFAULT_DEADLINE",
    "DEFAULT_MEMORY_LIMIT",
    "AppError",
    "AppRuntime",
    "CacheUpdate",
    "CommandRunner",
    "evaluate",
    "evaluate_cached",
    "evaluate_app",
    "evaluate_entry",
    "load_entries",
]


def __getattr__(name: str) -> Any:
    """The Starlark side loads on first use: a fully cached pass never imports it."""
    if name in ("AppRuntime", "CommandRunner", "evaluate_entry"):
        from apps import runtime

        return getattr(runtime, name)
    raise AttributeError(f"module 'apps' has no attribute {name!r}")


def load_entries(
    apps_file: str | Path,
    *,
    deadline: float = DEFAULT_DEADLINE,
    dev_apps: Collection[str] = frozenset(),
) -> tuple[AppEntry, ...]:
    """The apps declared in the apps file (those in `dev_apps` marked dev); raises the first
    error as a located AppError."""
    from apps.appsfile import read_apps_file
    from apps.locate import mark_dev

    declared, _ = read_apps_file(apps_file, deadline=deadline)
    if declared.errors:
        e = declared.errors[0]
        raise AppError(e.message, app=e.app, file=e.file, line=e.line, column=e.column)
    return mark_dev(declared.entries, dev_apps)


def evaluate_app(
    entry: AppEntry,
    *,
    deadline: float = DEFAULT_DEADLINE,
    environ: Mapping[str, str] | None = None,
    memory_limit: int = DEFAULT_MEMORY_LIMIT,
) -> App:
    """Evaluate one app; raises a located AppError."""
    from apps.runtime import evaluate_entry

    app, _ = evaluate_entry(entry, deadline=deadline, environ=environ, memory_limit=memory_limit)
    return app


def evaluate(
    apps_file: str | Path,
    *,
    deadline: float = DEFAULT_DEADLINE,
    environ: Mapping[str, str] | None = None,
    memory_limit: int = DEFAULT_MEMORY_LIMIT,
    dev_apps: Collection[str] = frozenset(),
) -> EvalResult:
    """Evaluate the apps file and every app it declares. `deadline` (seconds) applies to the
    apps file and to each app separately; `environ` (default: the process environment) is where
    secrets come from; apps whose path is in `dev_apps` run in dev mode (a path the apps file
    does not declare gives a warning). The one evaluation loop is `evaluate_cached`'s, here
    with nothing cached: every app is evaluated and keeps its action runtime."""
    result, _ = evaluate_cached(apps_file, {}, deadline=deadline, environ=environ,
                                memory_limit=memory_limit, dev_apps=dev_apps)
    return result
