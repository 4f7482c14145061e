"""What runs versus what was declared and recorded: `ace status` rows and `ace drift` items.

Both read one observation and the health the caller probed (`apply.health.probe_health`);
pure: no I/O here."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any, Literal

from reconciler.core.cluster import TaskStatus, cluster_drift, cluster_row
from reconciler.core.types import (
    DesiredState,
    ObservedState,
    RecordedState,
    current_container,
)

__all__ = ["AppStatus", "DriftItem", "drift_items", "status_rows"]


@dataclass(frozen=True, slots=True)
class AppStatus:
    path: str
    state: str  # running, stopped, missing, failed, command, pending, error, orphaned
    health: str  # healthy, unhealthy, unknown, "-"
    url: str
    container: str
    image: str
    since: int  # unix seconds the container was created, 0 when none
    detail: str = ""
    public_url: str = ""  # the app on ace's proxy (`ace watch` / `ace serve`), "" when none runs
    replicas: int = 0  # a cluster service: tasks desired (0: one container)
    running: int = 0  # a cluster service: tasks running
    tasks: tuple[TaskStatus, ...] = ()  # a cluster service's tasks

    def to_json(self) -> dict[str, Any]:
        out = {"path": self.path, "state": self.state, "health": self.health, "url": self.url,
               "public_url": self.public_url, "container": self.container,
               "image": self.image, "since": self.since, "detail": self.detail}
        if self.replicas:
            out["replicas"] = {"desired": self.replicas, "running": self.running}
            out["tasks"] = [t.to_json() for t in self.tasks]
        return out


@dataclass(frozen=True, slots=True)
class DriftItem:
    app: str
    kind: Literal["drift", "pending"]
    what: str
    expected: str
    actual: str

    def to_json(self) -> dict[str, Any]:
        return {"app": self.app, "kind": self.kind, "what": self.what,
                "expected": self.expected, "actual": self.actual}



def status_rows(
    desired: DesiredState, observed: ObservedState, health: dict[str, str],
    failed_steps: dict[str, str] | None = None, public: Mapping[str, str] | None = None,
) -> list[AppStatus]:
    """One row per app; `public` maps app paths to their URLs on a running proxy."""
    rows = _rows(desired, observed, health, failed_steps or {})
    if public:
        rows = [replace(r, public_url=public.get(r.path, "")) for r in rows]
    return rows


def _rows(
    desired: DesiredState, observed: ObservedState, health: dict[str, str],
    failed_steps: dict[str, str],
) -> list[AppStatus]:
    rows: list[AppStatus] = []
    for app in sorted(desired.apps, key=lambda a: a.path):
        c = current_container(observed.containers, app.path, app.version)
        if not app.service:
            rows.append(AppStatus(app.path, "command", "-", "", "", app.image, 0,
                                  "image only; run actions with ace run"))
            continue
        if c is None:
            state = "failed" if app.path in failed_steps else "missing"
            rows.append(AppStatus(app.path, state, "-", "", "", app.image, 0,
                                  failed_steps.get(app.path, "")))
            continue
        h = health.get(app.path, "unknown" if c.state == "running" else "-")
        state = "running" if c.state == "running" else "stopped"
        if state == "running" and c.version != app.version:
            detail = "an older version runs; reconcile to apply the change"
        else:
            detail = c.status if state != "running" else ""
        if h.startswith("unhealthy:"):
            h, detail = "unhealthy", h.split(": ", 1)[1]
        live = c.host_port and state == "running"
        url = f"{app.scheme}://127.0.0.1:{c.host_port}" if live else ""
        row = AppStatus(app.path, state, h, url, c.name, app.image, c.created, detail)
        rows.append(cluster_row(row, app, c, health) if c.replicas else row)
    for path in sorted(desired.held):
        rows.append(AppStatus(path, "error", "-", "", "", "", 0, "app has errors: see ace config"))
    wanted = {a.path for a in desired.apps} | desired.held
    for c in sorted(observed.containers, key=lambda c: c.app):
        if c.app not in wanted:
            rows.append(AppStatus(c.app, "orphaned", "-", "", c.name, c.image, c.created,
                                  "not declared any more; reconcile removes it"))
    return rows


def drift_items(
    desired: DesiredState, observed: ObservedState, recorded: RecordedState,
    health: dict[str, str], unit: str = "container",
) -> list[DriftItem]:
    """`unit` names what runs an app: "container" (one engine) or "service" (a cluster)."""
    items: list[DriftItem] = []
    tags = observed.image_tags()
    for app in sorted(desired.apps, key=lambda a: a.path):
        rec = recorded.get(app.path)
        mine = [c for c in observed.containers if c.app == app.path]
        if rec is not None and rec.image not in tags and rec.image == app.image:
            items.append(DriftItem(app.path, "drift", "image removed", rec.image, "absent"))
        if not app.service:
            for c in mine:
                items.append(DriftItem(app.path, "pending", "service of a command app",
                                       "no container", f"{c.name} {c.state}"))
            continue
        if rec is None:
            items.append(DriftItem(app.path, "pending", "not applied yet",
                                   f"version {app.version[:12]}", "nothing recorded"))
        elif rec.version != app.version:
            items.append(DriftItem(app.path, "pending", "declared change not applied",
                                   f"version {app.version[:12]}", f"version {rec.version[:12]}"))
        if rec is None:
            continue
        by_id = {c.id: c for c in mine}
        cur = by_id.get(rec.container_id)
        if cur is None:
            others = [o for o in mine if o.state == "running"]
            if others:
                items.append(DriftItem(app.path, "drift", f"{unit} replaced outside ace",
                                       rec.container_id[:12], others[0].id[:12]))
            else:
                items.append(DriftItem(app.path, "drift", f"{unit} gone",
                                       f"{rec.container_id[:12]} running", "absent"))
            continue
        if cur.replicas:
            items += cluster_drift(app, cur, rec.version != app.version)
        if cur.state != "running":
            items.append(DriftItem(app.path, "drift", "container stopped", "running",
                                   cur.status or cur.state))
        elif health.get(app.path, "healthy") != "healthy":
            items.append(DriftItem(app.path, "drift", "container unhealthy",
                                   f"200 from {app.health}", health[app.path]))
    wanted = {a.path for a in desired.apps} | desired.held
    for c in sorted(observed.containers, key=lambda c: c.app):
        if c.app not in wanted:
            items.append(DriftItem(c.app, "pending", "app removed from apps file",
                                   "no container", f"{c.name} {c.state}"))
    return items
