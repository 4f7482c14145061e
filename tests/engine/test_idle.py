"""Idle shutdown and lazy start on the real engine, under `ace serve` in its own process: an app
goes to sleep after S seconds without traffic but not while a websocket streams through it, a
request to a sleeping app is served after a cold start, 20 concurrent requests cause one start,
and a failing app under --lazy answers 503 with its error without a start (or build) per
request."""

from __future__ import annotations

import base64
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from tests.engine.appkit import Project, get
from tests.engine.watchkit import Event, WatchProc

pytestmark = pytest.mark.engine

QUIET_STAR = """load("proxy.in", "proxy")
load("container.in", "container")
app = ace.app("Quiet", routes=[ace.proxy("/", proxy.config(container.URL))],
    container=container.config("image:busybox", port=8080, command=["sh", "-c",
        "mkdir -p /w && echo quiet > /w/index.html && exec httpd -f -p 8080 -h /w"]),
    permissions=[ace.permission("proxy.in", "config", [container.URL])])
"""
# a websocket endpoint in busybox: nc runs the handler per connection; an upgrade request gets
# a 101 and whatever the client streams is read; any other request a 200 (the health check)
WS_HANDLER = r"""#!/bin/sh
read -r line
up=""
while read -r h; do
  h=$(printf '%s' "$h" | tr -d '\r')
  [ -z "$h" ] && break
  case "$h" in [Uu]pgrade:*) up=1;; esac
done
if [ -n "$up" ]; then
  printf 'HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n'
  exec cat >/dev/null
fi
printf 'HTTP/1.1 200 OK\r\nContent-Length: 3\r\nConnection: close\r\n\r\nok\n'
"""
WS_CONTAINERFILE = """FROM busybox
COPY handler.sh /handler.sh
RUN chmod +x /handler.sh
EXPOSE 8080
CMD ["nc", "-ll", "-p", "8080", "-e", "/handler.sh"]
"""
WS_STAR = """load("proxy.in", "proxy")
load("container.in", "container")
app = ace.app("Ws", routes=[ace.proxy("/", proxy.config(container.URL))],
    container=container.config(container.AUTO),
    permissions=[ace.permission("proxy.in", "config", [container.URL]),
                 ace.permission("container.in", "config", [container.AUTO])])
"""
BROKEN_CONTAINERFILE = """FROM busybox
EXPOSE 8080
CMD ["sh", "-c", "echo cannot open the database >&2; exit 3"]
"""


class Serve(WatchProc):
    """`ace serve --log-json ARGS` in its own process, events collected as watch's are."""

    def __init__(self, apps_file: Path, *args: str) -> None:
        cmd = [sys.executable, "-m", "reconciler", "serve", "-f", str(apps_file), "--log-json",
               *args]
        self.proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                     text=True)
        self.events: list[Event] = []
        self.raw: list[str] = []
        self._cond = threading.Condition()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def steps(self, action: str, app: str, event: str = "step_done") -> list[Event]:
        """The executor's log lines of `app`'s `action` steps (done ones by default)."""
        return [e for e in self.named(event) if e.get("action") == action
                and e.get("app") == app]

    def wait_step(self, action: str, app: str, timeout: float) -> Event:
        return self.wait_for(lambda e: e.get("event") == "step_done"
                             and e.get("action") == action and e.get("app") == app,
                             timeout, f"{action} of {app}")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def serve(project: Project, procs: list[Serve], *args: str) -> str:
    port = free_port()
    proc = Serve(project.apps_file, "--listen", f"127.0.0.1:{port}", "--resync", "0.5", *args)
    procs.append(proc)  # type: ignore[arg-type]
    proc.wait_for(lambda e: e.get("event") == "status", 120, "the first pass")
    return f"http://127.0.0.1:{port}"


def rows(base: str) -> dict[str, str]:
    import json
    import urllib.request

    with urllib.request.urlopen(f"{base}/_ace/status", timeout=10) as resp:
        return {r["path"]: r["state"] for r in json.load(resp)["apps"]}


