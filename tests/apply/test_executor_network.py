"""The executor and the app network, on the contract-checked fake (no Docker): the network step
runs before every app's steps, its failure skips what needs it, new containers start on the
network with their alias, a replaced one leaves the network before it stops, a restart joins
in place, and a slept container is kept."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator, Mapping, Sequence

import pytest

from apps.errors import EngineError
from reconciler.apply.executor import apply_plan
from reconciler.core.types import (
    DesiredApp,
    DesiredState,
    ObservedState,
    Plan,
    Step,
)
from state import Store
from tests.apply.kit import ServingFake
from tests.core.builders import NAMING, pulled, want

INSTALL = NAMING.install
NET = NAMING.network
WEB = dataclasses.replace(pulled("/web"), alias="web")
WEB2 = dataclasses.replace(pulled("/web", version="v2"), alias="web")
API = dataclasses.replace(pulled("/api"), alias="api")


class NetFake(ServingFake):
    """ServingFake that also logs the network calls, in order with the others."""

    fail_network = False

    def ensure_network(self, name: str, labels: Mapping[str, str]) -> str:
        self.log("network", name)
        if self.fail_network:
            raise EngineError(f"ensure network {name}: no address pool left")
        return super().ensure_network(name, labels)

    def connect(self, container_id: str, network: str, aliases: Sequence[str]) -> None:
        self.log("connect", self.containers[container_id].name)
        super().connect(container_id, network, aliases)

    def disconnect(self, container_id: str, network: str) -> None:
        self.log("disconnect", self.containers[container_id].name)
        super().disconnect(container_id, network)


@pytest.fixture
def engine() -> Iterator[NetFake]:
    e = NetFake()
    yield e
    e.close()


def desired(*apps: DesiredApp) -> DesiredState:
    return dataclasses.replace(want(*apps), network=NET)


def apply(engine: NetFake, store: Store, d: DesiredState, *steps: Step) -> list[tuple[str, str]]:
    observed = ObservedState(engine.list_containers(INSTALL), engine.list_images())
    res = apply_plan(Plan(steps), d, observed, engine=engine, recorder=store, naming=NAMING)
    return [(o.step.id, o.outcome) for o in res.outcomes]


NETWORK = Step(f"network:{NET}", "network", "", NET, "app network missing")


def start(app: DesiredApp) -> Step:
    return Step(f"start:{app.path}", "start", app.path, app.image, "new app", (NETWORK.id,))


def aliases(engine: NetFake, app: str) -> list[tuple[str, ...]]:
    return [c.networks[NET][1] for c in engine.containers.values()
            if c.labels.get("dev.ace.app") == app and NET in c.networks]


def test_network_first_then_containers_on_it_with_their_alias(engine: NetFake,
                                                              store: Store) -> None:
    """The installation's network step runs before any app's; new containers join it."""
    out = apply(engine, store, desired(WEB, API), start(WEB), start(API), NETWORK)
    assert out == [("start:/web", "done"), ("start:/api", "done"), (NETWORK.id, "done")]
    assert engine.events[0] == ("network", NET)
    assert aliases(engine, "/web") == [("web",)] and aliases(engine, "/api") == [("api",)]


def test_a_failed_network_step_skips_what_needs_it(engine: NetFake, store: Store) -> None:
    """When the network cannot be made, the starts that wait for it are skipped, naming it."""
    engine.fail_network = True
    out = apply(engine, store, desired(WEB), NETWORK, start(WEB))
    assert out == [(NETWORK.id, "failed"), ("start:/web", "skipped")]
    assert engine.list_containers(INSTALL) == ()


def test_replace_takes_the_old_container_off_the_network_before_it_stops(
        engine: NetFake, store: Store) -> None:
    """Both versions answer the alias while the new one is checked; the old one leaves the
    network, then stops."""
    apply(engine, store, desired(WEB), NETWORK, start(WEB))
    old = next(c.name for c in engine.containers.values())
    engine.events.clear()
    out = apply(engine, store, desired(WEB2),
                Step("replace:/web", "replace", "/web", old, "env changed"))
    assert out == [("replace:/web", "done")]
    kinds = [e for e in engine.events if e[0] in ("run", "probe", "disconnect", "stop")]
    assert kinds[0][0] == "run" and kinds[-2:] == [("disconnect", old), ("stop", old)]
    assert aliases(engine, "/web") == [("web",)]


def test_restart_joins_in_place_and_sleep_keeps_the_container(engine: NetFake,
                                                              store: Store) -> None:
    """A container made before the network (on the default bridge) joins it when it starts
    again, same id; a sleep stops it and keeps it."""
    apply(engine, store, want(WEB), Step("start:/web", "start", "/web", WEB.image, "new app"))
    (c,) = engine.containers.values()
    assert NET not in c.networks
    engine.ensure_network(NET, {"dev.ace.install": INSTALL})
    out = apply(engine, store, desired(WEB),
                Step(f"sleep:/web:{c.name}", "sleep", "/web", c.name, "no request for 30 s"))
    assert out == [(f"sleep:/web:{c.name}", "done")] and c.state == "exited"
    assert list(engine.containers) == [c.id]
    out = apply(engine, store, desired(WEB),
                Step("restart:/web", "restart", "/web", c.name, "a request is waiting"))
    assert out == [("restart:/web", "done")]
    assert (c.state, list(engine.containers)) == ("running", [c.id])
    assert c.networks[NET][1] == ("web",)
