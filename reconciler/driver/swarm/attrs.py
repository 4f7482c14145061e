"""Pure: Swarm listings (services, tasks, nodes) -> ObservedContainer values, one per service.

A service stands for its app version as a container does on one engine: `replicas` is what the
cluster runs, `tasks` where and how each replica runs, `changed_outside` what someone changed by
hand (the spec's fingerprint no longer matches the one ace labelled it with). Its state is only
ever "running" or "exited" (a service is never paused, nor created without tasks being started),
and `started_at`/`finished_at` are those of its newest task that ran (see `_times`)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from reconciler.core.types import (
    LABEL_APP,
    LABEL_HEALTH,
    LABEL_PORT,
    LABEL_SCHEME,
    LABEL_VERSION,
    ObservedContainer,
    ObservedTask,
)
from reconciler.driver.attrs import engine_time
from reconciler.driver.swarm.spec import LABEL_IMAGE, LABEL_REPLICAS, LABEL_TEMPLATE, fingerprint

__all__ = ["Node", "nodes_from_listing", "service_from_listing", "task_from_listing"]

# task states before "running": the cluster is still bringing the task up
STARTING = frozenset({"new", "allocated", "pending", "assigned", "accepted", "preparing",
                      "ready", "starting"})
FAILED = frozenset({"failed", "rejected"})
RAN = frozenset({"running", "complete", "failed"})  # states of a task whose container started
ENDED = frozenset({"complete", "failed"})  # ... and then exited by itself


@dataclass(frozen=True, slots=True)
class Node:
    id: str
    hostname: str
    addr: str  # the address other machines reach it at
    up: bool  # state "ready"
    availability: str = "active"


def nodes_from_listing(rows: Iterable[Mapping[str, Any]]) -> dict[str, Node]:
    out: dict[str, Node] = {}
    for r in rows:
        status = r.get("Status") or {}
        addr = str(status.get("Addr") or "")
        if not addr or addr == "0.0.0.0":
            addr = str((r.get("ManagerStatus") or {}).get("Addr") or "").rpartition(":")[0]
        out[r["ID"]] = Node(
            id=r["ID"], hostname=str((r.get("Description") or {}).get("Hostname") or r["ID"][:12]),
            addr=addr, up=status.get("State") == "ready",
            availability=str((r.get("Spec") or {}).get("Availability") or "active"))
    return out


def unix(stamp: str) -> int:
    try:  # fromisoformat: strptime's first call imports and compiles ~8M instructions' worth
        parsed = datetime.fromisoformat(stamp[:19]).replace(tzinfo=UTC)
    except ValueError:
        return 0
    return int(parsed.timestamp())


def _times(tasks: Iterable[Mapping[str, Any]]) -> tuple[float, float]:
    """(started_at, finished_at) of the newest task whose container started. Swarm records no
    container start time, only the task's creation and its last state change: started_at is
    the task's creation (earlier than the start, so a run is never taken for shorter than it
    was), finished_at its last change when it exited by itself, else 0.0 (unknown)."""
    ran = [(engine_time(str((t.get("Status") or {}).get("Timestamp") or "")), t) for t in tasks
           if (t.get("Status") or {}).get("State") in RAN]
    if not ran:
        return 0.0, 0.0
    changed, newest = max(ran, key=lambda p: p[0])
    ended = (newest.get("Status") or {}).get("State") in ENDED
    return engine_time(str(newest.get("CreatedAt") or "")), changed if ended else 0.0


def task_from_listing(row: Mapping[str, Any], port: int, nodes: Mapping[str, Node]
                      ) -> ObservedTask:
    status = row.get("Status") or {}
    node = nodes.get(str(row.get("NodeID") or ""))
    published = 0
    for p in ((status.get("PortStatus") or {}).get("Ports")) or []:
        if int(p.get("TargetPort", 0)) == port and p.get("PublishedPort"):
            published = int(p["PublishedPort"])
            break
    address = f"{node.addr}:{published}" if node and node.addr and published else ""
    error = str(status.get("Err") or "")
    code = (status.get("ContainerStatus") or {}).get("ExitCode")
    if status.get("State") in FAILED and code:
        error = f"exit code {code}" + (f": {error}" if error else "")
    return ObservedTask(
        id=str(row["ID"]), node=node.hostname if node else str(row.get("NodeID") or ""),
        state=str(status.get("State") or ""), address=address, error=error,
        desired=str(row.get("DesiredState") or ""), since=unix(str(status.get("Timestamp") or "")),
        node_up=node.up if node else False)


def service_from_listing(row: Mapping[str, Any], tasks: Iterable[Mapping[str, Any]],
                         nodes: Mapping[str, Node]) -> ObservedContainer:
    tasks = list(tasks)
    spec = row.get("Spec") or {}
    labels = spec.get("Labels") or {}
    port = int(labels.get(LABEL_PORT) or 0)
    mode = spec.get("Mode") or {}
    replicas = int((mode.get("Replicated") or {}).get("Replicas") or 0)
    seen = sorted((task_from_listing(t, port, nodes) for t in tasks),
                  key=lambda t: (t.desired != "running", -t.since, t.id))
    current = [t for t in seen if t.desired in ("running", "ready")]
    running = sum(1 for t in current if t.state == "running")
    state = "running" if current or not seen else "exited"
    status = f"{running}/{replicas} tasks running"
    failed = [t for t in seen if t.state in FAILED]
    if failed and running < replicas:
        status += f"; last failure on {failed[0].node}: {failed[0].error or failed[0].state}"
    started_at, finished_at = _times(tasks)
    changed = ""
    if labels.get(LABEL_TEMPLATE) and fingerprint(spec) != labels[LABEL_TEMPLATE]:
        changed = "service spec changed (image, command, env, mounts, limits or ports)"
    elif "Replicated" not in mode:
        changed = "service mode changed"
    elif replicas == 0:
        changed = "scaled to 0 replicas"
    return ObservedContainer(
        id=str(row["ID"]), name=str(spec.get("Name") or ""), app=labels.get(LABEL_APP, ""),
        version=labels.get(LABEL_VERSION, ""), state=state, status=status,
        created=unix(str(row.get("CreatedAt") or "")), image=labels.get(LABEL_IMAGE, ""),
        replicas=replicas if "Replicated" in mode else 0, tasks=tuple(seen),
        changed_outside=changed, replicas_set=int(labels.get(LABEL_REPLICAS) or 0),
        scheme=labels.get(LABEL_SCHEME, ""), health_path=labels.get(LABEL_HEALTH, ""),
        started_at=started_at, finished_at=finished_at)
