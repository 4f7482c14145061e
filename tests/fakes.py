"""FakeEngine: an in-memory twin of reconciler.driver.DockerEngine (the ports.Engine protocol).

Deterministic ids and host ports, a call counter per method (`calls["list_containers"]`), and
ways to make things happen outside ace: crash/kill/remove a container, add unlabelled objects,
take the engine down. Commands (container commands, RUN steps, run_command) go through the tiny
shell of tests/fake_shell.py. tests/engine/test_driver_contract.py runs
the same suite against this and the real engine, so the two cannot drift.
"""

from __future__ import annotations

import json
import os
import re
import threading
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace

from apps.errors import EngineError
from reconciler.core.types import (
    LABEL_APP,
    LABEL_HEALTH,
    LABEL_INPUTS,
    LABEL_INSTALL,
    LABEL_MANAGED,
    LABEL_PORT,
    LABEL_SCHEME,
    LABEL_VERSION,
    ObservedContainer,
    ObservedImage,
)
from reconciler.driver.buildfail import build_failed
from reconciler.driver.policy import own_labels, require_managed
from reconciler.driver.ports import CommandResult, ImageInUse, LogLine, VolumeMount
from tests.fake_shell import exec_form, interpret

__all__ = ["FakeContainer", "FakeEngine", "FakeImage", "FakeNetwork", "TIMED_OUT_EXIT_CODE"]

TIMED_OUT_EXIT_CODE = 124  # as reconciler.driver
_BUILDKIT_FLAG = re.compile(r"^RUN\s+((?:--\S+\s+)+)", re.IGNORECASE)


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


