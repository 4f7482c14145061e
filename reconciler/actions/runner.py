"""The `container.run` runner: each call of an action's `container.run(...)` runs in a fresh
`--rm` container of the app's image, with the app's env, volumes and secret files, on the app
network (so it reaches the apps by alias, as they reach each other).

Result contract (what the Starlark action sees as a struct):
- `value`: the output — a list of lines (stdout, then stderr unless include_stderr=False),
  the parsed JSON of stdout (parse="json"), or a list of parsed JSON lines (parse="jsonlines").
  Absent when the call failed, so reading it fails the action (`actions.run` then names the
  command's failure instead of Starlark's "no attribute").
- `error`: "" on success, else what went wrong (exit code and the last lines of stderr).
- `error_code`: the command's exit code (124 timeout, 127 executable not found).
With process_partial=True a non-zero exit still returns the output in `value` (and sets error).
stream=True shows the output as it comes (`on_output`); stdout_file=True returns the path of a
file under the state dir holding stdout.
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

from reconciler.core.types import LABEL_APP, LABEL_INSTALL
from reconciler.driver.ports import CommandResult, Engine, VolumeMount
from reconciler.logs import get_logger

__all__ = ["DEFAULT_TIMEOUT", "LABEL_COMMAND", "NO_VALUE", "CommandRunner"]

log = get_logger("ace.run")

DEFAULT_TIMEOUT = 300.0
LABEL_COMMAND = "dev.ace.command"  # "1" on the short-lived containers of container.run
STDERR_TAIL = 10  # lines of stderr quoted in an error
PARSE_MODES = ("", "json", "jsonlines")
NO_VALUE = "Object of type `struct` has no attribute `value`"  # Starlark's words for it




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
    network: str = ""  # the app network the commands join, reaching apps by alias ("" = none)
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
                                      on_output=self.on_output if call.get("stream") else None,
                                      network=self.network)
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
