"""The fake engine's objects: images, containers, networks and volumes in memory, the lookups
and creation its Engine calls share (deterministic ids, host ports and clock), and the ways to
change them from outside ace (crash, kill, remove, foreign objects). `tests.fakes.FakeEngine`
adds the Engine protocol on top."""

from __future__ import annotations

import os
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field, replace

from apps.errors import EngineError
from reconciler.core.types import (
    LABEL_APP,
    LABEL_HEALTH,
    LABEL_SCHEME,
    LABEL_VERSION,
    ObservedContainer,
)
from reconciler.driver.policy import require_managed
from reconciler.driver.ports import VolumeMount
from tests.fake_shell import interpret

__all__ = ["FakeContainer", "FakeImage", "FakeNetwork", "FakeObjects", "full_ref", "repository"]


@dataclass
class FakeImage:
    id: str
    tags: set[str]
    labels: dict[str, str] = field(default_factory=dict)
    exposed: tuple[int, ...] = ()
    cmd: tuple[str, ...] = ()


@dataclass
class FakeContainer:
    id: str
    name: str
    image: str
    command: tuple[str, ...]
    env: dict[str, str]
    labels: dict[str, str]
    port: int | None = None
    mounts: tuple[VolumeMount, ...] = ()
    state: str = "created"
    exit_code: int = 0
    host_port: int | None = None
    host_ip: str = ""
    created: int = 0
    logs: list[str] = field(default_factory=list)
    err_at: set[int] = field(default_factory=set)  # which of `logs` went to stderr
    image_id: str = ""
    workdir: str = ""
    started: float = 0.0  # the fake clock when it last started / finished (0: never)
    finished: float = 0.0
    # network name -> (network id, aliases); a removed network's id stays, as in the engine
    networks: dict[str, tuple[str, tuple[str, ...]]] = field(default_factory=dict)
    serves: tuple[int, str] | None = None  # (port, home) of its httpd, from its last run
    files: dict[str, str] = field(default_factory=dict)  # what its command wrote


@dataclass
class FakeNetwork:
    id: str
    labels: dict[str, str]


