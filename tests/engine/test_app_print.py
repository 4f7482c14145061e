"""`print()` in app.star under `ace watch` against the real engine: logged as an `app_print`
event when the app is evaluated (at start and after each save), never lost."""

from __future__ import annotations

import time

import pytest

from tests.engine.appkit import HELLO_APP_STAR, Project
from tests.engine.watchkit import WatchProc

pytestmark = pytest.mark.engine


def test_watch_logs_prints_of_app_star(project: Project, procs: list[WatchProc]) -> None:
    """`ace watch --log-json` logs app.star's print with app, file and line, and again with
    the new text after a save."""
    star = project.write("hello/app.star", 'print("hello", 1)\n' + HELLO_APP_STAR)
    project.apps('app("/hello", "./hello")')
    w = WatchProc(project.apps_file, "--resync", "1", "--no-proxy")
    procs.append(w)
    first = w.wait_for(lambda e: e.get("event") == "app_print", 60, "the first print")
    assert (first["app"], first["file"], first["line"], first["text"], first["level"]) == (
        "/hello", str(star), 1, "hello 1", "info")
    w.wait_for(lambda e: e.get("event") == "status", 60, "the first pass")
    time.sleep(1.0)  # the file watcher (started after the first pass) settles
    project.write("hello/app.star", 'x = 2\nprint("hello", x)\n' + HELLO_APP_STAR)
    second = w.wait_for(lambda e: e.get("event") == "app_print" and e["text"] == "hello 2", 30,
                        "the print after the save")
    assert second["line"] == 2
