"""`ace run`: make sure an app's image exists (through the plan/apply machinery), then call one of
its actions, serving the action's `container.run(...)` calls with fresh `--rm` containers of the
app's image.

`container.run` result contract (what the Starlark action sees as a struct):
- `value`: the output — a list of lines (stdout, then stderr unless include_stderr=False),
  the parsed JSON of stdout (parse="json"), or a list of parsed JSON lines (parse="jsonlines").
  Absent when the call failed, so reading it fails the action (see `_value_error`).
- `error`: "" on success, else what went wrong (exit code and the last lines of stderr).
- `error_code`: the command's exit code (124 timeout, 127 executable not found).
With process_partial=True a non-zero exit still returns the output in `value` (and sets error).
stream=True is accepted and behaves like stream=False (output arrives when the command ends);
stdout_file=True returns the path of a file under the state dir holding stdout.
"""

from __future__ import annotations

import json
import os
import shlex
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import apps
from apps.errors import AceError, AppError
from apps.model import Action, App, EvalResult
from apps.params import ParamDecl, convert_value
from reconciler.apply.mounts import app_mounts
from reconciler.apply.pipeline import Prepared, Settings, run_pass
from reconciler.core.types import LABEL_APP, LABEL_INSTALL, DesiredApp, Plan
from reconciler.driver.ports import CommandResult, Engine, VolumeMount
from reconciler.logs import get_logger
from state import StateLock, Store

__all__ = [
    "DEFAULT_TIMEOUT",
    "LABEL_COMMAND",
    "ActionRun",
    "CommandRunner",
    "ensure_image",
    "find_app",
    "parse_params",
    "pick_action",
    "run_action",
]

log = get_logger("ace.run")

DEFAULT_TIMEOUT = 300.0
LABEL_COMMAND = "dev.ace.command"  # "1" on the short-lived containers of container.run
STDERR_TAIL = 10  # lines of stderr quoted in an error
PARSE_MODES = ("", "json", "jsonlines")
_NO_VALUE = "Object of type `struct` has no attribute `value`"


# ---------------------------------------------------------------------------------------------
# Finding the app, the action and the params


def find_app(result: EvalResult, path: str) -> tuple[App, apps.AppRuntime]:
    """The evaluated app at `path` and its runtime; AceError when unknown or broken."""
    if not result.apps_file_ok:
        first = result.errors[0] if result.errors else None
        raise AceError(f"the apps file has errors: {first}" if first else "the apps file failed")
    if path in result.failed:
        errs = "\n  ".join(str(e) for e in result.errors if e.app == path)
        raise AceError(f"app {path} has errors:\n  {errs}")
    app = next((a for a in result.apps if a.path == path), None)
    if app is None:
        known = ", ".join(a.path for a in result.apps) or "none"
        raise AceError(f"unknown app {path} (apps: {known})")
    runtime = result.runtimes.get(path)
    if not isinstance(runtime, apps.AppRuntime):
        raise AceError(f"app {path} has no action runtime")
    return app, runtime


def pick_action(app: App, name: str | None) -> Action:
    """The action called `name` (or whose path is `name`); with no name, the app's only one."""
    names = ", ".join(repr(a.name) for a in app.actions) or "none"
    if name is None:
        if len(app.actions) == 1:
            return app.actions[0]
        if not app.actions:
            raise AceError(f"app {app.path} has no actions")
        raise AceError(f"app {app.path} has {len(app.actions)} actions: name one of {names}")
    for a in app.actions:
        if a.name == name:
            return a
    for a in app.actions:
        if a.path == name:
            return a
    raise AceError(f"app {app.path} has no action {name!r} (actions: {names})")


def parse_params(decls: Sequence[ParamDecl], given: Sequence[str], app: str) -> dict[str, Any]:
    """`NAME=VALUE` strings -> typed values (as declared); AceError names the bad one."""
    declared = {d.name: d for d in decls}
    out: dict[str, Any] = {}
    for item in given:
        name, sep, value = item.partition("=")
        name = name.strip()
        if not sep or not name:
            raise AceError(f"--param {item!r}: expected NAME=VALUE")
        decl = declared.get(name)
        if decl is None:
            known = ", ".join(declared) or "none"
            raise AceError(f"--param {name}: app {app} has no param {name!r} (params: {known})")
        try:
            out[name] = convert_value(decl, value)
        except ValueError as e:
            raise AceError(f"--param {item}: {e}") from None
    return out


# ---------------------------------------------------------------------------------------------
# Making sure the image exists


