"""Containers, the app network, volumes and images changed: what a pass does to start, replace,
restart and stop services and to collect old images, written once over a `Transport` (method,
path, query, JSON body -> an `Answer`): plain HTTP (`wire.Wire`) where it reaches the engine,
the docker SDK's session (`sdk.SdkWire`) where it cannot (TLS, ssh). The rules: nothing is
touched without ace's managed label, nothing is created without the installation's label, a
container or network already gone is not an error, and a network of another installation is
refused. Podman's answers are read as Docker's (`podman.py`).

Paths carry no API version: plain HTTP uses the engine's own, the SDK prefixes its own."""

from __future__ import annotations

import contextlib
import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Protocol
from urllib.parse import quote

from apps.errors import EngineError
from reconciler.core.types import LABEL_INSTALL, LABEL_PORT, ObservedContainer
from reconciler.driver.attrs import container_from_inspect
from reconciler.driver.hostnet import engine_networks, only_reachable
from reconciler.driver.podman import container_inspect_as_docker, ignored_limits
from reconciler.driver.policy import own_labels, require_install, require_managed
from reconciler.driver.ports import ImageInUse
from reconciler.driver.values import VolumeMount
from reconciler.driver.wire import Answer
from reconciler.logs import get_logger

__all__ = ["Lifecycle", "Transport", "create_body"]

log = get_logger("ace.driver")
_NO_POOL = ("the engine has no free address range left for another network: remove the"
            " networks nothing uses (`docker network ls`, `docker network prune`), or give the"
            " engine more ranges (default-address-pools in its daemon.json), then run ace again")


def _gone(answer: Answer) -> bool:
    """A 404, or Podman's 500 for a container removed while it was being read."""
    return answer.status == 404 or "no such container" in answer.message.lower()


def _mounts(mounts: Sequence[VolumeMount]) -> list[dict[str, Any]]:
    out = []
    for m in mounts:
        if m.kind not in ("volume", "bind"):
            raise EngineError(f"unknown mount kind {m.kind!r} for {m.target}")
        out.append({"Target": m.target, "Source": m.source, "Type": m.kind,
                    "ReadOnly": m.read_only})
    return out


def create_body(*, image: str, port: int, command: Sequence[str], env: Mapping[str, str],
                mounts: Sequence[VolumeMount], labels: Mapping[str, str], cpus: float | None,
                memory: int | None, entrypoint: Sequence[str], workdir: str, network: str,
                aliases: Sequence[str]) -> dict[str, Any]:
    """The create request of a service container: init as PID 1, `port` published on
    127.0.0.1 with an engine-chosen host port, never restarted by the engine."""
    exposed = f"{port}/tcp"
    host: dict[str, Any] = {
        "Init": True,
        "PortBindings": {exposed: [{"HostIp": "127.0.0.1", "HostPort": ""}]},
        "RestartPolicy": {"Name": "no"},
        "Mounts": _mounts(mounts),
    }
    if cpus:
        host["NanoCpus"] = int(cpus * 1e9)
    if memory:
        host["Memory"] = memory
    body: dict[str, Any] = {
        "Image": image,
        "Cmd": list(command) or None,
        "Entrypoint": list(entrypoint) or None,
        "WorkingDir": workdir or None,
        "Env": [f"{k}={v}" for k, v in env.items()],
        "Labels": dict(labels),
        "ExposedPorts": {exposed: {}},
        "HostConfig": host,
    }
    if network:
        host["NetworkMode"] = network
        endpoint = {"Aliases": list(aliases)} if aliases else {}
        body["NetworkingConfig"] = {"EndpointsConfig": {network: endpoint}}
    return body


def _name(raw: Mapping[str, Any]) -> str:
    return str(raw.get("Name", "")).lstrip("/")


def _labels(raw: Mapping[str, Any]) -> Mapping[str, str]:
    return (raw.get("Config") or {}).get("Labels") or {}


class Transport(Protocol):
    """How `Lifecycle` reaches the engine: one request, `body` sent as JSON, the answer whatever
    its status; an engine that does not answer raises EngineError (retryable). `timeout`:
    seconds the request may take when longer than the default (a stop waits)."""

    def call(self, method: str, path: str, what: str, *,
             query: Mapping[str, str | int] | None = None, body: Any = None,
             timeout: float | None = None) -> Answer: ...

    def close(self) -> None: ...