def stream_websocket(port: int, path: str, seconds: float) -> int:
    """Open a websocket through the proxy and send 2 KB/s of frames for `seconds`."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=5)
    key = base64.b64encode(os.urandom(16)).decode()
    sock.sendall((f"GET {path} HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n"
                  f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
                  "Sec-WebSocket-Version: 13\r\n\r\n").encode())
    head = b""
    while b"\r\n\r\n" not in head:
        head += sock.recv(1)
    assert head.startswith(b"HTTP/1.1 101"), head
    frame = b"\x81\xfd" + os.urandom(4) + b"x" * 125  # masked text frame, 125 bytes
    sent = 0
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        for _ in range(2):
            sock.sendall(frame)
            sent += len(frame)
        time.sleep(0.1)
    sock.close()
    return sent


def test_idle_after_s_seconds_but_not_while_a_websocket_streams(project: Project,
                                                                procs: list[Serve]) -> None:
    """With --idle-shutdown 2: the app nobody calls sleeps about 2 s after its last request
    (container kept, state idle, drift in sync); the app whose websocket streams stays up
    until the stream ends, then sleeps too."""
    project.write("quiet/app.star", QUIET_STAR)
    project.write("ws/handler.sh", WS_HANDLER)
    project.write("ws/Containerfile", WS_CONTAINERFILE)
    project.write("ws/app.star", WS_STAR)
    project.apps('app("/quiet", "./quiet")', 'app("/ws", "./ws")')
    base = serve(project, procs, "--idle-shutdown", "2")
    proc = procs[-1]
    assert get(f"{base}/ws/")[0] == 200  # the first pass is reported once the proxy routes it
    port = int(base.rsplit(":", 1)[1])
    streamed: list[int] = []
    t = threading.Thread(target=lambda: streamed.append(stream_websocket(port, "/ws/", 7)))
    t.start()
    assert get(f"{base}/quiet/") == (200, "quiet\n")
    last = time.monotonic()
    proc.wait_step("sleep", "/quiet", 15)
    slept_after = time.monotonic() - last
    print(f"/quiet slept {slept_after:.2f} s after its last request (S = 2, resync 0.5)")
    assert 2.0 <= slept_after < 4.5
    assert [c.status for c in project.containers("/quiet")] == ["exited"], "kept, stopped"
    _eventually(lambda: rows(base)["/quiet"] == "idle", "/quiet idle on the proxy's status")
    drift = project.ace_json("drift")
    assert drift["in_sync"] is True and [i["app"] for i in drift["idle"]] == ["/quiet"]
    status = {r["path"]: r for r in project.ace_json("status")["apps"]}
    assert status["/quiet"]["state"] == "idle"
    t.join(timeout=20)
    assert proc.steps("sleep", "/ws") == [], "streaming kept it up"
    assert streamed[0] > 10_000
    proc.wait_step("sleep", "/ws", 15)


def test_a_request_to_an_idle_app_is_served_after_a_cold_start(project: Project,
                                                               procs: list[Serve]) -> None:
    """A request to a sleeping app waits while ace starts it, then gets the app's answer; the
    resync passes in between did not start it."""
    project.write("quiet/app.star", QUIET_STAR)
    project.apps('app("/quiet", "./quiet")')
    base = serve(project, procs, "--idle-shutdown", "1")
    proc = procs[-1]
    proc.wait_step("sleep", "/quiet", 15)
    time.sleep(1.5)
    assert proc.steps("restart", "/quiet") == [], "resync does not restart an idle app"
    t0 = time.monotonic()
    status, body = get(f"{base}/quiet/", timeout=30)
    cold = time.monotonic() - t0
    print(f"cold start through the proxy: {cold:.3f} s")
    assert (status, body) == (200, "quiet\n")
    restart = proc.wait_step("restart", "/quiet", 10)  # logged once the step is over
    assert restart["cause"] == "a request is waiting"


def test_concurrent_requests_to_an_idle_app_cause_one_start(project: Project,
                                                            procs: list[Serve]) -> None:
    """20 requests at once to a sleeping app: one start, all 20 answered by the app."""
    project.write("quiet/app.star", QUIET_STAR)
    project.apps('app("/quiet", "./quiet")')
    base = serve(project, procs, "--idle-shutdown", "1")
    proc = procs[-1]
    proc.wait_step("sleep", "/quiet", 15)
    with ThreadPoolExecutor(20) as pool:
        got = list(pool.map(lambda _: get(f"{base}/quiet/", timeout=30), range(20)))
    assert got == [(200, "quiet\n")] * 20
    proc.wait_step("restart", "/quiet", 10)
    time.sleep(1.0)
    assert len(proc.steps("restart", "/quiet")) == 1


def test_a_failing_app_under_lazy_start_answers_503_without_a_start_per_request(
        project: Project, procs: list[Serve]) -> None:
    """--lazy: the broken app is built once and not started; a request starts it, it fails:
    503 with its error; the requests right after are 503 at once (backing off), with no new
    start and no new build."""
    project.write("bad/Containerfile", BROKEN_CONTAINERFILE)
    project.write("bad/app.star", WS_STAR)
    project.apps('app("/bad", "./bad")')
    base = serve(project, procs, "--lazy")
    proc = procs[-1]
    assert project.containers("/bad") == [], "lazy: not started before a request"
    assert rows(base)["/bad"] == "idle"
    status, page = _page(f"{base}/bad/")
    assert status == 503 and "Exited (3)" in page and "cannot open the database" in page
    t0 = time.monotonic()
    pages = [_page(f"{base}/bad/") for _ in range(5)]
    assert time.monotonic() - t0 < 1.0, "answered at once, inside the first 1 s backoff"
    assert all(st == 503 and "cannot open the database" in p for st, p in pages), pages
    assert len(proc.steps("start", "/bad", "step_started")) == 1
    assert len(proc.steps("build", "/bad")) == 1


def _eventually(check: Callable[[], bool], what: str, timeout: float = 5.0) -> None:
    end = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < end, f"timed out waiting for {what}"
        time.sleep(0.05)


def _page(url: str) -> tuple[int, str]:
    """(status, body) of a GET, error statuses included."""
    import urllib.error
    import urllib.request

    try:
        with urllib.request.urlopen(url, timeout=60) as resp:
            return resp.status, str(resp.read().decode())
    except urllib.error.HTTPError as exc:
        return exc.code, str(exc.read().decode())
