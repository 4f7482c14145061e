"""Status rows and drift items of idle apps and of the app network (pure)."""

from __future__ import annotations

import dataclasses

from reconciler.core.report import drift_items, status_rows
from tests.core.builders import NAMING, built, ctr, rec, recs, seen, want

NET = NAMING.network
WEB = dataclasses.replace(built("/web"), alias="web")
API = dataclasses.replace(built("/api"), alias="api")


def test_an_idle_app_is_idle_not_stopped_nor_drift() -> None:
    """An app asleep shows as idle (with why), is no drift and no pending item, even when it
    was never started (lazy) or a declared change waits for its wake."""
    slept = dataclasses.replace(ctr(WEB, state="exited", status="Exited (143)"),
                                networks=((NET, "n1"),))
    desired = dataclasses.replace(want(WEB, API), network=NET,
                                  idle=(("/api", "not started yet (lazy start)"),
                                        ("/web", "no request for 30 s")))
    observed = seen(slept, tags=(WEB.image, API.image))
    rows = {r.path: r for r in status_rows(desired, observed, {})}
    assert (rows["/web"].state, rows["/web"].health, rows["/web"].container) == (
        "idle", "-", slept.name)
    assert rows["/web"].detail.startswith("no request for 30 s; asleep: the next request")
    assert (rows["/api"].state, rows["/api"].container) == ("idle", "")
    assert drift_items(desired, observed, recs(rec(WEB)), {}) == []
    changed = dataclasses.replace(desired, apps=(dataclasses.replace(WEB, version="v2"), API))
    assert drift_items(changed, observed, recs(rec(WEB)), {}) == []


def test_a_running_idle_app_shows_what_runs() -> None:
    """Until its sleep is applied, an idle app's running container is shown as running."""
    desired = dataclasses.replace(want(WEB), idle=(("/web", "no request for 30 s"),))
    (row,) = status_rows(desired, seen(ctr(WEB), tags=(WEB.image,)), {})
    assert row.state == "running"


def test_network_drift() -> None:
    """A running service off the app network is drift naming its alias; a missing network
    (when the pass listed networks) is drift of the installation; idle apps are not checked."""
    desired = dataclasses.replace(want(WEB, API), network=NET)
    observed = dataclasses.replace(seen(ctr(WEB), ctr(API), tags=(WEB.image, API.image)),
                                   networks=())
    items = drift_items(desired, observed, recs(rec(WEB), rec(API)), {})
    assert [(i.app, i.kind, i.what, i.expected) for i in items] == [
        ("", "drift", "app network missing", f"network {NET}"),
        ("/api", "drift", "container not on the app network", f"on {NET} as api"),
        ("/web", "drift", "container not on the app network", f"on {NET} as web"),
    ]
    joined = tuple(dataclasses.replace(c, networks=((NET, "n1"),)) for c in observed.containers)
    fixed = dataclasses.replace(observed, containers=joined, networks=((NET, "n1"),))
    assert drift_items(desired, fixed, recs(rec(WEB), rec(API)), {}) == []
    asleep = dataclasses.replace(desired, idle=(("/api", "idle"),))
    items = drift_items(asleep, dataclasses.replace(observed, networks=None),
                        recs(rec(WEB), rec(API)), {})
    assert [i.app for i in items] == ["/web"]
