"""The executor on the contract-checked fake engine when containers misbehave: one that exits
before it serves is a crash with its exit code and logs, a restart tells how long the crashed
container ran, and a container the engine cannot start is replaced in the same step."""

from __future__ import annotations

from dataclasses import replace

from apps.errors import EngineError
from reconciler.core.types import ObservedContainer
from reconciler.watch.backoff import crash_of, record_attempts
from state import Store
from tests.apply.kit import ServingFake
from tests.apply.test_executor_fake import INSTALL, apply, name, outcomes, running, step
from tests.core.builders import pulled, want


def test_container_exiting_at_once_is_a_crash(engine: ServingFake, store: Store) -> None:
    """A new container that exits before the engine shows its port fails the step with its
    exit status and last log lines (what `ace watch` counts as a crash), and is removed."""
    app = pulled("/web", command=("sh", "-c", "echo dying now; exit 3"))
    (failed,) = apply(engine, store, want(app), step("start", app)).outcomes
    assert failed.outcome == "failed"
    assert failed.message == (f"container {name(app)} exited at start: Exited (3)"
                              "\nlast log lines:\ndying now")
    assert (failed.exit_code, failed.logs) == ("3", "dying now")
    assert crash_of(failed, 30.0) == ("3", "dying now")
    assert engine.list_containers(INSTALL) == ()


def test_restart_tells_how_long_the_crashed_container_ran(engine: ServingFake,
                                                          store: Store) -> None:
    """A restart keeps the found container's exit code, last log lines and run time."""
    app = pulled("/web")
    assert apply(engine, store, want(app), step("start", app)).ok
    (c,) = engine.list_containers(INSTALL)
    engine.containers[c.id].logs.append("bye")
    engine.crash(c.id, 3, ran=2.0)
    (done,) = apply(engine, store, want(app), step("restart", app, name(app))).outcomes
    assert (done.outcome, done.exit_code, done.logs, done.ran_for) == ("done", "3", "bye\n", 2.0)


class StubbornFake(ServingFake):
    """A fake whose engine refuses to start the containers named in `refuse` again."""

    def __init__(self) -> None:
        super().__init__()
        self.refuse: set[str] = set()

    def start(self, container_id: str) -> ObservedContainer:
        seen = self.inspect(container_id)
        if seen is not None and seen.id in self.refuse:
            self.log("start refused", seen.name)
            raise EngineError(f"start container {seen.name}: driver failed programming external "
                              "connectivity: address already in use")
        return super().start(container_id)


def test_container_the_engine_cannot_start_is_replaced(store: Store) -> None:
    """When the engine refuses to start the exited container again, the restart removes it and
    runs a fresh container of the same version in the same step."""
    engine = StubbornFake()
    try:
        app = pulled("/web")
        assert apply(engine, store, want(app), step("start", app)).ok
        (c,) = engine.list_containers(INSTALL)
        engine.crash(c.id, 1)
        engine.refuse.add(c.id)
        engine.events.clear()
        result = apply(engine, store, want(app), step("restart", app, name(app)))
        assert outcomes(result) == [("restart:/web", "done")]
        assert [e for e in engine.events if e[0] != "probe"] == [
            ("start refused", name(app)), ("stop", name(app)), ("run", name(app))]
        (now,) = engine.list_containers(INSTALL)
        assert now.id != c.id and running(engine) == [("/web", name(app))]
        assert store.recorded().get("/web") is not None
        assert store.recorded().get("/web").container_id == now.id  # type: ignore[union-attr]
    finally:
        engine.close()


def test_refused_container_under_another_name_goes_too(store: Store) -> None:
    """A refused container whose name is not the version's (a suffixed replace name, or a
    cluster service's nonce) is removed once its fresh successor serves: one container left."""
    engine = StubbornFake()
    try:
        app = pulled("/web")
        assert apply(engine, store, want(app), step("start", app)).ok
        (c,) = engine.list_containers(INSTALL)
        engine.containers[c.id].name = f"{name(app)}-1a2b3c"
        engine.crash(c.id, 1)
        engine.refuse.add(c.id)
        result = apply(engine, store, want(app), step("restart", app, f"{name(app)}-1a2b3c"))
        assert outcomes(result) == [("restart:/web", "done")]
        (now,) = engine.list_containers(INSTALL)
        assert now.id != c.id and running(engine) == [("/web", name(app))]
    finally:
        engine.close()


class ServiceLikeFake(ServingFake):
    """A fake whose exited containers read as an exited cluster service does: times known,
    the exit code only in the tasks, not in the status."""

    def _as_service(self, c: ObservedContainer) -> ObservedContainer:
        if c.state != "exited":
            return c
        return replace(c, status="0/1 tasks running; last failure on node-1: exit code 3")

    def list_containers(self, install: str) -> tuple[ObservedContainer, ...]:
        return tuple(self._as_service(c) for c in super().list_containers(install))

    def inspect(self, container_id: str) -> ObservedContainer | None:
        seen = super().inspect(container_id)
        return None if seen is None else self._as_service(seen)


def test_restart_of_a_service_without_an_exit_code_is_no_crash(store: Store) -> None:
    """A restart that finds its unit exited 2 s after it started but cannot tell an exit code
    (a cluster service's status has none) is not counted as a crash by timing: no attempt."""
    engine = ServiceLikeFake()
    try:
        app = pulled("/web")
        assert apply(engine, store, want(app), step("start", app)).ok
        (c,) = engine.list_containers(INSTALL)
        engine.crash(c.id, 3, ran=2.0)
        (done,) = apply(engine, store, want(app), step("restart", app, name(app))).outcomes
        assert (done.outcome, done.exit_code, done.ran_for) == ("done", "", 2.0)
        assert record_attempts({}, [done], {"/web": "k"}, now=100.0) == {}
    finally:
        engine.close()
