"""Podman as a third engine: the driver contract suite and the engine tests of the main paths
(reconcile converge/no-op/replace, status, drift, down, logs, restart, `ace run`, `ace watch`
serving an edit through the proxy with no failed request), run unchanged against Podman's
Docker-compatible service.

The service is `$ACE_PODMAN_HOST`, default `unix:///run/podman/podman.sock`
(scripts/ensure-podman.sh starts it and seeds busybox); tests/engine/podmankit.py's fixtures
point the imported tests at it and set `DOCKER_HOST` to it for ace itself.
"""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.engine import podmankit
from tests.engine.appkit import Project
from tests.engine.harness import BUSYBOX, PodmanHarness
from tests.engine.test_driver_contract import (  # noqa: F401 - collected here, on Podman
    test_build_labels_and_exposed_ports,
    test_build_with_buildkit_mount,
    test_crash_then_start_again,
    test_engine_down_is_retryable,
    test_failing_build_reports_the_log,
    test_image_listing_filtered_by_reference,
    test_images_not_built_by_ace_are_kept,
    test_listing_only_shows_this_installation,
    test_listing_shows_the_image_name_only_while_it_resolves,
    test_listings_are_one_call_each,
    test_log_lines_tail_since_follow_and_stop,
    test_logs_tail,
    test_published_port_answers_on_loopback,
    test_refuses_containers_it_did_not_create,
    test_refuses_volumes_it_did_not_create,
    test_run_command_missing_executable,
    test_run_command_separates_streams,
    test_run_command_timeout,
    test_run_container_publishes_on_loopback_only,
    test_run_container_refuses_an_existing_name,
    test_run_container_requires_installation_label,
    test_stop_and_remove_is_idempotent,
    test_volume_data_survives_commands,
    test_volumes,
)
from tests.engine.test_proxy import test_no_failed_request_while_an_edit_is_rebuilt  # noqa: F401
from tests.engine.test_reconcile import (  # noqa: F401
    HELLO,
    NOOP_PROBE,
    WEB,
    test_converge_then_idempotent,
    test_drift_kinds,
    test_exited_container_restarts,
    test_logs_follow_the_app_across_a_replace,
    test_minimal_changes,
    test_removed_app_and_down,
    test_replace_is_zero_downtime,
)
from tests.engine.test_run import test_examples_cmd_lists_a_directory  # noqa: F401
from tests.engine.test_watch import test_edit_is_served_and_exit_is_quick  # noqa: F401

pytestmark = [pytest.mark.engine, pytest.mark.podman]

ENGINE_HOST = PODMAN_HOST = podmankit.rootful_host()
# the fixtures these tests run with: Podman's engine, client, busybox, installation, harness
engine, docker_client, busybox, engine_install, h, podman_is_the_engine = (
    podmankit.engine, podmankit.docker_client, podmankit.busybox, podmankit.engine_install,
    podmankit.h, podmankit.podman_is_the_engine)


def test_podman_noop_reconcile_is_two_plain_http_calls(project: Project) -> None:
    """On Podman the no-op path lists containers and checks their image names against one
    image listing, both over plain HTTP: the Docker SDK is still not imported."""
    project.web_app()
    project.apps(WEB, HELLO)
    project.ace("reconcile")
    project.ace("reconcile")  # the first run after a change fills the evaluation cache
    out = subprocess.run([sys.executable, "-c", NOOP_PROBE, str(project.apps_file)],
                         capture_output=True, text=True, timeout=60)
    assert out.stdout.splitlines()[0] == "0 []", out.stdout + out.stderr
    assert out.stdout.splitlines()[1] == "/containers/json /images/json", out.stdout


def test_sdk_half_reads_podman_like_the_http_half(h: PodmanHarness) -> None:
    """Where plain HTTP cannot reach the engine (TLS, ssh) the SDK half lists: it learns it
    talks to Podman from `/version` and reads the listings as the plain-HTTP half does."""
    from reconciler.driver.sdk import SdkEngine

    h.serve()
    sdk = SdkEngine(PODMAN_HOST)
    try:
        assert sdk.podman
        assert sdk.list_containers(h.install) == h.engine.list_containers(h.install)
        assert [c.image for c in sdk.list_containers(h.install)] == [BUSYBOX]
        assert sdk.list_images([BUSYBOX, "ace-absent/x:1"]) == h.engine.list_images(
            [BUSYBOX, "ace-absent/x:1"])
        assert [i.tags for i in sdk.list_images([BUSYBOX])] == [(BUSYBOX,)]
    finally:
        sdk.close()
