"""The values `ace status` and `ace drift` are made of: a status row per app (with a cluster
service's tasks) and a drift item per difference. Pure data; `report` and `cluster` build them."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from state.runs import LastApply

__all__ = ["AppStatus", "DriftItem", "TaskStatus"]


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


@dataclass(frozen=True, slots=True)
class AppStatus:
    path: str
    state: str  # running, stopped, idle, missing, failed, command, static, error, orphaned
    health: str  # healthy, unhealthy, unknown, "-"
    url: str
    container: str
    image: str
    since: int  # unix seconds the container was created, 0 when none
    detail: str = ""
    public_url: str = ""  # the app on ace's proxy (`ace watch` / `ace serve`), "" when none runs
    error: str = ""  # why the app does not evaluate ("file:line:column: message"), "" if it does
    last_apply: LastApply | None = None  # how the app's latest applied step went
    mode: str = "normal"  # "dev": runs from its mounted source
    replicas: int = 0  # a cluster service: tasks desired (0: one container)
    running: int = 0  # a cluster service: tasks running
    tasks: tuple[TaskStatus, ...] = ()  # a cluster service's tasks

    def to_json(self) -> dict[str, Any]:
        la = self.last_apply
        out = {"path": self.path, "state": self.state, "health": self.health, "url": self.url,
               "public_url": self.public_url, "container": self.container,
               "image": self.image, "since": self.since, "detail": self.detail,
               "error": self.error, "mode": self.mode,
               "last_apply": None if la is None else {
                   "step": la.step_id, "action": la.action, "outcome": la.outcome,
                   "message": la.message, "at": int(la.at)}}
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
