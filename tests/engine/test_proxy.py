"""ace's proxy against the real engine, under `ace watch` / `ace serve` in their own processes:
path routing for two apps, strip rules, forwarding headers (seen by a busybox CGI script), a
websocket echo through an external loopback upstream, zero failed requests while an edit
rebuilds and replaces an app, the page of an app that is down, traversal refused, the public
URL in `ace status`, and the 504 of a paused container."""

from __future__ import annotations

import http.client
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import docker
import pytest

from tests.engine.appkit import Project, get
from tests.engine.watchkit import WatchProc
from tests.proxy.upstream import upstream, ws_connect, ws_frame, ws_read

pytestmark = pytest.mark.engine

CGI_CONTAINERFILE = """FROM busybox
COPY www /www
RUN chmod +x /www/cgi-bin/env
EXPOSE 8080
CMD ["httpd", "-f", "-p", "8080", "-h", "/www"]
"""
CGI_ENV = "#!/bin/sh\necho Content-Type: text/plain\necho\nenv | sort\n"


def cgi_app_star(route: str) -> str:
    return f"""load("proxy.in", "proxy")
load("container.in", "container")
app = ace.app("Cgi", routes=[ace.proxy("/", proxy.config(container.URL{route}))],
    container=container.config(container.AUTO, health=param.health))
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])




class AceProc(WatchProc):
    """`ace COMMAND -f FILE --log-json ARGS` in its own process, events collected like watch's."""

    def __init__(self, command: str, apps_file: Path, *args: str) -> None:
        cmd = [sys.executable, "-m", "reconciler", command, "-f", str(apps_file), "--log-json",
               *args]
        self.proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                     text=True)
        self.events = []
        self.raw = []
        self._cond = threading.Condition()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()


def start(project: Project, procs: list[WatchProc], command: str = "watch",
          *args: str) -> tuple[WatchProc, str]:
    """`ace watch` (or `ace serve`) with the proxy on a free loopback port; returns its URL."""
    port = free_port()
    w = AceProc(command, project.apps_file, "--resync", "1", "--health-timeout", "20",
                "--listen", f"127.0.0.1:{port}", *args)
    procs.append(w)
    return w, f"http://127.0.0.1:{port}"


def wait_body(url: str, want: str, timeout: float) -> None:
    end = time.monotonic() + timeout
    last: tuple[int, str] = (0, "")
    while time.monotonic() < end:
        last = get(url)
        if last == (200, want):
            return
        time.sleep(0.2)
    raise AssertionError(f"{url} never answered {want!r}; last {last}")


def env_of(url: str) -> dict[str, str]:
    status, body = get(url)
    assert status == 200, (url, status, body)
    return dict(line.split("=", 1) for line in body.splitlines() if "=" in line)


def cgi_app(project: Project, name: str, route: str = "", health: str = "/") -> None:
    project.write(f"{name}/Containerfile", CGI_CONTAINERFILE)
    project.write(f"{name}/www/index.html", f"{name}\n")
    project.write(f"{name}/www/{name}/index.html", f"{name} full path\n")
    project.write(f"{name}/www/cgi-bin/env", CGI_ENV)
    project.write(f"{name}/app.star", cgi_app_star(route))
    project.write(f"{name}/params.star", f'param("health", default="{health}")\n')


