"""CommandRunner: how one container.run call becomes a container command and how its output
becomes the {value, error, error_code} reply the Starlark action sees."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest

from reconciler.actions.runner import LABEL_COMMAND, CommandRunner
from reconciler.core.types import LABEL_APP, LABEL_INSTALL
from reconciler.driver.ports import CommandResult, VolumeMount

DEFAULTS: dict[str, Any] = {
    "path": "ls", "args": [], "env": [], "process_partial": False, "stdout_file": False,
    "parse": "", "stream": False, "include_stderr": True, "cwd": "",
}


class StubEngine:
    """Records run_command calls and answers with a canned result."""

    def __init__(self, result: CommandResult) -> None:
        self.result = result
        self.runs: list[dict[str, Any]] = []

    def run_command(self, *, image: str, command: Sequence[str], env: Mapping[str, str],
                    cwd: str, labels: Mapping[str, str], mounts: Sequence[VolumeMount] = (),
                    timeout: float = 300.0, on_output: Callable[[str], None] | None = None,
                    network: str = "") -> CommandResult:
        self.runs.append({"image": image, "command": list(command), "env": dict(env),
                          "cwd": cwd, "labels": dict(labels), "timeout": timeout,
                          "live": on_output is not None, "network": network})
        if on_output is not None:
            on_output(self.result.stdout)
        return self.result


def runner(result: CommandResult, tmp_path: Path | None = None, **kw: Any
           ) -> tuple[CommandRunner, StubEngine]:
    engine = StubEngine(result)
    r = CommandRunner(engine=engine, image="busybox:latest", app="/cmd",  # type: ignore[arg-type]
                      install="inst1", env={"APP_ENV": "a", "SHARED": "app"}, timeout=7.0,
                      output_dir=str(tmp_path or ""), **kw)
    return r, engine


def call(**kw: Any) -> dict[str, Any]:
    return {**DEFAULTS, **kw}


def ok(stdout: str = "", stderr: str = "") -> CommandResult:
    return CommandResult(0, stdout, stderr)


def test_command_env_cwd_labels_and_timeout_reach_the_engine() -> None:
    """The command, its env (the call's over the app's), cwd, labels, timeout and the app
    network reach the engine's run_command."""
    r, engine = runner(ok("x\n"), network="ace-inst1")
    r(call(path="ls", args=["-l", 3, 1.5], env=["EXTRA=1", "SHARED=call", "EQ=a=b"], cwd="/tmp"))
    assert engine.runs == [{
        "image": "busybox:latest", "command": ["ls", "-l", "3", "1.5"],
        "env": {"APP_ENV": "a", "SHARED": "call", "EXTRA": "1", "EQ": "a=b"}, "cwd": "/tmp",
        "labels": {LABEL_INSTALL: "inst1", LABEL_APP: "/cmd", LABEL_COMMAND: "1"},
        "timeout": 7.0, "live": False, "network": "ace-inst1",
    }]
    assert r.calls[0]["command"] == ["ls", "-l", "3", "1.5"] and r.calls[0]["exit_code"] == 0


def test_stream_shows_output_live_and_still_returns_it() -> None:
    """stream=True sends the output to `on_output` while the command runs; without it (or
    without a live view) nothing is shown. The value is the whole output either way."""
    shown: list[str] = []
    r, engine = runner(ok("a\nb\n"), on_output=shown.append)
    assert r(call(stream=True))["value"] == ["a", "b"]
    assert r(call())["value"] == ["a", "b"]
    assert [run["live"] for run in engine.runs] == [True, False]
    assert shown == ["a\nb\n"]


def test_lines_then_stderr_unless_excluded() -> None:
    res = ok("a\nb\n", "warn\n")
    assert runner(res)[0](call()) == {"value": ["a", "b", "warn"], "error": "", "error_code": 0}
    assert runner(res)[0](call(include_stderr=False))["value"] == ["a", "b"]
    assert runner(ok())[0](call())["value"] == []


def test_parse_json_and_jsonlines() -> None:
    doc = {"a": [1, 2], "b": {"c": None}}
    assert runner(ok(json.dumps(doc) + "\n", "noise\n"))[0](call(parse="json"))["value"] == doc
    lines = '{"n": 1}\n\n{"n": 2}\n'
    assert runner(ok(lines))[0](call(parse="jsonlines"))["value"] == [{"n": 1}, {"n": 2}]


@pytest.mark.parametrize(("parse", "stdout", "message"), [
    ("json", "hi\n", 'output of `ls` is not valid JSON (Expecting value: line 1 column 1 (char 0)):'
                     ' "hi"'),
    ("jsonlines", '{"n": 1}\n{oops\n', "line 2 of the output of `ls` is not valid JSON"),
])
def test_bad_json_is_an_error_without_value(parse: str, stdout: str, message: str) -> None:
    r = runner(ok(stdout))[0]
    reply = r(call(parse=parse))
    assert "value" not in reply and reply["error_code"] == 0
    assert reply["error"].startswith(message)
    assert r.last_error == reply["error"]


def test_non_zero_exit_is_an_error_with_code_and_stderr_tail() -> None:
    stderr = "".join(f"line {i}\n" for i in range(30))
    r = runner(CommandResult(2, "partial\n", stderr))[0]
    reply = r(call(path="ls", args=["/nope"]))
    assert "value" not in reply and reply["error_code"] == 2
    assert reply["error"].startswith("command `ls /nope` failed with exit code 2: line 20\n")
    assert reply["error"].endswith("line 29") and "line 19" not in reply["error"]


def test_process_partial_keeps_the_output() -> None:
    r = runner(CommandResult(1, "some\n", "bad thing\n"))[0]
    reply = r(call(process_partial=True))
    assert reply == {"value": ["some", "bad thing"], "error_code": 1,
                     "error": "command `ls` failed with exit code 1: bad thing"}
    assert r.last_error == ""  # value is readable: nothing to explain later


def test_timeout_and_missing_executable_messages() -> None:
    t = runner(CommandResult(124, "", "", timed_out=True))[0](call(path="sleep", args=["9"]))
    assert t == {"error": "command `sleep 9` timed out after 7 s", "error_code": 124}
    m = runner(CommandResult(127, "", "exec nope failed: No such file or directory"))[0](
        call(path="nope"))
    assert m["error_code"] == 127 and m["error"] == (
        "command `nope` failed with exit code 127: `nope` not found in image busybox:latest: "
        "exec nope failed: No such file or directory")


def test_stdout_file_writes_the_output(tmp_path: Path) -> None:
    reply = runner(ok("big\noutput\n"), tmp_path)[0](call(stdout_file=True))
    path = Path(reply["value"])
    assert path.parent == tmp_path and path.read_text() == "big\noutput\n"


@pytest.mark.parametrize(("kw", "message"), [
    ({"path": ""}, "path must be a non-empty string"),
    ({"args": "x"}, "args must be a list"),
    ({"args": [["x"]]}, "args must be strings or numbers"),
    ({"env": ["NOEQUALS"]}, "env entries must be \"NAME=VALUE\" strings"),
    ({"env": "A=1"}, "env must be a list"),
    ({"parse": "yaml"}, "parse must be one of"),
    ({"cwd": 3}, "cwd must be a string"),
])
def test_bad_arguments_raise_before_anything_runs(kw: dict[str, Any], message: str) -> None:
    r, engine = runner(ok())
    with pytest.raises(ValueError, match=message):
        r(call(**kw))
    assert engine.runs == []

