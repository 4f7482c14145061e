"""Dev mode in the pure planner, as a table: (desired, observed, recorded) -> the plan's lines,
with the causes a person reads ("dev: source changed, reload restart", "dev: env file changed:
requirements.txt", "dev mode on")."""

from __future__ import annotations

from dataclasses import replace

import pytest

from reconciler.core.hashing import spec_json
from reconciler.core.planner import plan
from reconciler.core.types import ContainerSpec, DesiredApp, DesiredState, ObservedState
from tests.core.builders import NAMING, built, ctr, rec, recs, seen, want

ENV = (("requirements.txt", "r1"),)


def dev(path: str = "/web", *, reload: str = "restart", version: str = "d1",
        inputs: str = "din1", files: tuple[tuple[str, str], ...] = ENV) -> DesiredApp:
    """A dev-mode app: dev image, `sh -c` in the mounted source at /app."""
    base = built(path, version=version, inputs=inputs, files=files)
    image = NAMING.dev_image_tag(path, inputs)
    spec = ContainerSpec(image=image, port=8080, command=("python app.py",),
                         volumes=(("bind", "/src", "/app", False),), entrypoint=("sh", "-c"),
                         workdir="/app")
    assert base.build is not None
    return replace(base, image=image, spec=spec, spec_json=spec_json(spec), mode="dev",
                   reload=reload, build=replace(base.build, target="dev"))


def touched(d: DesiredState, *paths: str) -> DesiredState:
    return replace(d, touched=frozenset(paths))


def lines(d: DesiredState, o: ObservedState, r: object) -> list[str]:
    p = plan(d, o, r)  # type: ignore[arg-type]
    return [s.render() for s in p.steps] + [n.render() for n in p.noops]


DEV = dev()
RUNNING = seen(ctr(DEV), tags=(DEV.image,))
RECORDED = recs(rec(DEV))
DEV_CF = dev(files=(*ENV, ("Containerfile", "c1")))  # the container file in the manifest

CASES = [
    pytest.param(touched(want(DEV), "/web"), RUNNING, RECORDED,
                 ["restart /web ace-t-web-d1 (dev: source changed, reload restart)"],
                 id="source-restart"),
    pytest.param(touched(want(dev(reload="recreate")), "/web"), RUNNING, RECORDED,
                 ["replace /web ace-t-web-d1 (dev: source changed, reload recreate)"],
                 id="source-recreate"),
    pytest.param(touched(want(dev(reload="none")), "/web"), RUNNING, RECORDED,
                 ["ok /web (dev: source changed, reload none: the app's own reloader sees it)"],
                 id="source-none"),
    pytest.param(want(DEV), RUNNING, RECORDED, ["ok /web (running d1)"], id="untouched"),
    pytest.param(touched(want(dev(version="d2", inputs="din2",
                                  files=(("requirements.txt", "r2"),))), "/web"),
                 RUNNING, RECORDED,
                 ["build /web ace-t/web:dev-din2 (dev: env file changed: requirements.txt)",
                  "replace /web ace-t-web-d1 (dev: env file changed: requirements.txt)"],
                 id="env-file-rebuilds"),
    pytest.param(want(dev(version="d2", inputs="din2", files=(*ENV, ("Containerfile", "c2")))),
                 seen(ctr(DEV_CF), tags=(DEV_CF.image,)), recs(rec(DEV_CF)),
                 ["build /web ace-t/web:dev-din2 (dev image inputs changed: Containerfile)",
                  "replace /web ace-t-web-d1 (dev image inputs changed: Containerfile)"],
                 id="container-file-rebuilds"),
    pytest.param(want(dev(version="d2", inputs="din2")), RUNNING, RECORDED,
                 ["build /web ace-t/web:dev-din2 (dev image inputs changed: build args or "
                  "target)",
                  "replace /web ace-t-web-d1 (dev image inputs changed: build args or target)"],
                 id="build-args-rebuild"),
    pytest.param(want(DEV), seen(tags=(DEV.image,)), RECORDED,
                 ["start /web ace-t/web:dev-din1 (container gone)"], id="dev-container-gone"),
]


@pytest.mark.parametrize(("desired", "observed", "recorded", "expected"), CASES)
def test_dev_rules(desired: DesiredState, observed: ObservedState, recorded: object,
                   expected: list[str]) -> None:
    """Each dev-mode situation gives exactly these steps and no-op reasons."""
    assert lines(desired, observed, recorded) == expected


def test_switching_to_dev_and_back_replaces() -> None:
    """An app recorded in normal mode and now in dev mode is rebuilt and replaced with the
    cause "dev mode on"; the other way round, "dev mode off"."""
    normal = built("/web", version="v1")
    on = lines(want(DEV), seen(ctr(normal), tags=(normal.image,)), recs(rec(normal)))
    assert on == ["build /web ace-t/web:dev-din1 (dev mode on)",
                  "replace /web ace-t-web-v1 (dev mode on)"]
    off = lines(want(normal), seen(ctr(DEV), tags=(DEV.image, normal.image)), RECORDED)
    assert off == ["replace /web ace-t-web-d1 (dev mode off)"]


def test_touched_is_ignored_for_normal_apps() -> None:
    """A normal app never restarts for `touched`: its source changes are build inputs."""
    normal = built("/web", version="v1")
    assert lines(touched(want(normal), "/web"), seen(ctr(normal), tags=(normal.image,)),
                 recs(rec(normal))) == ["ok /web (running v1)"]
