"""The common invocations without typer: `ace reconcile`, `plan`, `status` and `drift` with
options only. Importing typer (and its click) and building the command line costs ~35 ms, most
of what a no-op reconcile spends of its own; here the options are read from a table and the
command function typer would call is called with the same values.

Anything this parser does not take exactly as click would — help, an unknown or repeated
option, a value that does not convert, a positional argument, `--`, `-fFILE`, a value starting
with `-`, shell completion — is left to typer (`run` returns False), which then answers exactly
as it always does, errors included. tests/reconciler/test_cli_fast.py keeps the table equal to
the typer declarations (`cli.flags`) and the values equal to click's for many command lines.
"""

from __future__ import annotations

import contextlib
import errno
import gc
import os
import sys
from collections.abc import Callable, Mapping, Sequence
from importlib import import_module
from pathlib import Path
from typing import Any, Literal, NamedTuple

__all__ = ["COMMANDS", "Command", "Opt", "parse", "run"]

Kind = Literal["flag", "path", "text", "int", "float", "choice"]


# NamedTuples, not frozen dataclasses: defining one costs a fifth of a dataclass at start-up,
# which is all this module is for.
class Opt(NamedTuple):
    """One option as typer declares it: the parameter it fills, its names, what it takes, its
    default (before conversion, as click holds it), its environment variable, its choices or
    its lower bound."""

    dest: str
    names: tuple[str, ...]
    kind: Kind
    default: str | int | float | bool | None
    envvar: str | None = None
    choices: tuple[str, ...] = ()
    min: int | None = None


class Command(NamedTuple):
    """A command the fast path runs: where its function is, and its options."""

    module: str
    function: str
    options: tuple[Opt, ...]


FILE = Opt("file", ("-f", "--file"), "path", "apps.star", "ACE_FILE")
STATE = Opt("state_dir", ("--state-dir",), "path", None, "ACE_STATE_DIR")
JSON = Opt("as_json", ("--json",), "flag", False)
LOG_JSON = Opt("log_json", ("--log-json",), "flag", False)
VERBOSE = Opt("verbose", ("-v", "--verbose"), "flag", False)
PULL = Opt("pull", ("--pull",), "choice", "missing", choices=("missing", "always", "never"))
DETAIL = Opt("detailed", ("--detailed-exitcode",), "flag", False)
KEEP = Opt("keep_images", ("--keep-images",), "int", 2, min=0)
BACKEND = Opt("backend", ("--backend",), "choice", "docker", "ACE_BACKEND",
              choices=("docker", "swarm"))
REGISTRY = Opt("registry", ("--registry",), "text", "", "ACE_REGISTRY")
LOOK = (FILE, STATE, JSON, VERBOSE, LOG_JSON, BACKEND, REGISTRY)

COMMANDS: Mapping[str, Command] = {
    "reconcile": Command("reconciler.cli.converge", "reconcile", (
        FILE, STATE, Opt("dry_run", ("--dry-run",), "flag", False), JSON, DETAIL, PULL,
        Opt("parallel", ("--parallel",), "int", 16, min=1),
        Opt("health_timeout", ("--health-timeout",), "float", 60.0),
        Opt("lock_timeout", ("--lock-timeout",), "float", 60.0),
        Opt("deadline", ("--eval-deadline",), "float", 2.0),
        KEEP, VERBOSE, LOG_JSON, BACKEND, REGISTRY)),
    "plan": Command("reconciler.cli.converge", "plan_cmd", (
        FILE, STATE, JSON, PULL, DETAIL, KEEP, VERBOSE, LOG_JSON, BACKEND, REGISTRY)),
    "status": Command("reconciler.cli.inspect", "status", LOOK),
    "drift": Command("reconciler.cli.inspect", "drift", LOOK),
}


def _number(text: str, point: bool) -> bool:
    """Plain ASCII digits (with at most one '.' when `point`): what int()/float() read the
    same way click does. Signs, spaces, exponents and the like are left to click."""
    digits = text.replace(".", "", 1) if point else text
    return digits.isascii() and digits.isdigit()


def convert(opt: Opt, value: str | bool) -> tuple[bool, Any]:
    """(True, the value click would pass) for a value from the command line or the environment,
    or (False, None) when the fast path must not decide (click may refuse it, or read it
    differently)."""
    if isinstance(value, bool):
        return True, value  # a flag given
    if not value or value.startswith("-"):
        return False, None
    if opt.kind in ("int", "float"):
        if not _number(value, opt.kind == "float"):
            return False, None
        number: int | float = int(value) if opt.kind == "int" else float(value)
        return (opt.min is None or number >= opt.min), number
    if opt.kind == "choice":
        return value in opt.choices, value
    if opt.kind == "path":
        return _path(value)
    return True, value


def _path(value: str) -> tuple[bool, Path]:
    """click's Path: an existing path must be readable."""
    return (not os.path.exists(value) or os.access(value, os.R_OK)), Path(value)


def _default(opt: Opt) -> tuple[bool, Any]:
    """The default as click passes it (a path default is converted, and checked, too)."""
    if opt.kind == "path" and isinstance(opt.default, str):
        return _path(opt.default)
    return True, opt.default


def parse(argv: Sequence[str], environ: Mapping[str, str] = os.environ
          ) -> tuple[Command, dict[str, Any]] | None:
    """The command and every parameter's value for `argv` (what follows `ace`), or None when
    typer must answer."""
    command = COMMANDS.get(argv[0]) if argv else None
    if command is None or any(k.startswith("_") and k.endswith("_COMPLETE") for k in environ):
        return None
    by_name = {name: opt for opt in command.options for name in opt.names}
    given: dict[str, str | bool] = {}
    i = 1
    while i < len(argv):
        name, eq, value = argv[i].partition("=") if argv[i].startswith("--") else (argv[i], "", "")
        i += 1
        opt = by_name.get(name)
        if opt is None or opt.dest in given:
            return None
        if opt.kind == "flag":
            if eq:
                return None
            given[opt.dest] = True
            continue
        if not eq:
            if i == len(argv):
                return None
            value, i = argv[i], i + 1
        given[opt.dest] = value
    values: dict[str, Any] = {}
    for opt in command.options:
        if opt.dest in given:
            ok, values[opt.dest] = convert(opt, given[opt.dest])
        elif opt.envvar and environ.get(opt.envvar):  # click: an empty variable is unset
            ok, values[opt.dest] = convert(opt, environ[opt.envvar])
        else:
            ok, values[opt.dest] = _default(opt)
        if not ok:
            return None
    return command, values


def run(argv: Sequence[str]) -> bool:
    """Run `argv` when the fast path takes it (exiting as typer would); False otherwise."""
    found = parse(argv)
    if found is None:
        return False
    command, values = found
    function: Callable[..., None] = getattr(import_module(command.module), command.function)
    # What the imports made lives as long as this one-shot process: the collector's later
    # passes need not walk it again (a full pass over it cost up to ~10 ms).
    gc.freeze()
    try:
        function(**values)
    except KeyboardInterrupt:
        raise SystemExit(130) from None
    except EOFError:
        print("\nAborted!", file=sys.stderr)
        raise SystemExit(1) from None
    except OSError as e:
        if e.errno != errno.EPIPE:
            raise
        _quiet_stdio()
        raise SystemExit(1) from None
    return True


def _quiet_stdio() -> None:
    """After a closed pipe: nothing more reaches stdout or stderr (no flush error at exit)."""
    null = os.open(os.devnull, os.O_WRONLY)
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError, ValueError):
            os.dup2(null, stream.fileno())
    os.close(null)
