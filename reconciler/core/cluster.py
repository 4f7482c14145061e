"""The cluster part of `ace status` rows and `ace drift` items: per app the replicas desired
and running, each task's node, state, health and address, and what changed outside ace on the
cluster (a service scaled or updated by hand, tasks not running, a node down). Pure."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from reconciler.core.types import DesiredApp, ObservedContainer

if TYPE_CHECKING:
    from reconciler.core.report import AppStatus, DriftItem

__all__ = ["TaskStatus", "cluster_drift", "cluster_row"]


@dataclass(frozen=True, slots=True)
class TaskStatus:
    id: str
    node: str
    state: str
    health: str  # healthy, unhealthy, unknown, "-" (not running)
    address: str
    error: str = ""

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "node": self.node, "state": self.state, "health": self.health,
                "address": self.address, "error": self.error}


def cluster_row(row: AppStatus, scheme: str, c: ObservedContainer,
                health: Mapping[str, str]) -> AppStatus:
    """The row of an app whose current unit is a cluster service: URL of its first task,
    replicas, and its current tasks (those the cluster wants running)."""
    running = c.running_tasks
    tasks = tuple(
        TaskStatus(t.id, t.node, t.state if t.node_up else f"{t.state} (node down)",
                   health.get(f"task:{t.id}", "unknown").split(":")[0]
                   if t in running else "-", t.address, t.error)
        for t in c.tasks if t.desired == "running")
    state = row.state if running or row.state != "running" else "stopped"
    detail = row.detail
    if not detail and (state == "stopped" or len(running) < c.replicas):
        detail = c.status
    url = f"{scheme}://{running[0].address}" if running else ""
    return replace(row, state=state, url=url, detail=detail, replicas=c.replicas,
                   running=len(running), tasks=tasks)


def cluster_drift(app: DesiredApp, c: ObservedContainer, pending_version: bool
                  ) -> list[DriftItem]:
    """Drift of a cluster service: changed or scaled by hand, tasks not running or moved off
    a node that is down; the app's declared replicas not applied yet (pending)."""
    from reconciler.core.report import DriftItem

    items: list[DriftItem] = []
    if c.changed_outside:
        items.append(DriftItem(app.path, "drift", "service changed outside ace",
                               "the spec ace created", c.changed_outside))
    if c.replicas_set and c.replicas != c.replicas_set:
        items.append(DriftItem(app.path, "drift", "service scaled outside ace",
                               f"{c.replicas_set} replicas", f"{c.replicas} replicas"))
    elif not pending_version and c.replicas_set and app.replicas != c.replicas_set:
        items.append(DriftItem(app.path, "pending", "declared change not applied",
                               f"{app.replicas} replicas", f"{c.replicas_set} replicas"))
    running = len(c.running_tasks)
    down = sorted({t.node for t in c.tasks if not t.node_up})
    if down:
        items.append(DriftItem(app.path, "drift", "tasks rescheduled: node down",
                               "every node ready",
                               f"{', '.join(down)} down; {running}/{c.replicas} tasks running"))
    elif running < c.replicas:
        items.append(DriftItem(app.path, "drift", "tasks not running",
                               f"{c.replicas} running", c.status))
    return items
