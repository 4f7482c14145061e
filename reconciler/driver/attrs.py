"""Engine API dicts (listings and inspects) to ObservedContainer/ObservedImage values.

Pure functions used by reconciler/driver.py; no docker import, so they are testable on plain
dicts. Host ports are only ever read from 127.0.0.1 bindings.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from reconciler.core.types import (
    LABEL_APP,
    LABEL_HEALTH,
    LABEL_INPUTS,
    LABEL_INSTALL,
    LABEL_PORT,
    LABEL_SCHEME,
    LABEL_VERSION,
    ObservedContainer,
    ObservedImage,
)

__all__ = ["container_from_inspect", "container_from_listing", "engine_time", "image_from_listing",
           "parse_timestamp",
           "networks_of", "running_elsewhere"]

_STATUS = {"running": "Up", "created": "Created"}  # inspect has no status text: like listings


def container_from_listing(row: Mapping[str, Any]) -> ObservedContainer:
    labels = row.get("Labels") or {}
    want = labels.get(LABEL_PORT, "")
    host_port = None
    for p in row.get("Ports") or []:
        loopback = p.get("PublicPort") and p.get("IP") == "127.0.0.1"
        if loopback and (str(p.get("PrivatePort")) == want or host_port is None):
            host_port = int(p["PublicPort"])
    names = row.get("Names") or [""]
    return ObservedContainer(
        id=row["Id"],
        name=names[0].lstrip("/"),
        app=labels.get(LABEL_APP, ""),
        version=labels.get(LABEL_VERSION, ""),
        state=row.get("State", ""),
        status=row.get("Status", ""),
        host_port=host_port,
        created=int(row.get("Created", 0)),
        image=row.get("Image", ""),
        address=_address(row.get("NetworkSettings"), want),
        networks=networks_of(row.get("NetworkSettings")),
        scheme=labels.get(LABEL_SCHEME, ""),
        health_path=labels.get(LABEL_HEALTH, ""),
    )


def container_from_inspect(raw: Mapping[str, Any]) -> ObservedContainer:
    labels = raw["Config"].get("Labels") or {}
    state = raw.get("State") or {}
    status = _STATUS.get(state.get("Status", ""), str(state.get("Status", "")).capitalize())
    if state.get("Status") == "exited":
        status = f"Exited ({state.get('ExitCode', 0)})"
    want = f"{labels.get(LABEL_PORT, '')}/tcp"
    host_port = None
    for key, binds in ((raw.get("NetworkSettings") or {}).get("Ports") or {}).items():
        for b in binds or []:
            loopback = b.get("HostIp") == "127.0.0.1" and b.get("HostPort")
            if loopback and (key == want or host_port is None):
                host_port = int(b["HostPort"])
    return ObservedContainer(
        id=raw["Id"],
        name=raw["Name"].lstrip("/"),
        app=labels.get(LABEL_APP, ""),
        version=labels.get(LABEL_VERSION, ""),
        state=state.get("Status", ""),
        status=status,
        host_port=host_port,
        created=int(engine_time(raw.get("Created", ""))),
        image=raw["Config"].get("Image", ""),
        address=_address(raw.get("NetworkSettings"), labels.get(LABEL_PORT, "")),
        networks=networks_of(raw.get("NetworkSettings")),
        scheme=labels.get(LABEL_SCHEME, ""),
        health_path=labels.get(LABEL_HEALTH, ""),
        started_at=engine_time(state.get("StartedAt", "")),
        finished_at=engine_time(state.get("FinishedAt", "")),
    )


def image_from_listing(row: Mapping[str, Any]) -> ObservedImage:
    labels = row.get("Labels") or {}
    tags = tuple(t for t in (row.get("RepoTags") or []) if t != "<none>:<none>")
    return ObservedImage(
        id=row["Id"], tags=tags, app=labels.get(LABEL_APP, ""), inputs=labels.get(LABEL_INPUTS, ""),
        install=labels.get(LABEL_INSTALL, ""),
    )


def _address(settings: Mapping[str, Any] | None, port: str) -> str:
    """"ip:port" of the service port on the container's network (the default bridge first), for
    the proxy to connect without the engine's port forwarder; "" without an IPv4 address."""
    if not port.isdigit():
        return ""
    networks = (settings or {}).get("Networks") or {}
    for name in sorted(networks, key=lambda n: n != "bridge"):
        ip = (networks[name] or {}).get("IPAddress") or ""
        if ip:
            return f"{ip}:{port}"
    return ""


def networks_of(settings: Mapping[str, Any] | None) -> tuple[tuple[str, str], ...]:
    """(name, network id) of each network a container is attached to. A listing shows these
    (no aliases); a stopped container keeps the id of a network removed since."""
    networks = (settings or {}).get("Networks") or {}
    return tuple(sorted((str(name), str((net or {}).get("NetworkID") or ""))
                        for name, net in networks.items()))


def parse_timestamp(text: str) -> float:
    """RFC 3339 with up to nanoseconds ("2024-05-01T12:34:56.123456789Z") -> unix seconds."""
    head, dot, frac = text.partition(".")
    zone = ""
    if dot:
        digits = len(frac) - len(frac.lstrip("0123456789"))
        frac, zone = frac[:digits], frac[digits:]
    else:
        for i, ch in enumerate(head[19:], 19):
            if ch in "Z+-":
                head, zone = head[:i], head[i:]
                break
    zone = "+00:00" if zone in ("", "Z") else zone
    stamp = datetime.fromisoformat(f"{head}{zone}").timestamp()
    return stamp + (float(f"0.{frac}") if frac else 0.0)


def engine_time(stamp: str) -> float:
    """An engine time as unix seconds; 0.0 for the engine's "never" (year 1) or anything
    unreadable."""
    if not stamp or stamp.startswith("0001-"):
        return 0.0
    try:
        return parse_timestamp(stamp)
    except ValueError:
        return 0.0
    try:
        return datetime.fromisoformat(stamp).timestamp()
    except ValueError:
        return 0.0


def running_elsewhere(rows: Sequence[Mapping[str, Any]], install: str
                      ) -> tuple[ObservedContainer, ...]:
    """From a listing of ace's running containers: the services (version-labelled) of other
    installations than `install`, by name."""
    return tuple(sorted(
        (container_from_listing(r) for r in rows
         if (r.get("Labels") or {}).get(LABEL_INSTALL, install) != install
         and (r.get("Labels") or {}).get(LABEL_VERSION)),
        key=lambda c: c.name))
