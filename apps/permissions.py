"""Plugin-call permissions and secret references, as in OpenRun but tightened: argument patterns
match the call's arguments whether they were passed by position or by keyword."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from apps.errors import AppError
from apps.model import Permission, as_text

__all__ = [
    "CONTAINER_URL",
    "PluginCall",
    "check_call",
    "is_permitted",
    "lookup_secret",
    "parse_permission",
    "pattern_matches",
    "resolve_secrets",
    "secret_keys",
]

CONTAINER_URL = "<CONTAINER_URL>"
PLUGIN_FILES = {"container": "container.in", "proxy": "proxy.in"}

_SECRET = re.compile(r"\{\{\s*secret\s+\"([^\"]*)\"\s*\}\}")


@dataclass(frozen=True, slots=True)
class PluginCall:
    """One call of a plugin function with its arguments bound to the function's parameter order
    (`args[i]` is the value of parameter i, given positionally, by keyword or by default)."""

    plugin: str  # "container.in"
    method: str  # "config"
    args: tuple[Any, ...]
    file: str
    line: int
    column: int
    given: int = -1  # how many leading parameters the caller gave (-1: all)



def pattern_matches(pattern: str, value: Any) -> bool:
    """An exact string, or `regex:RE` matched against the whole value."""
    text = as_text(value)
    if pattern.startswith("regex:"):
        try:
            return re.fullmatch(pattern[len("regex:") :], text) is not None
        except re.error:
            return False
    return pattern == text


def _default_allowed(call: PluginCall) -> bool:
    if call.plugin == "container.in" and call.method == "config":
        return True
    return (
        call.plugin == "proxy.in"
        and call.method == "config"
        and bool(call.args)
        and call.args[0] == CONTAINER_URL
    )


def _entry_matches(perm: Permission, call: PluginCall) -> bool:
    if perm.plugin != call.plugin or perm.method != call.method:
        return False
    if len(perm.arguments) > len(call.args):
        return False
    return all(pattern_matches(p, a) for p, a in zip(perm.arguments, call.args, strict=False))


def is_permitted(call: PluginCall, permissions: Sequence[Permission]) -> bool:
    return _default_allowed(call) or any(_entry_matches(p, call) for p in permissions)


def check_call(app: str, call: PluginCall, permissions: Sequence[Permission]) -> None:
    """Raise a located AppError naming the app, the call and the fix unless `call` is permitted."""
    if is_permitted(call, permissions):
        return
    shown = list(call.args if call.given < 0 else call.args[: call.given])
    suggestion = json.dumps([as_text(a) for a in call.args[:1] if a is not None])
    raise AppError(
        f"app {app} is not permitted to call {call.plugin.removesuffix('.in')}.{call.method} "
        f"with arguments {json.dumps(shown)}; add ace.permission(\"{call.plugin}\", "
        f"\"{call.method}\", {suggestion}) (or without arguments to allow every call) to the "
        "permissions of ace.app in app.star",
        app=app,
        file=call.file,
        line=call.line,
        column=call.column,
    )


def secret_keys(value: str) -> list[str]:
    return _SECRET.findall(value)


def _secret_allowed(key: str, permissions: Sequence[Permission]) -> bool:
    for perm in permissions:
        for allow in perm.secrets:
            if allow and len(allow) <= 1 and all(pattern_matches(p, key) for p in allow):
                return True
    return False


def lookup_secret(key: str, *, app: str, permissions: Sequence[Permission],
                  environ: Mapping[str, str]) -> str:
    """The value of secret `key` from `environ`; ValueError (saying how to fix it) unless an
    allow-list permits the key and the variable is set."""
    if not _secret_allowed(key, permissions):
        raise ValueError(
            f"secret {key!r} is not allowed for app {app}; add secrets=[[\"{key}\"]] (or "
            '[["regex:.*"]]) to one of its ace.permission entries in app.star'
        )
    if key not in environ:
        raise ValueError(
            f"secret {key!r} comes from the environment variable {key}, which is not set; "
            "set it where ace runs"
        )
    return environ[key]


def resolve_secrets(
    value: str,
    *,
    app: str,
    param: str,
    permissions: Sequence[Permission],
    environ: Mapping[str, str],
    where: tuple[str, int, int],
) -> str:
    """Replace each `{{secret "KEY"}}` in `value` by environ[KEY] if an allow-list permits KEY."""

    def replace(m: re.Match[str]) -> str:
        try:
            return lookup_secret(m[1], app=app, permissions=permissions, environ=environ)
        except ValueError as e:
            file, line, column = where
            raise AppError(
                f"param {param}: {e}", app=app, file=file, line=line, column=column
            ) from None

    return _SECRET.sub(replace, value)


def parse_permission(raw: Mapping[str, Any]) -> Permission:
    return Permission(
        plugin=str(raw["plugin"]),
        method=str(raw["method"]),
        arguments=tuple(as_text(a) for a in raw.get("arguments") or ()),
        type=str(raw.get("type") or ""),
        secrets=tuple(tuple(as_text(p) for p in s) for s in raw.get("secrets") or ()),
        permit=tuple(as_text(p) for p in raw.get("permit") or ()),
    )
