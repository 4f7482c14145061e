"""The sandbox: deadline, call depth, load cycles and memory blow-ups end as located errors,
quickly, and never take the process down."""

from __future__ import annotations

import resource
import time
from pathlib import Path

import pytest

import apps
from apps.errors import AppError
from apps.sandbox import Location, column_of, frames, locate, run_isolated

from .helpers import assert_error, evaluate_files, only_error

GOOD = 'app = ace.app("ok")\n'


def broken_and_good(tmp_path: Path, app_star: str, **kw: float) -> apps.EvalResult:
    (tmp_path / "good").mkdir()
    (tmp_path / "good" / "app.star").write_text(GOOD)
    return evaluate_files(
        tmp_path, {"app.star": app_star}, 'app("/a", "src")\napp("/good", "good")\n', **kw
    )


SLOW = [
    # (app.star, message, line, column)
    ("def f():\n    for i in range(100000):\n        for j in range(100000):\n"
     "            pass\nf()\n" + GOOD, "did not finish within 0.5 s", 3, 9),
    ("def f(n):\n    return f(n + 1) + 1\nx = f(0)\n" + GOOD,
     "call stack deeper than", 2, 12),
    ("x = [1]\nfor i in range(100):\n    x = x + x\n" + GOOD,
     "evaluation ran out of memory", 1, 1),
    ("x = [1] * 2000000000\n" + GOOD, "evaluation ran out of memory", 1, 1),
    ('x = "ab" * 2000000000\n' + GOOD, "evaluation ran out of memory", 1, 1),
    ("d = {}\ndef f():\n    for i in range(10000):\n        for j in range(10000):\n"
     "            d[i * 10000 + j] = str(j) * 100\nf()\n" + GOOD, "", 0, 0),
]


@pytest.mark.parametrize(("app_star", "message", "line", "column"), SLOW)
def test_runaway_evaluation_is_stopped(
    tmp_path: Path, app_star: str, message: str, line: int, column: int
) -> None:
    start = time.monotonic()
    result = broken_and_good(tmp_path, app_star, deadline=0.5)
    elapsed = time.monotonic() - start
    assert elapsed < 5, elapsed
    err = result.errors[0]
    assert len(result.errors) == 1
    if message:
        assert_error(err, message=message, file=tmp_path / "src" / "app.star", line=line,
                     column=column)
    else:  # deadline or memory, whichever comes first: both are clear
        assert ("did not finish" in err.message or "ran out of memory" in err.message), err
    assert [a.path for a in result.apps] == ["/good"]
    assert result.failed == frozenset({"/a"})


def test_memory_blow_up_is_bounded_and_fast(tmp_path: Path) -> None:
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    start = time.monotonic()
    result = broken_and_good(tmp_path, "x = [1]\nfor i in range(100):\n    x = x + x\n" + GOOD)
    assert time.monotonic() - start < 3
    assert "ran out of memory (limit 1024 MiB)" in result.errors[0].message
    peak_kib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    assert max(before, peak_kib) < 3 * 1024 * 1024  # the child never reached 3 GiB


def test_default_deadline_stops_infinite_recursion_within_two_seconds(tmp_path: Path) -> None:
    start = time.monotonic()
    result = evaluate_files(
        tmp_path,
        {"app.star": "def f():\n    for i in range(2000000):\n        f()\nf()\n" + GOOD},
    )
    assert time.monotonic() - start < 4
    assert "did not finish within 2 s" in only_error(result).message or \
        "call stack deeper" in only_error(result).message


def test_cycle_through_app_star_names_the_cycle(tmp_path: Path) -> None:
    result = evaluate_files(
        tmp_path,
        {"app.star": 'load("a.star", "x")\n' + GOOD, "a.star": 'load("app.star", "app")\nx = 1\n'},
    )
    assert_error(only_error(result), message="load cycle: app.star -> a.star -> app.star",
                 file=tmp_path / "src" / "a.star", line=1, column=1)


def test_loaded_file_is_evaluated_once(tmp_path: Path) -> None:
    result = evaluate_files(
        tmp_path,
        {
            "app.star": 'load("a.star", "a")\nload("b.star", "b")\napp = ace.app(a + b)\n',
            "a.star": 'load("c.star", "c")\na = c\n',
            "b.star": 'load("c.star", "c")\nb = c\n',
            "c.star": 'c = "c"\n',
        },
    )
    assert result.apps[0].name == "cc"
    assert [Path(f).name for f in result.apps[0].files] == ["app.star", "a.star", "c.star",
                                                            "b.star"]