class Lifecycle:
    """The changing calls of the Engine protocol on a `Transport`. `podman()` says whether the
    engine is Podman's Docker-compatible service (known from its first answer)."""

    def __init__(self, wire: Transport, podman: Callable[[], bool], base_url: str | None) -> None:
        self._wire = wire
        self._podman = podman
        self._base_url = base_url

    def close(self) -> None:
        self._wire.close()

    # -- containers -------------------------------------------------------------------------

    def inspect_raw(self, container_id: str) -> dict[str, Any] | None:
        what = f"inspect container {container_id}"
        answer = self._wire.call("GET", f"/containers/{quote(container_id)}/json", what)
        if answer.ok:
            return dict(answer.json())
        if _gone(answer):
            return None
        raise answer.failure(what)

    def observed(self, raw: Mapping[str, Any]) -> ObservedContainer:
        seen = container_from_inspect(container_inspect_as_docker(raw) if self._podman()
                                      else raw)
        return only_reachable([seen], engine_networks(self._base_url))[0]

    def inspect(self, container_id: str) -> ObservedContainer | None:
        raw = self.inspect_raw(container_id)
        return None if raw is None else self.observed(raw)

    def _managed(self, container_id: str, verb: str) -> dict[str, Any]:
        raw = self.inspect_raw(container_id)
        if raw is None:
            raise EngineError(f"cannot {verb} container {container_id}: it does not exist")
        require_managed(_labels(raw), f"container {_name(raw)}", verb)
        return raw

    def _reinspect(self, container_id: str, *, cpus: float | None = None,
                   memory: int | None = None) -> ObservedContainer:
        raw = self.inspect_raw(container_id)
        if raw is None:
            raise EngineError(f"container {container_id} vanished right after it started")
        for limit in ignored_limits(raw, cpus, memory):
            log.warning("container_limit_ignored", container=_name(raw), limit=limit,
                        hint="the engine cannot limit resources here (rootless Podman on"
                             " cgroups v1): the container runs without this limit")
        return self.observed(raw)

    def run_container(self, *, name: str, image: str, port: int, command: Sequence[str],
                      env: Mapping[str, str], mounts: Sequence[VolumeMount],
                      labels: Mapping[str, str], cpus: float | None, memory: int | None,
                      entrypoint: Sequence[str], workdir: str, network: str,
                      aliases: Sequence[str]) -> ObservedContainer:
        labels = own_labels(labels, f"container {name}", {LABEL_PORT: str(port)})
        body = create_body(image=image, port=port, command=command, env=env, mounts=mounts,
                           labels=labels, cpus=cpus, memory=memory, entrypoint=entrypoint,
                           workdir=workdir, network=network, aliases=aliases)
        what = f"create container {name}"
        answer = self._wire.call("POST", "/containers/create", what, query={"name": name},
                                 body=body)
        if not answer.ok:
            raise answer.failure(what)
        container_id = str(answer.json()["Id"])
        what = f"start container {name}"
        answer = self._wire.call("POST", f"/containers/{container_id}/start", what)
        if not answer.ok:
            with contextlib.suppress(EngineError):  # the start's failure is the one to report
                self._wire.call("DELETE", f"/containers/{container_id}",
                                f"remove container {name}", query={"force": 1})
            raise answer.failure(what)
        return self._reinspect(container_id, cpus=cpus, memory=memory)

    def start(self, container_id: str) -> ObservedContainer:
        raw = self._managed(container_id, "start")
        what = f"start container {_name(raw)}"
        answer = self._wire.call("POST", f"/containers/{quote(container_id)}/start", what)
        if not answer.ok:
            raise answer.failure(what)
        return self._reinspect(container_id)

    def restart(self, container_id: str, *, timeout: float) -> ObservedContainer:
        raw = self._managed(container_id, "restart")
        what = f"restart container {_name(raw)}"
        answer = self._wire.call("POST", f"/containers/{quote(container_id)}/restart", what,
                                 query={"t": math.ceil(timeout)}, timeout=timeout + 30)
        if not answer.ok:
            raise answer.failure(what)
        return self._reinspect(container_id)

    def _stop(self, container_id: str, raw: Mapping[str, Any], timeout: float) -> Answer:
        """Ask the engine to stop a running container (it waits up to `timeout` seconds for
        the process to exit, then kills it); 304: it had stopped already."""
        return self._wire.call("POST", f"/containers/{quote(container_id)}/stop",
                               f"stop container {_name(raw)}",
                               query={"t": math.ceil(timeout)}, timeout=timeout + 30)

    def stop(self, container_id: str, *, timeout: float) -> None:
        raw = self._managed(container_id, "stop")
        if not (raw.get("State") or {}).get("Running"):
            return
        answer = self._stop(container_id, raw, timeout)
        if not answer.ok:
            raise answer.failure(f"stop container {_name(raw)}")

    def stop_and_remove(self, container_id: str, *, timeout: float) -> None:
        raw = self.inspect_raw(container_id)
        if raw is None:
            return
        require_managed(_labels(raw), f"container {_name(raw)}", "remove")
        what = f"stop container {_name(raw)}"
        if (raw.get("State") or {}).get("Running"):
            answer = self._stop(container_id, raw, timeout)
            if not answer.ok and not _gone(answer) and "already in progress" not in \
                    answer.message:
                raise answer.failure(what)
        answer = self._wire.call("DELETE", f"/containers/{quote(container_id)}", what,
                                 query={"force": 1})
        if not answer.ok and not _gone(answer) and "already in progress" not in answer.message:
            raise answer.failure(what)

    # -- the app network --------------------------------------------------------------------

    def _network(self, name: str, what: str) -> dict[str, Any] | None:
        answer = self._wire.call("GET", f"/networks/{quote(name)}", what)
        if answer.status == 404:
            return None
        if not answer.ok:
            raise answer.failure(what)
        raw = dict(answer.json())
        # inspect also answers for an id prefix: only the network of that very name counts
        return raw if raw.get("Name") == name else None

    def ensure_network(self, name: str, labels: Mapping[str, str]) -> str:
        wanted = own_labels(labels, f"network {name}", {})
        what = f"ensure network {name}"
        raw = self._network(name, what)
        if raw is None:
            answer = self._wire.call("POST", "/networks/create", what, body={
                "Name": name, "Driver": "bridge", "Labels": wanted, "CheckDuplicate": True})
            if answer.ok:
                return str(answer.json()["Id"])
            if "address pool" in answer.message:
                raise EngineError(f"{what}: {answer.message}: {_NO_POOL}")
            if answer.status != 409:  # 409: another ace made it meanwhile: use that one
                raise answer.failure(what)
            raw = self._network(name, what)
            if raw is None:
                raise EngineError(f"{what}: it was created and removed at once")
        require_install(raw.get("Labels") or {}, f"network {name}", wanted[LABEL_INSTALL])
        return str(raw["Id"])

    def remove_network(self, name: str) -> bool:
        what = f"remove network {name}"
        raw = self._network(name, what)
        if raw is None:
            return False
        require_managed(raw.get("Labels") or {}, f"network {name}", "remove")
        if raw.get("Containers"):
            return False
        answer = self._wire.call("DELETE", f"/networks/{raw['Id']}", what)
        if answer.status in (403, 404, 409) or "active endpoints" in answer.message:
            return False  # gone meanwhile, or a container joined it since
        if not answer.ok:
            raise answer.failure(what)
        return True

    def connect(self, container_id: str, network: str, aliases: Sequence[str]) -> None:
        what = f"connect container {container_id} to network {network}"
        raw = self.inspect_raw(container_id)
        if raw is None:
            raise EngineError(f"cannot connect container {container_id}: it does not exist")
        labels, name = _labels(raw), _name(raw)
        require_managed(labels, f"container {name}", "connect")
        net = self._network(network, what)
        if net is None:
            raise EngineError(f"cannot connect container {name}: network {network} does not "
                              "exist")
        require_install(net.get("Labels") or {}, f"network {network}",
                        labels.get(LABEL_INSTALL, ""))
        attached = ((raw.get("NetworkSettings") or {}).get("Networks") or {}).get(network)
        if attached is not None:
            have = set(attached.get("Aliases") or ())
            # Docker names the network an attachment is to by id; Podman by name
            if attached.get("NetworkID") in (net["Id"], network) and set(aliases) <= have:
                return
            # a network of that name removed since (the container cannot start with it), or
            # joined without the alias: join again
            answer = self._wire.call("POST", f"/networks/{quote(network)}/disconnect", what,
                                     body={"Container": container_id, "Force": True})
            if not answer.ok:
                raise answer.failure(what)
        endpoint = {"Aliases": list(aliases)} if aliases else {}
        answer = self._wire.call("POST", f"/networks/{net['Id']}/connect", what,
                                 body={"Container": container_id, "EndpointConfig": endpoint})
        if not answer.ok:
            raise answer.failure(what)

    def disconnect(self, container_id: str, network: str) -> None:
        what = f"disconnect container {container_id} from network {network}"
        raw = self.inspect_raw(container_id)
        if raw is None:
            return
        require_managed(_labels(raw), f"container {_name(raw)}", "disconnect")
        if network not in ((raw.get("NetworkSettings") or {}).get("Networks") or {}):
            return
        answer = self._wire.call("POST", f"/networks/{quote(network)}/disconnect", what,
                                 body={"Container": container_id, "Force": False})
        if not answer.ok and answer.status != 404 and "is not connected" not in answer.message:
            raise answer.failure(what)

    # -- volumes and images -----------------------------------------------------------------

    def ensure_volume(self, name: str, labels: Mapping[str, str]) -> None:
        what = f"ensure volume {name}"
        answer = self._wire.call("GET", f"/volumes/{quote(name)}", what)
        if answer.status == 404:
            created = self._wire.call("POST", "/volumes/create", what, body={
                "Name": name, "Labels": own_labels(labels, f"volume {name}", {})})
            if not created.ok:
                raise created.failure(what)
            return
        if not answer.ok:
            raise answer.failure(what)
        require_managed(answer.json().get("Labels") or {}, f"volume {name}", "use")

    def remove_image(self, ref: str) -> None:
        what = f"remove image {ref}"
        path = f"/images/{quote(ref, safe='/:@')}"
        answer = self._wire.call("GET", f"{path}/json", what)
        if answer.status == 404:
            return
        if not answer.ok:
            raise answer.failure(what)
        require_managed((answer.json().get("Config") or {}).get("Labels") or {},
                        f"image {ref}", "remove")
        answer = self._wire.call("DELETE", path, what)
        if answer.status == 409:  # a container uses it (the engine's own check)
            raise ImageInUse(f"{what}: {answer.message}")
        if not answer.ok:
            raise answer.failure(what)
