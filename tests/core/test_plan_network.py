"""Golden plans of the app network and of idle apps: (desired, observed, recorded) -> every step
with its id, cause and dependencies; then the state a successful apply leaves plans nothing.

In the style of test_plan_golden.py; the network is "ace-t" (Naming("t", ...).network)."""

from __future__ import annotations

import dataclasses
import textwrap

import pytest

from reconciler.core.planner import plan
from reconciler.core.types import (
    DesiredApp,
    DesiredState,
    ObservedContainer,
    ObservedState,
    Plan,
    RecordedState,
)
from tests.core.builders import NAMING, built, ctr, pulled, rec, recs, seen, want
from tests.core.golden import after_apply, golden

NET = NAMING.network
NET_ID = "net1"
WEB = dataclasses.replace(built("/web"), alias="web")
API = dataclasses.replace(pulled("/api"), alias="api")
WEB2 = dataclasses.replace(built("/web", version="v2", inputs="in2"), alias="web")


def on(c: ObservedContainer, net_id: str = NET_ID) -> ObservedContainer:
    """The container attached to the app network."""
    return dataclasses.replace(c, networks=(("bridge", "b"), (NET, net_id)))


def bare(c: ObservedContainer) -> ObservedContainer:
    """The container on the default bridge only (made before ace had the network)."""
    return dataclasses.replace(c, networks=(("bridge", "b"),))


def net_want(*apps: DesiredApp, idle: tuple[tuple[str, str], ...] = (),
             wake: tuple[str, ...] = ()) -> DesiredState:
    return dataclasses.replace(want(*apps), network=NET, idle=idle, wake=frozenset(wake))


def listed(observed: ObservedState, *names: str) -> ObservedState:
    """The observation after `prepare` listed the installation's networks."""
    return dataclasses.replace(observed, networks=tuple((n, NET_ID) for n in names))


def applied(desired: DesiredState, observed: ObservedState, recorded: RecordedState,
            p: Plan) -> tuple[ObservedState, RecordedState]:
    """As golden.after_apply, plus what the network steps do: the network exists, started and
    connected containers are on it, slept ones are stopped and kept."""
    core = Plan(tuple(s for s in p.steps if s.action not in ("network", "connect", "sleep")))
    after, records = after_apply(desired, observed, recorded, core)
    done = {s.target: s.action for s in p.steps}
    started = {c.name for c in after.containers} - {c.name for c in observed.containers}
    containers = []
    for c in after.containers:
        if c.name in started or done.get(c.name) in ("connect", "restart"):
            c = on(c)
        if done.get(c.name) == "sleep":
            c = dataclasses.replace(c, state="exited", status="Exited (143)", host_port=None)
        containers.append(c)
    networks = after.networks
    if any(s.action == "network" for s in p.steps):
        networks = ((NET, NET_ID),)
    return dataclasses.replace(after, containers=tuple(containers), networks=networks), records


