"""`print()` in the apps file, params.star, app.star, loaded files and actions reaches the
print handler from the sandbox child, located (app, file, line), also when the app then fails;
`ace config --log-json` logs each as an `app_print` event."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

import apps
from apps.prints import MAX_PRINTS, AppPrint, set_print_handler
from tests.test_json_schemas import check

from .helpers import evaluate_files, only_error

APP_STAR = """load("lib.star", "twice")
print("app", twice(2), [1, "x"], sep="|")

def run(dry_run, args):
    print("action", dry_run)
    return ace.result("ok")

app = ace.app("A", actions=[ace.action("go", "/", run)])
"""
LIB = 'def twice(x):\n    print("lib", x)\n    return 2 * x\n'


@pytest.fixture
def printed() -> Iterator[list[AppPrint]]:
    got: list[AppPrint] = []
    set_print_handler(got.append)
    yield got
    set_print_handler(None)


def test_prints_are_located_in_every_file(tmp_path: Path, printed: list[AppPrint]) -> None:
    """Prints of the apps file, params.star, app.star and a loaded file arrive in order with
    their app, file and line; an action's print arrives when it runs."""
    result = evaluate_files(tmp_path, {"params.star": 'param("p", default="v")\nprint("params")\n',
                                       "lib.star": LIB, "app.star": APP_STAR},
                            'print("apps file")\napp("/a", "src")\n')
    src = tmp_path / "src"
    assert [(p.app, p.file, p.line, p.text) for p in printed] == [
        ("", str(tmp_path / "apps.star"), 1, "apps file"),
        ("/a", str(src / "params.star"), 2, "params"),
        ("/a", str(src / "lib.star"), 2, "lib 2"),
        ("/a", str(src / "app.star"), 2, 'app|4|[1, "x"]'),
    ]
    printed.clear()
    runtime = result.runtimes["/a"]
    runtime.call_action("go", True, {})  # type: ignore[attr-defined]
    assert [(p.line, p.text) for p in printed if p.file.endswith("app.star")][-1] == (
        5, "action True")


def test_prints_before_an_error_arrive(tmp_path: Path, printed: list[AppPrint]) -> None:
    """An app that prints and then fails: its prints arrive, and the error is its own."""
    result = evaluate_files(tmp_path, {"app.star": 'print("about to fail")\nfail("boom")\n'})
    assert only_error(result).line == 2
    assert [(p.line, p.text) for p in printed] == [(1, "about to fail")]


def test_prints_are_bounded(tmp_path: Path, printed: list[AppPrint]) -> None:
    """A loop of prints keeps the first MAX_PRINTS and says how many more there were."""
    star = f'for i in range({MAX_PRINTS + 5}):\n    print(i)\napp = ace.app("A")\n'
    evaluate_files(tmp_path, {"app.star": star})
    assert len(printed) == MAX_PRINTS + 1
    assert printed[-1].text == f"(5 more prints not shown, from {tmp_path}/src/app.star:2 on)"


def test_config_log_json_logs_app_print(tmp_path: Path) -> None:
    """`ace config --log-json` writes each print as an `app_print` JSON event on stderr."""
    evaluate_files(tmp_path, {"app.star": 'print("hi", 1)\napp = ace.app("A")\n'})
    out = subprocess.run([sys.executable, "-m", "reconciler", "config", "-f",
                          str(tmp_path / "apps.star"), "--log-json"],
                         capture_output=True, text=True, timeout=60, check=True)
    events = [json.loads(line) for line in out.stderr.splitlines() if line.startswith("{")]
    [event] = [e for e in events if e["event"] == "app_print"]
    assert (event["app"], event["file"], event["line"], event["text"], event["level"]) == (
        "/a", str(tmp_path / "src" / "app.star"), 1, "hi 1", "info")
    check("log-json", event)
    assert apps.evaluate(tmp_path / "apps.star").errors == ()


def test_live_watch_view_shows_prints() -> None:
    """`ace watch` on a terminal shows a print as a line above its table."""
    from rich.console import Console

    from reconciler.cli.watch_view import LiveReporter

    console = Console(record=True, width=160, force_terminal=False)
    view = LiveReporter(console)
    view.app_print(AppPrint("/web", "/src/web/app.star", 3, "[debug] x=1"))
    view.app_print(AppPrint("", "/src/apps.star", 1, "loaded"))
    view.stopped("signal", [])
    text = console.export_text()
    assert "print /web /src/web/app.star:3: [debug] x=1" in text
    assert "print (apps file) /src/apps.star:1: loaded" in text


def test_config_verbose_shows_app_print(tmp_path: Path) -> None:
    """`ace config -v` shows each print as an info line for people on stderr."""
    evaluate_files(tmp_path, {"app.star": 'print("hi", 1)\napp = ace.app("A")\n'})
    out = subprocess.run([sys.executable, "-m", "reconciler", "config", "-f",
                          str(tmp_path / "apps.star"), "-v"],
                         capture_output=True, text=True, timeout=60, check=True)
    [line] = [x for x in out.stderr.splitlines() if "app_print" in x]
    assert "info" in line and "text='hi 1'" in line and "line=1" in line
