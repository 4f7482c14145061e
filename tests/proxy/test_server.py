"""The proxy against local Python upstreams: routing, headers, redirects, streaming both ways,
server-sent events, websockets, keep-alive, down apps, switching with drain, ace's endpoints."""

from __future__ import annotations

import contextlib
import hashlib
import http.client
import json
import socket
import threading
import time
from collections.abc import Iterator

from apps.model import Route
from reconciler.proxy.address import public_base
from tests.proxy.kit import CONTAINER, app, configure, get_json, request, running
from tests.proxy.upstream import upstream, ws_connect, ws_frame, ws_read


def test_two_apps_routed_by_prefix_with_forwarding_headers() -> None:
    with upstream("a") as a, upstream("b") as b, running() as p:
        configure(p, [app("/web"), app("/", name="root")], {"/web": a.port, "/": b.port})
        doc = get_json(p, "/web/page?x=1", {"X-Forwarded-For": "6.6.6.6", "X-Real-IP": "1.2.3.4",
                                            "Forwarded": "for=6.6.6.6"})
        assert doc["name"] == "a" and doc["path"] == "/page?x=1"
        h = doc["headers"]
        assert h["X-Forwarded-For"] == "127.0.0.1" and h["X-Real-IP"] == "127.0.0.1"
        assert h["X-Forwarded-Prefix"] == "/web" and h["X-Forwarded-Proto"] == "http"
        assert h["X-Forwarded-Host"] == f"127.0.0.1:{p.port}"
        assert h["Host"] == f"127.0.0.1:{a.port}" and "Forwarded" not in h
        root = get_json(p, "/other/x")
        assert root["name"] == "b" and root["path"] == "/other/x"
        assert "X-Forwarded-Prefix" not in root["headers"]


def test_strip_rules_and_preserve_host() -> None:
    with upstream("a") as a, running() as p:
        configure(p, [app("/full", Route("/", CONTAINER, strip_app=False, preserve_host=True)),
                      app("/s", Route("/api", CONTAINER, strip_path="/api"))],
                  {"/full": a.port, "/s": a.port})
        full = get_json(p, "/full/x")
        assert full["path"] == "/full/x" and full["headers"]["Host"] == f"127.0.0.1:{p.port}"
        assert get_json(p, "/s/api/v1")["path"] == "/v1"
        assert request(p, "GET", "/s/other")[0] == 404


def test_redirects_location_rewrite_and_response_headers() -> None:
    with upstream("a") as a, running() as p:
        hdr = (("X-Frame-Options", "SAMEORIGIN"), ("X-Seen", "$url"))
        configure(p, [app("/web", Route("/", CONTAINER, response_headers=hdr),
                          redirect_bare_path=True)], {"/web": a.port})
        status, h, _ = request(p, "GET", "/web?q=1")
        assert status == 301 and h["location"] == "/web/?q=1"
        assert request(p, "POST", "/web", body=b"x")[0] == 308
        status, h, _ = request(p, "GET", "/web/redirect-abs")
        assert status == 302 and h["location"] == f"http://127.0.0.1:{p.port}/web/landed?x=1"
        status, h, _ = request(p, "GET", "/web/redirect-rel")
        assert status == 302 and h["location"] == "/web/landed"
        status, h, _ = request(p, "GET", "/web/a?b=1")
        assert h["x-frame-options"] == "SAMEORIGIN" and h["x-upstream"] == "a"
        assert h["x-seen"] == f"http://127.0.0.1:{p.port}/web/a?b=1"
        assert "keep-alive" not in h


def test_request_and_response_bodies_stream() -> None:
    with upstream("a") as a, running() as p:
        configure(p, [app("/web")], {"/web": a.port})
        blob = bytes(range(256)) * 40000  # 10 MB
        status, _, body = request(p, "POST", "/web/up", body=blob)
        doc = json.loads(body)
        assert status == 200 and doc["length"] == len(blob)
        assert doc["sha256"] == hashlib.sha256(blob).hexdigest()

        def chunks() -> Iterator[bytes]:
            for i in range(50):
                yield bytes([i]) * 100_000
        conn = http.client.HTTPConnection("127.0.0.1", p.port, timeout=10)
        conn.request("POST", "/web/chunked", body=chunks(), encode_chunked=True)
        doc = json.loads(conn.getresponse().read())
        assert doc["length"] == 5_000_000 and doc["te"] == "chunked"
        conn.close()
        status, h, body = request(p, "GET", "/web/big/25000000", timeout=20)
        assert status == 200 and len(body) == 25_000_000 and h["content-length"] == "25000000"
        status, h, body = request(p, "HEAD", "/web/x")
        assert status == 200 and body == b"" and int(h["content-length"]) > 0


