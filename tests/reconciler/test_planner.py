"""Table-driven planner tests: (desired, observed, recorded) -> rendered plan. No engine."""

from __future__ import annotations

import dataclasses

import pytest

from reconciler.core.hashing import spec_json, version_of
from reconciler.core.planner import PlanOptions, plan
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

FILES = (("index.html", "-aaa"), ("Containerfile", "-ccc"))


def app(path: str = "/web", *, build: bool = True, service: bool = True,
        files: tuple[tuple[str, str], ...] = FILES, env: tuple[tuple[str, str], ...] = (),
        port: int = 8080, health: str = "/", scheme: str = "http",
        inputs: str = "h1") -> DesiredApp:
    image = f"ace-i/{path.strip('/') or 'root'}:{inputs}" if build else "busybox:latest"
    spec = ContainerSpec(image=image, port=port, env=env)
    b = BuildInputs("/src", "/src/Containerfile", (), inputs, files) if build else None
    return DesiredApp(path=path, service=service, image=image, build=b, spec=spec,
                      version=version_of(spec), scheme=scheme, health=health,
                      spec_json=spec_json(spec))


def running(a: DesiredApp, *, state: str = "running", name: str = "", created: int = 1,
            version: str = "") -> ObservedContainer:
    v = version or a.version
    return ObservedContainer(id=f"id-{name or a.path}-{v[:4]}-{state}",
                             name=name or f"c{a.path}-{v[:6]}", app=a.path, version=v,
                             state=state, status=state, host_port=40000, created=created)


def recorded(a: DesiredApp, files: tuple[tuple[str, str], ...] = FILES) -> RecordedApp:
    return RecordedApp(path=a.path, version=a.version, image=a.image, container_id="x",
                       files=files, spec_json=a.spec_json)


def images(*apps: DesiredApp) -> tuple[ObservedImage, ...]:
    return tuple(ObservedImage(id=f"sha-{a.image}", tags=(a.image,)) for a in apps)


def render(desired: DesiredState, observed: ObservedState, rec: RecordedState) -> list[str]:
    return plan(desired, observed, rec).render().splitlines()


WEB = app()
WEB_NEW_FILE = app(files=(("index.html", "-bbb"), ("Containerfile", "-ccc")), inputs="h2")
WEB_ENV = app(env=(("GREETING", "hi"),))
WEB_HEALTH = app(health="/healthz", scheme="https")
WEB_PORT = app(port=9090)
HELLO = app("/hello", build=False)
CMD = app("/cmd", build=False, service=False)

CASES = [
    pytest.param(
        DesiredState((WEB,)), ObservedState((), ()), RecordedState(),
        [f"build /web {WEB.image} (image not built yet)",
         f"start /web {WEB.image} (new app)"], id="new-build-app"),
    pytest.param(
        DesiredState((WEB,)), ObservedState((running(WEB),), images(WEB)),
        RecordedState((recorded(WEB),)), [], id="unchanged-no-steps"),
    pytest.param(
        DesiredState((WEB_NEW_FILE,)), ObservedState((running(WEB),), images(WEB)),
        RecordedState((recorded(WEB),)),
        [f"build /web {WEB_NEW_FILE.image} (build inputs changed: index.html)",
         f"replace /web {running(WEB).name} (build inputs changed: index.html)"],
        id="build-input-change-builds-and-replaces"),
    pytest.param(
        DesiredState((WEB_ENV,)), ObservedState((running(WEB),), images(WEB)),
        RecordedState((recorded(WEB),)),
        [f"replace /web {running(WEB).name} (env GREETING: (unset) → hi)"],
        id="env-change-replaces-without-build"),
    pytest.param(
        DesiredState((WEB_PORT,)), ObservedState((running(WEB),), images(WEB)),
        RecordedState((recorded(WEB),)),
        [f"replace /web {running(WEB).name} (port: 8080 → 9090)"], id="port-change-replaces"),
    pytest.param(
        DesiredState((WEB_HEALTH,)), ObservedState((running(WEB),), images(WEB)),
        RecordedState((recorded(WEB),)), [], id="health-and-scheme-change-nothing"),
    pytest.param(
        DesiredState((WEB,)), ObservedState((running(WEB, state="exited"),), images(WEB)),
        RecordedState((recorded(WEB),)),
        [f"restart /web {running(WEB).name} (container exited: exited)"],
        id="exited-restarts"),
    pytest.param(
        DesiredState((WEB,)),
        ObservedState((dataclasses.replace(running(WEB), health="unhealthy: timed out"),),
                      images(WEB)),
        RecordedState((recorded(WEB),)),
        [f"replace /web {running(WEB).name} (health check failing: timed out)"],
        id="unhealthy-replaced"),
    pytest.param(
        DesiredState((WEB,)), ObservedState((), images(WEB)), RecordedState((recorded(WEB),)),
        [f"start /web {WEB.image} (container gone)"], id="gone-starts"),
    pytest.param(
        DesiredState((WEB,)), ObservedState((running(WEB),), ()), RecordedState((recorded(WEB),)),
        [f"build /web {WEB.image} (image removed outside ace)"], id="image-removed-rebuilds"),
    pytest.param(
        DesiredState((HELLO,)), ObservedState((), ()), RecordedState(),
        ["pull /hello busybox:latest (image missing locally)",
         "start /hello busybox:latest (new app)"], id="image-app-pulls-when-missing"),
    pytest.param(
        DesiredState((HELLO,)), ObservedState((), images(HELLO)), RecordedState(),
        ["start /hello busybox:latest (new app)"], id="image-app-present-no-pull"),
    pytest.param(
        DesiredState((CMD,)), ObservedState((), images(CMD)), RecordedState(), [],
        id="command-app-image-ready"),
    pytest.param(
        DesiredState((CMD,)), ObservedState((running(CMD),), images(CMD)), RecordedState(),
        [f"stop /cmd {running(CMD).name} (lifetime is command: no service runs)"],
        id="switch-to-command-stops-service"),
    pytest.param(
        DesiredState((), declared=frozenset()), ObservedState((running(WEB),), images(WEB)),
        RecordedState((recorded(WEB),)),
        [f"remove /web {running(WEB).name} (app removed from apps file)"], id="removed-app"),
    pytest.param(
        DesiredState((), held=frozenset({"/web"}), declared=frozenset({"/web"})),
        ObservedState((running(WEB),), images(WEB)), RecordedState((recorded(WEB),)), [],
        id="broken-app-held"),
    pytest.param(
        DesiredState((), prune=False), ObservedState((running(WEB),), images(WEB)),
        RecordedState((recorded(WEB),)), [], id="broken-apps-file-removes-nothing"),
    pytest.param(
        DesiredState((WEB,)),
        ObservedState((running(WEB, created=2), running(WEB, name="dup", created=1)), images(WEB)),
        RecordedState((recorded(WEB),)),
        ["remove /web dup (duplicate container)"], id="duplicate-after-kill-removed"),
    pytest.param(
        DesiredState((WEB_ENV,)),
        ObservedState((running(WEB_ENV, created=2), running(WEB, created=1)), images(WEB)),
        RecordedState((recorded(WEB),)),
        [f"remove /web {running(WEB).name} (stale older version)"],
        id="killed-mid-replace-keeps-new-removes-old"),
]


