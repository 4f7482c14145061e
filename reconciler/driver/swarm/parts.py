"""What the swarm engine's helper modules (images, jobs, mounts, rollout, servicelogs) use of it,
as a protocol: they take the engine as an argument without importing the module that defines
it."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol

from reconciler.core.types import ObservedContainer
from reconciler.driver.engine import DockerEngine
from reconciler.driver.swarm.registry import Registry

__all__ = ["SwarmParts"]


class SwarmParts(Protocol):
    """The members of SwarmEngine its helpers call."""

    local: DockerEngine  # the manager's own engine
    registry: Registry | None

    @property
    def api(self) -> Any: ...

    def _read(self, path: str, what: str, query: Mapping[str, str] | None = None) -> Any: ...

    def _pinned(self, image: str, what: str) -> str: ...

    def _multi_node(self) -> bool: ...

    def _managed(self, service_id: str, verb: str) -> dict[str, Any]: ...

    def inspect(self, container_id: str) -> ObservedContainer | None: ...
