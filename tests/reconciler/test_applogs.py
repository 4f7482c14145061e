"""Apps' logs against the in-memory engine and a temp state dir: the history of several apps
merged by time with their build output, following an app across a replace, a restart and an
engine outage, build logs read while they are written, `--since` values and the prefixed
lines of `ace logs`."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import pytest

from apps.errors import AceError
from reconciler.applogs.buildlogs import BuildLogTail, BuildLogWriter, build_log_apps
from reconciler.applogs.follow import LogSource, follow, history, list_apps
from reconciler.applogs.lines import AppLine, parse_since
from reconciler.cli.logs import colour_of, format_line
from reconciler.core.types import LABEL_APP, LABEL_INSTALL, LABEL_VERSION
from tests.fakes import FakeEngine

INSTALL = "inst-follow"


def start(engine: FakeEngine, name: str, version: str, lines: list[str], app: str = "/web"
          ) -> str:
    c = engine.run_container(name=name, image="busybox:latest", port=8080,
                             command=["sleep", "1"], env={}, mounts=[],
                             labels={LABEL_INSTALL: INSTALL, LABEL_APP: app,
                                     LABEL_VERSION: version})
    engine.containers[c.id].logs = list(lines)
    return c.id


def test_history_merges_apps_and_builds_by_time(tmp_path: Path) -> None:
    """Each app's last N lines (container and last build merged by time), all apps merged;
    an app with only a build log is listed too."""
    engine = FakeEngine()
    web = start(engine, "web-1", "v1", ["w1", "w2", "w3"])
    start(engine, "api-1", "v1", ["a1"], app="/api")
    t0 = engine.containers[web].created
    clock = iter([t0 + 0.0015, t0 + 0.0025, t0 - 5.0])
    writer = BuildLogWriter(tmp_path, clock=lambda: next(clock))
    writer("/web", "Step 1/2 : FROM busybox")
    writer("/web", "built")
    writer("/lib", "only built")
    writer.close()
    src = LogSource(engine, INSTALL, tmp_path)
    assert list_apps(src) == ["/api", "/lib", "/web"]
    lines, marks = history(src, ["/web", "/api", "/lib"], tail=3)
    assert [(x.app, x.stream, x.text) for x in lines] == [
        ("/lib", "build", "only built"), ("/web", "build", "Step 1/2 : FROM busybox"),
        ("/web", "stdout", "w3"), ("/web", "build", "built"), ("/api", "stdout", "a1")]
    assert marks[web] == t0 + 0.002
    assert history(src, ["/web"], tail=2, since=t0 + 0.002)[0][0].text == "w3"


def test_follows_the_app_across_a_replace_a_restart_and_an_outage(tmp_path: Path) -> None:
    """After the history, the new container's lines from its first, only the new lines of a
    restarted one, and notes for each turn of events."""
    engine = FakeEngine()
    old = start(engine, "web-1", "v1", ["old 1", "old 2"])
    src = LogSource(engine, INSTALL, tmp_path)
    stop = threading.Event()
    script = iter(["replace", "outage", "back", "crash", "restart", "stop"])
    ids: dict[str, str] = {}

    def sleep(_: float) -> None:
        """Each wait of the container follower, the world moves on one step."""
        step = next(script, "stop")
        if step == "replace":
            engine.remove_outside(old)
            ids["new"] = start(engine, "web-2", "v2", ["new 1"])
        elif step == "outage":
            engine.down = True
        elif step == "back":
            engine.down = False
            engine.crash(ids["new"])
        elif step == "restart":
            engine.containers[ids["new"]].state = "running"
            engine.containers[ids["new"]].logs.append("new 2")
        elif step == "stop":
            stop.set()

    shown, marks = history(src, ["/web"], tail=1)
    assert [x.text for x in shown] == ["old 2"]
    out: list[AppLine] = []
    notes: list[str] = []
    threads = follow(src, ["/web"], marks=marks, emit=out.append, note=notes.append, stop=stop,
                     poll=0.01, sleep=sleep)
    for t in threads:
        t.join(timeout=10)
    assert [(x.container, x.text) for x in out] == [("web-2", "new 1"), ("web-2", "new 2")]
    assert any("following web-2" in n for n in notes)
    assert any("the engine is not answering" in n for n in notes)
    assert any("web-2 is exited" in n for n in notes)
    assert any("web-2 is running again" in n for n in notes)


def test_build_log_is_read_while_written_and_a_new_build_from_its_start(tmp_path: Path) -> None:
    """A tail sees lines as a build writes them; the next build (file started afresh) is read
    from its first line even when it is already longer than the last one."""
    tail = BuildLogTail(tmp_path, "/web")
    first = BuildLogWriter(tmp_path)
    first("/web", "one")
    assert [x.text for x in tail.poll()] == ["one"]
    first("/web", "two")
    assert [x.text for x in tail.poll()] == ["two"]
    first.close()
    second = BuildLogWriter(tmp_path)
    for text in ("a", "b", "c"):
        second("/web", text)
    second.close()
    assert [x.text for x in tail.poll()] == ["a", "b", "c"]
    assert build_log_apps(tmp_path) == ["/web"]
    raw = (tmp_path / "logs" / "%2Fweb.build.jsonl").read_text().splitlines()
    assert [json.loads(r)["text"] for r in raw] == ["a", "b", "c"]


def test_since_takes_durations_times_and_unix_seconds() -> None:
    """`--since` as docker takes it; a bad value names the forms it takes."""
    now = 1_700_000_000.0
    assert parse_since("10m", now) == now - 600
    assert parse_since("1h30m", now) == now - 5400
    assert parse_since("500ms", now) == now - 0.5
    assert parse_since("1699999999.5", now) == 1699999999.5
    assert parse_since("2023-11-14T22:13:20Z", now) == now
    assert parse_since("2023-11-14", now) == 1699920000.0
    with pytest.raises(AceError, match="give a duration"):
        parse_since("yesterday", now)


def test_lines_are_prefixed_with_the_app_in_a_stable_colour() -> None:
    """Several apps: `/app | text` padded to the widest path, the app's colour the same for
    every run; one app: the text alone; --timestamps puts the time first."""
    line = AppLine("/web", "c", "stdout", 1_700_000_000.25, "hello")
    assert format_line(line, prefix_width=6, colour=False, timestamps=False) == "/web   | hello"
    assert colour_of("/web") == colour_of("/web") and colour_of("/web") != colour_of("/db")
    coloured = format_line(line, prefix_width=4, colour=True, timestamps=False)
    assert coloured == f"\x1b[{colour_of('/web')}m/web | \x1b[0mhello"
    assert format_line(line, prefix_width=None, colour=False, timestamps=True) == \
        "2023-11-14T22:13:20.250000Z hello"
    assert line.to_json() == {"app": "/web", "container": "c", "stream": "stdout",
                              "time": "2023-11-14T22:13:20.250000Z", "text": "hello"}
