"""Reconcile against the real engine: converge, idempotence, minimality, zero-downtime replace,
teardown, drift, and recovery (SIGKILL, lost state dir, concurrent runs)."""

from __future__ import annotations

import contextlib
import shutil
import signal
import threading
import time

import docker
import pytest

from tests.engine.appkit import Project, get

pytestmark = pytest.mark.engine

WEB = 'app("/web", "./web")'
HELLO = 'app("/hello", "./hello")'



def test_converge_then_idempotent(project: Project) -> None:
    """First reconcile makes the app network, builds and starts; the second plans nothing and
    makes no engine change."""
    project.web_app()
    project.apps(WEB, HELLO)
    out = project.ace_json("reconcile")
    assert sorted((s["action"], s["app"]) for s in out["steps"]) == [
        ("build", "/web"), ("network", ""), ("start", "/hello"), ("start", "/web")]
    assert all(s["outcome"] == "done" for s in out["steps"])
    assert get(project.url("/web")) == (200, "v1\n")
    since = time.time()
    again = project.ace_json("reconcile")
    assert again["steps"] == [] and again["changed"] is False
    code, text = project.ace("reconcile")
    assert text == ""  # silent when nothing changes
    assert project.ace("reconcile", "--detailed-exitcode")[0] == 0
    assert project.events(since) == []


def test_minimal_changes(project: Project) -> None:
    """health change: nothing; param (env) change: replace, no build; file change: build+replace;
    only the changed app is touched."""
    project.web_app()
    project.apps(WEB, HELLO)
    project.ace("reconcile")
    star = (project.root / "web/app.star").read_text()
    project.write("web/app.star", star.replace("health=param.health",
                                               'health="/index.html", scheme="http"'))
    assert project.ace_json("plan")["steps"] == []
    project.apps('app("/web", "./web", params={"greeting": "hi"})', HELLO)
    steps = project.ace_json("reconcile")["steps"]
    assert [(s["action"], s["app"]) for s in steps] == [("replace", "/web")]
    assert steps[0]["cause"] == "env greeting: hello → hi"
    project.write("web/index.html", "v2\n")
    steps = project.ace_json("reconcile", expect=None)["steps"]
    assert [(s["action"], s["app"]) for s in steps] == [("build", "/web"), ("replace", "/web")]
    assert steps[0]["cause"] == "build inputs changed: index.html"
    assert get(project.url("/web")) == (200, "v2\n")
    assert len(project.containers("/web")) == 1


def test_replace_is_zero_downtime(project: Project) -> None:
    """Requests sent throughout a replace all succeed: the old container serves until the new
    one is healthy, and the new one answers as soon as the old one is gone."""
    project.web_app()
    project.apps(WEB)
    project.ace("reconcile")
    old_url = project.url("/web")
    failures: list[str] = []
    stop = threading.Event()
    served_by_old = 0

    def hammer() -> None:
        nonlocal served_by_old
        while not stop.is_set():
            code, _ = get(old_url, timeout=1)
            if code != 200:
                # The old one may only stop once the new one is healthy and serving.
                news = [c for c in project.containers("/web") if c.status == "running"]
                live = []
                for c in (c for c in news if c.ports):
                    with contextlib.suppress(docker.errors.APIError):  # removed meanwhile
                        live.append(_url(c))
                if not any(get(url)[0] == 200 for url in live):
                    failures.append(f"no container served at {time.time()}")
                return
            served_by_old += 1
            time.sleep(0.01)

    t = threading.Thread(target=hammer)
    t.start()
    project.write("web/index.html", "v2\n")
    project.ace("reconcile")
    stop.set()
    t.join()
    assert failures == []
    assert served_by_old > 5
    assert get(project.url("/web")) == (200, "v2\n")


def test_status_of_an_app_whose_files_fail_while_it_serves(project: Project) -> None:
    """A broken app.star holds /web: status shows its running container, live health and URL
    with the error's file and line; drift exits 1 and claims no sync; the container serves."""
    project.web_app()
    project.apps(WEB)
    project.ace("reconcile")
    url = project.url("/web")
    star = project.root / "web/app.star"
    star.write_text(star.read_text() + "\nbroken = undefined_name\n")
    line = len(star.read_text().splitlines())
    doc = project.ace_json("status")
    [row] = doc["apps"]
    assert (row["state"], row["health"], row["url"]) == ("running", "healthy", url.rstrip("/"))
    assert row["container"] == project.containers("/web")[0].name
    assert row["error"].startswith(f"{star}:{line}:")
    code, text = project.ace("status")
    assert "running (error)" in text and "undefined_name" in text
    drift = project.ace_json("drift", expect=1)
    assert drift["in_sync"] is False and drift["errors"][0]["line"] == line
    assert get(url) == (200, "v1\n")