def test_two_apps_routes_strip_rules_and_headers(project: Project,
                                                procs: list[WatchProc]) -> None:
    """/web and a root app answer at their paths; strip_app=False shows the full path (and the
    health check uses it too); the container sees our forwarding headers, never the client's."""
    project.web_app(page="web v1")
    cgi_app(project, "cgi")
    cgi_app(project, "full", ", strip_app=False")  # health "/" is checked at /full/
    project.apps('app("/web", "./web")', 'app("/", "./cgi")', 'app("/full", "./full")')
    w, base = start(project, procs, "serve")
    wait_body(base + "/web/", "web v1\n", 90)
    wait_body(base + "/", "cgi\n", 60)
    wait_body(base + "/full/", "full full path\n", 60)
    status, _ = get(base + "/web")  # no redirect_bare_path: /web is served as the root
    assert status == 200
    env = env_of(base + "/cgi-bin/env/x?q=1")
    assert env["REQUEST_URI"] == "/cgi-bin/env/x?q=1"
    conn = http.client.HTTPConnection("127.0.0.1", int(base.rsplit(":", 1)[1]), timeout=5)
    conn.request("GET", "/full/cgi-bin/env", headers={
        "X-Forwarded-For": "6.6.6.6", "X-Real-IP": "6.6.6.6", "X-Forwarded-Host": "evil"})
    resp = conn.getresponse()
    assert resp.status == 404  # strip_app=False: the container sees /full/cgi-bin/env
    resp.read()
    conn.request("GET", "/cgi-bin/env", headers={"X-Forwarded-For": "6.6.6.6",
                                                 "X-Real-IP": "6.6.6.6", "Connection": "close"})
    body = conn.getresponse().read().decode()
    env = dict(line.split("=", 1) for line in body.splitlines() if "=" in line)
    assert env["HTTP_X_FORWARDED_FOR"] == "127.0.0.1" and env["HTTP_X_REAL_IP"] == "127.0.0.1"
    assert env["HTTP_X_FORWARDED_HOST"] == base.removeprefix("http://")
    assert env["HTTP_X_FORWARDED_PROTO"] == "http"
    assert "HTTP_X_FORWARDED_PREFIX" not in env  # root app: nothing stripped
    conn.close()
    status, body = get(base + "/_ace/health")
    assert status == 200 and '"ok": true' in body
    # containers are reached on their own network, not through the engine's port forwarder
    assert '"upstreams_via": "container network"' in body
    rows = project.ace_json("status")["apps"]
    public = {r["path"]: r["public_url"] for r in rows}
    assert public == {"/": base + "/", "/full": base + "/full/", "/web": base + "/web/"}
    assert w.proc.poll() is None


def test_websocket_echo_through_the_proxy(project: Project, procs: list[WatchProc]) -> None:
    """An app whose route is an external loopback upstream: websocket frames relay both ways."""
    with upstream("ws") as up:
        project.write("ws/app.star", f"""load("proxy.in", "proxy")
app = ace.app("Ws", routes=[ace.proxy("/", proxy.config("{up.url}"))],
    permissions=[ace.permission("proxy.in", "config", ["{up.url}"])])
""")
        project.apps('app("/ws", "./ws")')
        _, base = start(project, procs)
        port = int(base.rsplit(":", 1)[1])
        end = time.monotonic() + 30
        while get(base + "/ws/x")[0] != 200:
            assert time.monotonic() < end, "route never served"
            time.sleep(0.2)
        sock, head = ws_connect(port, "/ws/socket")
        assert head.startswith(b"HTTP/1.1 101")
        for msg in (b"one", b"two" * 30_000):
            sock.sendall(ws_frame(msg, mask=True))
            assert ws_read(sock) == (1, b"echo: " + msg + b" (ws)")
        sock.close()


def test_no_failed_request_while_an_edit_is_rebuilt(project: Project,
                                                    procs: list[WatchProc]) -> None:
    """Requests sent back to back through `ace watch`'s proxy while an edit is built and the
    app replaced: every one answers 200 with the old or the new page."""
    project.web_app(page="v1")
    project.apps('app("/web", "./web")')
    w, base = start(project, procs)
    wait_body(base + "/web/", "v1\n", 90)
    results: list[tuple[int, str]] = []
    stop = threading.Event()

    def hammer() -> None:
        end = time.monotonic() + 120  # bounded even if the test fails
        while not stop.is_set() and time.monotonic() < end:
            results.append(get(base + "/web/", timeout=5))

    threads = [threading.Thread(target=hammer) for _ in range(4)]
    for t in threads:
        t.start()
    time.sleep(1.0)
    project.write("web/index.html", "v2\n")
    deadline = time.monotonic() + 90
    while (200, "v2\n") not in results[-50:] and time.monotonic() < deadline:
        time.sleep(0.2)
    time.sleep(1.5)  # keep sending after the switch, while the old container stops
    stop.set()
    for t in threads:
        t.join(10)
    failed = [r for r in results if r not in ((200, "v1\n"), (200, "v2\n"))]
    assert not failed, f"{len(failed)} of {len(results)} failed, e.g. {failed[:3]}"
    print(f"{len(results)} requests across the rebuild, "
          f"{results.count((200, 'v1' + chr(10)))} v1, {results.count((200, 'v2' + chr(10)))} v2")
    assert (200, "v2\n") in results and len(results) > 50
    # the old container leaves once its requests drained: the step ends after the switch
    w.wait_for(lambda e: e.get("event") == "step_done" and e.get("action") == "replace", 60,
               "the replace step to finish")
    assert len([c for c in project.containers("/web") if c.status == "running"]) == 1


