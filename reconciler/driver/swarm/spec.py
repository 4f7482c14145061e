"""Pure: what ace asks of a Swarm cluster, as Engine API JSON — a service per app version, its
labels, and the fingerprint that tells a service changed by hand from one ace left alone.

A service runs `replicas` tasks of the app's image with an init process, a short stop grace, a
restart policy that brings crashed tasks back within a second, and the app's port published in
host mode on an engine-chosen port of each task's node (no routing mesh: it needs IPVS, and
ace's proxy spreads requests over the tasks itself)."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from typing import Any

from reconciler.core.types import LABEL_APP, LABEL_INSTALL, LABEL_MANAGED, LABEL_VERSION

__all__ = [
    "LABEL_IMAGE",
    "LABEL_REPLICAS",
    "LABEL_TEMPLATE",
    "STOP_GRACE_NS",
    "fingerprint",
    "job_spec",
    "secret_name",
    "service_name",
    "service_spec",
]

LABEL_IMAGE = "dev.ace.image"  # the image reference ace knows the app by (before pinning)
LABEL_REPLICAS = "dev.ace.replicas"  # the replicas ace last set
LABEL_TEMPLATE = "dev.ace.template"  # fingerprint of the spec ace created (see `fingerprint`)
STOP_GRACE_NS = 2_000_000_000  # 2 s: a replaced version is gone in seconds, not 10
RESTART_DELAY_NS = 1_000_000_000
_NAME_MAX = 63  # a service name is a DNS label


def _short(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[:limit].rstrip("-")


def service_name(container_name: str, nonce: str) -> str:
    """`<ace's container name>-<nonce>`, shortened to a DNS label: a service changed by hand is
    replaced by one of the same version, so two must be able to exist at once."""
    return _short(container_name, _NAME_MAX - len(nonce) - 1) + "-" + nonce


def secret_name(install: str, app_slug: str, content: bytes) -> str:
    """A secret per content: secrets are immutable, a changed file is a new secret."""
    digest = hashlib.sha256(content).hexdigest()[:16]
    return _short(f"ace-{install}-{app_slug}", 64 - 17) + "-" + digest


def fingerprint(spec: Mapping[str, Any]) -> str:
    """A hash of what ace sets in a service spec (image, command, env, mounts, secrets, limits,
    published ports), read the same way from the spec ace sends and the one the cluster
    returns, so `docker service update --env-add ...` by hand shows as a change."""
    tt = spec.get("TaskTemplate") or {}
    cs = tt.get("ContainerSpec") or {}
    limits = ((tt.get("Resources") or {}).get("Limits")) or {}
    ports = ((spec.get("EndpointSpec") or {}).get("Ports")) or []
    projection = {
        "image": cs.get("Image", ""),
        "args": list(cs.get("Args") or []),
        "command": list(cs.get("Command") or []),
        "env": sorted(cs.get("Env") or []),
        "mounts": sorted([str(m.get("Type", "")), str(m.get("Source", "")),
                          str(m.get("Target", "")), bool(m.get("ReadOnly"))]
                         for m in cs.get("Mounts") or []),
        "secrets": sorted([str(s.get("SecretName", "")), str((s.get("File") or {}).get("Name"))]
                          for s in cs.get("Secrets") or []),
        "limits": {k: v for k, v in sorted(limits.items()) if v},
        "user": cs.get("User", ""),
        "dir": cs.get("Dir", ""),
        "ports": sorted([int(p.get("TargetPort", 0)), int(p.get("PublishedPort", 0)),
                         str(p.get("PublishMode", ""))] for p in ports),
    }
    text = json.dumps(projection, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _container_spec(*, image: str, command: Sequence[str], env: Mapping[str, str],
                    labels: Mapping[str, str], mounts: Sequence[Mapping[str, Any]],
                    secrets: Sequence[Mapping[str, Any]], cwd: str = "",
                    entrypoint: Sequence[str] = ()) -> dict[str, Any]:
    cs: dict[str, Any] = {
        "Image": image,
        "Env": [f"{k}={v}" for k, v in sorted(env.items())],
        "Labels": {k: labels[k] for k in (LABEL_MANAGED, LABEL_INSTALL, LABEL_APP,
                                           LABEL_VERSION) if k in labels},
        "Init": True,
        "StopGracePeriod": STOP_GRACE_NS,
    }
    if entrypoint:  # replaces the image's entrypoint (and, as on one engine, its CMD)
        cs["Command"] = list(entrypoint)
    if command:
        cs["Args"] = list(command)
    if mounts:
        cs["Mounts"] = [dict(m) for m in mounts]
    if secrets:
        cs["Secrets"] = [dict(s) for s in secrets]
    if cwd:
        cs["Dir"] = cwd
    return cs


def _limits(cpus: float | None, memory: int | None) -> dict[str, Any]:
    limits: dict[str, int] = {}
    if cpus:
        limits["NanoCPUs"] = int(cpus * 1e9)
    if memory:
        limits["MemoryBytes"] = int(memory)
    return {"Limits": limits} if limits else {}


def service_spec(*, name: str, image: str, port: int, replicas: int, command: Sequence[str],
                 env: Mapping[str, str], labels: Mapping[str, str],
                 mounts: Sequence[Mapping[str, Any]] = (),
                 secrets: Sequence[Mapping[str, Any]] = (), cpus: float | None = None,
                 memory: int | None = None, entrypoint: Sequence[str] = (),
                 workdir: str = "") -> dict[str, Any]:
    """The ServiceSpec of one app version; `labels` must hold ace's (the fingerprint and the
    replicas label are added here). `entrypoint` and `workdir` (dev mode's `sh -c` in the
    source directory) are the ContainerSpec's Command and Dir."""
    spec: dict[str, Any] = {
        "Name": name,
        "TaskTemplate": {
            "ContainerSpec": _container_spec(image=image, command=command, env=env,
                                             labels=labels, mounts=mounts, secrets=secrets,
                                             cwd=workdir, entrypoint=entrypoint),
            "Resources": _limits(cpus, memory),
            "RestartPolicy": {"Condition": "any", "Delay": RESTART_DELAY_NS, "MaxAttempts": 0},
        },
        "Mode": {"Replicated": {"Replicas": replicas}},
        "EndpointSpec": {"Mode": "dnsrr", "Ports": [
            {"Protocol": "tcp", "TargetPort": port, "PublishMode": "host"}]},
    }
    spec["Labels"] = {**labels, LABEL_REPLICAS: str(replicas),
                      LABEL_TEMPLATE: fingerprint(spec)}
    return spec


def job_spec(*, name: str, image: str, command: Sequence[str], env: Mapping[str, str],
             labels: Mapping[str, str], cwd: str = "",
             mounts: Sequence[Mapping[str, Any]] = (),
             secrets: Sequence[Mapping[str, Any]] = ()) -> dict[str, Any]:
    """A one-off `replicated-job` running `command` once, never restarted."""
    return {
        "Name": name,
        "Labels": dict(labels),
        "TaskTemplate": {
            "ContainerSpec": _container_spec(image=image, command=command, env=env,
                                             labels=labels, mounts=mounts, secrets=secrets,
                                             cwd=cwd),
            "RestartPolicy": {"Condition": "none", "MaxAttempts": 0},
        },
        "Mode": {"ReplicatedJob": {"MaxConcurrent": 1, "TotalCompletions": 1}},
    }
