"""Shared fixtures for tests that need the real Docker engine.

`engine` connects to the engine (DOCKER_HOST honoured) and FAILS the test with a clear message
when none answers: engine tests are never skipped. `busybox` makes sure `busybox:latest` exists
locally (pulled, or built from the static busybox binary when no registry can be reached).
`engine_install` is a unique test installation id whose objects are removed afterwards.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
import uuid
from collections.abc import Iterator

import docker
import pytest

from apps.errors import EngineError
from reconciler.core.types import LABEL_INSTALL
from reconciler.driver.engine import DockerEngine

# ace commands the tests start run in their own process: a command server (reconciler.cli.server)
# is used only by the tests that set ACE_SERVER=1 themselves, each with its own runtime dir
os.environ["ACE_SERVER"] = "0"

BUSYBOX = "busybox:latest"
_STATIC_BUSYBOX = ("/bin/busybox", "/usr/bin/busybox")
_BUSYBOX_CONTAINERFILE = (
    'FROM scratch\nCOPY busybox /bin/busybox\nRUN ["/bin/busybox","--install","-s","/bin"]\n'
    'CMD ["sh"]\n'
)


@pytest.fixture(scope="session")
def engine() -> Iterator[DockerEngine]:
    """The real engine; fails (never skips) when it does not answer."""
    eng = DockerEngine(timeout=60.0)
    try:
        eng.ping()
    except EngineError as e:
        pytest.fail(
            f"no Docker engine answers ({e}). Engine tests need one: run scripts/ensure-engine.sh"
            f" (as root) or set DOCKER_HOST. DOCKER_HOST={os.environ.get('DOCKER_HOST', '')!r}",
            pytrace=False,
        )
    before = _leftovers()
    yield eng
    eng.close()
    left = sorted(_leftovers() - before)
    if left:
        pytest.fail("the tests left these behind (each holds an address range or a name the"
                    f" next run needs; find the test that made it): {', '.join(left)}",
                    pytrace=False)


def _leftovers() -> set[str]:
    """ace's networks and containers on the engine, and the host's Docker bridge interfaces
    (a stopped private dockerd leaves its networks' bridges behind)."""
    client = docker.APIClient(timeout=60)
    try:
        managed = {"label": ["dev.ace.managed"]}
        found = {f"network {n['Name']}" for n in client.networks(filters=managed)}
        found |= {f"container {c['Names'][0].lstrip('/')}"
                  for c in client.containers(all=True, filters=managed)}
    finally:
        client.close()
    with contextlib.suppress(OSError):
        found |= {f"interface {i}" for i in os.listdir("/sys/class/net") if i.startswith("br-")}
    return found


@pytest.fixture(scope="session")
def docker_client(engine: DockerEngine) -> Iterator[docker.DockerClient]:
    """A raw SDK client, for tests that make objects by hand (outside ace)."""
    client = docker.from_env(timeout=60)
    yield client
    client.close()


@pytest.fixture(scope="session")
def busybox(docker_client: docker.DockerClient) -> str:
    """`busybox:latest` present locally: kept if there, else pulled, else built from the
    static busybox binary (busybox-static)."""
    try:
        docker_client.images.get(BUSYBOX)
        return BUSYBOX
    except docker.errors.ImageNotFound:
        pass
    try:
        docker_client.images.pull(BUSYBOX)
        return BUSYBOX
    except docker.errors.DockerException:
        pass
    binary = next((p for p in _STATIC_BUSYBOX if os.path.isfile(p)), None)
    if binary is None:
        pytest.fail("busybox:latest is missing and no static busybox to build it from: install"
                    " busybox-static or run scripts/ensure-engine.sh", pytrace=False)
    with tempfile.TemporaryDirectory() as ctx:
        shutil.copy(binary, os.path.join(ctx, "busybox"))
        with open(os.path.join(ctx, "Containerfile"), "w") as f:
            f.write(_BUSYBOX_CONTAINERFILE)
        docker_client.images.build(path=ctx, dockerfile="Containerfile", tag=BUSYBOX, rm=True)
    return BUSYBOX


@pytest.fixture
def engine_install(docker_client: docker.DockerClient) -> Iterator[str]:
    """A unique installation id; every container, volume and image labelled with it is
    removed after the test."""
    install = f"acetest-{uuid.uuid4().hex[:10]}"
    yield install
    purge(docker_client, install)


def purge(client: docker.DockerClient, install: str) -> None:
    """Remove every container, image, volume and network labelled with this installation."""
    label = {"label": [f"{LABEL_INSTALL}={install}"]}
    for c in client.api.containers(all=True, filters=label):
        client.api.remove_container(c["Id"], force=True)
    for img in client.api.images(filters=label):
        with contextlib.suppress(docker.errors.NotFound):
            client.api.remove_image(img["Id"], force=True)
    for v in client.api.volumes(filters=label).get("Volumes") or []:
        client.api.remove_volume(v["Name"], force=True)
    for n in client.api.networks(filters=label):
        with contextlib.suppress(docker.errors.NotFound):
            client.api.remove_network(n["Id"])