def ensure_image(
    settings: Settings, store: Store, engine: Engine, evaluation: EvalResult, path: str,
) -> DesiredApp:
    """The ordinary pass, applying only the app's build/pull steps. Returns the app's desired
    state (its `image` is what to run). AceError when the image cannot be made."""

    def image_steps(prepared: Prepared) -> Plan:
        return Plan(tuple(s for s in prepared.plan.steps
                          if s.app == path and s.action in ("build", "pull")))

    res = run_pass(settings, store, engine, reason="run", command="run", evaluation=evaluation,
                   select=image_steps)
    target = next((a for a in res.prepared.desired.apps if a.path == path), None)
    if target is None:
        raise AceError(f"app {path} declares no container: container.run has no image to use")
    if not res.selected.steps and target.image not in res.prepared.observed.image_tags():
        why = next((n.reason for n in res.plan.noops if n.app == path), "")
        raise AceError(f"app {path}: image {target.image} is missing" + (
            f" ({why})" if why else ""))
    for o in res.outcomes:
        if o.outcome != "done":
            raise AceError(f"app {path}: could not {o.step.action} its image {o.step.target}: "
                           f"{o.message}")
    return target


# ---------------------------------------------------------------------------------------------
# Serving container.run


@dataclass
class CommandRunner:
    """Serves `container.run` calls: one fresh container of `image` per call."""

    engine: Engine
    image: str
    app: str
    install: str
    env: Mapping[str, str]
    timeout: float = DEFAULT_TIMEOUT
    output_dir: str = ""  # where stdout_file=True writes output files
    mounts: Sequence[VolumeMount] = ()  # the app's volumes and secret files, as its service has
    on_output: Callable[[str], None] | None = None  # live output of `stream=True` calls
    calls: list[dict[str, Any]] = field(default_factory=list)  # what ran, for reports
    last_error: str = ""  # the last failed call's error (its `value` raises)

    def __call__(self, call: Mapping[str, Any]) -> dict[str, Any]:
        command = _command(call)
        env = dict(self.env)
        env.update(_env_entries(call.get("env") or []))
        cwd = call.get("cwd") or ""
        if not isinstance(cwd, str):
            raise ValueError(f"cwd must be a string, got {json.dumps(cwd)}")
        parse = call.get("parse") or ""
        if parse not in PARSE_MODES:
            raise ValueError(f"parse must be one of \"json\", \"jsonlines\" or \"\", not {parse!r}")
        labels = {LABEL_INSTALL: self.install, LABEL_APP: self.app, LABEL_COMMAND: "1"}
        t0 = time.perf_counter()
        res = self.engine.run_command(image=self.image, command=command, env=env, cwd=cwd,
                                      labels=labels, mounts=self.mounts, timeout=self.timeout,
                                      on_output=self.on_output if call.get("stream") else None)
        seconds = time.perf_counter() - t0
        reply = self._reply(call, command, res)
        self.calls.append({"command": command, "exit_code": res.exit_code,
                           "seconds": round(seconds, 3), "error": reply["error"]})
        log.info("command_finished", app=self.app, command=shlex.join(command),
                 exit_code=res.exit_code, seconds=round(seconds, 3))
        if reply["error"] and "value" not in reply:
            self.last_error = reply["error"]
        return reply

    def _reply(self, call: Mapping[str, Any], command: list[str], res: CommandResult
               ) -> dict[str, Any]:
        shown = shlex.join(command)
        include_stderr = bool(call.get("include_stderr", True))
        partial = bool(call.get("process_partial", False))
        error = ""
        if res.timed_out:
            error = f"command `{shown}` timed out after {self.timeout:g} s"
        elif res.exit_code == 127 and not res.stdout:
            error = (f"command `{shown}` failed with exit code 127: `{command[0]}` not found in "
                     f"image {self.image}" + _tail(res.stderr))
        elif res.exit_code != 0:
            error = f"command `{shown}` failed with exit code {res.exit_code}" + _tail(res.stderr)
        reply: dict[str, Any] = {"error": error, "error_code": res.exit_code}
        if error and not partial:
            return reply
        try:
            value = self._value(call, shown, res, include_stderr)
        except ValueError as e:
            reply["error"] = error or str(e)
            return reply
        reply["value"] = value
        return reply

    def _value(self, call: Mapping[str, Any], shown: str, res: CommandResult,
               include_stderr: bool) -> Any:
        parse = call.get("parse") or ""
        if call.get("stdout_file"):
            return self._to_file(res.stdout)
        if parse == "json":
            try:
                return json.loads(res.stdout)
            except ValueError as e:
                raise ValueError(f"output of `{shown}` is not valid JSON ({e}): "
                                 f"{_clip(res.stdout)}") from None
        if parse == "jsonlines":
            out = []
            for n, line in enumerate(res.stdout.splitlines(), start=1):
                if not line.strip():
                    continue
                try:
                    out.append(json.loads(line))
                except ValueError as e:
                    raise ValueError(f"line {n} of the output of `{shown}` is not valid JSON "
                                     f"({e}): {_clip(line)}") from None
            return out
        lines = res.stdout.splitlines()
        if include_stderr:
            lines += res.stderr.splitlines()
        return lines

    def _to_file(self, text: str) -> str:
        directory = self.output_dir or os.path.join(os.getcwd(), ".ace-output")
        os.makedirs(directory, exist_ok=True)
        path = os.path.join(directory, f"{uuid.uuid4().hex}.out")
        with open(path, "w", encoding="utf-8") as f:
            f.write(text)
        return path


