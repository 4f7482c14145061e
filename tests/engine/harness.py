"""Harnesses for the engine contract suite: an engine under test plus what only a test may do
outside the Engine protocol (make unlabelled objects, kill a container, count API calls)."""

from __future__ import annotations

import http.client
import time
import uuid
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from typing import Any
from unittest import mock
from urllib.parse import quote

from reconciler.core.types import LABEL_APP, LABEL_INSTALL, LABEL_VERSION
from reconciler.driver import plainhttp
from reconciler.driver.engine import DockerEngine
from reconciler.driver.ports import Engine
from tests.fakes import FakeEngine

__all__ = ["BUSYBOX", "DockerHarness", "FakeHarness", "Harness", "PodmanHarness", "SdkHarness",
           "sdk_only"]

BUSYBOX = "busybox:latest"


class Harness(ABC):
    """An engine under test plus the things only a test may do (outside the protocol)."""

    # engine calls of one list_containers of a non-empty installation
    container_listing_calls = 1

    network_ids_listed = True  # a listed container's network carries the network's id


    def __init__(self, engine: Engine, install: str) -> None:
        self.engine = engine
        self.install = install

    def labels(self, app: str = "/web", version: str = "v1", **extra: str) -> dict[str, str]:
        return {LABEL_INSTALL: self.install, LABEL_APP: app, LABEL_VERSION: version, **extra}

    def name(self, suffix: str) -> str:
        return f"{self.install}-{suffix}"

    def serve(self, suffix: str = "web", **kw: Any) -> Any:
        """A running busybox httpd on container port 8080."""
        args: dict[str, Any] = dict(
            name=self.name(suffix), image=BUSYBOX, port=8080,
            command=["httpd", "-f", "-p", "8080", "-h", "/"], env={}, mounts=[],
            labels=self.labels(),
        )
        return self.engine.run_container(**{**args, **kw})

    def wait_for(self, check: Callable[[], bool], what: str) -> None:
        deadline = time.monotonic() + 15
        while not check():
            assert time.monotonic() < deadline, f"timed out waiting for {what}"
            time.sleep(0.05)

    def state(self, container_id: str) -> str:
        seen = self.engine.inspect(container_id)
        return "gone" if seen is None else seen.state

    # What each backend does outside the protocol:

    @abstractmethod
    def foreign_container(self, name: str) -> str: ...

    @abstractmethod
    def foreign_volume(self, name: str) -> None: ...

    @abstractmethod
    def exists(self, container_id: str) -> bool: ...

    @abstractmethod
    def kill_outside(self, container_id: str) -> None: ...

    @abstractmethod
    def host_ips(self, container_id: str) -> set[str]: ...

    @abstractmethod
    def rmi_outside(self, ref: str) -> None:
        """`docker rmi -f REF` by someone else: only the name goes while a container uses it."""

    @abstractmethod
    def api_calls(self) -> AbstractContextManager[list[str]]: ...

    # the app network, outside the protocol

    @abstractmethod
    def foreign_network(self, name: str) -> None: ...

    @abstractmethod
    def network_labels(self, name: str) -> dict[str, str] | None:
        """The network's labels; None when there is none of that name."""

    @abstractmethod
    def aliases(self, container_id: str, network: str) -> set[str]: ...

    @abstractmethod
    def disconnect_outside(self, container_id: str, network: str) -> None: ...

    @abstractmethod
    def remove_network_outside(self, name: str) -> None: ...

    @abstractmethod
    def down_engine(self) -> Engine: ...


class FakeHarness(Harness):
    engine: FakeEngine

    def foreign_container(self, name: str) -> str:
        return self.engine.add_foreign_container(name)

    def foreign_volume(self, name: str) -> None:
        self.engine.add_foreign_volume(name)

    def exists(self, container_id: str) -> bool:
        return self.engine.inspect(container_id) is not None

    def kill_outside(self, container_id: str) -> None:
        self.engine.kill(container_id)

    def host_ips(self, container_id: str) -> set[str]:
        return {self.engine.published(container_id)[0]}

    def rmi_outside(self, ref: str) -> None:
        for img in list(self.engine.images.values()):
            img.tags.discard(ref)
            if ref == img.id:  # an untagged image stays while a container uses it
                del self.engine.images[img.id]

    @contextmanager
    def api_calls(self) -> Iterator[list[str]]:
        before = sum(self.engine.calls.values())
        seen: list[str] = []
        yield seen
        seen += ["call"] * (sum(self.engine.calls.values()) - before)

    def foreign_network(self, name: str) -> None:
        self.engine.add_foreign_network(name)

    def network_labels(self, name: str) -> dict[str, str] | None:
        net = self.engine.networks.get(name)
        return None if net is None else dict(net.labels)

    def aliases(self, container_id: str, network: str) -> set[str]:
        c = self.engine.containers[container_id]
        return set(c.networks[network][1]) if network in c.networks else set()

    def disconnect_outside(self, container_id: str, network: str) -> None:
        self.engine.disconnect_outside(container_id, network)

    def remove_network_outside(self, name: str) -> None:
        self.engine.remove_network_outside(name)

    def down_engine(self) -> Engine:
        down = FakeEngine()
        down.down = True
        return down


