"""`ace watch` against the real engine: edits served, broken app.star keeps the old app, killed
or removed containers come back, crash loops back off, apps added and removed, a failing health
check replaces the container, the engine restarting is survived, and exit is quick and clean."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import docker
import pytest

from tests.engine.appkit import Project, get
from tests.engine.watchkit import Event, SecondEngine, WatchProc

pytestmark = pytest.mark.engine

WEB = 'app("/web", "./web")'
WEB2 = 'app("/web2", "./web2")'
CRASH = 'app("/crash", "./crash")'
CRASH_CONTAINERFILE = """FROM busybox
EXPOSE 8080
CMD ["sh", "-c", "echo dying now; exit 3"]
"""




def start_watch(project: Project, procs: list[WatchProc], *args: str,
                env: dict[str, str] | None = None) -> WatchProc:
    w = WatchProc(project.apps_file, "--resync", "1", "--health-timeout", "10", *args, env=env)
    procs.append(w)
    return w


def is_step(e: Event, action: str, app: str, event: str = "step_done") -> bool:
    return e.get("event") == event and e.get("action") == action and e.get("app") == app


def test_edit_is_served_and_exit_is_quick(project: Project, procs: list[WatchProc]) -> None:
    """A saved edit in the build context is built and served; SIGTERM exits within 2 s and
    leaves the service running."""
    project.web_app()
    project.apps(WEB)
    w = start_watch(project, procs)
    w.wait_served("/web", "v1\n", 60)
    project.write("web/index.html", "v2\n")
    w.wait_served("/web", "v2\n", 30)
    change = w.wait_for(lambda e: is_step(e, "replace", "/web"), 5, "replace step")
    assert change["cause"] == "build inputs changed: index.html"
    assert w.stop() < 2.0
    assert w.named("watch_stopped")
    assert [c.status for c in project.containers("/web")] == ["running"]


def test_stop_during_a_health_gate_keeps_the_old_version(
        project: Project, procs: list[WatchProc]) -> None:
    """SIGTERM while a new version's health gate waits (it never answers): watch exits within
    2 s, the unproven container is removed and the old one still serves."""
    project.web_app()
    project.apps(WEB)
    w = start_watch(project, procs, "--health-timeout", "60")
    url = w.wait_served("/web", "v1\n", 60)
    (old,) = project.containers("/web")
    project.write("web/Containerfile", "FROM busybox\nEXPOSE 8080\nCMD [\"sleep\", \"600\"]\n")
    w.wait_for(lambda e: e.get("event") == "step_started" and e.get("action") == "replace",
               60, "the replace to start")
    time.sleep(1.0)  # the new container is up, its health gate polling
    assert len(project.containers("/web")) == 2
    assert w.stop() < 2.0
    failed = [e for e in w.named("step_failed") if e.get("action") == "replace"]
    assert failed and "ace is stopping" in failed[0]["error"], w.raw[-10:]
    assert [c.id for c in project.containers("/web")] == [old.id]
    assert get(url) == (200, "v1\n")


def test_broken_app_star_keeps_old_app(project: Project, procs: list[WatchProc]) -> None:
    """A syntax error in app.star is reported with file and line; the running container is left
    alone (even when killed meanwhile it comes back as the last good version); the fix applies."""
    project.web_app()
    project.apps(WEB)
    w = start_watch(project, procs)
    url = w.wait_served("/web", "v1\n", 60)
    before = [c.id for c in project.containers("/web")]
    good = (project.root / "web/app.star").read_text()
    project.write("web/app.star", good + "\nthis is not starlark(\n")
    err = w.wait_for(lambda e: e.get("event") == "app_error", 15, "app_error")
    assert err["app"] == "/web" and err["file"].endswith("web/app.star") and err["line"] > 1
    time.sleep(2.5)  # a couple of resync passes
    assert [c.id for c in project.containers("/web")] == before
    assert get(url) == (200, "v1\n")
    project.write("web/index.html", "v3\n")
    project.write("web/app.star", good)
    w.wait_served("/web", "v3\n", 30)


def test_killed_or_removed_container_comes_back(
    project: Project, procs: list[WatchProc], docker_client: docker.DockerClient
) -> None:
    """A container killed or removed outside ace is back within the resync period (+ health)."""
    project.web_app()
    project.apps(WEB)
    w = start_watch(project, procs)
    w.wait_served("/web", "v1\n", 60)
    (c,) = project.containers("/web")
    c.kill()
    t0 = time.monotonic()
    w.wait_for(lambda e: is_step(e, "restart", "/web"), 10, "restart after kill")
    assert time.monotonic() - t0 < 5
    w.wait_served("/web", "v1\n", 10)
    (c,) = project.containers("/web")
    c.remove(force=True)
    w.wait_for(lambda e: is_step(e, "start", "/web") and e["cause"] == "container gone", 10,
               "start after removal")
    w.wait_served("/web", "v1\n", 10)


def test_crash_loop_backs_off(project: Project, procs: list[WatchProc]) -> None:
    """An app whose container keeps exiting is retried at 1, 2, 4 ... s, not every resync, and
    reported as crash-looping with its exit code and last log lines."""
    project.web_app()  # a healthy neighbour is not affected
    project.write("crash/Containerfile", CRASH_CONTAINERFILE)
    project.write("crash/app.star", (project.root / "web/app.star").read_text())
    project.write("crash/params.star", (project.root / "web/params.star").read_text())
    project.apps(WEB, CRASH)
    w = start_watch(project, procs, "--resync", "0.3")
    w.wait_for(lambda e: is_step(e, "start", "/crash", "step_failed"), 60, "first crash")
    t0 = time.monotonic()
    time.sleep(12)
    tries = [e for e in w.named("step_started") if e.get("app") == "/crash"
             and e.get("action") in ("start", "restart")]
    # Without backoff: a try every ~0.5 s (≈ 24 in 12 s). With it: at ~1, 3, 7 s after the first.
    assert 2 <= len(tries) - 1 <= 5, [e["timestamp"] for e in tries]
    loop = w.named("crash_loop_backoff")[-1]
    assert loop["app"] == "/crash" and loop["exit_code"] == "3" and loop["attempts"] >= 2
    assert any("dying now" in line for line in loop["logs"])
    assert w.row("/crash")["state"] == "crash-looping"
    assert "exit code 3" in w.row("/crash")["last_error"]
    w.wait_served("/web", "v1\n", 5)
    assert time.monotonic() - t0 < 30


SHORT_LIVED_CONTAINERFILE = """FROM busybox
COPY index.html /www/index.html
EXPOSE 8080
CMD ["sh", "-c", "httpd -p 8080 -h /www && sleep 2 && echo dying now && exit 3"]
"""


def crash_app(project: Project, containerfile: str) -> None:
    project.web_app()
    project.write("crash/Containerfile", containerfile)
    project.write("crash/index.html", "up\n")
    project.write("crash/app.star", (project.root / "web/app.star").read_text())
    project.write("crash/params.star", (project.root / "web/params.star").read_text())


def test_short_lived_service_is_a_crash_loop(project: Project, procs: list[WatchProc]) -> None:
    """A container that passes its health check, runs 2 s and exits is crash-looping: the
    crash_loop_backoff event carries its exit code and last log lines, and restarts back off."""
    crash_app(project, SHORT_LIVED_CONTAINERFILE)
    project.apps(CRASH)
    w = start_watch(project, procs)
    loop = w.wait_for(lambda e: e.get("event") == "crash_loop_backoff", 40, "crash loop")
    assert loop["app"] == "/crash" and loop["exit_code"] == "3" and loop["attempts"] == 2
    assert loop["retry_in"] == 2.0 and any("dying now" in line for line in loop["logs"])
    w.wait_for(lambda e: e.get("event") == "status" and any(
        r["app"] == "/crash" and r["state"] == "crash-looping" for r in e["apps"]), 5, "row")
    assert "exit code 3" in w.row("/crash")["last_error"]
    before = w.events[:w.events.index(loop)]
    assert [e["action"] for e in before if e.get("event") == "step_done"
            and e.get("app") == "/crash"] == ["build", "start", "restart", "restart"]


def test_first_retry_comes_after_one_second(project: Project, procs: list[WatchProc]) -> None:
    """After the first crash the retry comes on the app's own 1 s timer, not at the next
    resync (5 s here)."""
    crash_app(project, CRASH_CONTAINERFILE)
    project.apps(CRASH)
    w = WatchProc(project.apps_file, "--resync", "5", "--health-timeout", "10")
    procs.append(w)
    w.wait_for(lambda e: is_step(e, "start", "/crash", "step_failed"), 60, "first crash")
    t0 = time.monotonic()
    while len([e for e in w.named("step_started") if e.get("app") == "/crash"
               and e.get("action") == "start"]) < 2:
        assert time.monotonic() - t0 < 4, "no second try within 4 s"
        time.sleep(0.05)
    assert time.monotonic() - t0 > 0.7


def test_apps_file_edit_adds_and_removes(project: Project, procs: list[WatchProc]) -> None:
    """An app added to the apps file starts; removed, its container goes."""
    project.web_app()
    project.web_app("web2", page="two")
    project.apps(WEB)
    w = start_watch(project, procs)
    w.wait_served("/web", "v1\n", 60)
    project.apps(WEB, WEB2)
    w.wait_served("/web2", "two\n", 60)
    project.apps(WEB)
    w.wait_for(lambda e: is_step(e, "remove", "/web2"), 15, "remove /web2")
    assert project.containers("/web2") == []
    assert [c.status for c in project.containers("/web")] == ["running"]


def test_failing_health_check_replaces(project: Project, procs: list[WatchProc]) -> None:
    """A running service that fails several probes in a row is replaced by a fresh container."""
    project.web_app()
    project.apps('app("/web", "./web", params={"health": "/index.html"})')
    w = start_watch(project, procs)
    w.wait_served("/web", "v1\n", 60)
    (c,) = project.containers("/web")
    c.exec_run(["rm", "/www/index.html"])  # the service now answers 404
    step = w.wait_for(lambda e: is_step(e, "replace", "/web"), 20, "replace of unhealthy")
    assert step["cause"].startswith("health check failing: 404")
    w.wait_served("/web", "v1\n", 10)


def test_paused_container_is_replaced(project: Project, procs: list[WatchProc]) -> None:
    """`docker pause` on a watched service: the next pass replaces it with a fresh container;
    it is never `start`ed in a loop."""
    project.web_app()
    project.apps(WEB)
    w = start_watch(project, procs)
    w.wait_served("/web", "v1\n", 60)
    (c,) = project.containers("/web")
    c.pause()
    step = w.wait_for(lambda e: is_step(e, "replace", "/web"), 10, "replace of the paused one")
    assert step["cause"] == "container paused"
    w.wait_served("/web", "v1\n", 10)
    assert [x.status for x in project.containers("/web")] == ["running"]
    assert not [e for e in w.events if e.get("action") == "restart"]


def test_reconcile_waits_for_watch(project: Project, procs: list[WatchProc]) -> None:
    """`ace reconcile` run while watch runs gets the lock between passes and finds no work."""
    project.web_app()
    project.apps(WEB)
    w = start_watch(project, procs)
    w.wait_served("/web", "v1\n", 60)
    out = project.ace_json("reconcile", "--lock-timeout", "10")
    assert out["steps"] == []


@pytest.fixture
def second_engine(tmp_path: Path, busybox: str) -> Iterator[SecondEngine]:
    eng = SecondEngine(Path("/tmp") / f"ace-watch-{tmp_path.name[-20:]}")
    eng.root.mkdir(parents=True, exist_ok=True)
    try:
        eng.setup_bridge()
        eng.start()
        eng.seed(busybox)
        yield eng
    finally:
        eng.cleanup()


def test_engine_restart_is_survived(tmp_path: Path, second_engine: SecondEngine,
                                    procs: list[WatchProc]) -> None:
    """The engine going away is said once; an edit made meanwhile is applied and the stopped
    container is back when the engine answers again."""
    client = docker.DockerClient(base_url=second_engine.host, timeout=30)
    project = Project(tmp_path / "proj", client)
    project.root.mkdir()
    project.web_app()
    project.apps(WEB)
    w = WatchProc(project.apps_file, "--resync", "1", "--health-timeout", "10",
                  env={"DOCKER_HOST": second_engine.host, "ACE_ENGINE_TIMEOUT": "5"})
    procs.append(w)
    w.wait_served("/web", "v1\n", 60)
    second_engine.stop()
    w.wait_for(lambda e: e.get("event") == "engine_unavailable", 20, "engine_unavailable")
    project.write("web/index.html", "v2\n")
    time.sleep(3)
    second_engine.start()
    w.wait_for(lambda e: e.get("event") == "engine_back", 30, "engine_back")
    w.wait_served("/web", "v2\n", 30)
    assert len(w.named("engine_unavailable")) == 1
    assert w.stop() < 2.0
    client.close()
