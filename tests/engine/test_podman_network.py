"""The app network and idle apps on Podman's Docker-compatible service: the network contract
cases, one app calling another by its alias (and an action's command calling one), a repaired
network and a cold start of an idle app, run unchanged against Podman
(tests/engine/podmankit.py points them there, as test_podman.py does for the other tests)."""

from __future__ import annotations

import pytest

from tests.engine import podmankit
from tests.engine.test_idle import (  # noqa: F401 - collected here, on Podman
    test_a_request_to_an_idle_app_is_served_after_a_cold_start,
)
from tests.engine.test_network import (  # noqa: F401
    test_a_network_removed_by_hand_is_drift_and_repaired,
    test_an_app_calls_another_by_its_alias,
)
from tests.engine.test_network_contract import (  # noqa: F401
    test_a_command_on_the_network_reaches_an_app_by_its_alias,
    test_a_network_removed_by_hand_is_rejoined,
    test_connect_joins_in_place,
    test_container_created_on_the_network_answers_to_its_alias,
    test_ensure_network_is_labelled_and_idempotent,
    test_stop_keeps_the_container,
)
from tests.engine.test_run import test_commands_reach_the_apps_by_alias  # noqa: F401

pytestmark = [pytest.mark.engine, pytest.mark.podman]

ENGINE_HOST = podmankit.rootful_host()
engine, docker_client, busybox, engine_install, h, podman_is_the_engine = (
    podmankit.engine, podmankit.docker_client, podmankit.busybox, podmankit.engine_install,
    podmankit.h, podmankit.podman_is_the_engine)