def _url(c: docker.models.containers.Container) -> str:
    c.reload()
    binding = next(iter(c.ports.values()))[0]
    assert binding["HostIp"] == "127.0.0.1"
    return f"http://127.0.0.1:{binding['HostPort']}/"


def test_failed_replace_keeps_old_serving(project: Project) -> None:
    """A new version that never gets healthy is removed; the old one keeps serving; exit 1."""
    project.web_app()
    project.apps(WEB, HELLO)
    project.ace("reconcile")
    url = project.url("/web")
    project.write("web/Containerfile", "FROM busybox\nEXPOSE 8080\nCMD [\"false\"]\n")
    code, _ = project.ace("reconcile", "--health-timeout", "5", expect=1)
    assert get(url) == (200, "v1\n")
    assert len(project.containers("/web")) == 1
    rows = {r["path"]: r for r in project.ace_json("status")["apps"]}
    assert rows["/web"]["url"] == url.rstrip("/") or rows["/web"]["url"] == url
    assert rows["/hello"]["state"] == "running"


def test_exited_container_restarts(project: Project) -> None:
    """A service container stopped outside ace is drift, and reconcile starts it again."""
    project.web_app()
    project.apps(WEB)
    project.ace("reconcile")
    project.containers("/web")[0].stop(timeout=1)
    drift = project.ace_json("drift", expect=2)
    assert [(i["kind"], i["what"]) for i in drift["items"]] == [("drift", "container stopped")]
    steps = project.ace_json("reconcile")["steps"]
    assert [s["action"] for s in steps] == ["restart"]
    assert get(project.url("/web"))[0] == 200
    assert project.ace_json("drift")["in_sync"] is True


def test_drift_kinds(project: Project, docker_client: docker.DockerClient) -> None:
    """container gone, unhealthy, pending change and removed app are each reported."""
    project.web_app()
    project.apps(WEB, HELLO)
    project.ace("reconcile")
    assert project.ace_json("drift")["in_sync"] is True
    project.containers("/hello")[0].remove(force=True)
    web = project.containers("/web")[0]
    web.exec_run(["rm", "/www/index.html"])
    project.write("web/index.html", "v2\n")
    project.apps(WEB)
    items = project.ace_json("drift", expect=2)["items"]
    found = {(i["app"], i["kind"], i["what"]) for i in items}
    assert ("/web", "pending", "declared change not applied") in found
    assert ("/web", "drift", "container unhealthy") in found
    assert ("/hello", "drift", "container gone") not in found  # /hello is no longer declared
    project.apps(WEB, HELLO)
    items = project.ace_json("drift", expect=2)["items"]
    assert ("/hello", "drift", "container gone") in {(i["app"], i["kind"], i["what"])
                                                     for i in items}


def test_removed_app_and_down(project: Project) -> None:
    """An app dropped from the apps file is removed; down removes the rest; volumes survive
    down unless --volumes; images go only with --images."""
    project.web_app()
    project.apps(WEB, HELLO)
    project.ace("reconcile")
    project.apps(WEB)
    steps = project.ace_json("reconcile")["steps"]
    assert [(s["action"], s["app"], s["cause"]) for s in steps] == [
        ("remove", "/hello", "app removed from apps file")]
    assert project.containers("/hello") == []
    project.ace("down")
    assert project.containers() == []
    tags = project.image_tags()
    assert any(t.startswith(f"ace-{project.install}/web:") for t in tags)
    project.ace("down", "--images")
    tags = project.image_tags()
    assert not any(t.startswith(f"ace-{project.install}/") for t in tags)
    assert "busybox:latest" in tags


def test_lost_state_dir_adopts(project: Project) -> None:
    """Deleting the state dir loses no control: the next reconcile adopts from labels."""
    project.web_app()
    project.apps(WEB, HELLO)
    project.ace("reconcile")
    shutil.rmtree(project.state_dir)
    since = time.time()
    out = project.ace_json("reconcile")
    assert out["steps"] == []
    assert sorted(out["adopted"]) == ["/hello", "/web"]
    assert project.events(since) == []
    assert project.ace_json("drift")["in_sync"] is True


