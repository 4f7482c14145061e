"""Changing a running service in place: a forced update (`docker service update --force`, which
starts and restarts it), waiting for a restart's rollout, and scaling; each checks ace's
labels first."""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from apps.errors import EngineError
from reconciler.driver.sdkerrors import translated
from reconciler.driver.swarm.spec import LABEL_REPLICAS

if TYPE_CHECKING:
    from reconciler.core.types import ObservedContainer
    from reconciler.driver.swarm.parts import SwarmParts

__all__ = ["ROLLOUT_DEADLINE", "force_update", "restart", "scale", "start"]

ROLLOUT_DEADLINE = 30.0  # seconds per replica a forced update (restart) may take


def _update(engine: SwarmParts, raw: Mapping[str, Any], spec: Mapping[str, Any],
            what: str) -> None:
    with translated(what):
        engine.api.update_service(
            raw["ID"], raw["Version"]["Index"], task_template=spec["TaskTemplate"],
            name=spec["Name"], labels=spec.get("Labels"), mode=spec.get("Mode"),
            endpoint_spec=spec.get("EndpointSpec"))


def force_update(engine: SwarmParts, container_id: str) -> tuple[str, int, int]:
    """`docker service update --force`: the same service (id, spec, version) with every
    task replaced by a fresh one; returns the service's name, its new ForceUpdate count
    (which the new tasks carry in their spec) and its replicas."""
    raw = engine._managed(container_id, "restart")
    spec = raw["Spec"]
    tt = dict(spec["TaskTemplate"])
    force = int(tt.get("ForceUpdate") or 0) + 1
    tt["ForceUpdate"] = force
    _update(engine, raw, {**spec, "TaskTemplate": tt}, f"restart service {spec['Name']}")
    replicas = int(((spec.get("Mode") or {}).get("Replicated") or {}).get("Replicas") or 1)
    return str(spec["Name"]), force, replicas


def start(engine: SwarmParts, container_id: str) -> ObservedContainer:
    """Every task of the service replaced by a fresh one (a forced update)."""
    name, _, _ = force_update(engine, container_id)
    seen = engine.inspect(container_id)
    if seen is None:
        raise EngineError(f"service {name} vanished while it restarted")
    return seen


def restart(engine: SwarmParts, container_id: str) -> ObservedContainer:
    """A forced update, returned once no task of the old generation is wanted running any
    more; an EngineError when the rollout does not get there within `ROLLOUT_DEADLINE` seconds
    per replica (see `SwarmEngine.restart`)."""
    name, force, replicas = force_update(engine, container_id)
    allowed = ROLLOUT_DEADLINE * max(1, replicas)
    deadline = time.monotonic() + allowed
    delay = 0.1
    while True:
        rows = engine._read("/tasks", f"list tasks of service {name}",
                            {"filters": json.dumps({"service": [container_id]})})
        old = [t for t in rows if t.get("DesiredState") in ("running", "ready")
               and int((t.get("Spec") or {}).get("ForceUpdate") or 0) != force]
        if not old:
            break
        if time.monotonic() + delay > deadline:
            raise EngineError(f"restart of service {name}: {len(old)} task(s) of the old "
                              f"generation still wanted running after {allowed:g} s (is a "
                              "node down, or the update paused?); docker service ps "
                              f"{name} shows why")
        time.sleep(delay)
        delay = min(delay * 2, 1.0)
    seen = engine.inspect(container_id)
    if seen is None:
        raise EngineError(f"service {name} vanished while it restarted")
    return seen


def scale(engine: SwarmParts, container_id: str, replicas: int) -> ObservedContainer:
    """Run `replicas` tasks of the service (and label it so: a scale by hand shows)."""
    raw = engine._managed(container_id, "scale")
    spec = raw["Spec"]
    labels = {**(spec.get("Labels") or {}), LABEL_REPLICAS: str(replicas)}
    _update(engine, raw, {**spec, "Labels": labels,
                          "Mode": {"Replicated": {"Replicas": replicas}}},
            f"scale service {spec['Name']} to {replicas}")
    seen = engine.inspect(container_id)
    if seen is None:
        raise EngineError(f"service {spec['Name']} vanished while it scaled")
    return seen
