"""The apps file (OpenRun's declarative apply file): `app(path, source, spec=..., ...)` calls."""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

import starlark as sl

from apps.declarations import eval_declarations
from apps.errors import AppError
from apps.locate import known_specs
from apps.model import AppEntry, EvalError, as_text
from apps.sandbox import (
    BUILTIN_PREFIX,
    DEFAULT_DEADLINE,
    DEFAULT_MEMORY_LIMIT,
    Deadline,
    ErrorSink,
    HostChannel,
    Location,
    locate,
    run_isolated,
    starlark_error,
)

__all__ = ["IGNORED_KEYWORDS", "AppsFile", "read_apps_file"]

APP_PARAMS: tuple[tuple[str, Any], ...] = (
    ("path", None),
    ("source", None),
    ("spec", ""),
    ("params", {}),
    ("container_opts", {}),
    ("container_args", {}),
    ("container_vols", []),
    ("dev", False),
)
# OpenRun's other apply keywords: accepted, ignored with a warning.
IGNORED_KEYWORDS = (
    "auth", "git_auth", "git_branch", "git_commit", "stage_at", "sidecars",
    "bindings", "bind_perm", "verify", "jobs", "approve", "reload",
)
# OpenRun's app_config key ace honours: seconds without traffic before the app is stopped (0:
# never); the other keys are accepted with a warning
IDLE_SHUTDOWN_KEY = "container.idle_shutdown_secs"
_SEGMENT = re.compile(r"^[A-Za-z0-9._~!$&'()*+,;=:@%-]+$")

_PRELUDE = """
def app(*args, **kwargs):
    _ace_app(call_stack(), *args, **kwargs)

def config(key, default=None):
    return default
"""


@dataclass(slots=True)
class AppsFile:
    """What the apps file declared. `errors` with app "" concern the file itself (then `ok` is
    False); others belong to one declared app, whose path is in `failed`."""

    entries: list[AppEntry] = field(default_factory=list)
    errors: list[EvalError] = field(default_factory=list)
    warnings: list[EvalError] = field(default_factory=list)
    failed: set[str] = field(default_factory=set)
    ok: bool = True


def _error(err: AppError) -> EvalError:
    return EvalError(err.app, err.file, err.line, err.column, err.message)


def _path_problem(path: str) -> str:
    if not path.startswith("/"):
        return "must start with /"
    if path == "/":
        return ""
    segments = path[1:].split("/")
    if any(s == "" for s in segments):
        return "has an empty segment (// or a trailing /)"
    if any(s in (".", "..") for s in segments):
        return "must not contain . or .. segments"
    bad = next((s for s in segments if not _SEGMENT.match(s)), None)
    if bad is not None:
        return f"has an invalid segment {bad!r}"
    return ""


def _strings(value: Any, what: str) -> tuple[tuple[str, str], ...]:
    if not isinstance(value, dict):
        raise ValueError(f"{what} must be a dict, got {json.dumps(value)}")
    return tuple(
        (str(k), as_text(v))
        for k, v in value.items()
    )


def _idle_shutdown(config: Any, path: str, warn: Callable[[str], None]) -> float | None:
    """The app's idle shutdown from app_config (None: not set); other keys are warned about."""
    if not isinstance(config, dict):
        raise ValueError(f"app {path}: app_config must be a dict, got {json.dumps(config)}")
    for key in config:
        if key != IDLE_SHUTDOWN_KEY:
            warn(f"app_config key {key!r} is ignored by ace (it reads {IDLE_SHUTDOWN_KEY!r})")
    value = config.get(IDLE_SHUTDOWN_KEY)
    if value is None:
        return None
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
        raise ValueError(f"app {path}: app_config {IDLE_SHUTDOWN_KEY} must be a number of "
                         f"seconds (0: never stop the app when idle), got {json.dumps(value)}")
    return float(value)


