"""Fixtures of the swarm tests: a project per test, cleaned up by its installation label."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.swarm.cluster import Cluster
from tests.swarm.kit import SwarmProject


@pytest.fixture
def project(tmp_path: Path, cluster: Cluster) -> Iterator[SwarmProject]:
    """An empty project whose services and secrets go afterwards."""
    p = SwarmProject(tmp_path / "proj", cluster)
    p.root.mkdir()
    yield p
    p.purge()
