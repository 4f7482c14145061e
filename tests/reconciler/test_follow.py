"""`ace logs --follow` logic against the in-memory engine: across a replace, a restart and an
engine outage, ended by Ctrl-C."""

from __future__ import annotations

import pytest

from reconciler.cli.follow import follow_app
from reconciler.core.types import LABEL_APP, LABEL_INSTALL, LABEL_VERSION, current_container
from tests.fakes import FakeEngine

INSTALL = "inst-follow"


def start(engine: FakeEngine, name: str, version: str, lines: list[str]) -> str:
    c = engine.run_container(name=name, image="busybox:latest", port=8080,
                             command=["sleep", "1"], env={}, mounts=[],
                             labels={LABEL_INSTALL: INSTALL, LABEL_APP: "/web",
                                     LABEL_VERSION: version})
    engine.containers[c.id].logs = list(lines)
    return c.id


def test_follows_the_app_across_a_replace_a_restart_and_an_outage() -> None:
    engine = FakeEngine()
    old = start(engine, "web-1", "v1", ["old 1", "old 2"])
    out: list[str] = []
    notes: list[str] = []
    script = iter(["replace", "outage", "back", "crash", "restart", "stop"])

    def sleep(_: float) -> None:
        """Each wait, the world moves on one step."""
        step = next(script)
        if step == "replace":
            engine.remove_outside(old)
            ids["new"] = start(engine, "web-2", "v2", ["new 1"])
        elif step == "outage":
            engine.down = True
        elif step == "back":
            engine.down = False
            engine.crash(ids["new"])
        elif step == "crash":
            pass  # still exited: keep waiting
        elif step == "restart":
            engine.containers[ids["new"]].state = "running"
            engine.containers[ids["new"]].logs.append("new 2")
        else:
            raise KeyboardInterrupt

    ids: dict[str, str] = {}
    first = current_container(engine.list_containers(INSTALL), "/web")
    assert first is not None and first.id == old
    with pytest.raises(KeyboardInterrupt):
        follow_app(engine, INSTALL, "/web", first, tail=1, out=out.append, note=notes.append,
                   sleep=sleep)
    # the tail of the first, the whole of the new one, then (restarted) only what is new to
    # the fake (which replays its last lines for tail 0: none)
    assert out == ["old 2\n", "new 1\n"]
    assert any("following web-2" in n for n in notes)
    assert any("the engine is not answering" in n for n in notes)
    assert any("web-2 is exited" in n for n in notes)
    assert any("web-2 is running again" in n for n in notes)


def test_newest_prefers_a_running_container() -> None:
    engine = FakeEngine()
    a = start(engine, "web-1", "v1", [])
    start(engine, "web-2", "v2", [])
    engine.crash(next(c for c in engine.containers if c != a))
    found = current_container(engine.list_containers(INSTALL), "/web")
    assert found is not None and found.id == a
    assert current_container(engine.list_containers(INSTALL), "/other") is None