def _evaluate(apps_file: str, text: str, deadline: Deadline) -> AppsFile:
    out = AppsFile()
    sink = ErrorSink()
    base = os.path.dirname(apps_file)
    seen: dict[str, int] = {}

    def is_user(file: str) -> bool:
        return not file.startswith(BUILTIN_PREFIX)

    def app_(call_stack: str, *args: Any, **kwargs: Any) -> None:
        loc = locate(call_stack, is_user, "app") or Location(apps_file, 1, 1)

        def err(message: str, app: str = "") -> EvalError:
            return EvalError(app, loc.file, loc.line, loc.column, message)

        names = [n for n, _ in APP_PARAMS]
        given: dict[str, Any] = dict(zip(names, args, strict=False))
        if len(args) > len(names):
            out.errors.append(err(f"app() takes at most {len(names)} positional arguments"))
            return
        path = given.get("path", kwargs.get("path"))
        if not isinstance(path, str):
            out.errors.append(err(f"app(): path must be a string like \"/web\", got {path!r}"))
            return
        problem = _path_problem(path)
        if problem:
            out.errors.append(err(f"app path {path!r} {problem}; use a path like \"/web\""))
            return
        app_errors: list[str] = []
        app_config: Any = {}
        for key, value in kwargs.items():
            if key in given:
                app_errors.append(f"app(): argument {key!r} given twice")
            elif key in names:
                given[key] = value
            elif key == "app_config":
                app_config = value
            elif key in IGNORED_KEYWORDS:
                out.warnings.append(err(f"app keyword {key!r} is ignored by ace", path))
            else:
                app_errors.append(
                    f"app(): unknown keyword argument {key!r}; known: {', '.join(names)}"
                )
        if path in seen:
            out.errors.append(
                err(f"app path {path} is declared twice (first at line {seen[path]}); "
                    "give each app its own path", path)
            )
            out.failed.add(path)
            out.entries = [e for e in out.entries if e.path != path]
            return
        seen[path] = loc.line
        values = {n: given.get(n, d) for n, d in APP_PARAMS}
        try:
            source = values["source"]
            if not isinstance(source, str) or not source:
                raise ValueError(
                    f"app {path}: source must be a directory path or \"-\", got {source!r}"
                )
            spec = values["spec"]
            if not isinstance(spec, str):
                raise ValueError(f"app {path}: spec must be a string")
            if spec and spec not in known_specs():
                raise ValueError(
                    f"app {path}: unknown spec {spec!r}; built-in specs: "
                    f"{', '.join(known_specs())}"
                )
            if source != "-":
                if "://" in source or source.startswith(("git@", "github.com/")):
                    raise ValueError(
                        f"app {path}: git sources are not supported ({source}); clone it and "
                        "give the local directory as source"
                    )
                source = os.path.abspath(os.path.join(base, os.path.expanduser(source)))
                if not os.path.isdir(source):
                    raise ValueError(
                        f"app {path}: source directory {source} does not exist; fix source= "
                        "(relative paths are relative to the apps file)"
                    )
            vols = values["container_vols"]
            if not isinstance(vols, list) or not all(isinstance(v, str) for v in vols):
                raise ValueError(f"app {path}: container_vols must be a list of strings")
            if not isinstance(values["dev"], bool):
                raise ValueError(f"app {path}: dev must be True or False")
            entry = AppEntry(
                path=path,
                source=source,
                spec=spec,
                params=_strings(values["params"], f"app {path}: params"),
                container_opts=_strings(values["container_opts"], f"app {path}: container_opts"),
                container_args=_strings(values["container_args"], f"app {path}: container_args"),
                container_vols=tuple(vols),
                dev=values["dev"],
                file=apps_file,
                line=loc.line,
                idle_shutdown=_idle_shutdown(app_config, path,
                                             lambda m: out.warnings.append(err(m, path))),
            )
        except ValueError as e:
            app_errors.append(str(e))
        if app_errors:
            out.errors.extend(err(m, path) for m in app_errors)
            out.failed.add(path)
            return
        out.entries.append(entry)

    try:
        eval_declarations("apps", _PRELUDE, "_ace_app", app_, apps_file, text, deadline, sink)
    except (sl.StarlarkError, AppError) as e:
        located = starlark_error(
            e, app="", sink=sink, is_user=is_user, deadline=deadline,
            fallback=Location(apps_file, 1, 1),
        )
        error = _error(located)
        if deadline.expired and seen:  # say how far it got: a long file, or a loop?
            error = replace(error, message=error.message + (
                f" ({len(seen)} app(...) calls were declared by then, the last at line "
                f"{max(seen.values())}; a longer apps file needs a longer --eval-deadline)"))
        return AppsFile(errors=[error], warnings=out.warnings, ok=False)
    out.ok = not any(e.app == "" for e in out.errors)
    return out


def read_apps_file(
    apps_file: str | os.PathLike[str],
    *,
    deadline: float = DEFAULT_DEADLINE,
    memory_limit: int = DEFAULT_MEMORY_LIMIT,
) -> tuple[AppsFile, str]:
    """Evaluate the apps file in the sandbox; return what it declared and its absolute path."""
    path = os.path.abspath(os.fspath(apps_file))
    try:
        with open(path, encoding="utf-8") as f:
            text = f.read()
    except OSError as e:
        reason = e.strerror or str(e)
        return AppsFile(
            errors=[EvalError("", path, 0, 0, f"cannot read the apps file: {reason}")], ok=False
        ), path

    def child(_: HostChannel) -> AppsFile:
        return _evaluate(path, text, Deadline(deadline))

    try:
        result = run_isolated(
            child, app="", timeout=deadline + 1.0, memory_limit=memory_limit,
            fallback=Location(path, 1, 1),
        )
    except AppError as e:
        return AppsFile(errors=[_error(e)], ok=False), path
    return result, path

