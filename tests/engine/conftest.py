"""Fixtures of the engine tests that run ace itself: a temp project cleaned up by its labels,
and `ace watch`/`ace serve` processes killed at the end."""

from __future__ import annotations

import signal
from collections.abc import Iterator
from pathlib import Path

import docker
import pytest

from tests.engine.appkit import Project
from tests.engine.watchkit import WatchProc


@pytest.fixture
def project(tmp_path: Path, docker_client: docker.DockerClient, busybox: str
            ) -> Iterator[Project]:
    """An empty project dir (apps file, app dirs, state dir) whose objects go afterwards."""
    p = Project(tmp_path / "proj", docker_client)
    p.root.mkdir()
    yield p
    p.cleanup()


@pytest.fixture
def procs() -> Iterator[list[WatchProc]]:
    """Long-running ace processes a test starts; killed when it ends."""
    running: list[WatchProc] = []
    yield running
    for w in running:
        w.stop(signal.SIGKILL)
