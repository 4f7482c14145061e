"""The driver package is the one place that talks to Docker (the `ports.Engine` protocol).

`DockerEngine` answers the read-only calls of every reconcile pass — ping, the container listing
and the image listing — with plain HTTP on the engine's socket (`plainhttp`: stdlib sockets). The
calls that change something — creating, starting, stopping and removing containers, joining and
leaving the app network, volumes, removing old images — are `lifecycle`'s, loaded on the first
change, over plain HTTP too (`wire`: a keep-alive pool the executor's threads share). Builds,
pulls, `container.run` commands and the rest go to `SdkEngine` (docker SDK), imported on first
use; where plain HTTP cannot reach the engine (TLS, ssh) the reads go there too, and
`lifecycle`'s calls go over the SDK's session (`sdk.SdkWire`).
A no-op pass therefore loads neither the SDK nor http.client: one request on a keep-alive
connection and nothing else; a pass that starts or replaces containers never loads the SDK.

The engine may be Podman's Docker-compatible service: its first answer says so (a header), and
`podman.py` makes its listings read like Docker's (see there).
"""

from __future__ import annotations

import contextlib
import json
import os
import threading
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode, urlsplit

from apps.errors import EngineError
from reconciler.core.types import (
    LABEL_APPS_FILE,
    LABEL_INSTALL,
    LABEL_MANAGED,
    ObservedContainer,
    ObservedImage,
)
from reconciler.driver.attrs import container_from_listing, image_from_listing, running_elsewhere
from reconciler.driver.hostnet import engine_networks, only_reachable
from reconciler.driver.plainhttp import Connection
from reconciler.driver.podman import PODMAN_HEADER, containers_as_docker, images_as_docker

if TYPE_CHECKING:
    from reconciler.driver.lifecycle import Lifecycle
    from reconciler.driver.ports import CommandResult, LogLine, VolumeMount
    from reconciler.driver.sdk import SdkEngine

__all__ = ["DockerEngine"]

DEFAULT_SOCKET = "/var/run/docker.sock"


def _raw_target(base_url: str | None) -> tuple[str, str] | None:
    """("unix", path) or ("tcp", host:port) when plain HTTP reaches the engine, else None (TLS,
    ssh, ...: the SDK handles those)."""
    url = base_url or os.environ.get("DOCKER_HOST", "") or f"unix://{DEFAULT_SOCKET}"
    parts = urlsplit(url)
    if parts.scheme in ("unix", "http+unix"):
        return ("unix", parts.path or DEFAULT_SOCKET)
    if parts.scheme in ("tcp", "http") and not os.environ.get("DOCKER_TLS_VERIFY"):
        return ("tcp", parts.netloc)
    return None


# what a request on a keep-alive connection the engine already closed fails with: one retry on a
# fresh connection (an engine that is down fails that one too, with a refusal)
_STALE = (BrokenPipeError, ConnectionResetError)


