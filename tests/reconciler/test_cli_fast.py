"""The typer-free fast path of `reconcile`, `plan`, `status` and `drift` (reconciler.cli.fast)
reads a command line exactly as typer/click would, or leaves it to typer: its table equals the
typer declarations, its values equal click's, and a process shows the same output either way."""

from __future__ import annotations

import functools
import os
import subprocess
import sys
from collections.abc import Iterator
from importlib import import_module
from pathlib import Path
from typing import Any

import pytest
import typer.main

from reconciler.cli import fast
from reconciler.cli.app import build

GROUP = typer.main.get_command(build())


def click_values(argv: list[str]) -> dict[str, Any] | None:
    """The values typer calls the command's function with for `argv` (a stand-in with its
    signature is called instead), or None when click refuses the command line."""
    command = fast.COMMANDS[argv[0]]
    func = getattr(import_module(command.module), command.function)

    @functools.wraps(func)
    def spy(**values: Any) -> dict[str, Any]:
        return values

    one = typer.Typer(context_settings={"help_option_names": ["-h", "--help"]})
    one.command(argv[0])(spy)
    try:
        got = typer.main.get_command(one).main(list(argv[1:]), standalone_mode=False)
    except Exception:  # click's usage and bad-parameter errors
        return None
    assert isinstance(got, dict)
    return got


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch) -> Iterator[pytest.MonkeyPatch]:
    for name in ("ACE_FILE", "ACE_STATE_DIR", "ACE_BACKEND", "ACE_REGISTRY"):
        monkeypatch.delenv(name, raising=False)
    yield monkeypatch


@pytest.mark.parametrize("name", sorted(fast.COMMANDS))
def test_table_equals_the_typer_declarations(name: str) -> None:
    """Each fast command calls the function typer registers under its name, with exactly the
    options typer declares (names, kind, environment variable, choices, bound) and no
    arguments."""
    command = fast.COMMANDS[name]
    registered = {c.name or c.callback.__name__: c.callback for c in build().registered_commands
                  if c.callback is not None}
    module = sys.modules[command.module]
    assert registered[name] is getattr(module, command.function)
    params = GROUP.commands[name].params  # type: ignore[attr-defined]
    assert all(p.param_type_name == "option" for p in params)
    assert [p.name for p in params] == [o.dest for o in command.options]
    for p, opt in zip(params, command.options, strict=True):
        assert tuple(p.opts + p.secondary_opts) == opt.names, opt.dest
        assert p.envvar == opt.envvar, opt.dest
        kind = ("flag" if p.is_flag else "choice" if getattr(p.type, "choices", None)
                else {"int range": "int", "integer": "int", "float": "float", "path": "path",
                      "str": "text"}[p.type.name])
        assert kind == opt.kind, opt.dest
        if kind == "path":  # what `fast.convert` checks of a path: readable when it exists
            t = p.type
            assert (t.exists, t.readable, t.writable, t.resolve_path, t.allow_dash, t.file_okay,
                    t.dir_okay) == (False, True, False, False, False, True, True), opt.dest
        assert tuple(getattr(p.type, "choices", ())) == opt.choices, opt.dest
        assert getattr(p.type, "min", None) == opt.min, opt.dest


ARGVS = [
    [], ["-f", "x.star"], ["--file", "x.star"], ["--file=x.star"], ["--json"], ["-v"],
    ["--verbose", "--log-json"], ["--state-dir", "/tmp/s"], ["--state-dir=/tmp/s"],
    ["--pull", "always"], ["--pull=never"], ["--pull", "sometimes"], ["--pull", "ALWAYS"],
    ["--parallel", "8"], ["--parallel", "0"], ["--parallel", "x"], ["--parallel", "+3"],
    ["--parallel", " 3"], ["--parallel", "3.0"], ["--keep-images", "0"], ["--keep-images=5"],
    ["--health-timeout", "2.5"], ["--health-timeout", "-1"], ["--health-timeout", ".5"],
    ["--health-timeout", "1e3"], ["--lock-timeout", "0"], ["--eval-deadline", "7"],
    ["--backend", "swarm"], ["--backend", "podman"], ["--registry", "h:5000"],
    ["--registry="], ["--dry-run"], ["--detailed-exitcode"], ["--dry-run", "--dry-run"],
    ["--json", "--json"], ["-f", "a", "-f", "b"], ["--json=1"], ["-f"], ["--file"],
    ["-fx.star"], ["-vf", "x"], ["extra"], ["--", "-f"], ["--help"], ["-h"], ["--nope"],
    ["--jso"], ["-f", "--json"], ["--file", "-"], ["-f", ""],
    ["-f", "x.star", "--json", "--pull", "never", "--backend", "swarm", "--registry", "r:1",
     "--state-dir", "s", "-v", "--log-json", "--detailed-exitcode", "--keep-images", "3"],
]
ENVS: list[dict[str, str]] = [
    {}, {"ACE_FILE": "env.star"}, {"ACE_FILE": ""}, {"ACE_BACKEND": "swarm"},
    {"ACE_BACKEND": "nope"}, {"ACE_BACKEND": ""}, {"ACE_REGISTRY": "reg:5000"},
    {"ACE_STATE_DIR": "/tmp/st", "ACE_FILE": "-dash.star"},
]