class FakeEngine:
    """In-memory Engine. `images` are the local images present at the start (unlabelled)."""

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
            self._add_image({_ref(ref)}, {}, (), ("sh",))

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

    # -- Engine protocol ---------------------------------------------------------------------

    def ping(self) -> None:
        self._call("ping")

    def list_containers(self, install: str) -> tuple[ObservedContainer, ...]:
        self._call("list_containers")
        mine = [c for c in self.containers.values() if c.labels.get(LABEL_INSTALL) == install]
        return tuple(sorted((self._observe(c) for c in mine), key=lambda o: o.name))

    def list_images(self, references: Sequence[str] | None = None) -> tuple[ObservedImage, ...]:
        self._call("list_images")
        wanted = set(references or ())
        return tuple(
            ObservedImage(
                id=i.id, tags=tuple(sorted(i.tags)), app=i.labels.get(LABEL_APP, ""),
                inputs=i.labels.get(LABEL_INPUTS, ""), install=i.labels.get(LABEL_INSTALL, ""),
            )
            for i in self.images.values()
            if not references or wanted & {*i.tags, *(_repository(t) for t in i.tags)}
        )

    def build(
        self,
        *,
        context_dir: str,
        containerfile: str,
        tag: str,
        build_args: Mapping[str, str],
        labels: Mapping[str, str],
        on_log: Callable[[str], None] | None = None,
        target: str = "",
    ) -> str:
        self._call("build")
        path = os.path.join(context_dir, containerfile)
        if not os.path.isdir(context_dir):
            raise EngineError(f"build {tag}: context directory {context_dir} does not exist")
        try:
            with open(path, encoding="utf-8") as f:
                original = f.read()
                text = original.replace("\\\n", " ")
        except OSError as e:
            raise EngineError(f"build {tag}: cannot read container file {path}: {e}") from e
        steps = [ln.strip() for ln in text.splitlines() if ln.strip() and ln.strip()[0] != "#"]
        if target:
            steps = _up_to_stage(steps, target, tag)
        log: list[str] = []

        def failed() -> EngineError:
            return build_failed(tag, log, containerfile=os.path.abspath(path),
                                containerfile_text=original)

        def emit(line: str) -> None:
            log.append(line)
            if on_log is not None:
                on_log(line)

        base: FakeImage | None = None
        exposed: set[int] = set()
        cmd: tuple[str, ...] = ()
        stage = ""
        stages: dict[str, tuple[FakeImage | None, set[int], tuple[str, ...]]] = {}
        args = dict(build_args)
        for n, step in enumerate(steps, 1):
            emit(f"Step {n}/{len(steps)} : {step}")
            word, _, rest = step.partition(" ")
            word = word.upper()
            if word == "FROM":
                if stage:  # the stage that ends here can be built FROM by name
                    stages[stage] = (base, set(exposed), cmd)
                words = rest.split()
                stage = words[2].lower() if len(words) >= 3 and words[1].upper() == "AS" else ""
                if words[0].lower() in stages:
                    base, exposed, cmd = stages[words[0].lower()]
                    exposed = set(exposed)
                elif words[0] != "scratch":
                    base = self._image(words[0], f"build {tag}")
                    exposed, cmd = set(base.exposed), base.cmd
            elif word == "EXPOSE":
                exposed |= {int(p.split("/")[0]) for p in rest.split()}
            elif word == "CMD":
                cmd = exec_form(rest)
            elif word == "ARG":
                name, _, default = rest.partition("=")
                args.setdefault(name.strip(), default.strip())
            elif word == "COPY":
                src = rest.split()[-2] if not rest.startswith("[") else json.loads(rest)[0]
                if not os.path.exists(os.path.join(context_dir, src)):
                    emit(f"COPY failed: file not found in build context: {src}")
                    raise failed()
            elif word == "RUN":
                script = _BUILDKIT_FLAG.sub("RUN ", step)[4:].strip()
                res = interpret(exec_form(script), args, "/")
                for line in res.both:
                    emit(line)
                if res.code:
                    emit(f"The command '/bin/sh -c {script}' returned a non-zero code: {res.code}")
                    raise failed()
        for img in self.images.values():
            img.tags.discard(tag)
        all_labels = {**(base.labels if base else {}), **labels, LABEL_MANAGED: "1"}
        return self._add_image({tag}, all_labels, tuple(sorted(exposed)), cmd).id

    def pull(self, ref: str) -> str:
        self._call("pull")
        ref = _ref(ref)
        if ref not in self.remote:
            raise EngineError(f"pull {ref}: pull access denied or repository does not exist")
        for img in self.images.values():
            img.tags.discard(ref)
        return self._add_image({ref}, {}, self.remote[ref], ("sh",)).id

    def image_exposed_ports(self, ref: str) -> tuple[int, ...]:
        self._call("image_exposed_ports")
        return self._image(ref, f"inspect image {ref}").exposed

    def run_container(
        self,
        *,
        name: str,
        image: str,
        port: int,
        command: Sequence[str],
        env: Mapping[str, str],
        mounts: Sequence[VolumeMount],
        labels: Mapping[str, str],
        cpus: float | None = None,
        memory: int | None = None,
        entrypoint: Sequence[str] = (),
        workdir: str = "",
        replicas: int = 1,
        network: str = "",
        aliases: Sequence[str] = (),
    ) -> ObservedContainer:
        self._call("run_container")
        labels = own_labels(labels, f"container {name}", {LABEL_PORT: str(port)})
        if entrypoint:  # the image's CMD is not appended to a replaced entrypoint
            command = (*entrypoint, *command)
        net = network or "bridge"
        if net not in self.networks:
            raise EngineError(f"create container {name}: network {net} not found")
        c = self._new_container(name, image, tuple(command), dict(env), labels, port, mounts)
        c.workdir = workdir
        c.networks = {net: (self.networks[net].id, tuple(aliases))}
        self._run(c)
        return self._inspected(c)

    def start(self, container_id: str) -> ObservedContainer:
        self._call("start")
        c = self._managed(container_id, "start")
        if c.state != "running":
            self._run(c)
        return self._inspected(c)

    def scale(self, container_id: str, replicas: int) -> ObservedContainer:
        self._call("scale")
        raise EngineError(f"cannot scale container {container_id[:12]} to {replicas}: one "
                          "Docker engine runs one container per app (--backend swarm runs "
                          "replicas)")

    def restart(self, container_id: str, *, timeout: float = 5.0) -> ObservedContainer:
        self._call("restart")
        c = self._managed(container_id, "restart")
        c.state, c.host_port = "exited", None
        self._run(c)
        return self._inspected(c)

    def inspect(self, container_id: str) -> ObservedContainer | None:
        self._call("inspect")
        c = self._find(container_id)
        return None if c is None else self._inspected(c)

    def stop(self, container_id: str, *, timeout: float = 5.0) -> None:
        self._call("stop")
        c = self._managed(container_id, "stop")
        if c.state == "running":
            c.state, c.exit_code, c.host_port = "exited", 143, None

    def stop_and_remove(self, container_id: str, *, timeout: float = 5.0) -> None:
        self._call("stop_and_remove")
        c = self._find(container_id)
        if c is not None:
            require_managed(c.labels, f"container {c.name}", "remove")
            del self.containers[c.id]

    def logs(self, container_id: str, *, tail: int = 50) -> str:
        self._call("logs")
        c = self._get(container_id)
        return "".join(f"{line}\n" for line in c.logs[-tail:] if tail > 0)

    def log_lines(self, container_id: str, *, tail: int = -1, since: float = 0.0,
                  follow: bool = False, on_line: Callable[[LogLine], None],
                  stop: threading.Event | None = None) -> None:
        """The fake's containers print nothing new: the lines so far (line i of a container
        printed at `created + i/1000`, on stdout), then the end."""
        self._call("log_lines")
        c = self._get(container_id)
        timed = [LogLine("stdout", c.created + i / 1000, text) for i, text in enumerate(c.logs)]
        timed = [x for x in timed if x.time >= since]
        for line in timed if tail < 0 else timed[-tail:] if tail > 0 else []:
            on_line(line)

    def remove_image(self, ref: str) -> None:
        self._call("remove_image")
        img = self._find_image(ref)
        if img is None:
            return
        require_managed(img.labels, f"image {ref}", "remove")
        if any(self._find_image(c.image) is img for c in self.containers.values()):
            raise ImageInUse(f"remove image {ref}: image is being used by a container")
        img.tags.discard(_ref(ref))
        if not img.tags:
            del self.images[img.id]

    def list_volumes(self, install: str) -> tuple[str, ...]:
        self._call("list_volumes")
        mine = (n for n, lb in self.volumes.items() if lb.get(LABEL_INSTALL) == install)
        return tuple(sorted(mine))

    def ensure_volume(self, name: str, labels: Mapping[str, str]) -> None:
        self._call("ensure_volume")
        if name in self.volumes:
            require_managed(self.volumes[name], f"volume {name}", "use")
        else:
            self.volumes[name] = own_labels(labels, f"volume {name}", {})

    def remove_volume(self, name: str) -> None:
        self._call("remove_volume")
        if name not in self.volumes:
            return
        require_managed(self.volumes[name], f"volume {name}", "remove")
        if any(m.source == name for c in self.containers.values() for m in c.mounts):
            raise EngineError(f"remove volume {name}: volume is in use")
        del self.volumes[name]

    def list_networks(self, install: str) -> tuple[tuple[str, str], ...]:
        self._call("list_networks")
        return tuple(sorted((name, n.id) for name, n in self.networks.items()
                            if n.labels.get(LABEL_INSTALL) == install))

    def ensure_network(self, name: str, labels: Mapping[str, str]) -> str:
        self._call("ensure_network")
        wanted = own_labels(labels, f"network {name}", {})
        net = self.networks.get(name)
        if net is None:
            net = self.networks[name] = FakeNetwork(self._next_id("net_"), wanted)
        require_managed(net.labels, f"network {name}", "use")
        if net.labels.get(LABEL_INSTALL) != wanted[LABEL_INSTALL]:
            raise EngineError(f"network {name} belongs to another ace installation")
        return net.id

    def connect(self, container_id: str, network: str, aliases: Sequence[str]) -> None:
        self._call("connect")
        c = self._managed(container_id, "connect")
        net = self.networks.get(network)
        if net is None:
            raise EngineError(f"cannot connect container {c.name}: network {network} does not "
                              "exist")
        require_managed(net.labels, f"network {network}", "use")
        if net.labels.get(LABEL_INSTALL) != c.labels.get(LABEL_INSTALL):
            raise EngineError(f"network {network} belongs to another ace installation")
        have = c.networks.get(network)
        if have is None or have[0] != net.id or not set(aliases) <= set(have[1]):
            c.networks[network] = (net.id, tuple(aliases))

    def disconnect(self, container_id: str, network: str) -> None:
        self._call("disconnect")
        c = self._find(container_id)
        if c is not None:
            require_managed(c.labels, f"container {c.name}", "disconnect")
            c.networks.pop(network, None)

    def remove_network(self, name: str) -> bool:
        self._call("remove_network")
        net = self.networks.get(name)
        if net is None:
            return False
        require_managed(net.labels, f"network {name}", "remove")
        if any(c.state == "running" and name in c.networks for c in self.containers.values()):
            return False
        del self.networks[name]
        return True

    def run_command(
        self,
        *,
        image: str,
        command: Sequence[str],
        env: Mapping[str, str],
        cwd: str,
        labels: Mapping[str, str],
        mounts: Sequence[VolumeMount] = (),
        timeout: float = 300.0,
        on_output: Callable[[str], None] | None = None,
        network: str = "",
    ) -> CommandResult:
        self._call("run_command")
        own_labels(labels, f"command in {image}", {})
        self._image(image, f"create command container from {image}")
        if network and network not in self.networks:
            raise EngineError(f"create command container from {image}: network {network} not "
                              "found")
        res = interpret(tuple(command), dict(env), cwd or "/", timeout,
                        web=lambda url: self._fetch(network, url))
        if on_output is not None:
            for line in (*res.out, *res.err):
                on_output(f"{line}\n")
        timed_out = res.running or res.slept > timeout
        return CommandResult(
            exit_code=TIMED_OUT_EXIT_CODE if timed_out else res.code,
            stdout="".join(f"{x}\n" for x in res.out), stderr="".join(f"{x}\n" for x in res.err),
            timed_out=timed_out,
        )

    # -- internals ---------------------------------------------------------------------------

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
        ref = _ref(ref)
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


def _up_to_stage(steps: list[str], target: str, tag: str) -> list[str]:
    """The steps of a multi-stage file up to the end of stage `target` (`FROM x AS target`)."""
    start = None
    for i, step in enumerate(steps):
        words = step.split()
        if words[0].upper() != "FROM":
            continue
        if start is not None:
            return steps[:i]
        if len(words) >= 4 and words[-2].upper() == "AS" and words[-1].lower() == target.lower():
            start = i
    if start is None:
        raise EngineError(f"build {tag}: target stage {target!r} could not be found")
    return steps


def _repository(tag: str) -> str:
    """A tag's repository name: what an engine's reference filter matches without a tag."""
    return tag.rsplit(":", 1)[0] if ":" in tag.rsplit("/", 1)[-1] else tag


def _ref(ref: str) -> str:
    last = ref.rsplit("/", 1)[-1]
    return ref if ":" in last or "@" in last or ref.startswith("sha256:") else f"{ref}:latest"