def _command(call: Mapping[str, Any]) -> list[str]:
    path = call.get("path")
    if not isinstance(path, str) or not path:
        raise ValueError(f"path must be a non-empty string, got {json.dumps(path)}")
    args = call.get("args") or []
    if not isinstance(args, list):
        raise ValueError(f"args must be a list, got {json.dumps(args)}")
    out = [path]
    for a in args:
        if isinstance(a, bool) or not isinstance(a, str | int | float):
            raise ValueError(f"args must be strings or numbers, got {json.dumps(a)}")
        out.append(a if isinstance(a, str) else str(a))
    return out


def _env_entries(entries: Any) -> dict[str, str]:
    if not isinstance(entries, list):
        raise ValueError(f"env must be a list of \"NAME=VALUE\" strings, got {json.dumps(entries)}")
    out: dict[str, str] = {}
    for e in entries:
        name, sep, value = e.partition("=") if isinstance(e, str) else ("", "", "")
        if not sep or not name:
            raise ValueError(f"env entries must be \"NAME=VALUE\" strings, got {json.dumps(e)}")
        out[name] = value
    return out


def _tail(stderr: str) -> str:
    lines = [ln for ln in stderr.splitlines() if ln.strip()][-STDERR_TAIL:]
    return (": " + "\n".join(lines)) if lines else ""


def _clip(text: str, limit: int = 200) -> str:
    text = text.strip()
    return json.dumps(text if len(text) <= limit else text[:limit] + "…")


# ---------------------------------------------------------------------------------------------
# The whole of `ace run`


@dataclass(frozen=True, slots=True)
class ActionRun:
    app: str
    action: str
    image: str
    result: dict[str, Any]  # the action's ace.result(...)
    calls: tuple[dict[str, Any], ...]
    timings: dict[str, float]

    def to_json(self) -> dict[str, Any]:
        return {"app": self.app, "action": self.action, "image": self.image, **self.result,
                "commands": list(self.calls),
                "seconds": {k: round(v, 3) for k, v in self.timings.items()}}


def run_action(
    settings: Settings,
    engine: Engine,
    path: str,
    action: str | None,
    params: Sequence[str] = (),
    *,
    dry_run: bool = False,
    timeout: float = DEFAULT_TIMEOUT,
    lock_timeout: float = 60.0,
    on_wait: Callable[[str], None] | None = None,
    evaluation: EvalResult | None = None,
    on_output: Callable[[str], None] | None = None,
) -> ActionRun:
    """Evaluate, make the image exist, then call the action.

    The state lock is held while the image is made (a build or pull is a recorded apply), not
    while the action runs: a command's container carries no version label, so reconcile and
    watch passes never plan for it, and passes never remove images. A long action thus does not
    hold up `ace watch`."""
    timings: dict[str, float] = {}
    t0 = time.perf_counter()
    result = evaluation or apps.evaluate(settings.apps_file, deadline=settings.deadline)
    app, runtime = find_app(result, path)
    chosen = pick_action(app, action)
    args = parse_params(runtime.decls, params, app.path)
    timings["evaluate"] = time.perf_counter() - t0
    with Store.open(settings.state_dir) as store, StateLock(
            settings.state_dir, command=f"ace run {path}").acquire(lock_timeout, on_wait):
        t1 = time.perf_counter()
        target = ensure_image(settings, store, engine, result, app.path)
        install = store.install_id
        mounts = app_mounts(engine, install, target)
        timings["image"] = time.perf_counter() - t1
    runner = CommandRunner(engine=engine, image=target.image, app=app.path, install=install,
                           env=dict(target.spec.env), timeout=timeout,
                           output_dir=os.path.join(str(settings.state_dir), "output"),
                           mounts=mounts, on_output=on_output)
    runtime.command_runner = runner
    t2 = time.perf_counter()
    try:
        out = runtime.call_action(chosen.name, dry_run, args)
    except AppError as e:
        raise _value_error(e, runner) from None
    finally:
        runtime.command_runner = None
    timings["action"] = time.perf_counter() - t2
    return ActionRun(app.path, chosen.name, target.image, out, tuple(runner.calls), timings)


def _value_error(e: AppError, runner: CommandRunner) -> AppError:
    """Reading `.value` of a failed container.run fails in Starlark with a generic "no attribute"
    error; name the command's failure instead."""
    if e.message.startswith(_NO_VALUE) and runner.last_error:
        return AppError(f"container.run failed: {runner.last_error}", app=e.app, file=e.file,
                        line=e.line, column=e.column)
    return e
