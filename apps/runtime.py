"""Evaluating one app entry in the sandbox, and the runtime that calls its actions later."""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
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

__all__ = ["GRACE", "AppRuntime", "CommandRunner", "evaluate_entry"]

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


def evaluate_entry(
    entry: AppEntry,
    *,
    deadline: float = DEFAULT_DEADLINE,
    environ: Mapping[str, str] | None = None,
    memory_limit: int = DEFAULT_MEMORY_LIMIT,
) -> tuple[App, AppRuntime]:
    """Evaluate one app (params.star, app.star, container config) in the sandbox."""
    env = dict(os.environ if environ is None else environ)
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

    def child(_: HostChannel) -> tuple[App, dict[str, str], tuple[ParamDecl, ...]]:
        ctx = AppContext(
            app=entry.path, entry=entry, search_dirs=dirs, params={},
            deadline=Deadline(deadline),
        )
        decls, origin = load_params(ctx, where)
        record = evaluate_app_star(ctx, app_star)[1]
        return build_app(ctx, decls, origin, record, env), dict(ctx.sources), decls

    app, sources, decls = run_isolated(
        child, app=entry.path, timeout=deadline + GRACE, memory_limit=memory_limit,
        fallback=Location(app_star, 1, 1),
    )
    runtime = AppRuntime(
        app, app_star=app_star, sources=sources, decls=decls, deadline=deadline,
        memory_limit=memory_limit,
    )
    return app, runtime
