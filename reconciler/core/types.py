"""Frozen value types of the reconcile pipeline: desired, observed and recorded state, steps, plans.

The planner consumes DesiredState x ObservedState x RecordedState and returns a Plan. Nothing here
holds an SDK or ORM object.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Literal

from apps.model import EvalError
from state.records import Pairs, RecordedApp, RecordedState

__all__ = [
    "LABEL_APP",
    "LABEL_APPS_FILE",
    "LABEL_HEALTH",
    "LABEL_INPUTS",
    "LABEL_INSTALL",
    "LABEL_MANAGED",
    "LABEL_PORT",
    "LABEL_SCHEME",
    "LABEL_VERSION",
    "BuildInputs",
    "ContainerSpec",
    "DesiredApp",
    "DesiredState",
    "NoOp",
    "ObservedContainer",
    "ObservedImage",
    "ObservedState",
    "ObservedTask",
    "Plan",
    "RecordedApp",
    "RecordedState",
    "Step",
    "container_rank",
    "current_container",
]

# Labels ace puts on every container, image and volume it creates.
LABEL_MANAGED = "dev.ace.managed"  # always "1"
LABEL_INSTALL = "dev.ace.install"  # installation id (derived from the state dir)
LABEL_APP = "dev.ace.app"  # app path, e.g. "/web"
LABEL_VERSION = "dev.ace.version"  # container version hash
LABEL_INPUTS = "dev.ace.inputs"  # image build-input hash
LABEL_PORT = "dev.ace.port"  # container port
LABEL_APPS_FILE = "dev.ace.apps_file"  # absolute path of the apps file that declared the app
# how the service is probed: lets status probe a container whose app no longer evaluates
LABEL_SCHEME = "dev.ace.scheme"  # "http" or "https"
LABEL_HEALTH = "dev.ace.health"  # health path, e.g. "/"

# "network": make the app network exist; "connect": join a container to it in place (no
# recreate); "sleep": stop an idle app's container and keep it (the next request starts it)
Action = Literal["build", "pull", "start", "replace", "restart", "scale", "stop", "remove",
                 "remove_image", "network", "connect", "sleep"]


@dataclass(frozen=True, slots=True)
class BuildInputs:
    """A build's inputs. `input_hash` is the content hash of all of them; `files` maps each
    context file (relative path, .dockerignore honoured) to its digest, for change causes;
    `special` holds the context's FIFOs, sockets and devices as (relative path, kind): never
    read, worth a warning."""

    context_dir: str
    containerfile: str  # absolute path
    build_args: Pairs
    input_hash: str
    files: Pairs = ()
    special: Pairs = ()
    target: str = ""  # build only up to this stage (dev mode); "" = the whole file


@dataclass(frozen=True, slots=True)
class ContainerSpec:
    """Everything that defines a running container; its canonical hash is the version."""

    image: str  # reference to run (a tag)
    port: int
    command: tuple[str, ...] = ()
    env: Pairs = ()
    volumes: tuple[tuple[str, str, str, bool], ...] = ()  # (kind, source, target, read_only)
    cpus: float | None = None
    memory: int | None = None
    entrypoint: tuple[str, ...] = ()  # replaces the image's (dev mode: ("sh", "-c"))
    workdir: str = ""  # the container's working directory ("" = the image's)


@dataclass(frozen=True, slots=True)
class DesiredApp:
    """One app as it should run: the image to build or pull, the container spec and its version
    (the hash of the spec: a different version means replace), and how to probe its health."""

    path: str
    service: bool  # True: a long-running container; False: command lifetime (image only)
    image: str  # the reference to run or prepare
    build: BuildInputs | None  # None: pulled image
    spec: ContainerSpec
    version: str  # hash of spec: differs => replace
    scheme: str = "http"
    health: str = "/"
    secret_files: Pairs = ()  # (host path, content) written before the container starts
    spec_json: str = ""  # canonical JSON of spec (for change causes and the record)
    # tasks of the app's service on a cluster (container_opts min_replicas); not part of the
    # version: a change scales the running service in place. One engine runs one container.
    replicas: int = 1
    mode: str = "normal"  # "dev": runs from its mounted source (see `reload`)
    reload: str = ""  # dev mode: what a source change does: none | restart | recreate
    # env names whose values come from {{secret "KEY"}}: masked wherever values are shown; not
    # part of the spec, so never of the version
    secret_env: frozenset[str] = frozenset()
    # the DNS name other apps reach it by on the app network ("/api" -> "api"); not part of the
    # version: joining the network never recreates a container
    alias: str = ""
    # seconds without traffic before `ace watch`/`serve` puts it to sleep: None = the loop's
    # --idle-shutdown, 0 = never (the apps file's app_config "container.idle_shutdown_secs")
    idle_shutdown: float | None = None


@dataclass(frozen=True, slots=True)
class DesiredState:
    """The planner's first input: every app that evaluated, plus the paths that did not (`held`:
    never touched) and whether anything may be removed (`prune`)."""

    apps: tuple[DesiredApp, ...]
    held: frozenset[str] = frozenset()  # apps that failed to evaluate: never touch them
    declared: frozenset[str] = frozenset()  # every app path in the apps file
    prune: bool = True  # False when the apps file itself failed: remove nothing
    touched: frozenset[str] = frozenset()  # dev apps whose mounted source changed (`ace watch`)
    static: frozenset[str] = frozenset()  # static apps: no container, the proxy serves files
    network: str = ""  # the installation's app network every service joins ("" = none)
    # errors found while building the desired state (network alias collisions); their apps
    # are in `held`
    errors: tuple[EvalError, ...] = ()
    # apps kept asleep (stopped, container kept), with why: idle, or not started yet (lazy)
    idle: Pairs = ()
    wake: frozenset[str] = frozenset()  # apps a request waits for: started with that cause

    def idle_apps(self) -> frozenset[str]:
        return frozenset(app for app, _ in self.idle)


@dataclass(frozen=True, slots=True)
class ObservedTask:
    """One task (replica) of a cluster service: where it runs and how to reach it."""

    id: str
    node: str  # node hostname
    state: str  # cluster task state: new, pending, ..., starting, running, failed, shutdown, ...
    address: str = ""  # "node-ip:published-port" of the service port ("" before it runs)
    error: str = ""  # why it failed or was rejected
    desired: str = "running"  # the state the cluster wants it in
    since: int = 0  # unix seconds of its last state change
    node_up: bool = True  # False when its node is down (a task there is being rescheduled)


@dataclass(frozen=True, slots=True)
class ObservedContainer:
    """A container of this installation as the engine lists it (one sparse listing per pass)."""

    id: str
    name: str
    app: str
    version: str
    state: str  # engine state: created, running, exited, paused, restarting, dead
    status: str = ""  # engine status text, e.g. "Exited (1) 3 seconds ago"
    host_port: int | None = None
    created: int = 0  # unix seconds
    image: str = ""
    health: str = ""  # "" unknown; "unhealthy: <detail>" set by `ace watch` after failed probes
    address: str = ""  # "ip:port" of the service port on the container's network ("" unknown)
    # (network name, network id) of every network it is attached to, from the listing
    networks: tuple[tuple[str, str], ...] = ()
    scheme: str = ""  # from its labels: how it is probed ("" for containers without them)
    health_path: str = ""
    # A cluster service stands for its app like a container: `replicas` is how many tasks the
    # cluster runs (0: a plain container), `tasks` are its current and recent tasks, and
    # `changed_outside` says what was changed by hand ("": nothing).
    replicas: int = 0
    tasks: tuple[ObservedTask, ...] = ()
    changed_outside: str = ""
    replicas_set: int = 0  # the replicas ace last set (differs when scaled by hand)
    # unix seconds the container last started / finished (from an inspect only; 0 unknown)
    started_at: float = 0.0
    finished_at: float = 0.0

    @property
    def running_tasks(self) -> tuple[ObservedTask, ...]:
        """Tasks that run and can be reached (a service's replicas that serve)."""
        return tuple(t for t in self.tasks if t.state == "running" and t.desired == "running"
                     and t.address and t.node_up)


def container_rank(c: ObservedContainer, version: str = "") -> tuple[bool, bool, int, str]:
    """How much a container stands for its app: running first, then of `version`, then newest."""
    return (c.state == "running", bool(version) and c.version == version, c.created, c.id)


def current_container(containers: Iterable[ObservedContainer], app: str, version: str = ""
                      ) -> ObservedContainer | None:
    """The app's current container, by one rule the planner, status, drift and log following
    share: a running one before others, one of `version` (the desired one) before others, then
    the newest. Containers of `ace run` commands (no version label) never count."""
    mine = [c for c in containers if c.app == app and c.version]
    return max(mine, key=lambda c: container_rank(c, version)) if mine else None


@dataclass(frozen=True, slots=True)
class ObservedImage:
    """An image as the engine lists it; `app`/`inputs` from ace's labels on images it built."""

    id: str
    tags: tuple[str, ...]
    app: str = ""  # from labels, for ace-built images
    inputs: str = ""
    install: str = ""  # the installation label ("" when none)


@dataclass(frozen=True, slots=True)
class ObservedState:
    """The planner's second input: what the engine runs and holds, read once per pass."""

    containers: tuple[ObservedContainer, ...]
    images: tuple[ObservedImage, ...]
    # tags known present without an image listing: a listed container still shows the name it
    # was created from only while that name resolves to its image (else the engine shows an id)
    vouched: frozenset[str] = frozenset()
    # (name, id) of this installation's networks; None: not listed (a running container on the
    # app network shows it exists, so a pass lists networks only when none does)
    networks: tuple[tuple[str, str], ...] | None = None

    def image_tags(self) -> frozenset[str]:
        tags: set[str] = set(self.vouched)
        for img in self.images:
            tags.update(img.tags)
        return frozenset(tags)



@dataclass(frozen=True, slots=True)
class Step:
    """One action of a plan on one target, with the human cause that made the planner choose
    it and the ids of the steps it must wait for (an app's steps run in order; a step whose
    dependency failed is skipped)."""

    id: str  # unique in a plan, e.g. "build:/web"
    action: Action
    app: str
    target: str  # image ref or container name/id the step acts on
    cause: str
    depends_on: tuple[str, ...] = ()
    reload: bool = False  # a dev-mode reload a save asked for (not a retry: never backed off)

    def render(self) -> str:
        if not self.app:  # a step of the whole installation (the app network)
            return f"{self.action} {self.target} ({self.cause})"
        return f"{self.action} {self.app} {self.target} ({self.cause})"


@dataclass(frozen=True, slots=True)
class NoOp:
    """An app the planner left alone, and why ("running abc123...", "app has errors: ...")."""

    app: str
    reason: str

    def render(self) -> str:
        return f"ok {self.app} ({self.reason})"


@dataclass(frozen=True, slots=True)
class Plan:
    """The planner's output: the steps to take and the reasons nothing was done for the rest.
    `render()` is one line per step (and no-op): what `ace plan` prints and tests compare."""

    steps: tuple[Step, ...]
    noops: tuple[NoOp, ...] = field(default=())

    @property
    def empty(self) -> bool:
        return not self.steps

    def render(self, *, noops: bool = False) -> str:
        lines = [s.render() for s in self.steps]
        if noops:
            lines += [n.render() for n in self.noops]
        return "\n".join(lines)