def test_run_isolated_returns_values_and_relays_host_calls() -> None:
    where = Location("/f", 1, 1)

    def child(channel: object) -> int:
        return int(channel.call("double", 21))  # type: ignore[attr-defined]

    assert run_isolated(child, app="/x", timeout=5, fallback=where,
                        host=lambda kind, n: n * 2) == 42


def test_run_isolated_hard_timeout_and_crash() -> None:
    where = Location("/f", 3, 4)

    def sleeper(_: object) -> None:
        time.sleep(30)

    start = time.monotonic()
    with pytest.raises(AppError) as info:
        run_isolated(sleeper, app="/x", timeout=0.3, fallback=where)
    assert time.monotonic() - start < 3
    assert "did not finish within 0.3 s" in info.value.message
    assert (info.value.app, info.value.file, info.value.line, info.value.column) == (
        "/x", "/f", 3, 4)

    def crasher(_: object) -> None:
        import os
        import signal

        os.kill(os.getpid(), signal.SIGSEGV)

    with pytest.raises(AppError) as info:
        run_isolated(crasher, app="/x", timeout=5, fallback=where)
    assert "evaluation crashed (signal 11)" in info.value.message


def test_locate_prefers_user_frames() -> None:
    text = (
        "Traceback (most recent call last):\n"
        "  * /u/app.star:4, in <module>\n      x = ace.app(1)\n"
        "  * <ace:builtins>:3, in _ace_app_fn\n      return _ace_app(call_stack())\n"
        "error: boom\n --> <ace:builtins>:3:12\n"
    )
    assert [f[:2] for f in frames(text)] == [("/u/app.star", 4), ("<ace:builtins>", 3)]
    user = locate(text, lambda f: not f.startswith("<ace:"), "app")
    # the file does not exist: the column comes from the traceback's (unindented) text
    assert user == Location("/u/app.star", 4, 5)
    assert column_of("    x = ace.app(1)", "app") == 9
    assert column_of("  y = myapp(1)", "app") == 3


HUGE_RANGES = [
    # (app.star, message, line, column): each refused at once, located at the range call
    ("def f():\n    n = 0\n    for i in range(1000000000):\n        n += i\n    return n\n"
     "x = f()\n", "range(1000000000) has 1000000000 items: too many iterations", 3, 5),
    ("x = 1\ny = list(range(1000000000))\n",
     "range(1000000000) has 1000000000 items: too many iterations", 2, 1),
    ("x = 1\ny = [i for i in range(0, 2000000000, 2)]\n",
     "range(0, 2000000000, 2) has 1000000000 items: too many iterations", 2, 1),
    ("x = 1\n\ny = len(range(1000000000000))\n",
     "range(1000000000000): 1000000000000 is too large for a range", 3, 1),
]


@pytest.mark.parametrize(("app_star", "message", "line", "column"), HUGE_RANGES)
def test_huge_range_is_too_many_iterations(tmp_path: Path, app_star: str, message: str,
                                           line: int, column: int) -> None:
    """A range of a billion items is refused at once as "too many iterations", at its line —
    not a deadline, an out-of-memory at line 1 or Starlark's internal int message."""
    start = time.monotonic()
    result = broken_and_good(tmp_path, app_star + GOOD)
    assert time.monotonic() - start < 1.9  # before the 2 s deadline
    assert_error(only_error(result), message=message, file=tmp_path / "src" / "app.star",
                 line=line, column=column)
    assert "at most 10000000 per range" in result.errors[0].message or \
        "at most 10000000 items per range" in result.errors[0].message


def test_ranges_within_the_limit_are_starlark_ranges(tmp_path: Path) -> None:
    """range() under the limit behaves as Starlark's: its type, steps, negatives, indexing."""
    result = evaluate_files(tmp_path, {"app.star": (
        'v = [type(range(3)), list(range(2, 10, 3)), list(range(3, 0, -1)), range(10)[4],'
        ' len(range(10000000))]\napp = ace.app("x", settings={"v": v})\n')})
    app = result.apps[0]
    assert dict(app.settings)["v"] == ["range", [2, 5, 8], [3, 2, 1], 4, 10000000]


def test_huge_range_in_apps_file_is_too_many_iterations(tmp_path: Path) -> None:
    """The apps file has the same range() as app files."""
    (tmp_path / "apps.star").write_text("n = len(range(3000000000))\n")
    result = apps.evaluate(tmp_path / "apps.star", environ={})
    assert_error(only_error(result), message="range(3000000000): 3000000000 is too large",
                 file=tmp_path / "apps.star", line=1, column=1, app="")
