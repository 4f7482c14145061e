"""SdkEngine: the Docker SDK (7.x) side of the driver package: builds, pulls, commands, logs,
volumes, and the reads where plain HTTP cannot reach the engine (TLS, ssh); there `SdkWire`
carries `lifecycle`'s calls (containers, networks) over the SDK's session.

Every SDK or transport failure leaves this module as apps.errors.EngineError (retryable when the
engine does not answer). Mutating calls on existing objects first check the dev.ace.managed=1
label and refuse anything ace did not create. Builds that need BuildKit (`RUN --mount`, ...)
go through a BuildKit-capable docker CLI, because the SDK only speaks the classic builder —
except on Podman, whose own builder (buildah, behind the same build endpoint) understands them.
"""

from __future__ import annotations

import json
import os
import re
import socket
import threading
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import docker
import docker.errors
import urllib3.exceptions

from apps.errors import EngineError
from reconciler.core.types import (
    LABEL_APPS_FILE,
    LABEL_INSTALL,
    LABEL_MANAGED,
    ObservedContainer,
    ObservedImage,
)
from reconciler.driver.attrs import (
    container_from_listing,
    image_from_listing,
    running_elsewhere,
)
from reconciler.driver.buildctx import build_source
from reconciler.driver.buildfail import build_failed
from reconciler.driver.buildkit import build_with_cli, find_buildkit_cli, needs_buildkit
from reconciler.driver.commands import TIMED_OUT_EXIT_CODE, run_command
from reconciler.driver.hostnet import engine_networks, only_reachable
from reconciler.driver.logstream import logs_query, pass_lines
from reconciler.driver.podman import (
    PODMAN_HEADER,
    containers_as_docker,
    images_as_docker,
    is_podman_version,
)
from reconciler.driver.policy import require_managed
from reconciler.driver.ports import CommandResult, LogLine, VolumeMount
from reconciler.driver.sdkerrors import translated
from reconciler.driver.wire import Answer

__all__ = ["TIMED_OUT_EXIT_CODE", "SdkEngine", "SdkWire", "sdk_log_lines"]

_SYNTAX_LINE = re.compile(r"^\s*#\s*syntax\s*=", re.IGNORECASE | re.MULTILINE)
_LOG_TAIL = 200  # output lines kept to find the failing step in


def _cutter(api: docker.APIClient, resp: Any) -> Callable[[], None]:
    """Ends a read blocked on an SDK response's connection, from another thread: a socket (plain,
    TLS, an ssh channel) is shut down; the ssh client's pipe (no socket to shut down) closed."""

    def cut() -> None:
        try:
            sock = api._get_raw_response_socket(resp)
        except AttributeError:  # the answer was read to its end: nothing is blocked
            return
        try:
            getattr(sock, "_sock", sock).shutdown(socket.SHUT_RDWR)
        except (OSError, AttributeError):
            sock.close()

    return cut


def sdk_log_lines(api: docker.APIClient, path: str, ident: str, *, tail: int, since: float,
                  follow: bool, on_line: Callable[[LogLine], None],
                  stop: threading.Event | None) -> None:
    """The logs answer at `path` ("/containers/{0}/logs" or "/services/{0}/logs", `ident` in
    place of {0}) on the SDK's session, read as the plain-HTTP path reads it
    (`logstream.pass_lines`: stdout told from stderr; `stop` ends a quiet follow by cutting the
    connection under the read). A follow waits for lines without a timeout."""
    what = "service " if path.startswith("/services/") else ""
    with translated(f"read logs of {what}{ident}"):
        resp = api._get(api._url(path, ident),
                        params=logs_query(tail=tail, since=since, follow=follow),
                        stream=True, timeout=(api.timeout, None) if follow else api.timeout)
        try:
            api._raise_for_status(resp)
            pass_lines(resp.raw, resp.headers.get("Content-Type", ""), on_line, stop=stop,
                       cut=_cutter(api, resp), errors=(urllib3.exceptions.HTTPError,))
        finally:
            resp.close()


