"""ace on a 3-node Swarm cluster (scripts/swarm/cluster-up.sh 3, started once for this module):
converge with replicas spread over the nodes, a no-op that reads three listings, a minimal
update, zero failed requests through ace's proxy across an update of a 3-replica app, a failing
version kept out, scaling by `min_replicas`, drift after changes by hand, a node's engine killed,
`ace run` as Swarm jobs, faults of the registry, and `ace down`."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator

import pytest

from tests.engine.test_proxy import free_port
from tests.engine.test_reconcile import NOOP_PROBE
from tests.engine.watchkit import WatchProc
from tests.swarm.cluster import Cluster, cluster_up
from tests.swarm.kit import SwarmProject, get, wait_until

pytestmark = pytest.mark.engine

WEB3 = 'app("/web", "./web", container_opts={"min_replicas": 3})'
HELLO = 'app("/hello", "./hello", params={"greeting": "%s"})'


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    with cluster_up(3, tmp_path_factory.mktemp("c3")) as c:
        yield c


def steps(doc: dict[str, object]) -> list[str]:
    return [f"{s['action']}:{s['app']}" for s in doc["steps"]]  # type: ignore[attr-defined]


def test_converge_noop_and_a_minimal_update(project: SwarmProject) -> None:
    """Replicas spread over the three nodes and each task answers; the no-op pass reads the
    service, task and node listings over plain HTTP and nothing else (the SDK, Starlark and
    rich stay unloaded); changing one app replaces only it."""
    project.web()
    project.hello()
    project.apps(WEB3, HELLO % "hi")
    doc = project.ace_json("reconcile")
    assert doc["ok"] and sorted(steps(doc)) == ["build:/web", "start:/hello", "start:/web"]
    web = project.row("/web")
    assert web["state"] == "running" and web["health"] == "healthy", web
    assert web["replicas"] == {"desired": 3, "running": 3}
    assert len({t["node"] for t in web["tasks"]}) == 3
    assert all(get(f"http://{t['address']}/") == (200, "v1\n") for t in web["tasks"])
    images = [s["Spec"]["TaskTemplate"]["ContainerSpec"]["Image"] for s in project.services()]
    assert any(i.startswith(f"{project.cluster.registry}/ace-") and "@sha256:" in i
               for i in images), images

    project.ace("reconcile")  # the first run after a change fills the evaluation cache
    out = subprocess.run([sys.executable, "-c", NOOP_PROBE, str(project.apps_file)],
                         capture_output=True, text=True, timeout=60,
                         env={**os.environ, **project.cluster.ace_env()})
    lines = out.stdout.splitlines()
    assert lines[:2] == ["0 []", "/services /tasks /nodes"], out.stdout + out.stderr

    project.apps(WEB3, HELLO % "hello")
    assert steps(project.ace_json("plan")) == ["replace:/hello"]
    doc = project.ace_json("reconcile")
    assert steps(doc) == ["replace:/hello"] and doc["ok"]
    hello = project.row("/hello")
    assert get(hello["url"] + "/") == (200, "hello\n")


def test_registry_is_required_with_several_nodes(project: SwarmProject) -> None:
    """Building for a multi-node swarm without --registry fails with a message saying why."""
    project.web()
    project.apps(WEB3)
    code, out = project.ace("reconcile", expect=1, registry=False)
    assert "this swarm has 3 nodes" in out and "--registry HOST[:PORT]" in out, out
    assert project.services() == []


def test_zero_failed_requests_through_the_proxy_and_a_failing_version_is_kept_out(
        project: SwarmProject) -> None:
    """`ace watch --backend swarm`: an edit of a 3-replica app is rebuilt, pushed, health-gated
    and switched with no failed request at ace's proxy; a version whose tasks exit never takes
    the old one down."""
    project.web()
    project.apps(WEB3)
    port = free_port()
    w = WatchProc(project.apps_file, "--listen", f"127.0.0.1:{port}", "--resync", "1",
                  env=project.cluster.ace_env())
    url = f"http://127.0.0.1:{port}/web/"
    try:
        wait_until(lambda: get(url) == (200, "v1\n"), 60, "v1 served through the proxy")
        results: list[tuple[int, str]] = []
        stop = threading.Event()

        def hammer() -> None:
            end = time.monotonic() + 90
            while not stop.is_set() and time.monotonic() < end and len(results) < 20000:
                results.append(get(url, timeout=5))
                time.sleep(0.005)

        t = threading.Thread(target=hammer, daemon=True)
        t.start()
        time.sleep(0.5)
        project.write("web/index.html", "v2\n")
        wait_until(lambda: bool(results) and results[-1] == (200, "v2\n"), 60, "v2 served")
        w.wait_for(lambda e: e.get("event") == "step_done" and e.get("action") == "replace",
                   30, "the replace done")
        project.write("web/Containerfile", "FROM busybox\nEXPOSE 8080\n"
                      'CMD ["sh", "-c", "echo broken; sleep 1; exit 3"]\n')
        failed = w.wait_for(lambda e: e.get("event") == "step_failed"
                            and e.get("action") == "replace", 60, "the broken version to fail")
        time.sleep(1)  # the broken version may be retried meanwhile (its back-off is 1 s)
        stop.set()
        t.join(timeout=10)
    finally:
        w.stop()  # a retry's unproven service is removed on the way out
    bad = [r for r in results if r[0] != 200]
    assert not bad and len(results) > 50, (len(results), bad[:5])
    assert results[-1] == (200, "v2\n")
    assert "exit code 3" in str(failed.get("error")), failed
    web = project.row("/web")
    assert web["replicas"] == {"desired": 3, "running": 3}
    answers = {t["address"]: get(f"http://{t['address']}/") for t in web["tasks"]}
    assert set(answers.values()) == {(200, "v2\n")}, (answers, web)


def test_scale_by_min_replicas_and_drift_after_changes_by_hand(project: SwarmProject) -> None:
    """min_replicas scales the running service in place; a scale, an update and a removal by
    hand each show as drift and the next reconcile undoes them."""
    project.web()
    project.apps('app("/web", "./web", container_opts={"min_replicas": 2})')
    project.ace("reconcile")
    project.apps(WEB3)
    assert steps(project.ace_json("plan")) == ["scale:/web"]
    items = project.ace_json("drift", expect=2)["items"]
    assert [(i["kind"], i["expected"], i["actual"]) for i in items] == [
        ("pending", "3 replicas", "2 replicas")]
    project.ace("reconcile")
    assert project.row("/web")["replicas"] == {"desired": 3, "running": 3}
    assert project.ace_json("drift")["in_sync"]

    name = project.row("/web")["container"]
    project.cluster.docker("service", "scale", "-d", f"{name}=1")
    whats = [i["what"] for i in project.ace_json("drift", expect=2)["items"]]
    assert "service scaled outside ace" in whats, whats
    assert steps(project.ace_json("reconcile")) == ["scale:/web"]
    assert project.ace_json("drift")["in_sync"]

    project.cluster.docker("service", "update", "-d", "--env-add", "BY_HAND=1", name)
    whats = [i["what"] for i in project.ace_json("drift", expect=2)["items"]]
    assert "service changed outside ace" in whats, whats
    assert steps(project.ace_json("reconcile")) == ["replace:/web"]
    assert project.ace_json("drift")["in_sync"]

    project.cluster.docker("service", "rm", project.row("/web")["container"])
    items = project.ace_json("drift", expect=2)["items"]
    assert [(i["kind"], i["what"]) for i in items] == [("drift", "service gone")]
    assert steps(project.ace_json("reconcile")) == ["start:/web"]
    assert project.ace_json("drift")["in_sync"]


def test_ace_run_runs_each_command_as_a_swarm_job(project: SwarmProject) -> None:
    """OpenRun's image-cmd spec on the cluster: output, exit code, a missing command and a
    timeout as on one engine; no job is left behind."""
    project.apps('app("/ic", "-", spec="image-cmd", params={"image": "busybox"})')
    doc = project.ace_json("run", "/ic", "-p", "command=echo hi there")
    assert doc["ok"] and doc["values"] == ["hi there"], doc
    code, out = project.ace("run", "/ic", "-p", "command=nosuchtool --x", expect=1)
    assert "exit code 127" in out, out
    t0 = time.monotonic()
    code, out = project.ace("run", "/ic", "-p", "command=sleep 60", "--timeout", "2", expect=1)
    assert "timed out after 2 s" in out and time.monotonic() - t0 < 20, out
    with project.cluster.client() as c:
        assert [s for s in c.api.services() if s["Spec"]["Name"].startswith("ace-run-")] == []


def test_registry_down_is_reported_and_the_next_pass_converges(project: SwarmProject) -> None:
    """With the registry stopped a changed app's push fails with a clear message and the old
    version keeps serving; once it is back the next reconcile converges."""
    project.web()
    project.apps(WEB3)
    project.ace("reconcile")
    project.write("web/index.html", "v2\n")
    project.cluster.stop_registry()
    try:
        code, out = project.ace("reconcile", expect=1)
        assert f"registry {project.cluster.registry}" in out and "is the registry running" in out
        web = project.row("/web")
        assert all(get(f"http://{t['address']}/") == (200, "v1\n") for t in web["tasks"])
    finally:
        project.cluster.start_registry()
    doc = project.ace_json("reconcile")
    assert doc["ok"] and "replace:/web" in steps(doc), doc
    web = project.row("/web")
    assert all(get(f"http://{t['address']}/") == (200, "v2\n") for t in web["tasks"])


SECRET_APP = """load("container.in", "container")
app = ace.app("Sec", container=container.config("image:busybox", port=8080,
    volumes=["cl_secret:./conf.tmpl:/etc/app/conf"],
    command=["sh", "-c", "mkdir -p /w && cp /etc/app/conf /w/index.html && " +
             "exec httpd -f -p 8080 -h /w"]))
