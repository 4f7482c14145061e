"""Which engine a backend name selects (`docker`, `swarm`), made without contacting it."""

from __future__ import annotations

from apps.errors import AceError
from reconciler.driver.ports import Engine

__all__ = ["engine_for"]


def engine_for(backend: str = "docker", registry: str = "", timeout: float = 30.0) -> Engine:
    """The engine, not yet contacted: the first call (usually the container listing) fails
    with the same "not answering" message a ping would give, one round trip cheaper."""
    if backend == "swarm":
        from reconciler.driver.swarm import SwarmEngine

        return SwarmEngine(timeout=timeout, registry=registry)
    if backend != "docker":
        raise AceError(f"unknown backend {backend!r}: use docker or swarm")
    from reconciler.driver.engine import DockerEngine

    return DockerEngine(timeout=timeout)
