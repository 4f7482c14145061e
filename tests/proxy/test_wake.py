"""A sleeping app behind the proxy: the first request wakes it once for every request that comes
meanwhile, a refused or failed start is a 503 with why, and each app's traffic is counted
(requests, and bytes as they stream, websockets included) for idle shutdown."""

from __future__ import annotations

import dataclasses
import threading
import time
from concurrent.futures import ThreadPoolExecutor

from reconciler.core.types import DesiredState
from reconciler.proxy.service import ProxyService
from tests.proxy.kit import app, request, running, state
from tests.proxy.upstream import upstream, ws_connect, ws_frame, ws_read


def asleep(proxy: ProxyService, *apps: str) -> DesiredState:
    """Tell the proxy `apps` sleep (no container runs); returns the desired state used."""
    desired, observed = state(dict.fromkeys(apps))
    desired = dataclasses.replace(desired, idle=tuple((a, "no request for 30 s") for a in apps))
    proxy.update([app(a) for a in apps], desired, observed, {})
    return desired


def test_concurrent_requests_wake_the_app_once_and_all_succeed() -> None:
    """20 requests at once to a sleeping app: one wake; all wait and are served when its
    container serves."""
    with running() as proxy, upstream("woken") as up:
        up.socket.listen(128)  # the test server's backlog of 5 would refuse a burst of 20
        asleep(proxy, "/web")
        calls: list[str] = []

        def wake(name: str) -> str:
            calls.append(name)
            threading.Timer(0.5, proxy.switch, args=(name, up.url)).start()
            return ""

        proxy.set_wake(wake)
        started = time.monotonic()
        with ThreadPoolExecutor(20) as pool:
            got = list(pool.map(lambda _: request(proxy, "GET", "/web/x"), range(20)))
        assert [status for status, _, _ in got] == [200] * 20
        assert calls == ["/web"]
        assert time.monotonic() - started >= 0.45
        assert request(proxy, "GET", "/web/again")[0] == 200 and calls == ["/web"]


def test_a_refused_wake_answers_503_at_once() -> None:
    """While the app's starts back off, a request gets 503 with the reason, not a wait."""
    with running() as proxy:
        asleep(proxy, "/web")
        proxy.set_wake(lambda name: f"app {name} failed to start (2 tries); the next try is "
                       "in 7 s")
        started = time.monotonic()
        status, headers, body = request(proxy, "GET", "/web/")
        assert status == 503 and headers["retry-after"] == "2"
        assert b"failed to start (2 tries)" in body
        assert time.monotonic() - started < 1


def test_a_start_that_fails_answers_503_with_the_apps_error() -> None:
    """The pass that was to start the app ends without a container: the waiting request gets
    503 with the app's last error."""
    with running() as proxy:
        asleep(proxy, "/web")
        desired, observed = state({"/web": None})

        def wake(name: str) -> str:
            threading.Timer(0.3, proxy.update, args=([app("/web")], desired, observed, {
                "/web": "health check failed: container exited: Exited (3)"})).start()
            return ""

        proxy.set_wake(wake)
        status, _, body = request(proxy, "GET", "/web/")
        assert status == 503
        assert b"container exited: Exited (3)" in body


def test_the_wait_is_bounded() -> None:
    """A start that takes longer than the proxy waits gives 503 saying so."""
    with running() as proxy:
        proxy.core.wake_limit = 0.3
        asleep(proxy, "/web")
        proxy.set_wake(lambda name: "")
        status, _, body = request(proxy, "GET", "/web/")
        assert status == 503 and b"did not start within 0.3 s" in body


def test_traffic_counts_requests_and_streamed_bytes() -> None:
    """Requests and the bytes of bodies and websocket frames are counted per app."""
    with running() as proxy, upstream("up") as up:
        desired, observed = state({"/web": up.port})
        proxy.update([app("/web")], desired, observed, {})
        assert proxy.traffic() == {}
        assert request(proxy, "GET", "/web/big/5000")[0] == 200
        assert proxy.traffic() == {"/web": (1, 5000)}
        sock, _ = ws_connect(proxy.port, "/web/ws")
        try:
            before = proxy.traffic()["/web"][1]
            sock.sendall(ws_frame(b"x" * 3000, mask=True))
            op, data = ws_read(sock)
            assert op == 1 and data.startswith(b"echo: ")
            deadline = time.monotonic() + 2
            while proxy.traffic()["/web"][1] < before + 6000 and time.monotonic() < deadline:
                time.sleep(0.01)
            assert proxy.traffic()["/web"][0] == 2
            assert proxy.traffic()["/web"][1] >= before + 6000
        finally:
            sock.close()
