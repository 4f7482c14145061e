"""Evaluating one app: params.star, app.star (with its loads) and the container config, into an
`App`. Runs inside the sandbox child (see `apps.sandbox.run_isolated`)."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from typing import Any

import starlark as sl

from apps.builtins import install_app_builtins
from apps.container import files_read, resolve_container
from apps.context import AppContext
from apps.errors import AppError
from apps.locate import (
    SPEC_ROOT,
    SourceEscape,
    entry_column,
    find_file,
    known_specs,
    search_dirs,
)
from apps.model import Action, App, AppEntry, ContainerConfig, Route, as_text
from apps.params import (
    ParamDecl,
    evaluate_params,
    resolve_params,
    undeclared_warning,
)
from apps.permissions import check_call, lookup_secret, resolve_secrets, secret_keys
from apps.plugins import plugin_module
from apps.sandbox import DIALECT, GLOBALS, Location, eval_options, starlark_error

__all__ = [
    "SPEC_ROOT",
    "AppLoader",
    "build_app",
    "entry_location",
    "evaluate_app_star",
    "find_file",
    "known_specs",
    "search_dirs",
]

_NO_ATTR = re.compile(r"Object of type `struct` has no attribute `([A-Za-z_][A-Za-z0-9_]*)`")


def entry_location(entry: AppEntry) -> Location:
    """The `app(...)` call of the apps file that declared `entry`."""
    return Location(entry.file, entry.line, entry_column(entry))


class AppLoader:
    """`load()` for app files: plugins, and .star files of the app (cached, cycles detected)."""

    def __init__(self, ctx: AppContext, root_file: str) -> None:
        self.ctx = ctx
        self.cache: dict[str, sl.FrozenModule] = {}
        self.stack: list[str] = [root_file]

    def __call__(self, module_id: str) -> sl.FrozenModule:
        try:
            return self._load(module_id)
        except AppError as e:
            raise self.ctx.sink.record(e) from None

    def _fail(self, message: str) -> AppError:
        return AppError(message, app=self.ctx.app)

    def _load(self, module_id: str) -> sl.FrozenModule:
        if module_id in self.cache:
            return self.cache[module_id]
        if module_id.endswith(".in"):
            module = plugin_module(self.ctx, module_id)
            if module is None:
                raise self._fail(
                    f"unknown plugin {module_id!r}: ace provides container.in and proxy.in"
                )
            self.cache[module_id] = module
            return module
        if not module_id.endswith(".star"):
            raise self._fail(
                f"cannot load {module_id!r}: load .star files of the app or the plugins "
                "container.in and proxy.in"
            )
        if module_id.startswith("/") or os.path.isabs(module_id):
            raise self._fail(
                f"cannot load {module_id!r}: absolute paths are not allowed; load files of the "
                "app by a path relative to its source"
            )
        rel = os.path.normpath(module_id)
        if rel == ".." or rel.startswith(".." + os.sep):
            raise self._fail(f"cannot load {module_id!r}: it is outside the app's source")
        try:
            path = find_file(self.ctx.search_dirs, rel)
        except SourceEscape as e:
            raise self._fail(f"cannot load {module_id!r}: {e}") from None
        if path is None:
            raise self._fail(
                f"cannot load {module_id!r}: no such file in {', '.join(self.ctx.search_dirs)}"
            )
        if path in self.stack:
            cycle = [*self.stack[self.stack.index(path) :], path]
            raise self._fail(
                "load cycle: " + " -> ".join(os.path.basename(p) for p in cycle)
                + "; remove one of these loads"
            )
        if path in self.cache:
            return self.cache[path]
        self.stack.append(path)
        try:
            frozen = self.evaluate(path).freeze()
        finally:
            self.stack.pop()
        self.cache[path] = frozen
        self.cache[module_id] = frozen
        return frozen

    def evaluate(self, path: str) -> sl.Module:
        """Evaluate one user file with the app builtins; raise a located AppError."""
        ctx = self.ctx
        module = sl.Module()
        install_app_builtins(ctx, module)
        try:
            ast = sl.parse(path, ctx.read(path), DIALECT)
            sl.eval_with(eval_options(ctx.deadline), module, ast, GLOBALS, sl.FileLoader(self))
        except (sl.StarlarkError, AppError) as e:
            err = starlark_error(
                e, app=ctx.app, sink=ctx.sink, is_user=ctx.is_user, deadline=ctx.deadline,
                fallback=Location(path, 1, 1), rewrite=self._rewrite,
            )
            raise ctx.sink.record(err) from None
        except OSError as e:
            err = AppError(f"cannot read {path}: {e}", app=ctx.app, file=path, line=1, column=1)
            raise ctx.sink.record(err) from None
        return module

    def _rewrite(self, message: str, text: str) -> str:
        m = _NO_ATTR.search(message)
        if m and re.search(r"\bparam\." + m[1] + r"\b", text):
            declared = ", ".join(self.ctx.params) or "none"
            if m[1] in self.ctx.undeclared:
                return (
                    f"param {m[1]} is not declared in params.star (declared params: "
                    f"{declared}); the apps file gives it a value, but an undeclared param "
                    f"only reaches the container's environment: declare it with param(...) "
                    f"to read it as param.{m[1]}"
                )
            return (
                f"param {m[1]} is not declared in params.star (declared params: {declared}); "
                "declare it with param(...) or fix the name"
            )
        return message


def evaluate_app_star(ctx: AppContext, app_star: str) -> tuple[sl.Module, dict[str, Any]]:
    """Evaluate app.star; return its module and the record of its global `app = ace.app(...)`."""
    loader = AppLoader(ctx, app_star)
    module = loader.evaluate(app_star)
    fix = "app.star must end with a global `app = ace.app(...)`"
    check = (
        'ace_internal_app_id = (app._ace_app if type(app) == "struct" and hasattr(app, "_ace_app") '
        "else -1)\n"
    )
    try:
        sl.eval(module, sl.parse("<ace:check>", check, DIALECT), GLOBALS)
    except sl.StarlarkError:
        raise AppError(f"{fix}: it defines no `app`", app=ctx.app, file=app_star, line=1,
                       column=1) from None
    index = module["ace_internal_app_id"]
    if not isinstance(index, int) or index < 0:
        raise AppError(f"{fix}: `app` is not the value of ace.app(...)", app=ctx.app,
                       file=app_star, line=1, column=1)
    return module, ctx.app_records[index]


def _env_params(
    ctx: AppContext, decls: tuple[ParamDecl, ...], origin: Mapping[str, Location],
    record: Mapping[str, Any], environ: Mapping[str, str],
) -> tuple[dict[str, str], frozenset[str]]:
    """The params as the container's environment, and the names whose value holds a secret."""
    types = {d.name: d.type for d in decls}
    out: dict[str, str] = {}
    secret: set[str] = set()
    given = [*ctx.params.items(), *ctx.undeclared.items()]
    for name, value in given:
        if name == "secrets":
            continue
        text = as_text(value)
        if types.get(name, "STRING") == "STRING":
            loc = origin[name]
            if secret_keys(text):
                secret.add(name)
            text = resolve_secrets(
                text, app=ctx.app, param=name, permissions=record["permissions"],
                environ=environ, where=(loc.file, loc.line, loc.column),
            )
        out[name] = text
    return out, frozenset(secret)


