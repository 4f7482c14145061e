"""On a one-node Swarm (started for this module), the `--json` output of reconcile, status and
drift matches its JSON Schema with the cluster's parts: a row's replicas and tasks, a service
step, and drift of a service scaled by hand."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import pytest

from tests.swarm.cluster import Cluster, cluster_up
from tests.swarm.kit import SwarmProject
from tests.test_json_schemas import check

pytestmark = pytest.mark.engine


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    with cluster_up(1, tmp_path_factory.mktemp("c1")) as c:
        yield c


def ace_json(project: SwarmProject, schema: str, *args: str, expect: int = 0) -> Any:
    """`ace ARGS --json` in its own process against the cluster, checked against `schema`."""
    env = {**os.environ, **project.cluster.ace_env(registry=False)}
    res = subprocess.run([sys.executable, "-m", "reconciler", *args, "--json", "-f",
                          str(project.apps_file)], capture_output=True, text=True, env=env,
                         timeout=300)
    assert res.returncode == expect, f"ace {' '.join(args)} -> {res.returncode}\n{res.stderr}"
    doc = json.loads(res.stdout)
    check(schema, doc)
    return doc


def test_cluster_rows_and_drift_match_their_schemas(project: SwarmProject) -> None:
    """A service of two replicas: its status row has replicas and both tasks, and scaling it by
    hand is drift — each output valid against its schema."""
    project.hello()
    project.apps('app("/hello", "./hello", container_opts={"min_replicas": 2})')
    applied = ace_json(project, "reconcile", "reconcile")
    assert applied["ok"] and [s["action"] for s in applied["steps"]][-1] == "start", applied

    row = next(r for r in ace_json(project, "status", "status")["apps"]
               if r["path"] == "/hello")
    assert row["replicas"] == {"desired": 2, "running": 2} and len(row["tasks"]) == 2, row

    project.cluster.docker("service", "scale", "--detach", f"{row['container']}=1")
    drift = ace_json(project, "drift", "drift", expect=2)
    assert ("/hello", "service scaled outside ace") in {
        (i["app"], i["what"]) for i in drift["items"]}, drift