def test_server_sent_events_arrive_as_they_are_sent() -> None:
    with upstream("a") as a, running() as p:
        configure(p, [app("/web")], {"/web": a.port})
        conn = http.client.HTTPConnection("127.0.0.1", p.port, timeout=5)
        t0 = time.monotonic()
        conn.request("GET", "/web/events")
        resp = conn.getresponse()
        assert resp.getheader("Content-Type") == "text/event-stream"
        assert resp.getheader("Transfer-Encoding") == "chunked"
        first = resp.readline()
        first_at = time.monotonic() - t0
        rest = resp.read()
        assert first == b"data: event 0\n" and first_at < 0.25, first_at
        assert b"data: event 2" in rest and time.monotonic() - t0 >= 0.6
        conn.close()


def test_websocket_echo_both_ways() -> None:
    with upstream("a") as a, running() as p:
        configure(p, [app("/web")], {"/web": a.port})
        sock, head = ws_connect(p.port, "/web/ws")
        assert head.startswith(b"HTTP/1.1 101")
        for msg in (b"hello", b"x" * 70_000):
            sock.sendall(ws_frame(msg, mask=True))
            op, data = ws_read(sock)
            assert op == 1 and data == b"echo: " + msg + b" (a)"
        sock.sendall(ws_frame(b"", mask=True, opcode=8))
        assert ws_read(sock)[0] == 8
        sock.close()


def test_keep_alive_carries_many_requests_on_one_connection() -> None:
    with upstream("a") as a, running() as p:
        configure(p, [app("/web")], {"/web": a.port})
        conn = http.client.HTTPConnection("127.0.0.1", p.port, timeout=5)
        conn.connect()
        local = conn.sock.getsockname()
        for i in range(20):
            conn.request("GET", f"/web/n{i}")
            resp = conn.getresponse()
            assert resp.status == 200 and json.loads(resp.read())["path"] == f"/n{i}"
        assert conn.sock.getsockname() == local
        conn.close()


def test_down_app_pages_name_the_app_and_its_error_quickly() -> None:
    with running(connect_timeout=1.0) as p:
        dead = socket.socket()
        dead.bind(("127.0.0.1", 0))
        port = dead.getsockname()[1]
        dead.close()
        configure(p, [app("/web", name="Web"), app("/gone", name="Gone")],
                  {"/web": port, "/gone": None},
                  errors={"/gone": "health check failed: 500", "/web": "it crashed"})
        t0 = time.monotonic()
        status, _, body = request(p, "GET", "/web/")
        assert status == 502 and b"/web" in body and b"Web" in body
        assert time.monotonic() - t0 < 2
        status, h, body = request(p, "GET", "/gone/")
        assert status == 503 and b"app /gone (Gone) is not running" in body
        assert b"health check failed: 500" in body and h["retry-after"] == "2"
        assert request(p, "GET", "/nothing-here")[0] == 404


def test_before_the_first_pass_every_path_says_starting() -> None:
    with running() as p:
        status, h, body = request(p, "GET", "/web/")
        assert status == 503 and b"ace is starting" in body and h["retry-after"] == "1"
        assert request(p, "GET", "/_ace/health")[0] == 200
        configure(p, [app("/web")], {"/web": None})
        assert request(p, "GET", "/nothing-here")[0] == 404


def test_connect_timeout_answers_instead_of_hanging() -> None:
    with running(connect_timeout=0.5) as p:
        listener = socket.socket()
        listener.bind(("127.0.0.1", 0))
        listener.listen(0)
        fill = [socket.socket() for _ in range(8)]
        for s in fill:
            s.setblocking(False)
            with contextlib.suppress(BlockingIOError):
                s.connect(listener.getsockname())
        configure(p, [app("/web")], {"/web": listener.getsockname()[1]})
        t0 = time.monotonic()
        status, _, body = request(p, "GET", "/web/", timeout=10)
        took = time.monotonic() - t0
        assert status == 502 and b"connect timeout" in body, body
        assert took < 2.0, took
        for s in fill:
            s.close()
        listener.close()


def test_traversal_is_refused_at_the_proxy() -> None:
    with upstream("a") as a, upstream("b") as b, running() as p:
        configure(p, [app("/web"), app("/admin")], {"/web": a.port, "/admin": b.port})
        for path in ("/web/../admin/x", "/web/%2e%2e/admin", "/web/..%2fadmin",
                     "/web%2f..%2fadmin"):
            status, _, body = request(p, "GET", path)
            assert status == 400, path
        assert b.hits == 0 and a.hits == 0


def test_switch_sends_new_requests_to_new_backend_and_drains_old() -> None:
    with upstream("old") as old, upstream("new") as new, running(drain=5.0) as p:
        configure(p, [app("/web")], {"/web": old.port})
        slow: dict[str, tuple[int, dict[str, str], bytes]] = {}

        def slow_request() -> None:
            slow["resp"] = request(p, "GET", "/web/slow/1.0")

        t = threading.Thread(target=slow_request)
        t.start()
        time.sleep(0.3)
        t0 = time.monotonic()
        p.switch("/web", new.url, old.url)
        waited = time.monotonic() - t0
        assert 0.4 < waited < 3.0, waited  # waited for the slow request, not longer
        t.join()
        status, _, body = slow["resp"]
        assert status == 200 and json.loads(body)["name"] == "old"
        assert get_json(p, "/web/x")["name"] == "new"


