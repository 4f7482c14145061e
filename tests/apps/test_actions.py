"""Action runtimes: `run` functions stay callable after evaluation; container.run goes through
the permission check and the runtime's command runner."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

import apps
from apps.errors import AppError

from .helpers import evaluate_files, only_app

PARAMS = 'param("image", default="busybox")\nparam("count", type=INT, default=1)\n'
APP = """load("container.in", "container")

def run(dry_run, args):
    if dry_run:
        return ace.result("dry", [args.count])
    out = container.run("echo", ["hi", str(args.count)], cwd="/tmp")
    return ace.result("done", out.value, report=ace.TABLE, param_errors={"count": "ok"})

def loop(dry_run, args):
    for i in range(100000):
        [j for j in range(100000)]

def bare(dry_run, args):
    return "not a result"

def denied(dry_run, args):
    return ace.result("x", container.run(path="rm", args=["-rf", "/"]).value)

app = ace.app("acts",
    actions=[ace.action("Run", "/run", run), ace.action("Loop", "/loop", loop),
             ace.action("Bare", "/bare", bare), ace.action("Denied", "/denied", denied)],
    container=container.config("image:" + param.image, lifetime=container.COMMAND),
    permissions=[ace.permission("container.in", "run", ["echo"])])
"""


@pytest.fixture
def runtime(tmp_path: Path) -> apps.AppRuntime:
    result = evaluate_files(tmp_path, {"params.star": PARAMS, "app.star": APP})
    only_app(result)
    rt = result.runtimes["/a"]
    assert isinstance(rt, apps.AppRuntime)
    return rt


def test_dry_run_returns_result_dict(runtime: apps.AppRuntime) -> None:
    assert runtime.call_action("Run", True, {"count": "3"}) == {
        "status": "dry", "values": [3], "report": "AUTO", "param_errors": {},
    }


def test_container_run_goes_to_the_command_runner(runtime: apps.AppRuntime) -> None:
    calls: list[Mapping[str, Any]] = []

    def runner(call: Mapping[str, Any]) -> Mapping[str, Any]:
        calls.append(call)
        return {"value": ["hi 2"], "error": "", "error_code": 0}

    runtime.command_runner = runner
    assert runtime.call_action("Run", False, {"count": 2}) == {
        "status": "done", "values": ["hi 2"], "report": "TABLE",
        "param_errors": {"count": "ok"},
    }
    assert calls == [{
        "path": "echo", "args": ["hi", "2"], "env": [], "process_partial": False,
        "stdout_file": False, "parse": "", "stream": False, "include_stderr": True,
        "cwd": "/tmp",
    }]


def test_container_run_without_runner_needs_ace_run(runtime: apps.AppRuntime, tmp_path: Path
                                                    ) -> None:
    with pytest.raises(AppError) as info:
        runtime.call_action("Run", False, {})
    assert "container.run needs `ace run`" in info.value.message
    assert (info.value.file, info.value.line, info.value.column) == (
        str(tmp_path / "src" / "app.star"), 6, 11)


def test_runner_failure_is_located(runtime: apps.AppRuntime, tmp_path: Path) -> None:
    def runner(call: Mapping[str, Any]) -> Mapping[str, Any]:
        raise RuntimeError("image busybox not found")

    runtime.command_runner = runner
    with pytest.raises(AppError) as info:
        runtime.call_action("Run", False, {})
    assert info.value.message == "container.run: image busybox not found"
    assert (info.value.line, info.value.column) == (6, 11)


def test_denied_call_names_app_call_and_fix(runtime: apps.AppRuntime, tmp_path: Path) -> None:
    runtime.command_runner = lambda call: {"value": [], "error": "", "error_code": 0}
    with pytest.raises(AppError) as info:
        runtime.call_action("Denied", False, {})
    assert info.value.message.startswith(
        'app /a is not permitted to call container.run with arguments ["rm", ["-rf", "/"]]; '
        'add ace.permission("container.in", "run", ["rm"])'
    )
    assert (info.value.file, info.value.line, info.value.column) == (
        str(tmp_path / "src" / "app.star"), 17, 28)


@pytest.mark.parametrize(
    ("name", "args", "message"),
    [
        ("Nope", {}, "app /a has no action 'Nope' (actions: Run, Loop, Bare, Denied)"),
        ("Bare", {}, "action 'Bare' of app /a must return ace.result(...)"),
        ("Loop", {}, "did not finish within 0.5 s"),
        ("Run", {"count": "x"}, "param count is not an int"),
        ("Run", {"other": "x"}, "action argument 'other' is not a param of app /a"),
    ],
)
def test_action_errors(
    runtime: apps.AppRuntime, name: str, args: dict[str, Any], message: str
) -> None:
    runtime.deadline = 0.5
    with pytest.raises(AppError) as info:
        runtime.call_action(name, False, args)
    assert message in info.value.message


def test_container_run_at_load_time_is_an_error(tmp_path: Path) -> None:
    result = evaluate_files(
        tmp_path,
        {"app.star": 'load("container.in", "container")\nx = container.run("ls")\n'
                     'app = ace.app("x")\n'},
    )
    err = result.errors[0]
    assert "container.run needs `ace run`" in err.message
    assert (err.file, err.line, err.column) == (str(tmp_path / "src" / "app.star"), 2, 5)


def test_actions_use_files_as_read_at_evaluation(runtime: apps.AppRuntime, tmp_path: Path
                                                 ) -> None:
    (tmp_path / "src" / "app.star").write_text("broken(")
    assert runtime.call_action("Run", True, {})["status"] == "dry"
