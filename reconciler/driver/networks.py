"""The app network on the Docker SDK: one user-defined bridge network per installation, which
every service container joins with its app's alias (so apps reach each other by name).

Functions over the SDK's low-level client, used by `SdkEngine`. Like the rest of the driver they
touch only what carries ace's labels, and never a container of another installation."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import docker
import docker.errors

from apps.errors import EngineError
from reconciler.core.types import LABEL_INSTALL
from reconciler.driver.policy import own_labels, require_install, require_managed
from reconciler.driver.sdkerrors import translated

__all__ = ["connect", "disconnect", "endpoint_config", "ensure_network", "remove_network"]


def _inspect(api: docker.APIClient, name: str) -> dict[str, Any] | None:
    try:
        raw = dict(api.inspect_network(name))
    except docker.errors.NotFound:
        return None
    # inspect also answers for an id prefix: only the network of that very name counts
    return raw if raw.get("Name") == name else None


def _check_ours(raw: Mapping[str, Any], name: str, install: str) -> None:
    require_install(raw.get("Labels") or {}, f"network {name}", install)


def ensure_network(api: docker.APIClient, name: str, labels: Mapping[str, str]) -> str:
    """The id of the bridge network `name`, created when missing (see ports.Engine)."""
    wanted = own_labels(labels, f"network {name}", {})
    with translated(f"ensure network {name}"):
        raw = _inspect(api, name)
        if raw is None:
            try:
                created = api.create_network(name, driver="bridge", labels=wanted,
                                             check_duplicate=True)
                return str(created["Id"])
            except docker.errors.APIError as e:
                if e.status_code != 409:  # another ace made it meanwhile: use that one
                    raise
            raw = _inspect(api, name)
            if raw is None:
                raise EngineError(f"ensure network {name}: it was created and removed at once")
        _check_ours(raw, name, wanted[LABEL_INSTALL])
        return str(raw["Id"])


def connect(api: docker.APIClient, container_id: str, network: str,
            aliases: Sequence[str]) -> None:
    """Attach a container to `network` in place (see ports.Engine)."""
    with translated(f"connect container {container_id} to network {network}"):
        try:
            raw = api.inspect_container(container_id)
        except docker.errors.NotFound:
            raise EngineError(f"cannot connect container {container_id}: it does not "
                              "exist") from None
        labels = raw["Config"].get("Labels") or {}
        name = str(raw.get("Name", "")).lstrip("/")
        require_managed(labels, f"container {name}", "connect")
        net = _inspect(api, network)
        if net is None:
            raise EngineError(f"cannot connect container {name}: network {network} does not "
                              "exist")
        _check_ours(net, network, labels.get(LABEL_INSTALL, ""))
        attached = ((raw.get("NetworkSettings") or {}).get("Networks") or {}).get(network)
        if attached is not None:
            have = set(attached.get("Aliases") or ())
            # Docker names the network an attachment is to by id; Podman by name
            if attached.get("NetworkID") in (net["Id"], network) and set(aliases) <= have:
                return
            # a network of that name removed since (the container cannot start with it), or
            # joined without the alias: join again
            api.disconnect_container_from_network(container_id, network, force=True)
        api.connect_container_to_network(container_id, net["Id"], aliases=list(aliases))


def disconnect(api: docker.APIClient, container_id: str, network: str) -> None:
    """Detach a container from `network`; nothing when it is not attached or gone."""
    with translated(f"disconnect container {container_id} from network {network}"):
        try:
            raw = api.inspect_container(container_id)
        except docker.errors.NotFound:
            return
        name = str(raw.get("Name", "")).lstrip("/")
        require_managed(raw["Config"].get("Labels") or {}, f"container {name}", "disconnect")
        if network not in ((raw.get("NetworkSettings") or {}).get("Networks") or {}):
            return
        try:
            api.disconnect_container_from_network(container_id, network)
        except docker.errors.NotFound:
            return
        except docker.errors.APIError as e:
            if "is not connected" not in str(e):
                raise


def remove_network(api: docker.APIClient, name: str) -> bool:
    """Remove ace's network `name` unless a running container is attached (see ports.Engine)."""
    with translated(f"remove network {name}"):
        raw = _inspect(api, name)
        if raw is None:
            return False
        require_managed(raw.get("Labels") or {}, f"network {name}", "remove")
        if raw.get("Containers"):
            return False
        try:
            api.remove_network(raw["Id"])
        except docker.errors.NotFound:
            return False
        except docker.errors.APIError as e:
            if e.status_code in (403, 409) or "active endpoints" in str(e):
                return False
            raise
        return True


def endpoint_config(api: docker.APIClient, network: str, aliases: Sequence[str]
                    ) -> dict[str, Any]:
    """The `networking_config` of a container created on `network` with `aliases`."""
    return {network: api.create_endpoint_config(aliases=list(aliases) or None)}