class DockerHarness(Harness):
    engine: DockerEngine

    def __init__(self, engine: DockerEngine, install: str, client: Any) -> None:
        super().__init__(engine, install)
        self.client = client
        self.foreign: list[str] = []

    def foreign_container(self, name: str) -> str:
        c = self.client.containers.create(BUSYBOX, ["sleep", "60"], name=name, init=True)
        self.foreign.append(c.id)
        c.start()
        return str(c.id)

    def foreign_volume(self, name: str) -> None:
        self.client.volumes.create(name)
        self.foreign.append(f"volume:{name}")

    def exists(self, container_id: str) -> bool:
        return bool(self.client.api.containers(all=True, filters={"id": container_id}))

    def kill_outside(self, container_id: str) -> None:
        self.client.api.kill(container_id)

    def host_ips(self, container_id: str) -> set[str]:
        ports = self.client.api.inspect_container(container_id)["NetworkSettings"]["Ports"]
        return {b["HostIp"] for binds in ports.values() for b in binds or []}

    def rmi_outside(self, ref: str) -> None:
        self.client.api.remove_image(ref, force=True)

    @contextmanager
    def api_calls(self) -> Iterator[list[str]]:
        """Every request the driver makes: plain HTTP reads and SDK calls alike."""
        api = self.engine.sdk._api  # connected before counting
        seen: list[str] = []
        send = api.send
        raw_request = http.client.HTTPConnection.request
        plain_get = plainhttp.Connection.get

        def counting(request: Any, **kw: Any) -> Any:
            seen.append(f"{request.method} {request.path_url}")
            return send(request, **kw)

        def counting_raw(conn: http.client.HTTPConnection, method: str, url: str,
                         *a: Any, **kw: Any) -> Any:
            seen.append(f"{method} {url}")
            return raw_request(conn, method, url, *a, **kw)

        def counting_plain(conn: plainhttp.Connection, target: str, *a: Any) -> Any:
            seen.append(f"GET {target}")
            return plain_get(conn, target, *a)

        with mock.patch.object(api, "send", counting), mock.patch.object(
            http.client.HTTPConnection, "request", counting_raw
        ), mock.patch.object(plainhttp.Connection, "get", counting_plain):
            yield seen

    def foreign_network(self, name: str) -> None:
        self.client.api.create_network(name, driver="bridge")
        self.foreign.append(f"network:{name}")

    def network_labels(self, name: str) -> dict[str, str] | None:
        found = [n for n in self.client.api.networks(names=[name]) if n["Name"] == name]
        return dict(found[0].get("Labels") or {}) if found else None

    def aliases(self, container_id: str, network: str) -> set[str]:
        nets = self.client.api.inspect_container(container_id)["NetworkSettings"]["Networks"]
        return set((nets.get(network) or {}).get("Aliases") or ())

    def disconnect_outside(self, container_id: str, network: str) -> None:
        self.client.api.disconnect_container_from_network(container_id, network)

    def remove_network_outside(self, name: str) -> None:
        self.client.api.remove_network(name)

    def down_engine(self) -> Engine:
        return DockerEngine(base_url=f"unix:///tmp/ace-no-engine-{uuid.uuid4().hex}.sock")

    def cleanup(self) -> None:
        for ref in self.foreign:
            if ref.startswith("volume:"):
                self.client.api.remove_volume(ref.removeprefix("volume:"), force=True)
            elif ref.startswith("network:"):
                self.client.api.remove_network(ref.removeprefix("network:"))
            else:
                self.client.api.remove_container(ref, force=True)


def sdk_only(base_url: str | None = None) -> DockerEngine:
    """A DockerEngine that reaches the engine as it does through TLS or ssh: its reads on the
    SDK, lifecycle's calls over the SDK's session (SdkWire), never plain HTTP."""
    engine = DockerEngine(base_url, timeout=60.0)
    engine._raw = None
    return engine


class SdkHarness(DockerHarness):
    """The real engine reached only through the docker SDK (`sdk_only`)."""

    def down_engine(self) -> Engine:
        return sdk_only(f"unix:///tmp/ace-no-engine-{uuid.uuid4().hex}.sock")


class PodmanHarness(DockerHarness):
    """Podman's Docker-compatible service. There `rmi -f` also removes the containers using the
    image, so a name alone goes with `untag` (libpod API). Podman keeps showing a removed name
    in container listings, so the driver checks the names against one image listing: two calls."""

    container_listing_calls = 2
    network_ids_listed = False  # a container's network shows as its name, not its id

    def rmi_outside(self, ref: str) -> None:
        if ref.startswith("sha256:"):
            self.client.api.remove_image(ref, force=True)
            return
        api = self.client.api
        url = f"{api.base_url}/v4.0.0/libpod/images/{quote(ref, safe='')}/untag"
        api._raise_for_status(api._post(url))
