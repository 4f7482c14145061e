"""The swarm backend on a one-node Swarm (started once for this module): the Engine contract
where its semantics are those of one engine (listings of this installation only, labels
required, refusal of what ace did not create, idempotent removal, logs, commands with their
streams, exit code and timeout, a down engine retryable), and ace's commands without a
registry (optional on one node), a bind mount (allowed on one node), the manager not
answering for a while under `ace watch`, and dev mode (build target, `sh -c` entrypoint and
working directory, restart in place as a forced update)."""

from __future__ import annotations

import os
import signal
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from apps.errors import EngineError
from reconciler.core.types import LABEL_APP, LABEL_INSTALL, LABEL_VERSION
from reconciler.driver.ports import LogLine
from reconciler.driver.swarm import SwarmEngine
from tests.engine.test_dev import (
    DEV_APP_STAR,
    DEV_CONTAINERFILE,
    request_loop,
    steps,
    wait_body,
    wait_step,
)
from tests.engine.test_proxy import free_port
from tests.engine.watchkit import WatchProc
from tests.swarm.cluster import Cluster, cluster_up
from tests.swarm.kit import SwarmProject, get, wait_until

pytestmark = pytest.mark.engine

BUSYBOX = "busybox:latest"
HTTPD = ["httpd", "-f", "-p", "8080", "-h", "/"]


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    with cluster_up(1, tmp_path_factory.mktemp("c1")) as c:
        yield c


@pytest.fixture
def eng(cluster: Cluster) -> Iterator[tuple[SwarmEngine, str]]:
    """The engine on the cluster and a fresh installation id; its services go afterwards."""
    e = SwarmEngine(cluster.manager, timeout=30)
    install = f"acetest-{uuid.uuid4().hex[:10]}"
    yield e, install
    with cluster.client() as c:
        for s in c.api.services(filters={"label": f"{LABEL_INSTALL}={install}"}):
            c.api.remove_service(s["ID"])
    e.close()


def labels(install: str, app: str = "/web") -> dict[str, str]:
    return {LABEL_INSTALL: install, LABEL_APP: app, LABEL_VERSION: "v1"}


def test_listing_shows_this_installation_only(eng: tuple[SwarmEngine, str]) -> None:
    """Services of another installation are not listed; a listed service carries its replicas
    and running tasks once they run."""
    e, install = eng
    mine = e.run_container(name=f"{install}-web", image=BUSYBOX, port=8080, command=HTTPD,
                           env={}, mounts=[], labels=labels(install), replicas=2)
    e.run_container(name=f"{install}-other", image=BUSYBOX, port=8080, command=HTTPD, env={},
                    mounts=[], labels=labels(f"{install}-x"))
    wait_until(lambda: len(e.list_containers(install)[0].running_tasks) == 2, 30, "2 tasks")
    (seen,) = e.list_containers(install)
    assert seen.id == mine.id and seen.replicas == 2 and seen.state == "running"
    assert all(get(f"http://{t.address}/")[0] in (200, 404) for t in seen.running_tasks)
    e.stop_and_remove(e.list_containers(f"{install}-x")[0].id)


def test_create_requires_the_installation_label(eng: tuple[SwarmEngine, str]) -> None:
    """No service is created without ace's installation label."""
    e, install = eng
    with pytest.raises(EngineError, match="installation|dev.ace.install"):
        e.run_container(name=f"{install}-x", image=BUSYBOX, port=8080, command=HTTPD, env={},
                        mounts=[], labels={LABEL_APP: "/web"})


def test_refuses_services_it_did_not_create_and_removal_is_idempotent(
        eng: tuple[SwarmEngine, str], cluster: Cluster) -> None:
    """A service made by someone else is never scaled, started, restarted or removed; removing
    one of ace's twice is fine."""
    e, install = eng
    with cluster.client() as c:
        foreign = c.api.create_service({"ContainerSpec": {"Image": BUSYBOX,
                                                          "Args": ["sleep", "60"]}},
                                       name=f"{install}-foreign")["ID"]
        try:
            for call in (lambda: e.stop_and_remove(foreign), lambda: e.scale(foreign, 2),
                         lambda: e.start(foreign), lambda: e.restart(foreign)):
                with pytest.raises(EngineError, match="not managed by ace"):
                    call()
            assert c.api.inspect_service(foreign)["Spec"]["Name"] == f"{install}-foreign"
        finally:
            c.api.remove_service(foreign)
    s = e.run_container(name=f"{install}-web", image=BUSYBOX, port=8080, command=HTTPD,
                        env={}, mounts=[], labels=labels(install))
    e.stop_and_remove(s.id)
    e.stop_and_remove(s.id)
    assert e.inspect(s.id) is None and e.list_containers(install) == ()