@pytest.mark.parametrize(("desired", "observed", "rec", "expected"), CASES)
def test_plan_table(desired: DesiredState, observed: ObservedState, rec: RecordedState,
                    expected: list[str]) -> None:
    """Each (desired, observed, recorded) triple plans exactly the expected steps."""
    assert render(desired, observed, rec) == expected


def test_only_changed_app_touched() -> None:
    """With two apps, a change to one plans steps only for that one."""
    desired = DesiredState((WEB_ENV, HELLO))
    observed = ObservedState((running(WEB), running(HELLO)), images(WEB, HELLO))
    p = plan(desired, observed, RecordedState((recorded(WEB), recorded(HELLO))))
    assert {s.app for s in p.steps} == {"/web"}
    assert [n.app for n in p.noops] == ["/hello"]


def test_pull_policies() -> None:
    """--pull always pulls a present image; --pull never blocks a missing one with a reason."""
    always = plan(DesiredState((HELLO,)), ObservedState((), images(HELLO)), RecordedState(),
                  PlanOptions(pull="always"))
    assert [s.render() for s in always.steps][0] == "pull /hello busybox:latest (--pull always)"
    never = plan(DesiredState((HELLO,)), ObservedState((), ()), RecordedState(),
                 PlanOptions(pull="never"))
    assert never.steps == ()
    assert "--pull never" in never.noops[0].reason


def test_steps_depend_on_image_step() -> None:
    """start/replace depend on the build so a failed build skips them."""
    p = plan(DesiredState((WEB,)), ObservedState((), ()), RecordedState())
    assert p.steps[1].depends_on == ("build:/web",)


@pytest.mark.parametrize(
    ("desired", "observed", "rec"),
    [pytest.param(*c.values[:3], id=c.id) for c in CASES if c.values[3]],
)
def test_idempotent_after_apply(desired: DesiredState, observed: ObservedState,
                                rec: RecordedState) -> None:
    """Simulating each plan's effect gives a state whose next plan is empty."""
    p = plan(desired, observed, rec)
    conts = {c.name: c for c in observed.containers}
    tags = set(observed.image_tags())
    for s in p.steps:
        a = next((d for d in desired.apps if d.path == s.app), None)
        if s.action in ("build", "pull"):
            tags.add(s.target)
        elif s.action in ("start", "replace", "restart"):
            assert a is not None
            if s.action != "start":
                conts.pop(s.target, None)
            new = running(a, created=9)
            conts[new.name] = new
        elif s.action in ("stop", "remove"):
            conts.pop(s.target, None)
    after = ObservedState(tuple(conts.values()),
                          tuple(ObservedImage(id=t, tags=(t,)) for t in tags))
    new_rec = RecordedState(tuple(recorded(a, a.build.files if a.build else ())
                                  for a in desired.apps))
    assert plan(desired, after, new_rec).steps == ()


def test_plan_is_pure_and_deterministic() -> None:
    """The same inputs give equal plans; inputs are frozen values."""
    args = (DesiredState((WEB, HELLO)), ObservedState((), ()), RecordedState())
    assert plan(*args) == plan(*args)
    with pytest.raises(dataclasses.FrozenInstanceError):
        WEB.path = "/x"  # type: ignore[misc]
