"""Evaluating one app entry in the sandbox, and the runtime that calls its actions later."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import starlark as sl

from apps.appstar import (
    build_app,
    entry_location,
    evaluate_app_star,
    find_file,
    load_params,
    search_dirs,
)
from apps.context import AppContext
from apps.errors import AppError
from apps.locate import SourceEscape
from apps.model import App, AppEntry
from apps.params import ParamDecl, convert_value
from apps.sandbox import (
    DEFAULT_DEADLINE,
    DEFAULT_MEMORY_LIMIT,
    DIALECT,
    GLOBALS,
    Deadline,
    HostChannel,
    Location,
    eval_options,
    run_isolated,
    starlark_error,
)

__all__ = ["BATCH", "GRACE", "AppRuntime", "CommandRunner", "evaluate_entries", "evaluate_entry"]

GRACE = 1.0  # seconds the parent waits beyond the deadline before killing a child
CommandRunner = Callable[[Mapping[str, Any]], Mapping[str, Any]]
NO_RUNNER = (
    "container.run needs `ace run`: actions that run commands in the app's container only work "
    "when started with `ace run`"
)


class AppRuntime:
    """Calls the Starlark `run` functions of one evaluated app's actions.

    Each call re-evaluates the app's files exactly as they were read at evaluation time (kept in
    memory) in a sandboxed child, then calls the action. `command_runner`, when set, serves the
    action's `container.run(...)` calls: it receives the call's arguments (path, args, env,
    process_partial, stdout_file, parse, stream, include_stderr, cwd) and returns a mapping with
    `value`, `error` and `error_code`, which Starlark sees as a struct.
    """

    def __init__(
        self,
        app: App,
        *,
        app_star: str,
        sources: Mapping[str, str],
        decls: tuple[ParamDecl, ...],
        deadline: float,
        memory_limit: int,
    ) -> None:
        self.app = app
        self.app_star = app_star
        self.sources = dict(sources)
        self.decls = decls
        self.deadline = deadline
        self.memory_limit = memory_limit
        self.command_runner: CommandRunner | None = None

    def _host(self, kind: str, payload: Any) -> Any:
        if kind != "container.run":
            raise RuntimeError(f"unknown host call {kind}")
        if self.command_runner is None:
            raise RuntimeError(NO_RUNNER)
        return dict(self.command_runner(payload))

    def _args(self, args: Mapping[str, Any]) -> dict[str, Any]:
        declared = {d.name: d for d in self.decls}
        values = dict(self.app.params)
        for name, value in args.items():
            decl = declared.get(name)
            if decl is None:
                known = ", ".join(declared) or "none"
                raise AppError(
                    f"action argument {name!r} is not a param of app {self.app.path} "
                    f"(params: {known})",
                    app=self.app.path,
                )
            try:
                values[name] = convert_value(decl, value) if isinstance(value, str) else value
            except ValueError as e:
                raise AppError(str(e), app=self.app.path) from None
        return values

    def call_action(self, name: str, dry_run: bool, args: Mapping[str, Any]) -> dict[str, Any]:
        """Run action `name`; return its `ace.result(...)` as a dict (status, values, report,
        param_errors). Raises a located AppError when the action fails."""
        entry = self.app.entry
        values = self._args(args)
        dirs = search_dirs(entry)
        app_star = self.app_star
        params = dict(self.app.params)
        sources = self.sources

        def child(channel: HostChannel) -> dict[str, Any]:
            deadline = Deadline(self.deadline)
            channel.deadline = deadline
            ctx = AppContext(
                app=entry.path, entry=entry, search_dirs=dirs, params=params,
                deadline=deadline, mode="action", snapshot=sources, host=channel,
            )
            module, record = evaluate_app_star(ctx, app_star)
            ctx.permissions = tuple(record["permissions"])
            names = [ctx.action_records[i]["name"] for i in record["actions"]]
            loc: Location = record["location"]
            if name not in names:
                raise AppError(
                    f"app {entry.path} has no action {name!r} (actions: "
                    f"{', '.join(names) or 'none'})",
                    app=entry.path, file=loc.file, line=loc.line, column=loc.column,
                )
            module["_ace_action_args"] = values
            module["_ace_action_dry_run"] = bool(dry_run)
            driver = (
                f"ace_internal_action_out = app.actions[{names.index(name)}].run("
                "_ace_action_dry_run, struct(**_ace_action_args))\n"
            )
            try:
                sl.eval_with(
                    eval_options(deadline), module,
                    sl.parse("<ace:action>", driver, DIALECT), GLOBALS,
                )
            except (sl.StarlarkError, AppError) as e:
                raise starlark_error(
                    e, app=entry.path, sink=ctx.sink, is_user=ctx.is_user, deadline=deadline,
                    fallback=loc,
                ) from None
            out = module["ace_internal_action_out"]
            if not (isinstance(out, dict) and {"status", "values", "report"} <= out.keys()):
                raise AppError(
                    f"action {name!r} of app {entry.path} must return ace.result(...)",
                    app=entry.path, file=loc.file, line=loc.line, column=loc.column,
                )
            return out

        return run_isolated(
            child, app=entry.path, timeout=self.deadline + GRACE,
            memory_limit=self.memory_limit, fallback=Location(app_star, 1, 1), host=self._host,
        )


def _prepare(entry: AppEntry) -> tuple[tuple[str, ...], Location, str]:
    """(search dirs, the app(...) call, app.star) of an entry, checked before any fork."""
    dirs = search_dirs(entry)
    where = entry_location(entry)
    try:
        app_star = find_file(dirs, "app.star")
    except SourceEscape as e:
        raise AppError(f"cannot read app.star: {e}", app=entry.path, file=where.file,
                       line=where.line, column=where.column) from None
    if app_star is None:
        looked = ", ".join(dirs) or "nothing (source is \"-\" and no spec is given)"
        raise AppError(
            f"app {entry.path} has no app.star: looked in {looked}; add an app.star to the "
            "source or give a spec=",
            app=entry.path, file=where.file, line=where.line, column=where.column,
        )
    return dirs, where, app_star


Evaluated = tuple[App, dict[str, str], tuple[ParamDecl, ...]]


def _evaluate_here(entry: AppEntry, dirs: tuple[str, ...], where: Location, app_star: str,
                   deadline: float, env: Mapping[str, str]) -> Evaluated:
    """Evaluate one app in this process (a sandbox child): its App, sources and declarations."""
    ctx = AppContext(
        app=entry.path, entry=entry, search_dirs=dirs, params={}, deadline=Deadline(deadline),
    )
    decls, origin = load_params(ctx, where)
    record = evaluate_app_star(ctx, app_star)[1]
    return build_app(ctx, decls, origin, record, env), dict(ctx.sources), decls


def evaluate_entry(
    entry: AppEntry,
    *,
    deadline: float = DEFAULT_DEADLINE,
    environ: Mapping[str, str] | None = None,
    memory_limit: int = DEFAULT_MEMORY_LIMIT,
) -> tuple[App, AppRuntime]:
    """Evaluate one app (params.star, app.star, container config) in the sandbox."""
    env = dict(os.environ if environ is None else environ)
    dirs, where, app_star = _prepare(entry)
    app, sources, decls = run_isolated(
        lambda _: _evaluate_here(entry, dirs, where, app_star, deadline, env),
        app=entry.path, timeout=deadline + GRACE, memory_limit=memory_limit,
        fallback=Location(app_star, 1, 1),
    )
    runtime = AppRuntime(
        app, app_star=app_star, sources=sources, decls=decls, deadline=deadline,
        memory_limit=memory_limit,
    )
    return app, runtime


BATCH = 200  # apps per sandbox child: a fork costs several times a small app's evaluation


def evaluate_entries(
    entries: Sequence[AppEntry],
    *,
    deadline: float = DEFAULT_DEADLINE,
    environ: Mapping[str, str] | None = None,
    memory_limit: int = DEFAULT_MEMORY_LIMIT,
) -> list[tuple[App, AppRuntime] | AppError]:
    """`evaluate_entry` for each entry, in order, up to BATCH apps per sandbox child. Each app
    keeps its own deadline (the child reports each one, re-arming the hard timeout); a child
    that dies (out of memory, a crash, a hang) costs only the app it was on, which is then
    evaluated alone, as `evaluate_entry` would, and the rest go on in a new child."""
    env = dict(os.environ if environ is None else environ)
    out: list[tuple[App, AppRuntime] | AppError | None] = [None] * len(entries)
    todo: list[tuple[int, tuple[tuple[str, ...], Location, str]]] = []
    for i, entry in enumerate(entries):
        try:
            todo.append((i, _prepare(entry)))
        except AppError as e:
            out[i] = e
    while todo:
        chunk = todo[:BATCH]
        done: list[tuple[str, Any]] = []

        def host(kind: str, payload: tuple[str, Any], done: list[tuple[str, Any]] = done) -> None:
            done.append(payload)

        def child(channel: HostChannel, chunk: list[Any] = chunk) -> None:
            for i, (dirs, where, app_star) in chunk:
                try:
                    result: tuple[str, Any] = (
                        "ok", _evaluate_here(entries[i], dirs, where, app_star, deadline, env))
                except AppError as e:
                    result = ("error", (e.message, e.app, e.file, e.line, e.column))
                channel.call("app_done", result)

        with contextlib.suppress(AppError):  # the child died on chunk[len(done)]: that one
            run_isolated(child, app="", timeout=deadline + GRACE,  # goes alone below
                         memory_limit=memory_limit, fallback=Location("", 0, 0), host=host,
                         rearm=True)
        for (i, (_, _, app_star)), (status, value) in zip(chunk, done, strict=False):
            if status == "ok":
                app, sources, decls = value
                out[i] = (app, AppRuntime(app, app_star=app_star, sources=sources, decls=decls,
                                          deadline=deadline, memory_limit=memory_limit))
            else:
                message, app_, file, line, column = value
                out[i] = AppError(message, app=app_, file=file, line=line, column=column)
        todo = todo[len(done):]
        if todo and len(done) < len(chunk):
            i = todo.pop(0)[0]
            try:
                out[i] = evaluate_entry(entries[i], deadline=deadline, environ=env,
                                        memory_limit=memory_limit)
            except AppError as e:
                out[i] = e
    assert all(r is not None for r in out)
    return [r for r in out if r is not None]