def test_container_network_address_is_used_first() -> None:
    """A backend's direct address (the container's own ip:port) gets the requests; the
    published port is not used while it answers."""
    with upstream("published") as pub, upstream("direct") as direct, running() as p:
        configure(p, [app("/web")], {"/web": pub.port})
        p.switch("/web", pub.url, None, f"127.0.0.1:{direct.port}")
        for _ in range(3):
            assert get_json(p, "/web/x")["name"] == "direct"
        assert pub.hits == 0 and not p.core.pool.direct_broken
        assert get_json(p, "/_ace/health")["upstreams_via"] == "container network"


def test_refused_direct_address_falls_back_for_that_request_only() -> None:
    """A refusal means the container is reachable but not listening there: that request goes to
    the published port, and direct connections stay on for the next ones."""
    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))
    refused = closed.getsockname()[1]
    with upstream("published") as pub, running() as p:
        configure(p, [app("/web")], {"/web": pub.port})
        p.switch("/web", pub.url, None, f"127.0.0.1:{refused}")
        assert get_json(p, "/web/x")["name"] == "published"
        assert not p.core.pool.direct_broken
    closed.close()


def test_unreachable_container_network_turns_direct_connections_off() -> None:
    """An address the host cannot reach (an engine in a VM) costs at most one short connect
    attempt: the pool then uses published ports only."""
    full = socket.socket()  # a listener whose accept queue is full: new SYNs go unanswered
    full.bind(("127.0.0.1", 0))
    full.listen(0)
    queued = []
    for _ in range(4):
        c = socket.socket()
        c.setblocking(False)
        with contextlib.suppress(BlockingIOError):
            c.connect(full.getsockname())
        queued.append(c)
    time.sleep(0.1)
    with upstream("published") as pub, running() as p:
        configure(p, [app("/web")], {"/web": pub.port})
        p.switch("/web", pub.url, None, f"127.0.0.1:{full.getsockname()[1]}")
        t0 = time.monotonic()
        assert get_json(p, "/web/x")["name"] == "published"
        assert time.monotonic() - t0 < 1.5
        assert p.core.pool.direct_broken
        assert get_json(p, "/_ace/health")["upstreams_via"] == "published ports"
        t0 = time.monotonic()
        assert get_json(p, "/web/y")["name"] == "published"
        assert time.monotonic() - t0 < 0.3
    for c in queued:
        c.close()
    full.close()


def test_drain_is_bounded() -> None:
    with upstream("old") as old, upstream("new") as new, running(drain=0.3) as p:
        configure(p, [app("/web")], {"/web": old.port})
        t = threading.Thread(target=lambda: request(p, "GET", "/web/slow/1.5"))
        t.start()
        time.sleep(0.2)
        t0 = time.monotonic()
        p.switch("/web", new.url, old.url)
        assert time.monotonic() - t0 < 1.0
        t.join()


def test_ace_endpoints_and_state_record(tmp_path: object) -> None:
    from pathlib import Path

    from reconciler.proxy.service import ProxyService
    state = Path(str(tmp_path))
    with upstream("a") as a, ProxyService("127.0.0.1:0", state_dir=state) as p:
        configure(p, [app("/web")], {"/web": a.port})
        assert public_base(state) == p.base_url
        health = get_json(p, "/_ace/health")
        assert health["ok"] is True and health["apps"] == 1
        doc = get_json(p, "/_ace/status")
        assert doc["errors"] == []
        row = doc["apps"][0]
        assert row["path"] == "/web" and row["public_url"] == p.base_url + "/web/"
        assert set(row) >= {"state", "health", "url", "container", "image", "since", "detail"}
        assert request(p, "GET", "/_ace/other")[0] == 404
    assert public_base(state) == ""


def test_idempotent_request_retried_once_when_upstream_closes_without_answer() -> None:
    """docker's port proxy accepts and then closes when the container cannot take the
    connection: a GET is retried once on a new connection; a request with a body is not."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    seen: list[int] = []

    def serve() -> None:
        for i in range(4):
            c, _ = listener.accept()
            c.settimeout(5)
            c.recv(65536)
            seen.append(i)
            if i % 2 == 0:
                c.close()  # hang up without a byte
                continue
            c.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok")
            c.close()

    t = threading.Thread(target=serve, daemon=True)
    t.start()
    with running() as p:
        configure(p, [app("/web")], {"/web": listener.getsockname()[1]})
        status, _, body = request(p, "GET", "/web/")
        assert (status, body) == (200, b"ok") and seen == [0, 1]
        status, _, body = request(p, "POST", "/web/", body=b"data")
        # a hang-up before the body was read arrives as EOF or as a reset: either way, no retry
        assert status == 502 and (b"upstream closed the connection" in body
                                  or b"Connection reset by peer" in body), body
        assert seen == [0, 1, 2]
    listener.close()