def build_app(
    ctx: AppContext,
    decls: tuple[ParamDecl, ...],
    origin: Mapping[str, Location],
    record: Mapping[str, Any],
    environ: Mapping[str, str],
) -> App:
    """Check the recorded plugin calls, resolve the container and assemble the App."""
    permissions = tuple(record["permissions"])
    for call in ctx.calls:
        check_call(ctx.app, call, permissions)
    container: ContainerConfig | None = None
    extra_files: list[str] = []
    if record["container"] is not None:
        given, call = ctx.container_calls[record["container"]]
        env_params, secret_env = _env_params(ctx, decls, origin, record, environ)
        container = resolve_container(
            given, entry=ctx.entry, search_dirs=ctx.search_dirs, params=ctx.params,
            env_params=env_params, secret_env=secret_env, file=call.file, line=call.line,
            column=call.column,
            secret=lambda key: lookup_secret(
                key, app=ctx.app, permissions=permissions, environ=environ
            ),
        )
        extra_files = [os.path.abspath(f) for f in files_read(container)]
    routes = tuple(
        Route(
            path=r["path"],
            url=r["config"]["url"],
            strip_path=r["config"]["strip_path"],
            preserve_host=r["config"]["preserve_host"],
            strip_app=r["config"]["strip_app"],
            response_headers=tuple(sorted(r["config"]["response_headers"].items())),
        )
        for r in record["routes"]
    )
    actions = tuple(
        Action(name=a["name"], path=a["path"], description=a["description"],
               hidden=tuple(a["hidden"]))
        for a in (ctx.action_records[i] for i in record["actions"])
    )
    files = list(ctx.files)
    files.extend(f for f in extra_files if f not in files)
    declared = [d.name for d in decls]
    return App(
        entry=ctx.entry,
        name=record["name"],
        params=tuple(ctx.params.items()),
        routes=routes,
        permissions=permissions,
        actions=actions,
        container=container,
        settings=tuple(record["settings"].items()),
        files=tuple(files),
        redirect_bare_path=bool(record.get("redirect_bare_path", False)),
        static_only=record["static_only"],
        index=record["index"],
        single_file=record["single_file"],
        warnings=tuple(
            undeclared_warning(name, declared, container is not None) for name in ctx.undeclared
        ) + _static_warnings(ctx.entry, record),
    )


def _static_warnings(entry: AppEntry, record: Mapping[str, Any]) -> tuple[str, ...]:
    """A static app needs files to serve: its source directory."""
    if record["static_only"] and entry.source in ("", "-"):
        return ('static app without files: its source is "-", so ace\'s proxy has nothing to '
                "serve; give app(...) a source directory (a spec supplies only app.star)",)
    return ()


def load_params(
    ctx: AppContext, where: Location
) -> tuple[tuple[ParamDecl, ...], dict[str, Location]]:
    """Evaluate params.star (if any) and resolve the entry's supplied values into ctx.params."""
    decls: tuple[ParamDecl, ...] = ()
    try:
        path = find_file(ctx.search_dirs, "params.star")
    except SourceEscape as e:
        raise AppError(f"cannot read params.star: {e}", app=ctx.app, file=where.file,
                       line=where.line, column=where.column) from None
    if path is not None:
        try:
            text = ctx.read(path)
        except OSError as e:
            raise AppError(f"cannot read {path}: {e}", app=ctx.app, file=path) from None
        decls = evaluate_params(ctx.app, path, text, ctx.deadline)
    values, origin, undeclared = resolve_params(ctx.app, decls, dict(ctx.entry.params), where)
    ctx.params.update(values)
    ctx.undeclared.update(undeclared)
    origin.update({name: where for name in undeclared})
    return decls, origin