def test_logs_tail(eng: tuple[SwarmEngine, str]) -> None:
    """logs() returns the last `tail` lines of the service's tasks."""
    e, install = eng
    s = e.run_container(name=f"{install}-log", image=BUSYBOX, port=8080,
                        command=["sh", "-c", "for i in 1 2 3 4; do echo line$i; done; "
                                 "exec httpd -f -p 8080 -h /"], env={}, mounts=[],
                        labels=labels(install))
    wait_until(lambda: "line4" in e.logs(s.id, tail=2), 30, "the log lines")
    assert e.logs(s.id, tail=2).split() == ["line3", "line4"]


def test_log_lines_tell_stdout_from_stderr(eng: tuple[SwarmEngine, str]) -> None:
    """log_lines() gives a service's stdout line as "stdout" and its stderr line as "stderr",
    each timed; `since` a line's time starts at that line."""
    e, install = eng
    s = e.run_container(name=f"{install}-streams", image=BUSYBOX, port=8080,
                        command=["sh", "-c", "echo to-out; sleep 0.2; echo to-err >&2; "
                                 "exec httpd -f -p 8080 -h /"], env={}, mounts=[],
                        labels=labels(install))
    seen: list[LogLine] = []

    def read() -> bool:
        seen.clear()
        e.log_lines(s.id, on_line=seen.append)
        return len(seen) >= 2

    wait_until(read, 30, "both log lines")
    assert [(ln.stream, ln.text) for ln in seen] == [("stdout", "to-out"), ("stderr", "to-err")]
    assert all(ln.time > 0 for ln in seen) and seen[0].time < seen[1].time
    later: list[LogLine] = []
    e.log_lines(s.id, since=seen[1].time, on_line=later.append)
    assert later == seen[1:]


def test_log_follow_of_a_quiet_service_ends_soon_after_stop(eng: tuple[SwarmEngine, str]) -> None:
    """A follow of a service that prints nothing more returns within 1 s of its stop."""
    e, install = eng
    s = e.run_container(name=f"{install}-quiet", image=BUSYBOX, port=8080,
                        command=["sh", "-c", "echo ready; exec httpd -f -p 8080 -h /"],
                        env={}, mounts=[], labels=labels(install))
    wait_until(lambda: "ready" in e.logs(s.id, tail=5), 30, "the task's first line")
    seen: list[LogLine] = []
    stop = threading.Event()
    reader = threading.Thread(target=lambda: e.log_lines(s.id, follow=True, on_line=seen.append,
                                                         stop=stop), daemon=True)
    reader.start()
    wait_until(lambda: [ln.text for ln in seen] == ["ready"], 30, "the first line")
    time.sleep(0.5)
    assert reader.is_alive(), "the follow ended before its stop"  # it waits on a quiet service
    stopped = time.monotonic()
    stop.set()
    reader.join(5)
    assert not reader.is_alive(), "the follow did not end after its stop"
    assert time.monotonic() - stopped < 1.0


def test_entrypoint_and_workdir_are_the_services_command_and_dir(
        eng: tuple[SwarmEngine, str]) -> None:
    """Dev mode's `sh -c` entrypoint replaces the image's (the command is its argument) and
    the task runs in `workdir`."""
    e, install = eng
    s = e.run_container(name=f"{install}-dev", image=BUSYBOX, port=8080, entrypoint=["sh", "-c"],
                        command=["pwd; exec httpd -f -p 8080 -h /"], env={}, workdir="/tmp",
                        mounts=[], labels=labels(install))
    wait_until(lambda: "/tmp" in e.logs(s.id, tail=5), 30, "the command's output")
    assert not e.list_containers(install)[0].changed_outside