CASES = [
    pytest.param(net_want(WEB), listed(seen(tags=(WEB.image,))), recs(), """
        network:ace-t network  ace-t (app network missing)
        start:/web start /web ace-t/web:in1 (new app) after network:ace-t
        """, "ok /web (running v1)", id="missing-network-is-made-before-the-start"),
    pytest.param(net_want(WEB), seen(tags=(WEB.image,)), recs(), """
        network:ace-t network  ace-t (app network not listed yet)
        start:/web start /web ace-t/web:in1 (new app) after network:ace-t
        """, None, id="unlisted-network-asks-for-a-listing"),
    pytest.param(net_want(WEB), listed(seen(tags=(WEB.image,)), NET), recs(), """
        start:/web start /web ace-t/web:in1 (new app)
        """, "ok /web (running v1)", id="listed-network-needs-no-step"),
    pytest.param(net_want(WEB, API),
                 seen(on(ctr(WEB)), bare(ctr(API)), tags=(WEB.image, API.image)),
                 recs(rec(WEB), rec(API)), """
        connect:/api connect /api ace-t-api-v1 (not on the app network ace-t)
        ok /web (running v1)
        """, "ok /api (running v1)\nok /web (running v1)",
                 id="upgrade-joins-a-running-container-in-place"),
    pytest.param(net_want(WEB, API), listed(seen(bare(ctr(WEB)), bare(ctr(API)),
                                                 tags=(WEB.image, API.image))),
                 recs(rec(WEB), rec(API)), """
        network:ace-t network  ace-t (app network missing)
        connect:/api connect /api ace-t-api-v1 (not on the app network ace-t) after network:ace-t
        connect:/web connect /web ace-t-web-v1 (not on the app network ace-t) after network:ace-t
        """, "ok /api (running v1)\nok /web (running v1)",
                 id="network-removed-by-hand-is-made-again-and-joined"),
    pytest.param(net_want(WEB2), seen(bare(ctr(WEB)), tags=(WEB.image,)), recs(rec(WEB)), """
        network:ace-t network  ace-t (app network not listed yet)
        build:/web build /web ace-t/web:in2 (build inputs changed: container file or build args)
        replace:/web replace /web ace-t-web-v1 (build inputs changed: container file or build \
args) after build:/web, network:ace-t
        """, None, id="a-replaced-container-needs-no-connect"),
    pytest.param(net_want(WEB), seen(on(ctr(WEB)), tags=(WEB.image,)), recs(rec(WEB)), """
        ok /web (running v1)
        """, "ok /web (running v1)", id="on-the-network-nothing-to-do"),
    pytest.param(net_want(WEB, API, idle=(("/web", "no request for 30 s"),)),
                 seen(on(ctr(WEB)), on(ctr(API)), tags=(WEB.image, API.image)),
                 recs(rec(WEB), rec(API)), """
        sleep:/web:ace-t-web-v1 sleep /web ace-t-web-v1 (no request for 30 s)
        ok /api (running v1)
        """, "ok /api (running v1)\nok /web (idle: no request for 30 s)",
                 id="idle-app-goes-to-sleep-and-stays"),
    pytest.param(net_want(WEB, idle=(("/web", "not started yet (lazy start)"),)),
                 listed(seen(tags=(WEB.image,)), NET), recs(), """
        ok /web (idle: not started yet (lazy start))
        """, "ok /web (idle: not started yet (lazy start))", id="lazy-app-is-not-started"),
    pytest.param(net_want(WEB2, idle=(("/web", "no request for 30 s"),)),
                 seen(on(ctr(WEB, state="exited", status="Exited (143)")), tags=(WEB.image,)),
                 recs(rec(WEB)), """
        build:/web build /web ace-t/web:in2 (build inputs changed: container file or build args)
        """, "ok /web (idle: no request for 30 s)", id="idle-app-still-builds-its-change"),
    pytest.param(net_want(WEB, wake=("/web",)),
                 seen(on(ctr(WEB, state="exited", status="Exited (143)")), tags=(WEB.image,)),
                 recs(rec(WEB)), """
        network:ace-t network  ace-t (app network not listed yet)
        restart:/web restart /web ace-t-web-v1 (a request is waiting) after network:ace-t
        """, None, id="a-request-wakes-a-sleeping-app"),
    pytest.param(net_want(WEB, wake=("/web",)), listed(seen(tags=(WEB.image,)), NET), recs(), """
        start:/web start /web ace-t/web:in1 (a request is waiting)
        """, "ok /web (running v1)", id="a-request-starts-a-lazy-app"),
]


@pytest.mark.parametrize(("desired", "observed", "recorded", "expected", "then"), CASES)
def test_network_and_idle_golden(desired: DesiredState, observed: ObservedState,
                                 recorded: RecordedState, expected: str,
                                 then: str | None) -> None:
    """The plan is exactly the golden; after a successful apply the next plan is empty."""
    p = plan(desired, observed, recorded)
    assert golden(p) == textwrap.dedent(expected).strip()
    if then is None:
        return
    observed2, recorded2 = applied(desired, observed, recorded, p)
    again = plan(desired, observed2, recorded2)
    assert again.empty
    assert golden(again) == then


def test_no_network_no_network_steps() -> None:
    """Without a network in the desired state (a backend without one) nothing joins one."""
    p = plan(want(WEB), seen(bare(ctr(WEB)), tags=(WEB.image,)), recs(rec(WEB)))
    assert golden(p) == "ok /web (running v1)"


def test_a_held_app_is_not_joined() -> None:
    """An app that does not evaluate (or whose alias collides) is left as it runs."""
    desired = dataclasses.replace(net_want(WEB), held=frozenset({"/web"}))
    p = plan(desired, seen(bare(ctr(WEB)), tags=(WEB.image,)), recs(rec(WEB)))
    assert golden(p) == "ok /web (app has errors: left as it is)"