class SdkEngine:
    """The Engine protocol on a real Docker engine. Connects lazily, on the first call."""

    def __init__(self, base_url: str | None = None, timeout: float = 30.0,
                 podman: bool | None = None) -> None:
        self._base_url = base_url
        self._timeout = timeout
        self._docker: docker.DockerClient | None = None
        self._buildkit_cli: str | None = None
        self._podman = podman

    @property
    def podman(self) -> bool:
        """Whether the engine is Podman's Docker-compatible service (asked once when not told)."""
        if self._podman is None:
            with translated("ask the engine for its version"):
                self._podman = is_podman_version(self._api.version())
        return self._podman

    @podman.setter
    def podman(self, value: bool) -> None:
        self._podman = value

    # -- connection and error translation -------------------------------------------------

    @property
    def _client(self) -> docker.DockerClient:
        if self._docker is None:
            with translated("connect to the Docker engine"):
                if self._base_url:
                    self._docker = docker.DockerClient(
                        base_url=self._base_url, timeout=self._timeout
                    )
                else:
                    self._docker = docker.from_env(timeout=self._timeout)
        return self._docker

    @property
    def _api(self) -> docker.APIClient:
        return self._client.api

    def close(self) -> None:
        if self._docker is not None:
            self._docker.close()
            self._docker = None

    def ping(self) -> None:
        with translated("ping the Docker engine"):
            self._api.ping()

    # -- reading ----------------------------------------------------------------------------

    def list_containers(self, install: str) -> tuple[ObservedContainer, ...]:
        with translated("list containers"):
            rows = self._api.containers(all=True, filters={"label": [f"{LABEL_INSTALL}={install}"]})
            if self.podman:
                rows = containers_as_docker(rows, self._api.images)
        listed = only_reachable((container_from_listing(r) for r in rows),
                                engine_networks(self._base_url))
        return tuple(sorted(listed, key=lambda c: c.name))

    def running_elsewhere(self, install: str, apps_file: str) -> tuple[ObservedContainer, ...]:
        with translated("list ace's containers"):
            rows = self._api.containers(filters={
                "label": [f"{LABEL_MANAGED}=1", f"{LABEL_APPS_FILE}={apps_file}"],
                "status": "running"})
        return running_elsewhere(rows, install)

    def list_images(self, references: Sequence[str] | None = None) -> tuple[ObservedImage, ...]:
        with translated("list images"):
            if self.podman:
                rows = images_as_docker(self._api.images(), references or ())
            else:
                rows = self._api.images(filters={"reference": list(references)} if references
                                        else None)
        return tuple(image_from_listing(r) for r in rows)

    def logs(self, container_id: str, *, tail: int = 50) -> str:
        with translated(f"read logs of {container_id}"):
            out = self._api.logs(container_id, stdout=True, stderr=True, tail=tail)
        return out.decode("utf-8", "replace")

    def log_lines(self, container_id: str, *, tail: int = -1, since: float = 0.0,
                  follow: bool = False, on_line: Callable[[LogLine], None],
                  stop: threading.Event | None = None) -> None:
        """The logs answer on the SDK's session (`sdk_log_lines`)."""
        sdk_log_lines(self._api, "/containers/{0}/logs", container_id, tail=tail, since=since,
                      follow=follow, on_line=on_line, stop=stop)

    def image_exposed_ports(self, ref: str) -> tuple[int, ...]:
        with translated(f"inspect image {ref}"):
            exposed = self._api.inspect_image(ref)["Config"].get("ExposedPorts") or {}
        return tuple(sorted(int(p.split("/")[0]) for p in exposed if p.endswith("/tcp")))

    def list_volumes(self, install: str) -> tuple[str, ...]:
        with translated("list volumes"):
            res = self._api.volumes(filters={"label": [f"{LABEL_INSTALL}={install}"]})
        return tuple(sorted(v["Name"] for v in (res.get("Volumes") or [])))

    # -- images -----------------------------------------------------------------------------

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
        path = os.path.join(context_dir, containerfile)  # an absolute containerfile stays as is
        if not os.path.isdir(context_dir):
            raise EngineError(f"build {tag}: context directory {context_dir} does not exist")
        try:
            with open(path, encoding="utf-8") as f:
                text = f.read()
        except OSError as e:
            raise EngineError(f"build {tag}: cannot read container file {path}: {e}") from e
        labels = {**labels, LABEL_MANAGED: "1"}
        tail: deque[str] = deque(maxlen=_LOG_TAIL)
        abspath = os.path.abspath(path)

        def failed(why: str = "") -> EngineError:
            return build_failed(tag, list(tail), containerfile=abspath,
                                containerfile_text=text, why=why)

        def emit(line: str) -> None:
            tail.append(line)
            if on_log is not None:
                on_log(line)

        env = dict(os.environ)
        if self._base_url:
            env["DOCKER_HOST"] = self._base_url
        cli = self._cli_for(text, env)
        if cli:
            code = build_with_cli(
                cli,
                context_dir=context_dir,
                containerfile=os.path.abspath(path),
                tag=tag,
                build_args=build_args,
                labels=labels,
                env=env,
                emit=emit,
                target=target,
            )
            if code != 0:
                raise failed(f"{os.path.basename(cli)} build exited with {code}")
        else:
            with translated(f"build {tag}"):
                source = build_source(context_dir, os.path.abspath(path), podman=self.podman)
                for chunk in self._api.build(
                    **source,
                    tag=tag,
                    rm=True,
                    forcerm=True,
                    buildargs=dict(build_args),
                    labels=labels,
                    target=target or None,
                    decode=True,
                ):
                    for line in str(chunk.get("stream") or chunk.get("status") or "").splitlines():
                        if line.strip():
                            emit(line.rstrip())
                    if "error" in chunk:
                        emit(str(chunk["error"]).strip())
                        raise failed()
        with translated(f"inspect built image {tag}"):
            return str(self._api.inspect_image(tag)["Id"])

    def _cli_for(self, text: str, env: Mapping[str, str]) -> str:
        """The BuildKit CLI to build with, or "" for the SDK's classic builder. BuildKit is
        preferred whenever a client has it: it applies image labels as metadata, where the
        classic builder commits an extra layer (measured: ~0.2 s against ~0.8 s for a small
        build). A `# syntax=` line (BuildKit would fetch a frontend image) keeps the classic
        builder unless the file needs BuildKit. Podman has no BuildKit: its build endpoint is
        buildah, which takes `RUN --mount` and friends itself."""
        if self.podman:
            return ""
        if needs_buildkit(text):
            self._buildkit_cli = self._buildkit_cli or find_buildkit_cli(env)
            return self._buildkit_cli
        if _SYNTAX_LINE.search(text):
            return ""
        if self._buildkit_cli is None:
            try:
                self._buildkit_cli = find_buildkit_cli(env)
            except EngineError:
                self._buildkit_cli = ""
        return self._buildkit_cli

    def pull(self, ref: str) -> str:
        with translated(f"pull {ref}"):
            return str(self._client.images.pull(ref).id)

    # -- commands, volumes, networks --------------------------------------------------------

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
        return run_command(self._api, image=image, command=command, env=env, cwd=cwd,
                           labels=labels, mounts=mounts, timeout=timeout, on_output=on_output,
                           network=network)

    # -- volumes ----------------------------------------------------------------------------

    def remove_volume(self, name: str) -> None:
        with translated(f"remove volume {name}"):
            try:
                existing = self._api.inspect_volume(name).get("Labels") or {}
            except docker.errors.NotFound:
                return
            require_managed(existing, f"volume {name}", "remove")
            self._api.remove_volume(name)

    def list_networks(self, install: str) -> tuple[tuple[str, str], ...]:
        with translated("list networks"):
            rows = self._api.networks(filters={"label": [f"{LABEL_INSTALL}={install}"]})
        return tuple(sorted((str(r["Name"]), str(r["Id"])) for r in rows))

    def wire(self, on_flavor: Callable[[bool], None]) -> SdkWire:
        """The transport of `lifecycle.Lifecycle` on this engine's client."""
        return SdkWire(lambda: self._api, on_flavor)


class SdkWire:
    """`lifecycle.Transport` on the SDK's low-level client (its requests session): how the
    lifecycle calls reach an engine plain HTTP cannot (TLS, ssh). Paths get the client's API
    version, as the SDK's own calls do; the client is the SdkEngine's, connected on first use."""

    def __init__(self, api: Callable[[], docker.APIClient],
                 on_flavor: Callable[[bool], None]) -> None:
        self._api = api
        self._on_flavor = on_flavor

    def call(self, method: str, path: str, what: str, *,
             query: Mapping[str, str | int] | None = None, body: Any = None,
             timeout: float | None = None) -> Answer:
        with translated(what):
            api = self._api()
            send = {"GET": api._get, "POST": api._post, "DELETE": api._delete}[method]
            extra: dict[str, Any] = {"timeout": max(timeout, api.timeout)} if timeout else {}
            if body is not None:
                extra.update(data=json.dumps(body), headers={"Content-Type": "application/json"})
            resp = send(f"{api.base_url}/v{api.api_version}{path}", params=query, **extra)
        self._on_flavor(PODMAN_HEADER in resp.headers)
        return Answer(resp.status_code, resp.content)

    def close(self) -> None:
        """Nothing of its own: the SdkEngine closes the client."""
