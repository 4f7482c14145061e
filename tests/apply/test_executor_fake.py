"""The executor on hand-built plans against the contract-checked fake engine (no Docker): failures
are values, skips name the failed step, a replace is zero-downtime, the parallelism limit holds,
and what the store records. Health checks are real HTTP GETs answered by ServingFake."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Literal

import pytest

from reconciler.apply.executor import (
    BUILDS_AT_ONCE,
    ApplyOptions,
    ApplyResult,
    StepOutcome,
    apply_plan,
)
from reconciler.apply.record import adopt
from reconciler.core.types import (
    LABEL_APP,
    LABEL_INSTALL,
    LABEL_VERSION,
    DesiredApp,
    DesiredState,
    ObservedContainer,
    ObservedState,
    Plan,
    RecordedApp,
    RecordedState,
    Step,
)
from state import Store
from tests.apply.kit import ServingFake, context
from tests.core.builders import FILES, NAMING, built, pulled, want

INSTALL = NAMING.install
DEFAULTS = ApplyOptions()
Action = Literal["build", "pull", "start", "replace", "restart", "stop", "remove"]


def step(action: Action, app: DesiredApp, target: str = "", *after: str) -> Step:
    """A step as the planner writes it (id, target defaulting to the app's image)."""
    sid = f"{action}:{app.path}" + (f":{target}" if action in ("stop", "remove") else "")
    return Step(sid, action, app.path, target or app.image, "by hand", tuple(after))


def name(app: DesiredApp) -> str:
    return NAMING.container_name(app.path, app.version)


def observe(engine: ServingFake) -> ObservedState:
    return ObservedState(engine.list_containers(INSTALL), engine.list_images())


def apply(engine: ServingFake, store: Store, desired: DesiredState, *steps: Step,
          on_event: Callable[[str, StepOutcome], None] = lambda kind, outcome: None,
          options: ApplyOptions = DEFAULTS) -> ApplyResult:
    """Apply the hand-built plan to what the fake shows now."""
    return apply_plan(Plan(steps), desired, observe(engine), engine=engine, recorder=store,
                      naming=NAMING, options=options, on_event=on_event)


def outcomes(result: ApplyResult) -> list[tuple[str, str]]:
    return [(o.step.id, o.outcome) for o in result.outcomes]


def running(engine: ServingFake) -> list[tuple[str, str]]:
    return [(c.app, c.name) for c in engine.list_containers(INSTALL) if c.state == "running"]


def launch(engine: ServingFake, app: DesiredApp) -> ObservedContainer:
    """A container of `app` started outside the executor (as a lost state dir leaves it)."""
    return engine.run_container(
        name=name(app), image=app.image, port=app.spec.port, command=app.spec.command, env={},
        mounts=[], labels={LABEL_INSTALL: INSTALL, LABEL_APP: app.path,
                           LABEL_VERSION: app.version},
    )


def test_failed_build_does_not_stop_another_app(tmp_path: Path, engine: ServingFake,
                                                store: Store) -> None:
    """One app's failing build fails that app only; the other app builds and starts."""
    bad = built("/bad", context=context(tmp_path, "bad", "FROM busybox:latest\nRUN false\n"))
    web = built("/web", context=context(tmp_path, "web"))
    result = apply(engine, store, want(bad, web),
                   step("build", bad), step("start", bad, "", "build:/bad"),
                   step("build", web), step("start", web, "", "build:/web"))
    assert outcomes(result) == [("build:/bad", "failed"), ("start:/bad", "skipped"),
                                ("build:/web", "done"), ("start:/web", "done")]
    assert (result.ok, result.changed) == (False, True)
    assert running(engine) == [("/web", name(web))]
    assert [r.path for r in store.recorded().apps] == ["/web"]


def test_skip_names_the_failed_step(tmp_path: Path, engine: ServingFake, store: Store) -> None:
    """A start after a failed build is skipped with a message naming the build; the build's
    failure names the failing step, its container file line, exit code and last output, and
    the outcome carries them apart; the build's lines went to `on_output` as they came."""
    ctx = context(tmp_path, "bad", "FROM busybox:latest\n\n# why\nRUN echo half-way && false\n")
    bad = built("/bad", context=ctx)
    lines: list[tuple[str, str]] = []
    result = apply(engine, store, want(bad), step("build", bad),
                   step("start", bad, "", "build:/bad"),
                   options=ApplyOptions(on_output=lambda app, line: lines.append((app, line))))
    failed, skipped = result.outcomes
    where = f"{ctx}/Containerfile:4"
    assert failed.message.splitlines() == [
        f"build of ace-t/bad:in1 failed at step [2/2] RUN echo half-way && false ({where}): "
        "exit code 1", "half-way",
        "The command '/bin/sh -c echo half-way && false' returned a non-zero code: 1"]
    assert (failed.failed_step, failed.where, failed.exit_code) == (
        "[2/2] RUN echo half-way && false", where, "1")
    assert failed.logs.splitlines()[0] == "half-way"
    assert lines[0] == ("/bad", "-- building ace-t/bad:in1 (by hand)")
    assert lines[1] == ("/bad", "Step 1/2 : FROM busybox:latest") and ("/bad", "half-way") in lines
    assert lines[-1] == ("/bad", "-- " + failed.message.splitlines()[0])
    assert (skipped.outcome, skipped.message) == ("skipped", "skipped: build:/bad did not succeed")
    assert skipped.seconds == 0.0
    assert engine.calls["run_container"] == 0


def test_replace_starts_new_and_waits_healthy_before_stopping_old(engine: ServingFake,
                                                                  store: Store) -> None:
    """A replace runs the new container, sees it healthy, switches, and only then stops the
    old one; the store forgets the old container and records the new."""
    old, new = pulled("/web"), pulled("/web", version="v2", env=(("MODE", "prod"),))
    assert apply(engine, store, want(old), step("start", old)).ok
    old_id = engine.list_containers(INSTALL)[0].id
    engine.events.clear()
    switches: list[tuple[str, str, str | None, str]] = []

    def on_switch(app: str, url: str, previous: str | None, address: str) -> None:
        engine.log("switch", app)
        seen = engine.inspect(old_id)
        switches.append((app, url, previous, seen.state if seen else "gone"))

    result = apply(engine, store, want(new), step("replace", new, name(old)),
                   options=ApplyOptions(on_switch=on_switch))
    assert outcomes(result) == [("replace:/web", "done")]
    assert engine.events == [("run", name(new)), ("probe", f"{name(new)} 200"),
                             ("switch", "/web"), ("stop", name(old))]
    (now,) = engine.list_containers(INSTALL)
    old_url = switches[0][2]
    assert switches == [("/web", f"http://127.0.0.1:{now.host_port}", old_url, "running")]
    assert old_url is not None and old_url != switches[0][1]
    assert result.outcomes[0].url == f"http://127.0.0.1:{now.host_port}"
    assert [(c.container_id, c.version, c.health) for c in store.containers()] == [
        (now.id, "v2", "healthy")]
    assert store.recorded().get("/web") == RecordedApp(
        "/web", "v2", "busybox:latest", now.id, (), new.spec_json)


def test_unhealthy_replacement_keeps_the_old_container(engine: ServingFake, store: Store) -> None:
    """A new container that never answers 200 is removed again; the old one keeps serving and
    the record stays on the old version."""
    old, new = pulled("/web"), pulled("/web", version="v2", env=(("MODE", "prod"),))
    assert apply(engine, store, want(old), step("start", old)).ok
    engine.events.clear()
    engine.answers[name(new)] = 500
    result = apply(engine, store, want(new), step("replace", new, name(old)),
                   options=ApplyOptions(health_timeout=0.35))
    (failed,) = result.outcomes
    assert failed.outcome == "failed"
    assert failed.message.startswith("health check http://127.0.0.1:")
    assert failed.message.endswith(
        "/ failed: not healthy after 0.35 s (last answer: 500 Internal Server Error)")
    probes = [e for e in engine.events if e[0] == "probe"]
    assert len(probes) >= 2 and set(probes) == {("probe", f"{name(new)} 500")}
    assert engine.events[0] == ("run", name(new))
    assert engine.events[-1] == ("stop", name(new))
    assert running(engine) == [("/web", name(old))]
    assert store.recorded().get("/web") == RecordedApp(
        "/web", "v1", "busybox:latest", engine.list_containers(INSTALL)[0].id, (),
        old.spec_json)


def test_stopping_ends_a_health_gate_and_skips_steps_not_started(engine: ServingFake,
                                                                  store: Store) -> None:
    """ace asked to stop while a replacement's health gate waits: the gate gives up at once,
    the unproven container is removed, the old one keeps serving; steps not started are
    skipped with the reason."""
    old, new = pulled("/web"), pulled("/web", version="v2", env=(("MODE", "prod"),))
    other = pulled("/other")
    assert apply(engine, store, want(old), step("start", old)).ok
    engine.answers[name(new)] = 500
    stop = threading.Event()
    threading.Timer(0.2, stop.set).start()
    t0 = time.monotonic()
    result = apply(engine, store, want(new, other), step("replace", new, name(old)),
                   options=ApplyOptions(health_timeout=60, parallel=1, stop=stop))
    assert time.monotonic() - t0 < 5
    assert outcomes(result) == [("replace:/web", "failed")]
    assert "ace is stopping" in result.outcomes[0].message
    assert running(engine) == [("/web", name(old))]
    later = apply(engine, store, want(new, other), step("start", other),
                  options=ApplyOptions(stop=stop))
    assert [(o.outcome, o.message) for o in later.outcomes] == [
        ("skipped", "skipped: ace is stopping")]


def test_container_exiting_at_start_says_its_exit_code_and_logs(engine: ServingFake,
                                                                 store: Store) -> None:
    """A container that exits before it serves fails with its exit status and last log lines,
    not a misleading "published no port"; the outcome carries the exit code."""
    app = pulled("/dies", command=("sh", "-c", "echo cannot start; exit 4"))
    (failed,) = apply(engine, store, want(app), step("start", app)).outcomes
    assert failed.outcome == "failed" and "published no port" not in failed.message
    assert failed.message.startswith(f"container {name(app)} exited at start: Exited (4)")
    assert failed.message.endswith("last log lines:\ncannot start")
    assert (failed.exit_code, failed.logs) == ("4", "cannot start")


@pytest.mark.parametrize("limit", [1, 2, 3])
def test_parallelism_limit_is_respected(engine: ServingFake, store: Store, limit: int) -> None:
    """With N apps and parallel=limit, exactly `limit` apps' steps run at once, never more."""
    apps = [pulled(f"/job{i}", f"job{i}:1", service=False) for i in range(4)]
    engine.remote = {a.image: () for a in apps}
    engine.gate, engine.hold = limit, 0.03
    result = apply(engine, store, want(*apps), *(step("pull", a) for a in apps),
                   options=ApplyOptions(parallel=limit))
    assert outcomes(result) == [(f"pull:/job{i}", "done") for i in range(4)]
    assert engine.max_in_flight == limit


def test_pulls_stay_bounded_when_more_apps_apply_at_once(engine: ServingFake,
                                                         store: Store) -> None:
    """With parallel=8, six apps' pulls still run at most BUILDS_AT_ONCE (4) at a time: many
    apps start at once, few builds and pulls load the machine at once."""
    apps = [pulled(f"/job{i}", f"job{i}:1", service=False) for i in range(6)]
    engine.remote = {a.image: () for a in apps}
    engine.gate, engine.hold = BUILDS_AT_ONCE, 0.03
    result = apply(engine, store, want(*apps), *(step("pull", a) for a in apps),
                   options=ApplyOptions(parallel=8))
    assert outcomes(result) == [(f"pull:/job{i}", "done") for i in range(6)]
    assert engine.max_in_flight == BUILDS_AT_ONCE


def test_store_records_image_container_and_applied_app(tmp_path: Path, engine: ServingFake,
                                                        store: Store) -> None:
    """A build records the image with its inputs, a start the container and the applied app;
    removing an undeclared app's container forgets that app."""
    gone = pulled("/old")
    assert apply(engine, store, want(gone), step("start", gone)).ok
    assert [r.path for r in store.recorded().apps] == ["/old"]
    web = built("/web", context=context(tmp_path, "web"))
    result = apply(engine, store, want(web), step("build", web),
                   step("start", web, "", "build:/web"), step("remove", gone, name(gone)))
    assert result.ok
    (c,) = engine.list_containers(INSTALL)
    (image,) = store.images_for("/web")
    assert (image.app, image.tag, image.input_hash, image.files) == (
        "/web", web.image, "in1", FILES)
    assert image.image_id == next(i.id for i in engine.list_images() if web.image in i.tags)
    assert [(r.container_id, r.app, r.name, r.version, r.host_port, r.state, r.health)
            for r in store.containers()] == [
        (c.id, "/web", name(web), "v1", c.host_port, "running", "healthy")]
    assert store.recorded() == RecordedState(
        (RecordedApp("/web", "v1", web.image, c.id, FILES, web.spec_json),))


def test_restart_revives_the_container_and_checks_health(engine: ServingFake,
                                                         store: Store) -> None:
    """A restart starts the exited container itself (same id) and health-checks it."""
    web = pulled("/web")
    assert apply(engine, store, want(web), step("start", web)).ok
    (c,) = engine.list_containers(INSTALL)
    engine.crash(c.id)
    engine.events.clear()
    result = apply(engine, store, want(web), step("restart", web, name(web)))
    assert outcomes(result) == [("restart:/web", "done")]
    assert engine.events == [("start", name(web)), ("probe", f"{name(web)} 200")]
    assert [(x.id, x.state) for x in engine.list_containers(INSTALL)] == [(c.id, "running")]


def test_engine_error_mid_plan_is_an_outcome(tmp_path: Path, engine: ServingFake,
                                             store: Store) -> None:
    """The engine going away mid-plan fails the steps that need it and skips their dependents;
    apply_plan returns normally and records only what finished."""
    web = built("/web", context=context(tmp_path, "web"))
    hello = pulled("/hello", "hello:1")
    engine.remote = {"hello:1": ()}

    def on_event(kind: str, outcome: StepOutcome) -> None:
        if kind == "end" and outcome.step.id == "build:/web":
            engine.down = True

    result = apply(engine, store, want(web, hello), step("build", web),
                   step("start", web, "", "build:/web"), step("pull", hello),
                   step("start", hello, "", "pull:/hello"), on_event=on_event,
                   options=ApplyOptions(parallel=1))
    assert [(o.step.id, o.outcome, o.message) for o in result.outcomes] == [
        ("build:/web", "done", ""),
        ("start:/web", "failed", "run_container: the Docker engine is not answering"),
        ("pull:/hello", "failed", "pull: the Docker engine is not answering"),
        ("start:/hello", "skipped", "skipped: pull:/hello did not succeed"),
    ]
    assert [i.tag for i in store.images_for("/web")] == [web.image]
    assert store.recorded() == RecordedState(())
    assert store.containers() == ()


def test_adopt_records_unknown_running_containers_once(engine: ServingFake,
                                                       store: Store) -> None:
    """adopt records a running container of the desired version the store does not know
    (held apps excepted), and writes nothing the second time."""
    web, api = pulled("/web"), pulled("/api")
    c = launch(engine, web)
    launch(engine, api)
    desired = want(web, api, held=("/api",))
    assert adopt(desired, observe(engine), store.recorded(), store) == ("/web",)
    assert store.recorded() == RecordedState(
        (RecordedApp("/web", "v1", "busybox:latest", c.id, (), web.spec_json),))
    assert [(r.container_id, r.state, r.health) for r in store.containers()] == [
        (c.id, "running", "unknown")]
    assert adopt(desired, observe(engine), store.recorded(), store) == ()
