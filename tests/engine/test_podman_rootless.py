"""Rootless Podman: a non-root user's own service (scripts/ensure-podman.sh starts one for the
user ace-rootless), driven through that user's socket. The driver contract suite and the
reconcile path run unchanged; what differs is pinned here: its container networks live in the
user's namespace, so ace reaches containers on their published loopback ports only, and an
engine that cannot limit resources (rootless on cgroups v1) is warned about, never silent.

ace runs as root here, so the contract's bind mount of a test's private temp dir (root-only)
is left out: a rootless engine only mounts what its user may read (as it is when ace runs as
that user, the normal case). Named volumes are covered.
"""

from __future__ import annotations

import json

import pytest

from reconciler.driver.engine import DockerEngine
from tests.engine import podmankit
from tests.engine.appkit import Project, get
from tests.engine.test_driver_contract import (  # noqa: F401 - collected here, rootless
    test_build_labels_and_exposed_ports,
    test_build_with_buildkit_mount,
    test_crash_then_start_again,
    test_failing_build_reports_the_log,
    test_image_listing_filtered_by_reference,
    test_listing_shows_the_image_name_only_while_it_resolves,
    test_listings_are_one_call_each,
    test_logs_tail,
    test_published_port_answers_on_loopback,
    test_refuses_containers_it_did_not_create,
    test_run_command_missing_executable,
    test_run_command_separates_streams,
    test_run_container_publishes_on_loopback_only,
    test_stop_and_remove_is_idempotent,
    test_volume_data_survives_commands,
)
from tests.engine.test_reconcile import (  # noqa: F401
    HELLO,
    WEB,
    test_converge_then_idempotent,
    test_removed_app_and_down,
)

pytestmark = [pytest.mark.engine, pytest.mark.podman]

ENGINE_HOST = podmankit.rootless_host()
# the fixtures these tests run with: the rootless service's engine, client, busybox, ...
engine, docker_client, busybox, engine_install, h, podman_is_the_engine = (
    podmankit.engine, podmankit.docker_client, podmankit.busybox, podmankit.engine_install,
    podmankit.h, podmankit.podman_is_the_engine)

LIMITED = ('app("/hello", "./hello", container_opts={"cpus": 0.5, "memory": "64m"})')


def test_rootless_containers_are_reached_on_published_ports(project: Project,
                                                            engine: DockerEngine) -> None:
    """A rootless engine's containers carry no network address (it is in the user's
    namespace): status URLs are their published loopback ports, and they answer."""
    project.web_app()
    project.apps(WEB, HELLO)
    project.ace("reconcile")
    seen = engine.list_containers(project.install)
    assert len(seen) == 2 and all(c.address == "" and c.host_port for c in seen), seen
    rows = project.ace_json("status")["apps"]
    assert {r["path"]: r["state"] for r in rows} == {"/hello": "running", "/web": "running"}
    assert get(project.url("/web")) == (200, "v1\n")
    assert get(project.url("/hello"))[0] == 200


def test_limits_the_engine_drops_are_warned_about(project: Project) -> None:
    """cpus and memory are applied, or — where the engine cannot (rootless Podman on cgroups
    v1) — reconcile says so with a warning naming the container; never silently."""
    project.hello_app()
    project.apps(LIMITED)
    proc = project.spawn("reconcile", "--log-json")
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    warned = {e.get("limit") for e in map(json.loads, filter(None, err.splitlines()))
              if e.get("event") == "container_limit_ignored"}
    host = project.containers("/hello")[0].attrs["HostConfig"]
    applied = {name for name, value in (("cpus", host.get("NanoCpus")),
                                        ("memory", host.get("Memory"))) if value}
    assert applied | warned == {"cpus", "memory"} and not applied & warned, (applied, warned)