def test_sigkill_mid_apply_converges(project: Project) -> None:
    """Killed with SIGKILL while a replace waits for health, the next run leaves exactly one
    container of the new version, running."""
    project.web_app()
    project.apps(WEB)
    project.ace("reconcile")
    project.write("web/Containerfile", "FROM busybox\nCOPY index.html /www/index.html\n"
                  "EXPOSE 8080\nCMD [\"sh\", \"-c\", \"sleep 3; exec httpd -f -p 8080 -h /www\"]\n")
    proc = project.spawn("reconcile")
    deadline = time.time() + 30
    while time.time() < deadline and len(project.containers("/web")) < 2:
        time.sleep(0.05)
    assert len(project.containers("/web")) == 2, "the new container never appeared"
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    project.ace("reconcile", expect=None)
    project.ace("reconcile")
    cs = project.containers("/web")
    assert len(cs) == 1 and cs[0].status == "running"
    assert project.ace_json("plan")["steps"] == []
    deadline = time.time() + 10
    while get(project.url("/web"))[0] != 200 and time.time() < deadline:
        time.sleep(0.2)
    assert get(project.url("/web")) == (200, "v1\n")


SLOW_APP_STAR = """load("container.in", "container")
app = ace.app("Slow", container=container.config("image:busybox", port=8080,
    health="/nothing-here", command=["sleep", "600"]))
"""


def test_ctrl_c_stops_the_pass_at_once(project: Project) -> None:
    """Ctrl-C while a cold start waits on a health check that never passes (timeout 60 s),
    other apps queued behind it (one at a time): ace exits 130 within seconds; the unproven
    container is removed and the queued apps are skipped, not started."""
    project.write("aslow/app.star", SLOW_APP_STAR)
    project.hello_app()
    project.apps('app("/aslow", "./aslow")', 'app("/b", "./hello")', 'app("/c", "./hello")')
    proc = project.spawn("reconcile", "--parallel", "1", "--health-timeout", "60")
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not project.containers("/aslow"):
        time.sleep(0.05)
    assert project.containers("/aslow"), "the slow app's container never appeared"
    assert not project.containers("/b") and not project.containers("/c")
    sent = time.monotonic()
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    took = time.monotonic() - sent
    assert proc.returncode == 130, err
    assert took < 10, f"Ctrl-C took {took:.1f} s"
    assert project.containers() == [], [c.name for c in project.containers()]
    assert "✗ start    /aslow" in out and "ace is stopping" in out, out
    assert "- start    /b" in out and "- start    /c" in out and "skipped" in out, out
    assert err.startswith("interrupted: steps not started were skipped"), err
    last = {a["path"]: a["last_apply"] for a in project.ace_json("status")["apps"]}
    assert last["/aslow"] is not None and "ace is stopping" in str(last["/aslow"]), last


def test_concurrent_reconciles_wait_for_the_lock(project: Project) -> None:
    """Two reconciles at once: one waits for the other, both succeed, one container per app."""
    project.web_app()
    project.apps(WEB, HELLO)
    a, b = project.spawn("reconcile"), project.spawn("reconcile")
    outs = [p.communicate(timeout=120) for p in (a, b)]
    assert [a.returncode, b.returncode] == [0, 0], outs
    assert any("waiting for" in err for _, err in outs)
    assert len(project.containers("/web")) == 1
    assert len(project.containers("/hello")) == 1


def test_foreign_containers_left_alone(project: Project, docker_client: docker.DockerClient
                                       ) -> None:
    """A container without this installation's labels survives reconcile and down."""
    foreign = docker_client.containers.run(
        "busybox:latest", ["sleep", "60"], detach=True, name=f"not-ace-{project.install}",
        labels={"dev.ace.managed": "1", "dev.ace.install": "someone-else", "dev.ace.app": "/web"})
    try:
        project.web_app()
        project.apps(WEB)
        project.ace("reconcile")
        project.apps()
        project.ace("reconcile")
        project.ace("down", "--images", "--volumes")
        foreign.reload()
        assert foreign.status == "running"
    finally:
        foreign.remove(force=True)


def test_publishes_on_loopback_only(project: Project) -> None:
    """Every port ace publishes binds 127.0.0.1, and containers carry the identity labels."""
    project.web_app()
    project.apps(WEB, HELLO)
    project.ace("reconcile")
    for c in project.containers():
        c.reload()
        for bindings in c.ports.values():
            assert all(b["HostIp"] == "127.0.0.1" for b in bindings)
        assert c.labels["dev.ace.install"] == project.install
        assert c.labels["dev.ace.app"] in ("/web", "/hello")


