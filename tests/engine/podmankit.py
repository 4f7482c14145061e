"""Fixtures that point the engine tests at a Podman service instead of the Docker engine.

A test module imports them and names the service in `ENGINE_HOST`; its `engine`,
`docker_client`, `busybox` and `engine_install` are then Podman's, `h` is the driver contract
suite's harness on it, and every test runs with `DOCKER_HOST` set to it, so ace itself — in
process or spawned — talks to Podman.
scripts/ensure-podman.sh starts the services (rootful, and a rootless user's) and seeds busybox;
without them the tests fail with that advice, never skip.
"""

from __future__ import annotations

import os
import pwd
import uuid
from collections.abc import Iterator

import docker
import pytest

from apps.errors import EngineError
from reconciler.driver.engine import DockerEngine
from tests.conftest import purge
from tests.engine.harness import BUSYBOX, PodmanHarness, SdkHarness, sdk_only

__all__ = ["busybox", "docker_client", "engine", "engine_install", "h", "podman_is_the_engine",
           "rootful_host", "rootless_host"]

ROOTLESS_USER = os.environ.get("ACE_PODMAN_ROOTLESS_USER", "ace-rootless")


def rootful_host() -> str:
    """Podman's rootful service, as ensure-podman.sh starts it (or $ACE_PODMAN_HOST)."""
    return os.environ.get("ACE_PODMAN_HOST", "unix:///run/podman/podman.sock")


def rootless_host() -> str:
    """The rootless user's own service (or $ACE_PODMAN_ROOTLESS_HOST)."""
    if os.environ.get("ACE_PODMAN_ROOTLESS_HOST"):
        return os.environ["ACE_PODMAN_ROOTLESS_HOST"]
    try:
        uid = pwd.getpwnam(ROOTLESS_USER).pw_uid
    except KeyError:
        return f"unix:///run/user/NO-USER-{ROOTLESS_USER}/podman/podman.sock"
    return f"unix:///run/user/{uid}/podman/podman.sock"


def _host(request: pytest.FixtureRequest) -> str:
    return str(request.module.ENGINE_HOST)


@pytest.fixture(scope="module")
def engine(request: pytest.FixtureRequest) -> Iterator[DockerEngine]:
    """ace's driver on the module's Podman service; fails (never skips) when it is silent."""
    host = _host(request)
    eng = DockerEngine(base_url=host, timeout=60.0)
    try:
        eng.ping()
    except EngineError as e:
        pytest.fail(f"no Podman service answers at {host} ({e}): run scripts/ensure-podman.sh"
                    " (as root)", pytrace=False)
    yield eng
    eng.close()


@pytest.fixture(scope="module")
def docker_client(request: pytest.FixtureRequest, engine: DockerEngine
                  ) -> Iterator[docker.DockerClient]:
    """A raw SDK client on the module's Podman service, for what tests do outside ace."""
    client = docker.DockerClient(base_url=_host(request), timeout=60)
    yield client
    client.close()


@pytest.fixture(scope="module")
def busybox(docker_client: docker.DockerClient) -> str:
    """busybox:latest in Podman's storage (scripts/ensure-podman.sh seeds it)."""
    try:
        docker_client.images.get(BUSYBOX)
    except docker.errors.ImageNotFound:
        pytest.fail(f"{BUSYBOX} is not in this Podman's storage: run scripts/ensure-podman.sh",
                    pytrace=False)
    return BUSYBOX


@pytest.fixture
def engine_install(docker_client: docker.DockerClient) -> Iterator[str]:
    """A unique installation id whose objects on Podman are removed after the test."""
    install = f"acetest-{uuid.uuid4().hex[:10]}"
    yield install
    purge(docker_client, install)


@pytest.fixture(autouse=True)
def podman_is_the_engine(request: pytest.FixtureRequest,
                         monkeypatch: pytest.MonkeyPatch) -> None:
    """ace, in process or spawned, talks to the engine DOCKER_HOST names: Podman here."""
    monkeypatch.setenv("DOCKER_HOST", _host(request))


class PodmanSdkHarness(PodmanHarness, SdkHarness):
    """Podman's service reached only through the docker SDK (as over TLS or ssh)."""


@pytest.fixture(params=["http", "sdk"])
def h(request: pytest.FixtureRequest, engine: DockerEngine, busybox: str, engine_install: str,
      docker_client: docker.DockerClient) -> Iterator[PodmanHarness]:
    """The driver contract suite's harness, on the module's Podman service: over plain HTTP,
    and through the SDK as TLS or ssh reach it."""
    if request.param == "sdk":
        harness: PodmanHarness = PodmanSdkHarness(sdk_only(_host(request)), engine_install,
                                                  docker_client)
    else:
        harness = PodmanHarness(engine, engine_install, docker_client)
    yield harness
    harness.cleanup()
    if harness.engine is not engine:
        harness.engine.close()
