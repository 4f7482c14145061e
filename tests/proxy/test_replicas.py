"""The proxy in front of a cluster app: requests spread over its tasks, a task that refuses
connections sits out and its requests go to another task, and a switch to a new version's tasks
drains only the tasks that are not among the new ones."""

from __future__ import annotations

import json
import socket
import threading
import time

from reconciler.core.types import (
    ContainerSpec,
    DesiredApp,
    DesiredState,
    ObservedContainer,
    ObservedState,
    ObservedTask,
)
from tests.proxy.kit import app, get_json, request, running
from tests.proxy.upstream import upstream


def _closed_port() -> tuple[socket.socket, int]:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    return s, s.getsockname()[1]


def test_requests_spread_over_every_task() -> None:
    """Each of three tasks gets a share of the requests (round robin)."""
    with upstream("a") as a, upstream("b") as b, upstream("c") as c, running() as p:
        p.update([app("/web")], DesiredState(()), ObservedState((), ()))
        addrs = ",".join(f"127.0.0.1:{u.port}" for u in (a, b, c))
        p.switch("/web", a.url, None, addrs)
        names = [get_json(p, "/web/x")["name"] for _ in range(30)]
        assert {n: names.count(n) for n in "abc"} == {"a": 10, "b": 10, "c": 10}


def test_a_task_that_refuses_sits_out_and_no_request_fails() -> None:
    """A task whose port refuses connections costs no failed request: the request goes to
    another task, and the refusing one gets no more requests for a while."""
    sock, dead = _closed_port()
    with upstream("a") as a, upstream("b") as b, running() as p:
        p.update([app("/web")], DesiredState(()), ObservedState((), ()))
        p.switch("/web", a.url, None, f"127.0.0.1:{a.port},127.0.0.1:{dead},127.0.0.1:{b.port}")
        statuses = [request(p, "GET", "/web/x")[0] for _ in range(20)]
        assert statuses == [200] * 20
        assert a.hits + b.hits == 20 and min(a.hits, b.hits) >= 8
        assert f"127.0.0.1:{dead}" in p.core.slots["/web"].down
    sock.close()


def test_all_tasks_refusing_answers_502() -> None:
    """When no task accepts a connection the client gets a 502 naming the app, at once."""
    s1, d1 = _closed_port()
    s2, d2 = _closed_port()
    with running() as p:
        p.update([app("/web")], DesiredState(()), ObservedState((), ()))
        p.switch("/web", f"http://127.0.0.1:{d1}", None, f"127.0.0.1:{d1},127.0.0.1:{d2}")
        status, _, body = request(p, "GET", "/web/x")
        assert status == 502 and b"/web" in body
    s1.close()
    s2.close()


def test_update_routes_to_the_running_tasks_of_the_observed_service() -> None:
    """A pass's observation of a cluster service gives the proxy its running tasks only."""
    with upstream("a") as a, upstream("b") as b, running() as p:
        tasks = (ObservedTask("t1", "n1", "running", f"127.0.0.1:{a.port}"),
                 ObservedTask("t2", "n2", "running", f"127.0.0.1:{b.port}"),
                 ObservedTask("t3", "n3", "starting", ""),
                 ObservedTask("t4", "n4", "running", "127.0.0.1:1", node_up=False))
        svc = ObservedContainer("s1", "svc", "/web", "v1", "running", replicas=4, tasks=tasks)
        desired = DesiredState((DesiredApp("/web", True, "img", None, ContainerSpec("img", 80),
                                           "v1", replicas=4),))
        p.update([app("/web")], desired, ObservedState((svc,), ()))
        names = {get_json(p, "/web/x")["name"] for _ in range(6)}
        assert names == {"a", "b"}


def test_switch_drains_only_tasks_that_are_not_kept() -> None:
    """Scaling from two tasks to one waits for the removed task's request in flight, and the
    kept task serves on."""
    with upstream("a") as a, upstream("b") as b, running(drain=5.0) as p:
        p.update([app("/web")], DesiredState(()), ObservedState((), ()))
        p.switch("/web", a.url, None, f"127.0.0.1:{a.port},127.0.0.1:{b.port}")
        slow: dict[str, str] = {}

        def slow_request() -> None:  # round robin: the first request goes to the second task
            slow["name"] = get_json(p, "/web/slow/1.0")["name"]

        t = threading.Thread(target=slow_request)
        t.start()
        time.sleep(0.3)
        t0 = time.monotonic()
        p.switch("/web", a.url, None, f"127.0.0.1:{a.port}")
        waited = time.monotonic() - t0
        t.join()
        assert slow["name"] == "b" and 0.4 < waited < 3.0, (slow, waited)
        assert {get_json(p, "/web/x")["name"] for _ in range(4)} == {"a"}


def test_a_chunked_request_refused_by_a_task_goes_whole_to_another() -> None:
    """A chunked POST whose first task refuses the connection reaches another task with its
    whole body (the body's start is read once, not again for the retry)."""
    sock, dead = _closed_port()
    with upstream("a") as a, running() as p:
        p.update([app("/web")], DesiredState(()), ObservedState((), ()))
        # round robin: the first request goes to the second task, the refusing one
        p.switch("/web", a.url, None, f"127.0.0.1:{a.port},127.0.0.1:{dead}")
        body = [b"hello ", b"chunked ", b"world"]
        status, _, raw = request(p, "POST", "/web/up", body=iter(body))
        assert status == 200, raw[:300]
        doc = json.loads(raw)
        assert (doc["length"], doc["te"]) == (len(b"".join(body)), "chunked")
        assert f"127.0.0.1:{dead}" in p.core.slots["/web"].down
    sock.close()


def test_hold_waits_for_requests_in_flight_on_every_task() -> None:
    """Holding a cluster app (an in-place restart) first lets a request in flight on one of
    its tasks finish."""
    with upstream("a") as a, upstream("b") as b, running(drain=5.0) as p:
        p.update([app("/web")], DesiredState(()), ObservedState((), ()))
        p.switch("/web", a.url, None, f"127.0.0.1:{a.port},127.0.0.1:{b.port}")
        done: dict[str, str] = {}

        def slow_request() -> None:
            done["name"] = get_json(p, "/web/slow/1.0")["name"]

        t = threading.Thread(target=slow_request)
        t.start()
        time.sleep(0.3)
        t0 = time.monotonic()
        p.hold("/web", True)
        waited = time.monotonic() - t0
        p.hold("/web", False)
        t.join()
        assert done["name"] == "b" and 0.4 < waited < 3.0, (done, waited)
