"""The health gate of a cluster service: it serves only once every one of its `replicas` tasks
answers ace's health check (GET scheme://node-ip:port/PATH -> 200), polled with the same backoff
(100 ms doubling to 2 s) and deadline as one container. A task that fails or is rejected fails
the gate at once, as a container that exits does."""

from __future__ import annotations

import time
from collections.abc import Callable

from reconciler.apply.health import STOPPING, HealthResult, Target, probe_all
from reconciler.core.types import ObservedContainer

__all__ = ["wait_tasks_healthy"]

_FAILED = ("failed", "rejected")


def wait_tasks_healthy(
    *,
    inspect: Callable[[], ObservedContainer | None],
    replicas: int,
    scheme: str,
    path: str,
    deadline_s: float,
    sleep: Callable[[float], object] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
    cancelled: Callable[[], bool] = lambda: False,
) -> tuple[HealthResult, ObservedContainer | None]:
    """Poll the service until `replicas` of its running tasks answered 200; returns the result
    and the service as last seen (its tasks are where the proxy sends requests). `cancelled()`
    true (ace is stopping) ends the wait unhealthy."""
    start = clock()
    delay = 0.1
    attempts = 0
    healthy: set[str] = set()
    last = "no task runs yet"
    while True:
        attempts += 1
        svc = inspect()
        elapsed = clock() - start
        if svc is None:
            return HealthResult(False, "service removed", attempts, elapsed), None
        failed = [t for t in svc.tasks if t.state in _FAILED]
        if failed:
            t = failed[0]
            why = f"task on {t.node} {t.state}" + (f": {t.error}" if t.error else "")
            return HealthResult(False, why, attempts, elapsed), svc
        running = svc.running_tasks
        targets = []
        for t in running:
            if t.id not in healthy:
                host, _, port = t.address.rpartition(":")
                targets.append(Target(t.id, scheme, int(port), path, host))
        answers = probe_all(targets, timeout=min(2.0, max(0.2, deadline_s)))
        for t in running:
            status, detail = answers.get(t.id, (200, ""))
            if status == 200:
                healthy.add(t.id)
            else:
                last = f"task on {t.node}: {detail}"
        ready = sum(1 for t in running if t.id in healthy)
        elapsed = clock() - start
        if ready >= replicas:
            return HealthResult(True, f"{ready} tasks answer 200 after {elapsed:.2f} s",
                                attempts, elapsed), svc
        if running and ready == len(running):
            last = f"{ready} of {replicas} tasks run"
        if cancelled():
            return HealthResult(False, f"{STOPPING} ({ready} of {replicas} tasks answer)",
                                attempts, elapsed), svc
        if elapsed + delay > deadline_s:
            return HealthResult(False, f"not healthy after {deadline_s:g} s ({ready} of "
                                f"{replicas} tasks answer; last: {last})", attempts, elapsed), svc
        sleep(delay)
        delay = min(delay * 2, 2.0)
