"""Small builders of the planner's input values, with readable names for golden texts.

Versions are given by hand ("v1", "v2"): the planner only compares them, and a readable version
keeps container names and no-op reasons legible (the hash itself is pinned in test_hashing.py).
Names follow Naming("t", ...): images `ace-t/<slug>:<inputs>`, containers `ace-t-<slug>-<version>`.
"""

from __future__ import annotations

from reconciler.core.desired import Naming
from reconciler.core.hashing import spec_json
from reconciler.core.types import (
    BuildInputs,
    ContainerSpec,
    DesiredApp,
    DesiredState,
    ObservedContainer,
    ObservedImage,
    ObservedState,
    RecordedApp,
    RecordedState,
)

__all__ = ["FILES", "NAMING", "built", "ctr", "images", "pulled", "rec", "recs", "seen", "want"]

NAMING = Naming("t", "/state")
FILES = (("index.html", "d1"), ("Containerfile", "dc"))
HTTPD = ("httpd", "-f", "-p", "8080")
Pairs = tuple[tuple[str, str], ...]


Volumes = tuple[tuple[str, str, str, bool], ...]


def _app(path: str, image: str, build: BuildInputs | None, *, version: str, service: bool,
         env: Pairs, port: int, command: tuple[str, ...], health: str,
         limits: tuple[float | None, int | None] = (None, None), volumes: Volumes = (),
         secret_env: frozenset[str] = frozenset()) -> DesiredApp:
    spec = ContainerSpec(image=image, port=port, command=command, env=env, volumes=volumes,
                         cpus=limits[0], memory=limits[1])
    return DesiredApp(path=path, service=service, image=image, build=build, spec=spec,
                      version=version, health=health, spec_json=spec_json(spec),
                      secret_env=secret_env)


def built(path: str, *, version: str = "v1", inputs: str = "in1", files: Pairs = FILES,
          env: Pairs = (), port: int = 8080, service: bool = True, context: str = "/src",
          command: tuple[str, ...] = (), health: str = "/") -> DesiredApp:
    """An app built from `context` (Containerfile inside), image tagged by its input hash."""
    build = BuildInputs(context, f"{context}/Containerfile", (), inputs, files)
    return _app(path, NAMING.image_tag(path, inputs), build, version=version, service=service,
                env=env, port=port, command=command, health=health)


def pulled(path: str, ref: str = "busybox:latest", *, version: str = "v1", env: Pairs = (),
           port: int = 8080, service: bool = True, command: tuple[str, ...] = HTTPD,
           health: str = "/", limits: tuple[float | None, int | None] = (None, None),
           volumes: Volumes = (), secret_env: frozenset[str] = frozenset()) -> DesiredApp:
    """An app running a pulled image (busybox httpd by default); `limits` are (cpus, memory),
    `secret_env` the env names whose values come from secrets."""
    return _app(path, ref, None, version=version, service=service, env=env, port=port,
                command=command, health=health, limits=limits, volumes=volumes,
                secret_env=secret_env)


def want(*apps: DesiredApp, held: tuple[str, ...] = (), declared: tuple[str, ...] = (),
         prune: bool = True) -> DesiredState:
    """Desired state as desired_state() makes it: every app and held app is declared."""
    paths = {a.path for a in apps} | set(held) | set(declared)
    return DesiredState(apps, held=frozenset(held), declared=frozenset(paths), prune=prune)


def ctr(app: DesiredApp, *, version: str = "", state: str = "running", status: str = "",
        created: int = 1, health: str = "", host_port: int | None = 40001,
        cid: str = "") -> ObservedContainer:
    """A container of `app` (of its version unless `version` names an older one)."""
    v = version or app.version
    name = NAMING.container_name(app.path, v)
    running = state == "running"
    return ObservedContainer(
        id=cid or f"id-{name}", name=name, app=app.path, version=v, state=state,
        status=status or ("Up" if running else state), host_port=host_port if running else None,
        created=created, image=app.image, health=health,
    )


def images(*refs: str) -> tuple[ObservedImage, ...]:
    """Local images, one per tag."""
    return tuple(ObservedImage(id=f"sha-{r}", tags=(r,)) for r in refs)


def seen(*containers: ObservedContainer, tags: tuple[str, ...] = ()) -> ObservedState:
    """What the engine shows: these containers and images tagged `tags`."""
    return ObservedState(containers, images(*tags))


def rec(app: DesiredApp, container: ObservedContainer | None = None) -> RecordedApp:
    """The record a successful apply of `app` leaves (container defaults to ctr(app))."""
    c = container or ctr(app)
    return RecordedApp(path=app.path, version=app.version, image=app.image, container_id=c.id,
                       files=app.build.files if app.build else (), spec_json=app.spec_json)


def recs(*apps: RecordedApp) -> RecordedState:
    return RecordedState(tuple(sorted(apps, key=lambda a: a.path)))
