"""The tiny shell FakeEngine runs commands with (container commands, RUN steps, run_command).

It knows `sh -c` with `;`/`&&`/newline-separated statements, echo (with `>&2`, `> FILE` and
$VAR), exit, exec, sleep, pwd, printenv, true, false, mkdir, httpd (long-running; `-p PORT -h
HOME` say what it serves) and `wget URL` (answered by the `web` callback the engine gives: what
the container's network reaches); anything else is "not found" (127), worded like busybox sh
inside `sh -c` and like tini (init=True) for a bare missing executable.
"""

from __future__ import annotations

import json
import re
import shlex
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

__all__ = ["LONG_RUNNING", "Outcome", "Web", "exec_form", "interpret"]

LONG_RUNNING = 3600.0  # a sleep at least this long (or httpd) never ends in a test

Web = Callable[[str], tuple[int, str]]  # URL -> (0, body) or (wget's exit code, its error)


@dataclass
class Outcome:
    code: int = 0
    out: list[str] = field(default_factory=list)
    err: list[str] = field(default_factory=list)
    both: list[str] = field(default_factory=list)  # stdout and stderr lines in order
    err_at: set[int] = field(default_factory=set)  # which of `both` went to stderr
    running: bool = False  # reached a long-running statement
    slept: float = 0.0
    files: dict[str, str] = field(default_factory=dict)  # what `echo ... > FILE` wrote
    serves: tuple[int, str] | None = None  # (port, home directory) of the httpd it runs


def interpret(
    argv: tuple[str, ...], env: Mapping[str, str], cwd: str, timeout: float = LONG_RUNNING,
    web: Web | None = None,
) -> Outcome:
    """Run a command in the tiny shell; stops at a statement that outlasts `timeout`. `web`
    answers wget (without it no name resolves)."""
    res = Outcome()
    if len(argv) >= 3 and argv[0] in ("sh", "/bin/sh") and argv[1] == "-c":
        statements = [shlex.split(s) for s in re.split(r"[;\n]|&&", argv[2]) if s.strip()]
        shell = True
    else:
        statements, shell = [list(argv)], False
    for words in statements:
        words = [re.sub(r"\$(\w+)", lambda m: env.get(m.group(1), ""), w) for w in words]
        prog, args = words[0], words[1:]
        if prog == "exec" and args:
            prog, args = args[0], args[1:]
        if prog == "exit":
            res.code = int(args[0]) if args else res.code
            return res
        if prog == "echo" and ">" in args[:-1]:
            at = args.index(">")
            res.files[args[at + 1]] = " ".join(args[:at]) + "\n"
            res.code = 0
        elif prog == "echo":
            to_err = ">&2" in args or "1>&2" in args
            line = " ".join(a for a in args if a not in (">&2", "1>&2"))
            (res.err if to_err else res.out).append(line)
            if to_err:
                res.err_at.add(len(res.both))
            res.both.append(line)
            res.code = 0
        elif prog == "mkdir":
            res.code = 0
        elif prog == "wget":
            url = next((a for a in args if not a.startswith("-")), "")
            res.code, text = web(url) if web is not None else (1, f"wget: bad address {url!r}")
            lines = text.splitlines()
            (res.err if res.code else res.out).extend(lines)
            if res.code:
                res.err_at.update(range(len(res.both), len(res.both) + len(lines)))
            res.both.extend(lines)
        elif prog == "sleep":
            res.slept += float(args[0]) if args else 0.0
            if res.slept >= min(timeout, LONG_RUNNING):
                res.running = True
                return res
        elif prog == "httpd":
            opts = {a: b for a, b in zip(args, args[1:], strict=False) if a in ("-p", "-h")}
            res.serves = (int(opts.get("-p", "80")), opts.get("-h", "/"))
            res.running = True
            return res
        elif prog in ("pwd", "printenv", "true", "false"):
            value = cwd if prog == "pwd" else env.get(args[0]) if args else None
            if value is not None:
                res.out.append(value)
                res.both.append(value)
            res.code = 1 if prog == "false" or (prog == "printenv" and value is None) else 0
        else:
            res.err.append(f"sh: {prog}: not found" if shell
                           else f"[FATAL tini (7)] exec {prog} failed: No such file or directory")
            res.err_at.add(len(res.both))
            res.both.append(res.err[-1])
            res.code = 127
            if not shell:
                return res
    return res


def exec_form(text: str) -> tuple[str, ...]:
    text = text.strip()
    if text.startswith("["):
        return tuple(json.loads(text))
    return ("/bin/sh", "-c", text)