def test_lifetime_switch_between_service_and_command(project: Project) -> None:
    """Switching an app to command lifetime stops its service; switching back starts one."""
    serve = ('command=["sh", "-c", "mkdir -p /w && echo ok > /w/index.html && '
             'exec httpd -f -p 8080 -h /w"]')
    star = ('load("container.in", "container")\n'
            'app = ace.app("Svc", container=container.config("image:busybox", port=8080, '
            '{extra}))\n')
    project.write("svc/app.star", star.format(extra=serve))
    project.apps('app("/svc", "./svc")')
    project.ace("reconcile")
    assert len(project.containers("/svc")) == 1
    project.write("svc/app.star", star.format(extra="lifetime=container.COMMAND"))
    steps = project.ace_json("reconcile")["steps"]
    assert [(s["action"], s["cause"]) for s in steps] == [
        ("stop", "lifetime is command: no service runs")]
    assert project.containers("/svc") == []
    rows = project.ace_json("status")["apps"]
    assert rows[0]["state"] == "command"
    project.write("svc/app.star", star.format(extra=serve))
    steps = project.ace_json("reconcile")["steps"]
    assert [s["action"] for s in steps] == ["start"]
    assert get(project.url("/svc")) == (200, "ok\n")


def test_pull_never_blocks_missing_image(project: Project) -> None:
    """An image app whose image is missing is not started under --pull never; the reason is
    reported and nothing else is disturbed."""
    project.apps('app("/x", "-", spec="image", params={"image": "ace-missing/none:1", '
                 '"port": 8080})')
    out = project.ace_json("plan", "--pull", "never")
    assert out["steps"] == []
    assert "--pull never" in out["noops"][0]["reason"]


NOOP_PROBE = """
import sys
from reconciler.driver import engine as driver
from reconciler.cli.app import main
calls = []
real_get = driver.DockerEngine._get
def spy(self, path, what):
    calls.append(path.split("?")[0])
    return real_get(self, path, what)
driver.DockerEngine._get = spy
sys.argv = ["ace", "reconcile", "-f", sys.argv[1]]
try:
    main()
except SystemExit as e:
    code = e.code
heavy = ("typer", "docker", "starlark", "rich", "structlog", "sqlalchemy", "sqlmodel", "requests",
         "http.client", "email", "ssl", "logging", "uuid", "httptools",
         "reconciler.apply.executor", "reconciler.apply.health", "reconciler.applogs.buildlogs",
         "reconciler.proxy.server", "reconciler.dashboard", "apps.gotemplate",
         "apps.dev_settings", "apps.container", "apps.runtime", "state.runs",
         "reconciler.core.changes", "reconciler.driver.values")
print(code, sorted(m for m in heavy if m in sys.modules))
print(" ".join(calls))
"""


def test_noop_reconcile_loads_nothing_heavy(project: Project) -> None:
    """The no-op path evaluates from the cache and makes one engine call, a container listing
    over plain HTTP: neither the Docker SDK, Starlark, rich nor structlog is even imported
    (each costs 50-300 ms per run), nor the executor, health checks, the proxy, the dashboard,
    the template engine or the container-config modules a pass with nothing to do never runs."""
    import subprocess
    import sys

    project.web_app()
    project.apps(WEB, HELLO)
    project.ace("reconcile")
    project.ace("reconcile")  # the first run after a change fills the evaluation cache
    out = subprocess.run([sys.executable, "-c", NOOP_PROBE, str(project.apps_file)],
                         capture_output=True, text=True, timeout=60)
    assert out.stdout.splitlines()[0] == "0 []", out.stdout + out.stderr
    # one listing call: running containers vouch for their images, so none are listed
    assert out.stdout.splitlines()[1] == "/containers/json", out.stdout


CHATTY_APP_STAR = """load("container.in", "container")
app = ace.app("Chatty", container=container.config("image:busybox", port=8080,
    command=["sh", "-c", "echo started " + param.tag +
             " && mkdir -p /w && echo ok > /w/index.html && exec httpd -f -p 8080 -h /w"]))
"""


def test_logs_follow_the_app_across_a_replace(project: Project) -> None:
    """`ace logs --follow` keeps going when a reconcile replaces the container: the new one's
    output follows the old one's, with a note on stderr."""
    project.write("chatty/app.star", CHATTY_APP_STAR)
    project.write("chatty/params.star", 'param("tag", default="one")\n')
    project.apps('app("/chatty", "./chatty")')
    project.ace("reconcile")
    proc = project.spawn("logs", "/chatty", "--follow")
    assert proc.stdout is not None
    try:
        assert proc.stdout.readline().strip() == "started one"
        project.apps('app("/chatty", "./chatty", params={"tag": "two"})')
        project.ace("reconcile")
        result: list[str] = []
        reader = threading.Thread(target=lambda: result.append(proc.stdout.readline()
                                                               if proc.stdout else ""))
        reader.start()
        reader.join(timeout=20)
        assert result and result[0].strip() == "started two", result
        assert proc.poll() is None  # still following
    finally:
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=10)
    assert proc.returncode == 0, err
    assert "following " in err
