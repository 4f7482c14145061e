"""observe(): what one pass asks the engine. Running containers vouch for their images, so a
pass where everything runs makes one listing call; only the other apps' images are listed."""

from __future__ import annotations

from reconciler.apply.pipeline import observe
from reconciler.core.planner import plan
from reconciler.core.types import (
    LABEL_APP,
    LABEL_INSTALL,
    LABEL_VERSION,
    BuildInputs,
    ContainerSpec,
    DesiredApp,
    DesiredState,
    RecordedState,
)
from tests.fakes import FakeEngine

INSTALL = "inst-observe"
BUILT = "ace-inst/web:1"


def service(path: str, image: str, version: str = "v1", built: bool = False) -> DesiredApp:
    build = BuildInputs("/ctx", "/ctx/Containerfile", (), "h1") if built else None
    return DesiredApp(path, True, image, build, ContainerSpec(image, 8080), version)


def command_app(path: str, image: str) -> DesiredApp:
    return DesiredApp(path, False, image, None, ContainerSpec(image, 0), "c1")


def engine_with(*apps: DesiredApp) -> FakeEngine:
    """An engine with busybox and the built image, each given app's container running."""
    engine = FakeEngine(images=("busybox:latest", BUILT, "other:1"))
    for a in apps:
        engine.run_container(name=f"n{a.path.strip('/')}", image=a.image, port=8080,
                             command=["sleep", "1"], env={}, mounts=[],
                             labels={LABEL_INSTALL: INSTALL, LABEL_APP: a.path,
                                     LABEL_VERSION: a.version})
    engine.calls.clear()
    return engine


def test_everything_running_is_one_listing_call_and_plans_nothing() -> None:
    web, hello = service("/web", BUILT, built=True), service("/hello", "busybox:latest")
    engine = engine_with(web, hello)
    observed = observe(engine, INSTALL, DesiredState((web, hello)))
    assert dict(engine.calls) == {"list_containers": 1}
    assert observed.images == () and observed.image_tags() == {BUILT, "busybox:latest"}
    assert plan(DesiredState((web, hello)), observed, RecordedState(())).steps == ()


def test_only_images_not_vouched_for_are_listed() -> None:
    """A command app (no container), a new version (its image is not the running one's) and a
    stopped container each need their image looked up: one filtered listing for all."""
    web = service("/web", BUILT, built=True)
    engine = engine_with(web, service("/old", "busybox:latest"))
    engine.crash(next(iter(engine.containers)))  # /web's container exited
    desired = DesiredState((web, service("/old", "other:1", version="v2"),
                            command_app("/cmd", "busybox:latest")))
    observed = observe(engine, INSTALL, desired)
    assert dict(engine.calls) == {"list_containers": 1, "list_images": 1}
    assert observed.vouched == frozenset()
    assert {t for i in observed.images for t in i.tags} == {BUILT, "busybox:latest", "other:1"}


def test_an_image_renamed_away_is_not_vouched_for() -> None:
    """Once the tag is removed outside ace, the listing shows the container's image id: the
    image is listed, found missing, and rebuilt."""
    web = service("/web", BUILT, built=True)
    engine = engine_with(web)
    for img in engine.images.values():
        img.tags.discard(BUILT)
    observed = observe(engine, INSTALL, DesiredState((web,)))
    assert engine.calls["list_images"] == 1 and BUILT not in observed.image_tags()
    steps = plan(DesiredState((web,)), observed, RecordedState(())).steps
    assert [s.action for s in steps] == ["build"]


def test_without_desired_state_every_image_is_listed() -> None:
    """status and drift see everything."""
    engine = engine_with(service("/hello", "busybox:latest"))
    observed = observe(engine, INSTALL)
    assert dict(engine.calls) == {"list_containers": 1, "list_images": 1}
    assert {t for i in observed.images for t in i.tags} == {BUILT, "busybox:latest", "other:1"}
