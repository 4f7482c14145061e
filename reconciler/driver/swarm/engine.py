"""SwarmEngine: the Engine protocol on a Docker Swarm cluster (DOCKER_HOST names a manager).

An app version is a replicated service; its tasks are the replicas. The reads of a pass are
plain HTTP on the manager's socket: one service listing, one task listing (all services at
once), one node listing — never a call per service, and the SDK is not even imported. Images
ace builds are built on the manager, pushed to `registry` and services pinned to the pushed
digest; images ace does not build are pulled by each node itself. Everything else goes
through the SDK, as on one engine, and every change first checks ace's labels."""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from apps.errors import EngineError
from reconciler.core.types import (
    LABEL_APP,
    LABEL_INSTALL,
    LABEL_PORT,
    ObservedContainer,
    ObservedImage,
)
from reconciler.driver.engine import DockerEngine
from reconciler.driver.policy import own_labels, require_managed
from reconciler.driver.ports import NotManaged
from reconciler.driver.swarm.attrs import Node, nodes_from_listing, service_from_listing
from reconciler.driver.swarm.images import is_ace_image, is_tagged, remove_manager_tags
from reconciler.driver.swarm.registry import Registry
from reconciler.driver.swarm.spec import LABEL_IMAGE, service_name, service_spec
from reconciler.logs import get_logger

if TYPE_CHECKING:
    from reconciler.driver.values import CommandResult, LogLine, VolumeMount

__all__ = ["SwarmEngine"]

log = get_logger("ace.swarm")


def translated(what: str) -> Any:
    """The SDK's errors as EngineError (the SDK loads only when something changes)."""
    from reconciler.driver.sdkerrors import translated as sdk_translated

    return sdk_translated(what)


_NO_NETWORK = ("the app network (apps calling each other by name) is not available with "
               "--backend swarm")


