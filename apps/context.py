"""Per-evaluation state shared by the app builtins, and argument binding for plugin calls."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from apps.errors import AppError
from apps.model import AppEntry, Permission
from apps.permissions import PluginCall
from apps.sandbox import BUILTIN_PREFIX, Deadline, ErrorSink, HostChannel, Location, locate

__all__ = ["AppContext", "bind", "given_count", "strings"]


@dataclass(slots=True)
class AppContext:
    """Mutable state of one app evaluation (in config mode) or one action call (action mode)."""

    app: str
    entry: AppEntry
    search_dirs: tuple[str, ...]
    params: dict[str, Any]
    deadline: Deadline
    mode: Literal["config", "action"] = "config"
    snapshot: Mapping[str, str] | None = None  # action mode: read files only from here
    host: HostChannel | None = None
    sink: ErrorSink = field(default_factory=ErrorSink)
    files: list[str] = field(default_factory=list)
    sources: dict[str, str] = field(default_factory=dict)
    calls: list[PluginCall] = field(default_factory=list)
    container_calls: list[tuple[dict[str, Any], PluginCall]] = field(default_factory=list)
    app_records: list[dict[str, Any]] = field(default_factory=list)
    action_records: list[dict[str, Any]] = field(default_factory=list)
    permissions: tuple[Permission, ...] = ()
    undeclared: dict[str, str] = field(default_factory=dict)  # supplied, not in params.star

    def is_user(self, file: str) -> bool:
        return not file.startswith(BUILTIN_PREFIX)

    def where(self, call_stack: str, hint: str) -> Location:
        loc = locate(call_stack, self.is_user, hint)
        return loc or Location(self.entry.file, self.entry.line, 1)

    def fail(self, message: str, loc: Location | None = None) -> AppError:
        err = AppError(
            message,
            app=self.app,
            file=loc.file if loc else "",
            line=loc.line if loc else 0,
            column=loc.column if loc else 0,
        )
        return self.sink.record(err)

    def read(self, path: str) -> str:
        if self.snapshot is not None:
            text = self.snapshot[path]
        else:
            with open(path, encoding="utf-8") as f:
                text = f.read()
        if path not in self.sources:
            self.files.append(path)
            self.sources[path] = text
        return text


def given_count(params: Sequence[tuple[str, Any]], given: Mapping[str, Any]) -> int:
    """How many leading parameters cover every argument the caller gave."""
    names = [n for n, _ in params]
    return max((names.index(k) + 1 for k in given if k in names), default=0)


def bind(
    ctx: AppContext,
    call: str,
    params: Sequence[tuple[str, Any]],
    args: Sequence[Any],
    kwargs: Mapping[str, Any],
    loc: Location | None = None,
    extra: Sequence[str] = (),
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Bind a call's arguments to `params` (name, default; default None = required). Returns
    (every parameter's value in order, only the arguments the caller gave)."""
    names = [n for n, _ in params]
    if len(args) > len(names):
        raise ctx.fail(
            f"{call} takes at most {len(names)} positional arguments, got {len(args)}", loc
        )
    given: dict[str, Any] = dict(zip(names, args, strict=False))
    for key, value in kwargs.items():
        if key not in names and key not in extra:
            raise ctx.fail(
                f"{call} got an unknown keyword argument {key!r}; known: {', '.join(names)}", loc
            )
        if key in given:
            raise ctx.fail(f"{call} got argument {key!r} twice", loc)
        given[key] = value
    bound: dict[str, Any] = {}
    for name, default in params:
        if name in given:
            bound[name] = given[name]
        elif default is None:
            raise ctx.fail(f"{call} is missing the required argument {name!r}", loc)
        else:
            bound[name] = json.loads(json.dumps(default))
    return bound, given


def strings(ctx: AppContext, call: str, what: str, value: Any) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ctx.fail(f"{call}: {what} must be a list of strings, got {json.dumps(value)}")
    return list(value)