"""


def test_secret_files_are_swarm_secrets_and_down_removes_everything(
        project: SwarmProject) -> None:
    """A cl_secret file reaches every task as a Swarm secret; `ace down` removes the services
    and the secrets of this installation and nothing else."""
    project.write("sec/app.star", SECRET_APP)
    project.write("sec/params.star", 'param("token", default="t0")\n')
    project.write("sec/conf.tmpl", "token={{.params.token}}\n")
    project.web()
    project.apps('app("/sec", "./sec", params={"token": "s3cr3t"}, '
                 'container_opts={"min_replicas": 2})', WEB3)
    project.ace("reconcile")
    sec = project.row("/sec")
    assert all(get(f"http://{t['address']}/") == (200, "token=s3cr3t\n") for t in sec["tasks"])
    with project.cluster.client() as c:
        c.api.create_service({"ContainerSpec": {"Image": "busybox:latest",
                                                "Args": ["sleep", "600"]}}, name="not-ace")
        try:
            label = {"label": f"dev.ace.install={project.install}"}
            assert len(c.api.secrets(filters=label)) == 1
            code, out = project.ace("down")
            assert out.count("removed service") == 2, out
            assert c.api.services(filters=label) == []
            assert c.api.secrets(filters=label) == []
            assert [s["Spec"]["Name"] for s in c.api.services()] == ["not-ace"]
        finally:
            c.api.remove_service("not-ace")


def test_node_killed_tasks_move_and_status_and_drift_say_so(project: SwarmProject) -> None:
    """SIGKILL of one node's engine: its tasks run again on the other nodes, status shows
    where, drift names the node that is down; the node comes back afterwards."""
    project.web()
    project.apps(WEB3)
    project.ace("reconcile")
    cluster = project.cluster
    cluster.kill_node(3)
    try:
        def moved() -> bool:
            web = project.row("/web")
            nodes = [t["node"] for t in web["tasks"] if t["state"] == "running"]
            return len(nodes) == 3 and f"{cluster.pfx}-n3" not in nodes

        wait_until(moved, 90, "the tasks of node 3 to run elsewhere")
        web = project.row("/web")
        assert web["replicas"] == {"desired": 3, "running": 3} and web["health"] == "healthy"
        items = project.ace_json("drift", expect=2)["items"]
        assert [(i["what"], i["actual"].split(";")[0]) for i in items] == [
            ("tasks rescheduled: node down", f"{cluster.pfx}-n3 down")], items
        assert project.ace_json("plan")["steps"] == []
    finally:
        cluster.start_node(3)