class SwarmEngine:
    """The Engine protocol on a Swarm manager. Connects lazily, on the first call."""

    def __init__(self, base_url: str | None = None, timeout: float = 30.0,
                 registry: str = "") -> None:
        self.local = DockerEngine(base_url, timeout)  # the manager's own engine
        self.registry = Registry(registry) if registry else None
        # one keep-alive connection serves the plain HTTP reads; the executor's threads
        # (apps applied in parallel, each polling its tasks) take turns on it
        self._reading = threading.Lock()

    def close(self) -> None:
        self.local.close()

    @property
    def api(self) -> Any:
        return self.local.sdk._api

    # -- reads: plain HTTP, a fixed number of calls ---------------------------------------

    def _read(self, path: str, what: str, query: Mapping[str, str] | None = None) -> Any:
        try:
            with self._reading:
                return self.local._get_json(path, what, query)
        except EngineError as exc:
            if "not a swarm manager" in str(exc) or "swarm mode" in str(exc):
                raise EngineError(f"{what}: the engine at DOCKER_HOST is not a Swarm manager "
                                  f"({exc}); --backend swarm needs DOCKER_HOST to name one "
                                  "(docker swarm init makes one)") from exc
            raise

    def ping(self) -> None:
        self.local.ping()

    def nodes(self) -> dict[str, Node]:
        return nodes_from_listing(self._read("/nodes", "list swarm nodes"))

    def list_containers(self, install: str) -> tuple[ObservedContainer, ...]:
        """Services of this installation with their tasks: three calls, whatever their number."""
        filters = json.dumps({"label": [f"{LABEL_INSTALL}={install}"]})
        services = self._read("/services", "list services", {"filters": filters})
        return self._observed(services)

    def _observed(self, services: list[dict[str, Any]]) -> tuple[ObservedContainer, ...]:
        if not services:
            return ()
        ids = [s["ID"] for s in services]
        tasks = self._read("/tasks", "list tasks",
                           {"filters": json.dumps({"service": ids})})
        nodes = self.nodes()
        by_service: dict[str, list[dict[str, Any]]] = {i: [] for i in ids}
        for t in tasks:
            by_service.setdefault(t.get("ServiceID", ""), []).append(t)
        out = (service_from_listing(s, by_service[s["ID"]], nodes) for s in services)
        return tuple(sorted(out, key=lambda c: c.name))

    def inspect(self, container_id: str) -> ObservedContainer | None:
        raw = self._service(container_id)
        return None if raw is None else self._observed([raw])[0]

    def _service(self, service_id: str) -> dict[str, Any] | None:
        try:
            return dict(self._read(f"/services/{service_id}", f"inspect service {service_id}"))
        except EngineError as exc:
            if "not found" in str(exc).lower():
                return None
            raise

    def _managed(self, service_id: str, verb: str) -> dict[str, Any]:
        raw = self._service(service_id)
        if raw is None:
            raise EngineError(f"cannot {verb} service {service_id}: it does not exist")
        require_managed(raw["Spec"].get("Labels") or {}, f"service {raw['Spec']['Name']}", verb)
        return raw

    def list_images(self, references: Sequence[str] | None = None) -> tuple[ObservedImage, ...]:
        """Without references: the manager's local images. With them: tags of images ace
        builds are looked up in the registry (one request each, only for apps whose desired
        version does not run); the rest on the manager (one call), among them whole
        repositories (the image collection's listing of an app's old versions)."""
        if references is None or self.registry is None:
            return self.local.list_images(references)
        found: list[ObservedImage] = []
        pushed = [r for r in references if is_ace_image(r) and is_tagged(r)]
        local = [r for r in references if r not in pushed]
        for ref in pushed:
            try:
                digest = self.registry.digest(ref)
            except EngineError as exc:  # absent: the build step pushes again and says why
                log.warning("registry_unreachable", image=ref, error=str(exc))
                continue
            if digest:
                found.append(ObservedImage(id=digest, tags=(ref,)))
        return tuple(found) + (self.local.list_images(local) if local else ())

    # -- images ---------------------------------------------------------------------------

    def _need_registry(self, what: str) -> None:
        if self.registry is None:
            n = len(self.nodes())
            if n > 1:
                raise EngineError(
                    f"{what}: this swarm has {n} nodes and the image is built on the manager "
                    "only; ace needs a registry the nodes pull from: pass --registry HOST[:PORT] "
                    "(or set ACE_REGISTRY)")

    def build(self, *, context_dir: str, containerfile: str, tag: str,
              build_args: Mapping[str, str], labels: Mapping[str, str],
              on_log: Callable[[str], None] | None = None, target: str = "") -> str:
        self._need_registry(f"build {tag}")
        image_id = self.local.build(context_dir=context_dir, containerfile=containerfile,
                                    tag=tag, build_args=build_args, labels=labels, on_log=on_log,
                                    target=target)
        if self.registry is not None:
            self.push(tag)
        return image_id

    def push(self, tag: str) -> str:
        """Push a local image to the registry; returns the pushed digest."""
        assert self.registry is not None
        target = self.registry.ref(tag)
        repo, _, version = target.rpartition(":")
        hint = (f"push {tag} to registry {self.registry.host} failed: {{}}; is the registry "
                "running and in every node's insecure-registries? The image stays built: the "
                "next pass pushes it again")
        digest = ""
        try:
            with translated(f"push {tag}"):
                self.api.tag(tag, repo, version)
                for chunk in self.api.push(repo, version, stream=True, decode=True):
                    if "error" in chunk:
                        raise EngineError(hint.format(str(chunk["error"]).strip()),
                                          retryable=True)
                    digest = ((chunk.get("aux") or {}).get("Digest")) or digest
        except EngineError as exc:
            if "push " in str(exc) and "failed" in str(exc):
                raise
            raise EngineError(hint.format(exc), retryable=True) from exc
        return digest

    def pull(self, ref: str) -> str:
        return self.local.pull(ref)

    def image_exposed_ports(self, ref: str) -> tuple[int, ...]:
        return self.local.image_exposed_ports(ref)

    def remove_image(self, ref: str) -> None:
        """The manager's local tags of `ref` only; the registry keeps it (see images.py)."""
        remove_manager_tags(self, ref)

    def _pinned(self, image: str, what: str) -> str:
        """The reference tasks run: ace's images pinned to their digest in the registry."""
        if not is_ace_image(image):
            return image
        if self.registry is None:
            self._need_registry(what)
            return image
        digest = self.registry.digest(image)
        if digest is None:
            raise EngineError(f"{what}: image {image} is not in registry "
                              f"{self.registry.host}; the next pass builds and pushes it")
        return f"{self.registry.ref(image)}@{digest}"

    # -- services ---------------------------------------------------------------------------

    def run_container(self, *, name: str, image: str, port: int, command: Sequence[str],
                      env: Mapping[str, str], mounts: Sequence[VolumeMount],
                      labels: Mapping[str, str], cpus: float | None = None,
                      memory: int | None = None, entrypoint: Sequence[str] = (),
                      workdir: str = "", replicas: int = 1, network: str = "",
                      aliases: Sequence[str] = ()) -> ObservedContainer:
        """Create the app version's service (`replicas` tasks; `entrypoint` and `workdir` are
        its ContainerSpec's Command and Dir); returns it as created, its tasks still starting:
        the executor waits for every one to answer its health check. A cluster has no app
        network (the pass asks for none)."""
        if network:
            raise EngineError(_NO_NETWORK)
        labels = own_labels(labels, f"service {name}",
                            {LABEL_PORT: str(port), LABEL_IMAGE: image})
        what = f"create service for {labels.get(LABEL_APP, name)}"
        pinned = self._pinned(image, what)
        from reconciler.driver.swarm.mounts import swarm_mounts

        vols, secrets = swarm_mounts(self, mounts, labels, multi_node=self._multi_node())
        spec = service_spec(name=service_name(name, os.urandom(2).hex()), image=pinned,
                            port=port, replicas=replicas, command=command, env=env,
                            labels=labels, mounts=vols, secrets=secrets, cpus=cpus,
                            memory=memory, entrypoint=entrypoint, workdir=workdir)
        with translated(what):
            created = self.api.create_service(
                spec["TaskTemplate"], name=spec["Name"], labels=spec["Labels"],
                mode=spec["Mode"], endpoint_spec=spec["EndpointSpec"])
        seen = self.inspect(created["ID"])
        if seen is None:
            raise EngineError(f"service {spec['Name']} vanished right after it was created")
        return seen

    def _multi_node(self) -> bool:
        return len(self.nodes()) > 1

    def start(self, container_id: str) -> ObservedContainer:
        """Restart every task of the service (a forced update)."""
        from reconciler.driver.swarm.rollout import start

        return start(self, container_id)

    def restart(self, container_id: str, *, timeout: float = 5.0) -> ObservedContainer:
        """Dev mode's in-place restart on a cluster (reload=restart): a forced update of the
        service (`docker service update --force`), which the cluster rolls out one task at a
        time (stop, then start: each task stops within the service's stop grace, not
        `timeout`). Returns once no task of the old generation is wanted running any more, so
        the executor's health gate probes only the fresh tasks; an EngineError when the
        rollout does not get there within `rollout.ROLLOUT_DEADLINE` seconds per replica (the
        executor then recreates the service)."""
        from reconciler.driver.swarm.rollout import restart

        return restart(self, container_id)

    def scale(self, container_id: str, replicas: int) -> ObservedContainer:
        """Run `replicas` tasks of the service (and label it so: a scale by hand shows)."""
        from reconciler.driver.swarm.rollout import scale

        return scale(self, container_id, replicas)

    def stop_and_remove(self, container_id: str, *, timeout: float = 5.0) -> None:
        raw = self._service(container_id)
        if raw is None:
            return
        spec = raw["Spec"]
        require_managed(spec.get("Labels") or {}, f"service {spec['Name']}", "remove")
        import docker.errors

        with translated(f"remove service {spec['Name']}"):
            try:
                self.api.remove_service(container_id)
            except docker.errors.NotFound:
                return
        self._drop_secrets(spec)

    def _drop_secrets(self, spec: Mapping[str, Any]) -> None:
        """Remove the secrets a removed service used, unless another service still does (the
        cluster refuses then) or the secret is not ace's (one added to the service by hand)."""
        refs = ((spec.get("TaskTemplate") or {}).get("ContainerSpec") or {}).get("Secrets") or []
        for ref in refs:
            name = ref.get("SecretName")
            try:
                with translated(f"remove secret {name}"):
                    found = self.api.inspect_secret(ref["SecretID"])
                    require_managed((found.get("Spec") or {}).get("Labels") or {},
                                    f"secret {name}", "remove")
                    self.api.remove_secret(ref["SecretID"])
            except NotManaged as exc:
                log.warning("secret_skipped", secret=name, reason=str(exc))
            except EngineError as exc:
                log.debug("secret_kept", secret=name, reason=str(exc))

    def logs(self, container_id: str, *, tail: int = 50) -> str:
        from reconciler.driver.swarm.servicelogs import service_logs

        return service_logs(self, container_id, tail=tail)

    def log_lines(self, container_id: str, *, tail: int = -1, since: float = 0.0,
                  follow: bool = False, on_line: Callable[[LogLine], None],
                  stop: threading.Event | None = None) -> None:
        """The service's logs (every task's), timed (see `servicelogs`)."""
        from reconciler.driver.swarm.servicelogs import service_log_lines

        service_log_lines(self, container_id, tail=tail, since=since, follow=follow,
                          on_line=on_line, stop=stop)

    # -- no app network, no idle apps on a cluster (the pass asks for neither) --------------

    def list_networks(self, install: str) -> tuple[tuple[str, str], ...]:
        return ()

    def ensure_network(self, name: str, labels: Mapping[str, str]) -> str:
        raise EngineError(_NO_NETWORK)

    def connect(self, container_id: str, network: str, aliases: Sequence[str]) -> None:
        raise EngineError(_NO_NETWORK)

    def disconnect(self, container_id: str, network: str) -> None:
        """Nothing is attached to an app network on a cluster."""

    def remove_network(self, name: str) -> bool:
        return False

    def stop(self, container_id: str, *, timeout: float = 5.0) -> None:
        raise EngineError("a cluster service is not put to sleep: --idle-shutdown and --lazy "
                          "run apps on one engine only")

    # -- volumes: local to each node ------------------------------------------------------

    def list_volumes(self, install: str) -> tuple[str, ...]:
        return self.local.list_volumes(install)

    def ensure_volume(self, name: str, labels: Mapping[str, str]) -> None:
        """Nothing to do: each node makes the volume, with ace's labels, when a task of the
        app first runs there (named volumes are local to each node)."""

    def remove_volume(self, name: str) -> None:
        self.local.remove_volume(name)

    # -- one-off commands -----------------------------------------------------------------

    def run_command(self, *, image: str, command: Sequence[str], env: Mapping[str, str],
                    cwd: str, labels: Mapping[str, str], mounts: Sequence[VolumeMount] = (),
                    timeout: float = 300.0, on_output: Callable[[str], None] | None = None,
                    network: str = "") -> CommandResult:
        """A one-off job on the cluster; it joins no app network (a cluster has none)."""
        if network:
            raise EngineError(_NO_NETWORK)
        from reconciler.driver.swarm.jobs import run_job

        return run_job(self, image=image, command=command, env=env, cwd=cwd, labels=labels,
                       mounts=mounts, timeout=timeout, on_output=on_output)