def test_restart_is_a_forced_update_of_the_same_service(eng: tuple[SwarmEngine, str]) -> None:
    """restart (dev mode's reload=restart) keeps the service and replaces every task; it
    returns once no task of the old generation is wanted running (the executor's health gate
    then waits for every replica), so the tasks it shows running are fresh ones; they answer."""
    e, install = eng
    s = e.run_container(name=f"{install}-web", image=BUSYBOX, port=8080, command=HTTPD, env={},
                        mounts=[], labels=labels(install), replicas=2)
    wait_until(lambda: len(e.list_containers(install)[0].running_tasks) == 2, 60, "2 tasks")
    before = {t.id for t in e.list_containers(install)[0].tasks}
    again = e.restart(s.id, timeout=1.0)
    assert again.id == s.id and again.replicas == 2 and not again.changed_outside
    assert not {t.id for t in again.tasks if t.desired == "running"} & before
    wait_until(lambda: len(e.list_containers(install)[0].running_tasks) == 2, 60,
               "2 fresh tasks")
    (seen,) = e.list_containers(install)
    assert all(get(f"http://{t.address}/")[0] in (200, 404) for t in seen.running_tasks)
    assert not {t.id for t in seen.running_tasks} & before


def test_build_stops_at_the_target_stage(eng: tuple[SwarmEngine, str], tmp_path: Path) -> None:
    """On the manager, a build with `target` builds only that stage (its EXPOSE, not the final
    stage's); one node needs no registry."""
    e, install = eng
    (tmp_path / "Containerfile").write_text("FROM busybox AS dev\nEXPOSE 7000\n"
                                            "FROM dev\nEXPOSE 8000\n")
    tag = f"ace-{install}/web:dev-1"
    e.build(context_dir=str(tmp_path), containerfile=str(tmp_path / "Containerfile"), tag=tag,
            build_args={}, labels=labels(install), target="dev")
    try:
        assert e.image_exposed_ports(tag) == (7000,)
    finally:
        e.remove_image(tag)


def test_engine_down_is_retryable(cluster: Cluster) -> None:
    """When no manager answers, calls raise a retryable EngineError."""
    down = SwarmEngine(f"unix:///tmp/ace-no-engine-{uuid.uuid4().hex}.sock")
    for call in (down.ping, lambda: down.list_containers("x")):
        with pytest.raises(EngineError) as err:
            call()
        assert err.value.retryable


def test_run_command_streams_exit_code_timeout_and_missing_executable(
        eng: tuple[SwarmEngine, str]) -> None:
    """A job gives stdout and stderr apart with the exit code, env and working directory; a
    job outliving its timeout is reported as timed out (124); a missing executable is a
    non-zero exit naming it; no job is left."""
    e, install = eng
    res = e.run_command(image=BUSYBOX,
                        command=["sh", "-c", "echo out $GREETING; pwd; echo oops >&2; exit 3"],
                        env={"GREETING": "hi"}, cwd="/tmp", labels=labels(install))
    assert (res.exit_code, res.stdout, res.stderr, res.timed_out) == (3, "out hi\n/tmp\n",
                                                                       "oops\n", False)
    started = time.monotonic()
    res = e.run_command(image=BUSYBOX, command=["sh", "-c", "echo early; sleep 30"], env={},
                        cwd="/", labels=labels(install), timeout=1.5)
    assert res.timed_out and res.exit_code == 124 and time.monotonic() - started < 10
    res = e.run_command(image=BUSYBOX, command=["no-such-tool", "x"], env={}, cwd="/",
                        labels=labels(install))
    assert res.exit_code != 0 and "no-such-tool" in res.stderr and not res.timed_out
    assert e.list_containers(install) == ()


BIND_APP = """load("container.in", "container")
app = ace.app("Files", container=container.config("image:busybox", port=8080,
    volumes=["./site:/w:ro"], command=["httpd", "-f", "-p", "8080", "-h", "/w"]))
"""


