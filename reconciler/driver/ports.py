"""The interface of the one package that talks to an engine (`driver.engine.DockerEngine`
implements it; tests/fakes.py holds an in-memory twin that the same contract suite,
tests/engine/test_driver_contract.py, runs against)."""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from apps.errors import EngineError
from reconciler.core.types import ObservedContainer, ObservedImage

if TYPE_CHECKING:
    from reconciler.driver.values import CommandResult, LogLine, VolumeMount

__all__ = ["CommandResult", "Engine", "ImageInUse", "LogLine", "NotManaged", "SeesOtherInstalls",
           "VolumeMount"]


class NotManaged(EngineError):
    """The engine refused to touch an object because its labels do not make it ace's."""


class ImageInUse(EngineError):
    """The engine refused to remove an image because a container (any, ace's or not) uses it."""


_VALUES = ("CommandResult", "LogLine", "VolumeMount")


def __getattr__(name: str) -> Any:
    """The protocol's own small values (`driver.values`) load on first use: a no-op pass
    makes none of them."""
    if name in _VALUES:
        from reconciler.driver import values

        return getattr(values, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


class Engine(Protocol):
    """Every method raises apps.errors.EngineError (retryable=True when the engine does not
    answer; NotManaged when an object's labels forbid touching it). Nothing here touches an
    object without the installation label it is given."""

    def ping(self) -> None: ...

    def list_containers(self, install: str) -> tuple[ObservedContainer, ...]:
        """All containers (any state) labelled with this installation: ONE sparse API call."""
        ...

    def list_images(self, references: Sequence[str] | None = None) -> tuple[ObservedImage, ...]:
        """Local images (tags and ace labels): ONE API call, no per-image inspect. With
        `references`, only images tagged with one of them, or with any tag of a reference
        that names a repository (filtered by the engine)."""
        ...

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
        """Build (only up to stage `target` when given) and tag; returns the image id. The
        failing step's last lines are in the EngineError."""
        ...

    def pull(self, ref: str) -> str: ...

    def image_exposed_ports(self, ref: str) -> tuple[int, ...]: ...

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
        """Create and start with init, publishing `port` on 127.0.0.1 with an engine-chosen host
        port; returns the started container with host_port filled in. `entrypoint` (when given)
        replaces the image's, `workdir` its working directory. One engine runs one container
        whatever `replicas` says; a cluster runs that many tasks. With `network` (which must
        exist: `ensure_network`) the container is attached to it, answering to `aliases`,
        instead of the default bridge."""
        ...

    def scale(self, container_id: str, replicas: int) -> ObservedContainer:
        """Run `replicas` tasks of a cluster service (the planner asks only for services
        observed with replicas; one engine refuses)."""
        ...

    def start(self, container_id: str) -> ObservedContainer: ...

    def restart(self, container_id: str, *, timeout: float = 5.0) -> ObservedContainer:
        """Stop (within `timeout`) and start the same container again; it keeps its id."""
        ...

    def inspect(self, container_id: str) -> ObservedContainer | None:
        """One container's current state, None when it is gone."""
        ...

    def stop(self, container_id: str, *, timeout: float = 5.0) -> None:
        """Stop a running container (within `timeout`) and keep it, to be started again; one
        not running is left as it is. Refuses containers ace did not make."""
        ...

    def stop_and_remove(self, container_id: str, *, timeout: float = 5.0) -> None:
        """Stop (if running) and remove; a container already gone is not an error."""
        ...

    def logs(self, container_id: str, *, tail: int = 50) -> str: ...

    def log_lines(self, container_id: str, *, tail: int = -1, since: float = 0.0,
                  follow: bool = False, on_line: Callable[[LogLine], None],
                  stop: threading.Event | None = None) -> None:
        """The last `tail` lines (-1: all) printed since `since` (unix seconds; 0: any time),
        each with its stream and time; with `follow`, then new lines as they come until the
        container stops or is removed, or `stop` is set."""
        ...

    def remove_image(self, ref: str) -> None: ...

    def list_volumes(self, install: str) -> tuple[str, ...]: ...

    def list_networks(self, install: str) -> tuple[tuple[str, str], ...]:
        """(name, id) of the networks labelled with this installation: ONE API call."""
        ...

    def ensure_network(self, name: str, labels: Mapping[str, str]) -> str:
        """Make the bridge network `name` exist, created with `labels` (which must name the
        installation) plus the managed mark; returns its id. An existing one is kept when it is
        ace's and of the same installation; any other network of that name is refused."""
        ...

    def connect(self, container_id: str, network: str, aliases: Sequence[str]) -> None:
        """Attach a container (running or not) to `network` in place, answering to `aliases`.
        Nothing happens when it is attached already; an attachment to a network of that name
        removed since (a stopped container keeps it) is replaced. Refuses containers ace did
        not make and containers of another installation than the network's."""
        ...

    def disconnect(self, container_id: str, network: str) -> None:
        """Detach a container from `network`; not attached (or gone) is not an error."""
        ...

    def remove_network(self, name: str) -> bool:
        """Remove ace's network `name` when no running container is attached; returns whether
        it was removed (False: missing or in use). Refuses a network ace did not make."""
        ...

    def ensure_volume(self, name: str, labels: Mapping[str, str]) -> None: ...

    def remove_volume(self, name: str) -> None: ...

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
        """A fresh --rm container of `image` running `command`; stdout/stderr kept apart.
        `on_output` gets the output (both streams, as text) while the command runs. With
        `network` (which must exist: `ensure_network`) the container is attached to it instead
        of the default network, with no alias: it reaches the apps there by theirs."""
        ...


@runtime_checkable
class SeesOtherInstalls(Protocol):
    """An engine that can say which apps other ace installations run (an optional capability:
    without it, ace does not warn about starting an app another installation runs)."""

    def running_elsewhere(self, install: str, apps_file: str) -> tuple[ObservedContainer, ...]:
        """Running service containers of apps of `apps_file` (their apps-file label) that
        ace installations other than `install` made: ONE listing, read only (nothing of
        another installation is ever touched)."""
        ...