@pytest.mark.parametrize("name", sorted(fast.COMMANDS))
def test_values_equal_clicks_or_typer_answers(name: str, env: pytest.MonkeyPatch) -> None:
    """For every command line and environment of the corpus, the fast path either leaves it to
    typer or gives the command exactly the values click gives it; the common ones (options
    click accepts, plainly written) it takes itself."""
    taken = 0
    for environ in ENVS:
        for key, value in environ.items():
            env.setenv(key, value)
        for argv in ARGVS:
            got = fast.parse([name, *argv], environ=os.environ)
            if got is None:
                continue
            taken += 1
            assert got[1] == click_values([name, *argv]), (argv, environ)
        for key in environ:
            env.delenv(key)
    assert fast.parse([name], environ={}) is not None
    assert fast.parse([name, "-f", "a.star", "--json"], environ={}) is not None
    assert taken > len(ENVS) * 5


@pytest.mark.parametrize("argv", [
    ["reconcile", "--help"], ["plan", "-h"], ["reconcile", "--parallel", "0"],
    ["status", "--nope"], ["drift", "extra"], ["plan", "--json", "--json"],
    ["reconcile", "--backend", "podman"], ["--version"], [], ["config"], ["reconcile", "--"],
])
def test_left_to_typer(argv: list[str]) -> None:
    """Help, errors, repeated options and other commands are typer's to answer."""
    assert fast.parse(argv, environ={}) is None


def test_shell_completion_is_left_to_typer() -> None:
    """A shell-completion request (`_ACE_COMPLETE=...`) goes to typer, which handles it."""
    assert fast.parse(["status"], environ={"_ACE_COMPLETE": "bash_source"}) is None


def test_unreadable_apps_file_is_left_to_typer(tmp_path: Path) -> None:
    """click refuses an existing path it cannot read; the fast path leaves that to it."""
    f = tmp_path / "apps.star"
    f.write_text("")
    f.chmod(0)
    try:
        readable = os.access(f, os.R_OK)  # root reads anything
        got = fast.parse(["status", "-f", str(f)], environ={})
        assert (got is not None) == readable
        assert (click_values(["status", "-f", str(f)]) is not None) == readable
    finally:
        f.chmod(0o644)


def _ace(argv: list[str], *, typer_only: bool, env: dict[str, str]) -> tuple[int, str, str]:
    code = ("import sys; from reconciler.cli.app import build, main; "
            f"sys.argv = ['ace', *{argv!r}]; build()() if {typer_only} else main()")
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                       timeout=60, env=env)
    return p.returncode, p.stdout, p.stderr


@pytest.mark.parametrize("argv", [
    ["reconcile", "-f", "{d}/missing.star"],
    ["status", "--json", "-f", "{d}/apps.star"],
    ["plan", "-f", "{d}/apps.star", "--pull", "never"],
    ["drift", "--file={d}/apps.star", "--state-dir", "{d}/state"],
    ["reconcile", "-f", "{d}/apps.star", "--json", "--dry-run"],
])
def test_a_process_answers_the_same_either_way(argv: list[str], tmp_path: Path) -> None:
    """The same exit code, stdout and stderr with the fast path as through typer (here an
    engine that does not answer, and an apps file that is missing)."""
    (tmp_path / "apps.star").write_text('app("/web", "./web")\n')
    env = {**os.environ, "DOCKER_HOST": f"unix://{tmp_path}/no.sock", "COLUMNS": "200"}
    args = [a.replace("{d}", str(tmp_path)) for a in argv]
    assert fast.parse(args, environ=env) is not None
    fast_run = _ace(args, typer_only=False, env=env)
    typer_run = _ace(args, typer_only=True, env=env)
    assert fast_run == typer_run
    assert fast_run[0] == 1 and "error" in fast_run[2]
