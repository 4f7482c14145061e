"""The executor on the contract-checked fake engine when containers misbehave: one that exits
before it serves is a crash with its exit code and logs, and a restart tells how long the
crashed container ran."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from state import Store
from tests.apply.kit import ServingFake
from tests.apply.test_executor_fake import INSTALL, apply, name, step
from tests.core.builders import pulled, want


@pytest.fixture
def engine() -> Iterator[ServingFake]:
    e = ServingFake()
    yield e
    e.close()


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    with Store.open(tmp_path / "state") as s:
        yield s


def test_container_exiting_at_once_is_a_crash(engine: ServingFake, store: Store) -> None:
    """A new container that exits before the engine shows its port fails the step with its
    exit status and last log lines (what `ace watch` counts as a crash), and is removed."""
    app = pulled("/web", command=("sh", "-c", "echo dying now; exit 3"))
    (failed,) = apply(engine, store, want(app), step("start", app)).outcomes
    assert failed.outcome == "failed"
    assert failed.message == (f"health check of {name(app)} failed: container exited: Exited (3)"
                              "\nlast log lines:\ndying now")
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
