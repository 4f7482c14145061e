"""The health gate of a cluster service (apply.replicas.wait_tasks_healthy) against local HTTP
servers standing in for tasks: every replica must answer 200; a failed task fails the gate at
once; a task on a node that is down does not count; the deadline is kept. Also the probe of a
service whose app does not evaluate (by its labels)."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from dataclasses import replace

from reconciler.apply.health import probe_health
from reconciler.apply.replicas import wait_tasks_healthy
from reconciler.core.report import status_rows
from reconciler.core.types import DesiredState, ObservedContainer, ObservedState, ObservedTask
from tests.proxy.upstream import upstream


def svc(*tasks: ObservedTask, replicas: int = 2) -> ObservedContainer:
    return ObservedContainer("s1", "svc", "/web", "v1", "running", replicas=replicas,
                             tasks=tasks)


def task(tid: str, address: str, state: str = "running", **kw: object) -> ObservedTask:
    return ObservedTask(tid, f"node-{tid}", state, address, **kw)  # type: ignore[arg-type]


def sequence(*seen: ObservedContainer | None) -> Iterator[ObservedContainer | None]:
    yield from seen
    while True:
        yield seen[-1]


def test_passes_once_every_replica_answers() -> None:
    """Two tasks: the gate waits while the second is still starting, passes when both answer."""
    with upstream("a") as a, upstream("b") as b:
        states = sequence(svc(task("1", f"127.0.0.1:{a.port}"), task("2", "", "starting")),
                          svc(task("1", f"127.0.0.1:{a.port}"), task("2", f"127.0.0.1:{b.port}")))
        result, seen = wait_tasks_healthy(inspect=lambda: next(states), replicas=2,
                                          scheme="http", path="/", deadline_s=10,
                                          sleep=lambda s: None)
    assert result.ok and "2 tasks answer" in result.detail and seen is not None
    assert a.hits >= 1 and b.hits == 1


def test_a_failed_task_fails_at_once() -> None:
    """A task the cluster reports failed ends the wait with its node and error."""
    with upstream("a") as a:
        states = sequence(svc(task("1", f"127.0.0.1:{a.port}"),
                              task("2", "", "failed", error="exit code 3")))
        result, _ = wait_tasks_healthy(inspect=lambda: next(states), replicas=2,
                                       scheme="http", path="/", deadline_s=10,
                                       sleep=lambda s: None)
    assert not result.ok and result.detail == "task on node-2 failed: exit code 3"
    assert result.attempts == 1


def test_tasks_on_a_node_that_is_down_do_not_count_and_the_deadline_holds() -> None:
    """A running task whose node is down is not probed; with too few tasks answering the
    gate fails at its deadline saying how many answered."""
    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))
    now = [0.0]

    def sleep(s: float) -> None:
        now[0] += s

    with upstream("a") as a:
        states = sequence(svc(task("1", f"127.0.0.1:{a.port}"),
                              task("2", f"127.0.0.1:{closed.getsockname()[1]}", node_up=False)))
        result, _ = wait_tasks_healthy(inspect=lambda: next(states), replicas=2,
                                       scheme="http", path="/", deadline_s=3, sleep=sleep,
                                       clock=lambda: now[0])
    closed.close()
    assert not result.ok and "1 of 2 tasks answer" in result.detail, result.detail
    assert a.hits == 1  # a task that answered once is not probed again


def test_removed_service_fails() -> None:
    """A service that vanished (removed by hand) fails the gate."""
    result, seen = wait_tasks_healthy(inspect=lambda: None, replicas=1, scheme="http",
                                      path="/", deadline_s=5, sleep=lambda s: None)
    assert not result.ok and result.detail == "service removed" and seen is None


def test_a_held_apps_service_is_probed_by_its_labels_and_shown_with_its_tasks() -> None:
    """An app that does not evaluate keeps its cluster service: status probes each running
    task by the service's scheme and health labels and shows its replicas and tasks."""
    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))
    with upstream("a") as a:
        service = replace(svc(task("1", f"127.0.0.1:{a.port}"),
                              task("2", f"127.0.0.1:{closed.getsockname()[1]}")),
                          scheme="http", health_path="/ping")
        desired = DesiredState((), held=frozenset({"/web"}), declared=frozenset({"/web"}))
        observed = ObservedState((service,), ())
        health = probe_health(desired, observed)
        (row,) = status_rows(desired, observed, health)
    closed.close()
    assert health["task:1"] == "healthy" and health["task:2"].startswith("unhealthy")
    assert health["/web"].startswith("unhealthy: 1 of 2 tasks failing")
    assert (row.state, row.health, row.url) == ("running", "unhealthy",
                                                f"http://127.0.0.1:{a.port}")
    assert (row.replicas, row.running) == (2, 2)
    assert [(t.id, t.health) for t in row.tasks] == [("1", "healthy"), ("2", "unhealthy")]
    assert a.hits == 1
