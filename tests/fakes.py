"""FakeEngine: an in-memory twin of reconciler.driver.DockerEngine (the ports.Engine protocol).

Deterministic ids and host ports, a call counter per method (`calls["list_containers"]`), and
ways to make things happen outside ace: crash/kill/remove a container, add unlabelled objects,
take the engine down. Its objects and those ways are tests/fake_objects.py, its builds
tests/fake_build.py; commands (container commands, RUN steps, run_command) go through the tiny
shell of tests/fake_shell.py. tests/engine/test_driver_contract.py runs
the same suite against this and the real engine, so the two cannot drift.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping, Sequence

from apps.errors import EngineError
from reconciler.core.types import (
    LABEL_APP,
    LABEL_INPUTS,
    LABEL_INSTALL,
    LABEL_MANAGED,
    LABEL_PORT,
    ObservedContainer,
    ObservedImage,
)
from reconciler.driver.policy import own_labels, require_managed
from reconciler.driver.ports import CommandResult, ImageInUse, LogLine, VolumeMount
from tests.fake_build import read_build
from tests.fake_objects import (
    FakeContainer,
    FakeImage,
    FakeNetwork,
    FakeObjects,
    full_ref,
    repository,
)
from tests.fake_shell import interpret

__all__ = ["FakeContainer", "FakeEngine", "FakeImage", "FakeNetwork", "TIMED_OUT_EXIT_CODE"]

TIMED_OUT_EXIT_CODE = 124  # as reconciler.driver


class FakeEngine(FakeObjects):
    """In-memory Engine. `images` are the local images present at the start (unlabelled)."""

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
            if not references or wanted & {*i.tags, *(repository(t) for t in i.tags)}
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
        built = read_build(context_dir=context_dir, containerfile=containerfile, tag=tag,
                           build_args=build_args, image=self._image, on_log=on_log,
                           target=target)
        for img in self.images.values():
            img.tags.discard(tag)
        base = built.base
        all_labels = {**(base.labels if base else {}), **labels, LABEL_MANAGED: "1"}
        return self._add_image({tag}, all_labels, built.exposed, built.cmd).id

    def pull(self, ref: str) -> str:
        self._call("pull")
        ref = full_ref(ref)
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
        printed at `created + i/1000`, on the stream it went to), then the end."""
        self._call("log_lines")
        c = self._get(container_id)
        timed = [LogLine("stderr" if i in c.err_at else "stdout", c.created + i / 1000, text)
                 for i, text in enumerate(c.logs)]
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
        img.tags.discard(full_ref(ref))
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