def test_down_app_answers_with_its_error_and_traversal_is_refused(
        project: Project, procs: list[WatchProc], docker_client: docker.DockerClient) -> None:
    """A crash-looping app answers 503 naming the app and its last error (exit status or
    health check failure, whichever the last attempt saw), quickly; a killed
    container's app answers 502/503 (never hangs) until ace restarts it; `..` is refused."""
    project.web_app(page="v1")
    project.write("crash/Containerfile",
                  'FROM busybox\nEXPOSE 8080\nCMD ["sh", "-c", "echo dying now; exit 3"]\n')
    project.write("crash/app.star", """load("proxy.in", "proxy")
load("container.in", "container")
app = ace.app("Crashy", routes=[ace.proxy("/", proxy.config(container.URL))],
    container=container.config(container.AUTO))
""")
    project.apps('app("/web", "./web")', 'app("/crash", "./crash")')
    w, base = start(project, procs)
    wait_body(base + "/web/", "v1\n", 90)
    end = time.monotonic() + 60
    while True:
        t0 = time.monotonic()
        conn = http.client.HTTPConnection("127.0.0.1", int(base.rsplit(":", 1)[1]), timeout=10)
        conn.request("GET", "/crash/")
        resp = conn.getresponse()
        body = resp.read().decode()
        conn.close()
        assert time.monotonic() - t0 < 5
        if resp.status == 503 and body.count("<pre>") == 2:  # the app, and its last error
            break
        assert time.monotonic() < end, (resp.status, body)
        time.sleep(0.5)
    assert "app /crash (Crashy) is not running" in body
    for path in ("/web/../crash/", "/web/%2e%2e/crash/", "/web/..%2fcrash/"):
        conn = http.client.HTTPConnection("127.0.0.1", int(base.rsplit(":", 1)[1]), timeout=5)
        conn.request("GET", path)
        assert conn.getresponse().status == 400, path
        conn.close()
    (web,) = [c for c in project.containers("/web") if c.status == "running"]
    web.kill()
    t0 = time.monotonic()
    status, _ = get(base + "/web/", timeout=10)
    assert status in (200, 502, 503) and time.monotonic() - t0 < 5
    wait_body(base + "/web/", "v1\n", 60)  # ace restarts it; the same address serves again
    assert w.proc.poll() is None


def test_paused_container_answers_504_within_the_upstream_timeout(
        project: Project, procs: list[WatchProc]) -> None:
    """A container paused behind `ace serve` takes connections but never answers: the request
    gets a 504 page naming the app once --upstream-timeout passed, and the app serves again
    when unpaused."""
    project.web_app(page="v1")
    project.apps('app("/web", "./web")')
    port = free_port()
    # no pass during the test (a pass would see the pause and answer 503 at once)
    procs.append(AceProc("serve", project.apps_file, "--resync", "600", "--health-timeout",
                         "20", "--listen", f"127.0.0.1:{port}", "--upstream-timeout", "2"))
    base = f"http://127.0.0.1:{port}"
    wait_body(base + "/web/", "v1\n", 90)
    (web,) = [c for c in project.containers("/web") if c.status == "running"]
    web.pause()
    try:
        t0 = time.monotonic()
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=20)
        conn.request("GET", "/web/")
        resp = conn.getresponse()
        body = resp.read().decode()
        took = time.monotonic() - t0
        conn.close()
    finally:
        web.unpause()
    assert resp.status == 504 and 1.9 < took < 4.0, (resp.status, took, body)
    assert "app /web (" in body and "within 2 s" in body and "paused" in body
    wait_body(base + "/web/", "v1\n", 10)