def test_one_node_needs_no_registry_and_allows_bind_mounts(project: SwarmProject) -> None:
    """On one node ace builds on the manager and runs the image there without a registry; a
    bind mount works; a second reconcile is a no-op; down removes the services."""
    project.web()
    project.write("files/app.star", BIND_APP)
    project.write("files/site/index.html", "bound\n")
    project.apps('app("/web", "./web")', 'app("/files", "./files")')
    code, out = project.ace("reconcile", registry=False)
    assert project.ace("reconcile", registry=False) == (0, "")
    web = project.row("/web")
    assert get(web["url"] + "/") == (200, "v1\n") and web["replicas"]["running"] == 1
    assert get(project.row("/files")["url"] + "/") == (200, "bound\n")
    code, out = project.ace("down", registry=False)
    assert out.count("removed service") == 2 and project.services() == []


def test_manager_unreachable_for_a_while_under_watch(project: SwarmProject) -> None:
    """`ace watch --backend swarm` says once that the manager does not answer (its dockerd
    stopped), keeps running, and converges an edit made meanwhile once it is back."""
    project.web()
    project.apps('app("/web", "./web", container_opts={"min_replicas": 2})')
    port = free_port()
    w = WatchProc(project.apps_file, "--listen", f"127.0.0.1:{port}", "--resync", "0.5",
                  env={**project.cluster.ace_env(), "ACE_ENGINE_TIMEOUT": "2"})
    url = f"http://127.0.0.1:{port}/web/"
    pid = int((project.cluster.base / "n1" / "docker.pid").read_text())
    try:
        wait_until(lambda: get(url) == (200, "v1\n"), 60, "v1 served")
        os.kill(pid, signal.SIGSTOP)
        try:
            w.wait_for(lambda e: e.get("event") == "engine_unavailable", 30, "the outage told")
            project.write("web/index.html", "v2\n")
            time.sleep(1)
        finally:
            os.kill(pid, signal.SIGCONT)
        w.wait_for(lambda e: e.get("event") == "engine_back", 30, "the manager back")
        wait_until(lambda: get(url) == (200, "v2\n"), 60, "v2 served after the outage")
        assert len(w.named("engine_unavailable")) == 1
    finally:
        os.kill(pid, signal.SIGCONT)
        w.stop()


def test_dev_app_restarts_in_place_under_watch(project: SwarmProject) -> None:
    """A dev app (reload=restart, 2 replicas) under `ace watch --backend swarm` runs the dev
    stage with `sh -c` in its mounted source; a save is one restart step: the same service
    with fresh tasks, while a request loop through ace's proxy (held meanwhile) never fails."""
    project.write("site/Containerfile", DEV_CONTAINERFILE)
    project.write("site/index.html", "v1\n")
    project.write("site/app.star", DEV_APP_STAR.format(reload="restart", extra=""))
    project.apps('app("/site", "./site", dev=True, container_opts={"min_replicas": 2})')
    port = free_port()
    w = WatchProc(project.apps_file, "--listen", f"127.0.0.1:{port}", "--resync", "1",
                  env=project.cluster.ace_env())
    base = f"http://127.0.0.1:{port}/site/"
    try:
        wait_body(base, "v1\n", 120)
        time.sleep(1.0)  # the file watcher (started after the first pass) settles
        (svc,) = project.services()
        cs = svc["Spec"]["TaskTemplate"]["ContainerSpec"]
        assert (cs["Command"], cs["Dir"]) == (["sh", "-c"], "/site") and ":dev-" in cs["Image"]
        seen = len(w.events)
        with request_loop(base) as failures:
            project.write("site/index.html", "v2\n")
            step = wait_step(w, "restart", seen, 90)
            wait_body(base, "v2\n", 10)
        assert step["cause"] == "dev: source changed, reload restart"
        assert failures == []
        assert [e["action"] for e in steps(w, seen)] == ["restart"]
        (after,) = project.services()
        assert after["ID"] == svc["ID"]
        assert after["Spec"]["TaskTemplate"]["ForceUpdate"] > svc["Spec"]["TaskTemplate"].get(
            "ForceUpdate", 0)
        row = project.row("/site")
        assert (row["mode"], row["replicas"]) == ("dev", {"desired": 2, "running": 2})
    finally:
        w.stop()