class DockerEngine:
    """The Engine protocol on a real Docker engine. Connects lazily, on the first call."""

    def __init__(self, base_url: str | None = None, timeout: float = 30.0) -> None:
        self._base_url = base_url
        self._timeout = timeout
        self._raw = _raw_target(base_url)
        self._conn: Connection | None = None
        self._sdk: SdkEngine | None = None
        self._podman: bool | None = None  # known from the engine's first answer
        self._lifecycle: Lifecycle | None = None

    @property
    def _changes(self) -> Lifecycle:
        """The changing calls, loaded on first use (a no-op pass never changes anything): over
        plain HTTP, or over the SDK's session where plain HTTP cannot reach the engine."""
        if self._lifecycle is None:
            from reconciler.driver.lifecycle import Lifecycle, Transport

            wire: Transport
            if self._raw is None:
                wire = self.sdk.wire(self._learn_flavor)
            else:
                from reconciler.driver.wire import Wire

                wire = Wire(self._raw, self._timeout, self._learn_flavor)
            self._lifecycle = Lifecycle(wire, lambda: bool(self._podman), self._base_url)
        return self._lifecycle

    @property
    def sdk(self) -> SdkEngine:
        if self._sdk is None:
            from reconciler.driver.sdk import SdkEngine

            self._sdk = SdkEngine(self._base_url, self._timeout, podman=self._podman)
        return self._sdk

    def close(self) -> None:
        self.close_connection()
        if self._sdk is not None:
            self._sdk.close()

    # -- reads over plain HTTP ---------------------------------------------------------------

    def _connection(self) -> Connection:
        assert self._raw is not None
        if self._conn is None:
            self._conn = Connection(self._raw, self._timeout)
        return self._conn

    def _get(self, path: str, what: str) -> bytes:
        for attempt in (0, 1):  # a keep-alive connection the engine closed: reconnect once
            conn = self._connection()
            try:
                resp = conn.get(path, {"Host": "docker"})
                body = resp.body
                if self._podman is None:
                    self._learn_flavor(resp.header(PODMAN_HEADER) is not None)
            except OSError as exc:
                self.close_connection()
                if attempt == 0 and isinstance(exc, _STALE):
                    continue
                raise EngineError(f"{what}: the Docker engine is not answering ({exc}); is it "
                                  "running? (DOCKER_HOST selects another)", retryable=True) from exc
            if resp.status >= 400:
                detail = body.decode("utf-8", "replace").strip()
                with contextlib.suppress(ValueError, AttributeError):
                    detail = json.loads(detail).get("message", detail)
                raise EngineError(f"{what}: {detail}", retryable=resp.status >= 500)
            return body
        raise AssertionError("unreachable")

    def _learn_flavor(self, podman: bool) -> None:
        self._podman = podman
        if self._sdk is not None:
            self._sdk.podman = podman

    def close_connection(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None
        if self._lifecycle is not None:
            self._lifecycle.close()

    def _get_json(self, path: str, what: str, query: Mapping[str, str] | None = None) -> Any:
        url = path + ("?" + urlencode(query) if query else "")
        return json.loads(self._get(url, what))

    def ping(self) -> None:
        if self._raw is None:
            self.sdk.ping()
            return
        self._get("/_ping", "ping the Docker engine")

    def list_containers(self, install: str) -> tuple[ObservedContainer, ...]:
        if self._raw is None:
            return self.sdk.list_containers(install)
        filters = json.dumps({"label": [f"{LABEL_INSTALL}={install}"]})
        rows = self._get_json("/containers/json", "list containers",
                              {"all": "1", "filters": filters})
        if self._podman:
            rows = containers_as_docker(rows, lambda: self._get_json("/images/json",
                                                                     "list images"))
        listed = only_reachable((container_from_listing(r) for r in rows),
                                engine_networks(self._base_url))
        return tuple(sorted(listed, key=lambda c: c.name))

    def running_elsewhere(self, install: str, apps_file: str) -> tuple[ObservedContainer, ...]:
        if self._raw is None:
            return self.sdk.running_elsewhere(install, apps_file)
        filters = json.dumps({"label": [f"{LABEL_MANAGED}=1", f"{LABEL_APPS_FILE}={apps_file}"],
                              "status": ["running"]})
        rows = self._get_json("/containers/json", "list ace's containers", {"filters": filters})
        return running_elsewhere(rows, install)

    def list_images(self, references: Sequence[str] | None = None) -> tuple[ObservedImage, ...]:
        if self._raw is None:
            return self.sdk.list_images(references)
        if references and len(references) > 1 and self._podman is None:
            self.ping()  # several references are filtered differently by Podman
        if self._podman:
            rows = images_as_docker(self._get_json("/images/json", "list images"),
                                    references or ())
            return tuple(image_from_listing(r) for r in rows)
        query = {"filters": json.dumps({"reference": list(references)})} if references else None
        rows = self._get_json("/images/json", "list images", query)
        return tuple(image_from_listing(r) for r in rows)

    def list_networks(self, install: str) -> tuple[tuple[str, str], ...]:
        if self._raw is None:
            return self.sdk.list_networks(install)
        filters = json.dumps({"label": [f"{LABEL_INSTALL}={install}"]})
        rows = self._get_json("/networks", "list networks", {"filters": filters})
        return tuple(sorted((str(r["Name"]), str(r["Id"])) for r in rows))

    # -- containers, the app network, volumes and images: plain HTTP (`lifecycle`) -----------

    def inspect(self, container_id: str) -> ObservedContainer | None:
        return self._changes.inspect(container_id)

    def logs(self, container_id: str, *, tail: int = 50) -> str:
        if self._raw is None:
            return self.sdk.logs(container_id, tail=tail)
        lines: list[str] = []
        self.log_lines(container_id, tail=tail, on_line=lambda line: lines.append(line.text))
        return "".join(f"{text}\n" for text in lines)

    def log_lines(self, container_id: str, *, tail: int = -1, since: float = 0.0,
                  follow: bool = False, on_line: Callable[[LogLine], None],
                  stop: threading.Event | None = None) -> None:
        """Over plain HTTP on a connection of its own (stdout and stderr told apart, a follow
        stoppable); through the SDK where plain HTTP cannot reach the engine. Lines before
        `since` are dropped here too: Podman's `since` counts whole seconds."""
        if since > 0:
            wanted = on_line

            def on_line(line: LogLine) -> None:
                if line.time >= since - 1e-6:
                    wanted(line)

        if self._raw is None:
            self.sdk.log_lines(container_id, tail=tail, since=since, follow=follow,
                               on_line=on_line, stop=stop)
            return
        from reconciler.driver.logstream import connection, read_log_lines

        conn = connection(self._raw, None if follow else self._timeout)
        read_log_lines(conn, container_id, tail=tail, since=since, follow=follow,
                       on_line=on_line, stop=stop)

    def run_container(self, *, name: str, image: str, port: int, command: Sequence[str],
                      env: Mapping[str, str], mounts: Sequence[VolumeMount],
                      labels: Mapping[str, str], cpus: float | None = None,
                      memory: int | None = None, entrypoint: Sequence[str] = (),
                      workdir: str = "", replicas: int = 1, network: str = "",
                      aliases: Sequence[str] = ()) -> ObservedContainer:
        return self._changes.run_container(
            name=name, image=image, port=port, command=command, env=env, mounts=mounts,
            labels=labels, cpus=cpus, memory=memory, entrypoint=entrypoint, workdir=workdir,
            network=network, aliases=aliases)

    def scale(self, container_id: str, replicas: int) -> ObservedContainer:
        raise EngineError(f"cannot scale container {container_id[:12]} to {replicas}: one "
                          "Docker engine runs one container per app (--backend swarm runs "
                          "replicas)")

    def start(self, container_id: str) -> ObservedContainer:
        return self._changes.start(container_id)

    def restart(self, container_id: str, *, timeout: float = 5.0) -> ObservedContainer:
        return self._changes.restart(container_id, timeout=timeout)

    def stop(self, container_id: str, *, timeout: float = 5.0) -> None:
        self._changes.stop(container_id, timeout=timeout)

    def stop_and_remove(self, container_id: str, *, timeout: float = 5.0) -> None:
        self._changes.stop_and_remove(container_id, timeout=timeout)

    def ensure_volume(self, name: str, labels: Mapping[str, str]) -> None:
        self._changes.ensure_volume(name, labels)

    def ensure_network(self, name: str, labels: Mapping[str, str]) -> str:
        return self._changes.ensure_network(name, labels)

    def connect(self, container_id: str, network: str, aliases: Sequence[str]) -> None:
        self._changes.connect(container_id, network, aliases)

    def disconnect(self, container_id: str, network: str) -> None:
        self._changes.disconnect(container_id, network)

    def remove_image(self, ref: str) -> None:
        self._changes.remove_image(ref)

    def remove_network(self, name: str) -> bool:
        return self._changes.remove_network(name)

    # -- builds, pulls, commands and the rest through the SDK -------------------------------

    def image_exposed_ports(self, ref: str) -> tuple[int, ...]:
        return self.sdk.image_exposed_ports(ref)

    def list_volumes(self, install: str) -> tuple[str, ...]:
        return self.sdk.list_volumes(install)

    def build(self, *, context_dir: str, containerfile: str, tag: str,
              build_args: Mapping[str, str], labels: Mapping[str, str],
              on_log: Callable[[str], None] | None = None, target: str = "") -> str:
        return self.sdk.build(context_dir=context_dir, containerfile=containerfile, tag=tag,
                              build_args=build_args, labels=labels, on_log=on_log,
                              target=target)

    def pull(self, ref: str) -> str:
        return self.sdk.pull(ref)

    def remove_volume(self, name: str) -> None:
        self.sdk.remove_volume(name)


    def run_command(self, *, image: str, command: Sequence[str], env: Mapping[str, str],
                    cwd: str, labels: Mapping[str, str], mounts: Sequence[VolumeMount] = (),
                    timeout: float = 300.0, on_output: Callable[[str], None] | None = None,
                    network: str = "") -> CommandResult:
        return self.sdk.run_command(image=image, command=command, env=env, cwd=cwd,
                                    labels=labels, mounts=mounts, timeout=timeout,
                                    on_output=on_output, network=network)