class FakeObjects:
    """The objects of an in-memory engine. `images` are the local images present at the start
    (unlabelled)."""

    def __init__(self, images: Sequence[str] = ("busybox:latest",), now: int = 1_700_000_000):
        self.calls: Counter[str] = Counter()
        self.down = False
        self.containers: dict[str, FakeContainer] = {}
        self.images: dict[str, FakeImage] = {}
        self.volumes: dict[str, dict[str, str]] = {}
        self.networks: dict[str, FakeNetwork] = {"bridge": FakeNetwork("net_bridge", {})}
        self.remote: dict[str, tuple[int, ...]] = {}  # pullable refs -> exposed ports
        self._seq = 0
        self._next_port = 32768
        self._now = now
        for ref in images:
            self._add_image({full_ref(ref)}, {}, (), ("sh",))

    # -- simulation helpers (outside ace) ------------------------------------------------------

    def crash(self, container_id: str, exit_code: int = 1, *, ran: float = 3600.0) -> None:
        """The container's process exits on its own, `ran` seconds after it started."""
        c = self._get(container_id)
        c.state, c.exit_code, c.host_port = "exited", exit_code, None
        c.finished = c.started + ran

    def kill(self, container_id: str) -> None:
        """Someone kills the container outside ace (SIGKILL: 137)."""
        self.crash(container_id, 137)

    def remove_outside(self, container_id: str) -> None:
        self.containers.pop(self._get(container_id).id)

    def add_foreign_container(self, name: str, image: str = "busybox:latest") -> str:
        """A running container without ace's labels (created by someone else)."""
        c = self._new_container(name, image, ("sleep", "3600"), {}, {}, None, ())
        c.state = "running"
        return c.id

    def add_foreign_volume(self, name: str) -> None:
        self.volumes[name] = {}

    def add_foreign_network(self, name: str) -> None:
        self.networks[name] = FakeNetwork(self._next_id("net_"), {})

    def disconnect_outside(self, container_id: str, network: str) -> None:
        """`docker network disconnect` by someone else."""
        self._get(container_id).networks.pop(network, None)

    def remove_network_outside(self, name: str) -> None:
        """`docker network rm` by someone else: refused while a running container is on it;
        stopped ones keep the removed network's id (and cannot start with it)."""
        if any(c.state == "running" and name in c.networks for c in self.containers.values()):
            raise EngineError(f"error while removing network: network {name} has active "
                              "endpoints")
        del self.networks[name]

    def published(self, container_id: str) -> tuple[str, int | None]:
        """(host ip, host port) the container's port is published on."""
        c = self._get(container_id)
        return c.host_ip, c.host_port

    # -- what the Engine calls share ----------------------------------------------------------

    def _fetch(self, network: str, url: str) -> tuple[int, str]:
        """What busybox wget gets for `url` in a container on `network`: the index.html of the
        httpd of the running container answering there to the URL's host as an alias. The
        default bridge ("") resolves no names."""
        m = re.fullmatch(r"http://([^:/]+)(?::(\d+))?(/.*)?", url)
        if m is None:
            return 1, f"wget: not an http or ftp url: {url}"
        host, port, path = m.group(1), int(m.group(2) or 80), m.group(3) or "/"
        net = self.networks.get(network) if network else None
        on = [c for c in self.containers.values() if net is not None and c.state == "running"
              and c.networks.get(network, ("", ()))[0] == net.id
              and host in c.networks[network][1]]
        if not on:
            return 1, f"wget: bad address '{host}:{port}'"
        c = on[-1]
        if c.serves is None or c.serves[0] != port:
            return 1, "wget: can't connect to remote host: Connection refused"
        page = c.files.get(c.serves[1].rstrip("/") + path + ("index.html" if path[-1] == "/"
                                                             else ""))
        if page is None:
            return 1, "wget: server returned error: HTTP/1.1 404 Not Found"
        return 0, page

    def _call(self, method: str) -> None:
        self.calls[method] += 1
        if self.down:
            raise EngineError(f"{method}: the Docker engine is not answering", retryable=True)

    def _next_id(self, kind: str) -> str:
        self._seq += 1
        return f"{kind}{self._seq:060d}"

    def _add_image(
        self, tags: set[str], labels: dict[str, str], exposed: tuple[int, ...], cmd: tuple[str, ...]
    ) -> FakeImage:
        img = FakeImage(self._next_id("sha256:img_"), tags, labels, exposed, cmd)
        self.images[img.id] = img
        return img

    def _find_image(self, ref: str) -> FakeImage | None:
        ref = full_ref(ref)
        return next((i for i in self.images.values() if ref in i.tags or ref == i.id), None)

    def _image(self, ref: str, what: str) -> FakeImage:
        img = self._find_image(ref)
        if img is None:
            raise EngineError(f"{what}: No such image: {ref}")
        return img

    def _new_container(
        self, name: str, image: str, command: tuple[str, ...], env: dict[str, str],
        labels: dict[str, str], port: int | None, mounts: Sequence[VolumeMount],
    ) -> FakeContainer:
        img = self._image(image, f"create container {name}")
        if any(c.name == name for c in self.containers.values()):
            raise EngineError(f'create container {name}: Conflict. The container name "/{name}"'
                              " is already in use")
        if not (command or img.cmd):
            raise EngineError(f"create container {name}: No command specified")
        for m in mounts:
            if m.kind == "bind" and not os.path.exists(m.source):
                raise EngineError(f"create container {name}: bind source path does not exist:"
                                  f" {m.source}")
        self._now += 1
        c = FakeContainer(self._next_id("c"), name, image, command or img.cmd, env, labels, port,
                          tuple(mounts), created=self._now, image_id=img.id)
        self.containers[c.id] = c
        return c

    def _run(self, c: FakeContainer) -> None:
        live = {n.id for n in self.networks.values()}
        gone = [net_id for net_id, _ in c.networks.values() if net_id not in live]
        if gone:
            raise EngineError(f"start container {c.name}: network {gone[0]} not found")
        res = interpret(c.command, c.env, c.workdir or "/", timeout=1.0)  # 1 s+: still running
        c.err_at |= {len(c.logs) + i for i in res.err_at}
        c.logs += res.both
        c.serves, c.files = res.serves, res.files
        c.started, c.finished = float(self._now), 0.0 if res.running else float(self._now)
        if res.running:
            c.state, c.exit_code, c.host_ip = "running", 0, "127.0.0.1"
            c.host_port, self._next_port = self._next_port, self._next_port + 1
        else:
            c.state, c.exit_code, c.host_port = "exited", res.code, None

    def _find(self, container_id: str) -> FakeContainer | None:
        for c in self.containers.values():
            if container_id in (c.id, c.name) or (len(container_id) >= 12
                                                  and c.id.startswith(container_id)):
                return c
        return None

    def _get(self, container_id: str) -> FakeContainer:
        c = self._find(container_id)
        if c is None:
            raise EngineError(f"No such container: {container_id}")
        return c

    def _managed(self, container_id: str, verb: str) -> FakeContainer:
        c = self._find(container_id)
        if c is None:
            raise EngineError(f"cannot {verb} container {container_id}: it does not exist")
        require_managed(c.labels, f"container {c.name}", verb)
        return c

    def _observe(self, c: FakeContainer) -> ObservedContainer:
        status = {"running": "Up", "created": "Created"}.get(c.state, f"Exited ({c.exit_code})")
        return ObservedContainer(
            id=c.id, name=c.name, app=c.labels.get(LABEL_APP, ""),
            version=c.labels.get(LABEL_VERSION, ""), state=c.state, status=status,
            host_port=c.host_port, created=c.created, image=self._shown_image(c),
            networks=tuple(sorted((n, i) for n, (i, _) in c.networks.items())),
            scheme=c.labels.get(LABEL_SCHEME, ""), health_path=c.labels.get(LABEL_HEALTH, ""),
        )

    def _inspected(self, c: FakeContainer) -> ObservedContainer:
        """What an inspect shows: the listing's view plus when it started and finished."""
        return replace(self._observe(c), started_at=c.started, finished_at=c.finished)

    def _shown_image(self, c: FakeContainer) -> str:
        """Like the engine's listing: the name the container was created from while it still
        resolves to the container's image, else the image id."""
        img = self._find_image(c.image)
        return c.image if img is not None and img.id == c.image_id else c.image_id


def repository(tag: str) -> str:
    """A tag's repository name: what an engine's reference filter matches without a tag."""
    return tag.rsplit(":", 1)[0] if ":" in tag.rsplit("/", 1)[-1] else tag


def full_ref(ref: str) -> str:
    """`ref` as the engine reads it: `:latest` added when it names no tag or digest."""
    last = ref.rsplit("/", 1)[-1]
    return ref if ":" in last or "@" in last or ref.startswith("sha256:") else f"{ref}:latest"

