"""One reconcile recovers containers a `start` cannot fix, against the real engine: a paused
container, a container created but never started (a run killed between create and start) that
cannot start, and an exited one the engine refuses to start again."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from typing import Any

import docker
import pytest

from tests.engine.appkit import Project, get

pytestmark = pytest.mark.engine

WEB = 'app("/web", "./web")'


@pytest.fixture
def taken_port() -> Iterator[int]:
    """A loopback port something else listens on."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        yield s.getsockname()[1]


def converged(project: Project) -> None:
    """One container of /web runs and serves v1; a further reconcile has nothing to do."""
    assert [c.status for c in project.containers("/web")] == ["running"]
    assert get(project.url("/web")) == (200, "v1\n")
    assert project.ace_json("reconcile")["steps"] == []


def twin(client: docker.DockerClient, c: Any, port: int) -> Any:
    """A container made by hand as ace made `c` (same name, image, command and labels),
    published on a fixed loopback port, not started."""
    cfg = c.attrs["Config"]
    name, image, cmd, labels = c.name, cfg["Image"], cfg["Cmd"], cfg["Labels"]
    c.remove(force=True)
    return client.containers.create(image, cmd, name=name, labels=labels, init=True,
                                    ports={"8080/tcp": ("127.0.0.1", port)})


def steps(out: dict[str, Any]) -> list[tuple[str, str, str]]:
    return [(s["action"], s["cause"], s["outcome"]) for s in out["steps"]]


def test_paused_container_is_replaced(project: Project) -> None:
    """`docker pause` on the service: reconcile replaces it with a fresh container instead of
    trying to start it (which the engine refuses)."""
    project.web_app()
    project.apps(WEB)
    project.ace("reconcile")
    (c,) = project.containers("/web")
    c.pause()
    assert steps(project.ace_json("reconcile")) == [("replace", "container paused", "done")]
    converged(project)


def test_never_started_container_that_cannot_start(project: Project, docker_client:
                                                   docker.DockerClient, taken_port: int) -> None:
    """A container of the desired version created (ace's labels and name) but never started,
    whose start would fail (its port is taken): one reconcile removes it and starts afresh."""
    project.web_app()
    project.apps(WEB)
    project.ace("reconcile")
    (c,) = project.containers("/web")
    twin(docker_client, c, taken_port)
    out = project.ace_json("reconcile")
    assert steps(out) == [("start", "container created but never started", "done")]
    converged(project)


def test_exited_container_the_engine_cannot_start(project: Project, docker_client:
                                                  docker.DockerClient) -> None:
    """An exited container of the desired version whose start fails (address already in use):
    the restart removes it and runs the same version afresh in the same pass."""
    project.web_app()
    project.apps(WEB)
    project.ace("reconcile")
    (c,) = project.containers("/web")
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    made = twin(docker_client, c, port)
    made.start()
    made.stop(timeout=1)
    with socket.socket() as s:
        s.bind(("127.0.0.1", port))
        s.listen()
        out = project.ace_json("reconcile")
        assert [(a, o) for a, _, o in steps(out)] == [("restart", "done")]
        converged(project)
