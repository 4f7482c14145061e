"""`ace logs` of every app against the real engine: lines prefixed with their app, a build's
output under its app while it builds, JSON lines, and a single app's lines as they are."""

from __future__ import annotations

import json
import queue
import signal
import threading
import time

import pytest

from tests.engine.appkit import Project
from tests.engine.test_reconcile import CHATTY_APP_STAR

pytestmark = pytest.mark.engine


def test_logs_of_every_app_with_build_output(project: Project) -> None:
    """No APP: every app's lines, prefixed with its path; a rebuild's output (framed by what is
    built and how it ended) appears under its app while following; --json gives objects."""
    project.web_app()
    project.write("chatty/app.star", CHATTY_APP_STAR)
    project.write("chatty/params.star", 'param("tag", default="one")\n')
    project.apps('app("/web", "./web")', 'app("/chatty", "./chatty")')
    project.ace("reconcile")
    code, out = project.ace("logs", "--tail", "50")
    lines = out.splitlines()
    assert "/chatty | started one" in lines
    assert any(x.startswith("/web    | -- building ") for x in lines), lines
    assert any(x.startswith("/web    | -- built ") for x in lines), lines
    code, out = project.ace("logs", "/chatty", "--json")
    (doc,) = [json.loads(x) for x in out.splitlines()]
    assert doc["app"] == "/chatty" and doc["stream"] == "stdout" and doc["text"] == "started one"
    assert doc["container"] and doc["time"].endswith("Z")
    assert project.ace("logs", "/chatty")[1] == "started one\n"

    proc = project.spawn("logs", "--follow", "--tail", "0")
    got: queue.Queue[str] = queue.Queue()

    def read() -> None:
        for x in proc.stdout or ():
            got.put(x)

    threading.Thread(target=read, daemon=True).start()
    try:
        time.sleep(1.0)
        project.write("web/index.html", "v2\n")
        project.ace("reconcile")
        seen: list[str] = []
        end = time.monotonic() + 30
        while time.monotonic() < end and not any("-- built" in x for x in seen):
            try:
                seen.append(got.get(timeout=1).rstrip("\n"))
            except queue.Empty:
                continue
        assert any(x.startswith("/web    | -- building ") for x in seen), seen
        assert any(x.startswith("/web    | -- built ") for x in seen), seen
        assert not any("started one" in x for x in seen)  # --tail 0: nothing from before
    finally:
        proc.send_signal(signal.SIGINT)
        proc.communicate(timeout=10)
    assert proc.returncode == 0


def test_ctrl_c_while_follow_starts_exits_0(project: Project,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    """Ctrl-C that lands while --follow is still starting its readers (the history already
    printed) ends `ace logs` with exit 0, as it does later on."""
    import reconciler.applogs.follow as follow_mod

    def interrupted(*_args: object, **_kwargs: object) -> list[threading.Thread]:
        raise KeyboardInterrupt

    project.hello_app()
    project.apps('app("/hello", "./hello")')
    project.ace("reconcile")
    monkeypatch.setattr(follow_mod, "follow", interrupted)
    code, _out = project.ace("logs", "--follow", expect=None)
    assert code == 0
