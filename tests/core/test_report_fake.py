"""`ace status` rows and `ace drift` items from hand-made desired/observed/recorded values: the
exact JSON each app state gives (running, unhealthy, exited, missing, orphaned, pending change,
failed last apply). Health is passed in as probed, so nothing here opens a socket."""

from __future__ import annotations

from typing import Any

import pytest

from reconciler.core.report import drift_items, status_rows
from reconciler.core.types import DesiredState, ObservedState, RecordedState
from tests.core.builders import built, ctr, pulled, rec, recs, seen, want

WEB = built("/web")
WEB2 = built("/web", version="v2", inputs="in2")  # declared change not applied yet
CMD = built("/cmd", service=False)
OLD = pulled("/old")  # no longer declared
CID = "4f2a9c01d3e5b7aa"  # a container id longer than the 12 characters drift shows
UNHEALTHY = "unhealthy: 503 Service Unavailable"
EXITED = "Exited (1) 3 seconds ago"
BUILD_FAILED = "build of ace-t/web:in1 failed\nRUN false returned 1"


def row(state: str, health: str = "-", url: str = "", container: str = "",
        image: str = WEB.image, since: int = 0, detail: str = "", path: str = "/web",
        public_url: str = "", mode: str = "normal") -> dict[str, Any]:
    return {"path": path, "state": state, "health": health, "url": url, "public_url": public_url,
            "container": container, "image": image, "since": since, "detail": detail,
            "mode": mode}


def item(kind: str, what: str, expected: str, actual: str, app: str = "/web") -> dict[str, str]:
    return {"app": app, "kind": kind, "what": what, "expected": expected, "actual": actual}


STATUS = [
    pytest.param(want(WEB), seen(ctr(WEB, created=5)), {"/web": "healthy"}, {},
                 [row("running", "healthy", "http://127.0.0.1:40001", "ace-t-web-v1", since=5)],
                 id="running-healthy"),
    pytest.param(want(WEB), seen(ctr(WEB, created=5)), {}, {},
                 [row("running", "unknown", "http://127.0.0.1:40001", "ace-t-web-v1", since=5)],
                 id="running-not-probed"),
    pytest.param(want(WEB), seen(ctr(WEB, created=5)), {"/web": UNHEALTHY}, {},
                 [row("running", "unhealthy", "http://127.0.0.1:40001", "ace-t-web-v1", since=5,
                      detail="503 Service Unavailable")], id="unhealthy"),
    pytest.param(want(WEB), seen(ctr(WEB, state="exited", status=EXITED, created=5)), {}, {},
                 [row("stopped", container="ace-t-web-v1", since=5, detail=EXITED)],
                 id="exited"),
    pytest.param(want(WEB), seen(), {}, {}, [row("missing")], id="missing"),
    pytest.param(want(WEB), seen(), {}, {"/web": BUILD_FAILED},
                 [row("failed", detail=BUILD_FAILED)], id="failed-last-apply"),
    pytest.param(want(WEB2), seen(ctr(WEB, created=5)), {"/web": "healthy"}, {},
                 [row("running", "healthy", "http://127.0.0.1:40001", "ace-t-web-v1",
                      image=WEB2.image, since=5,
                      detail="an older version runs; reconcile to apply the change")],
                 id="pending-change"),
    pytest.param(want(CMD), seen(), {}, {},
                 [row("command", path="/cmd", image=CMD.image,
                      detail="image only; run actions with ace run")], id="command-app"),
    pytest.param(want(held=("/web",)), seen(ctr(WEB)), {}, {},
                 [row("error", image="", detail="app has errors: see ace config")],
                 id="held-app-with-errors"),
    pytest.param(want(), seen(ctr(OLD, created=7)), {}, {},
                 [row("orphaned", path="/old", container="ace-t-old-v1", image="busybox:latest",
                      since=7, detail="not declared any more; reconcile removes it")],
                 id="orphan"),
]


@pytest.mark.parametrize(("desired", "observed", "health", "failed", "expected"), STATUS)
def test_status_row(desired: DesiredState, observed: ObservedState, health: dict[str, str],
                    failed: dict[str, str], expected: list[dict[str, Any]]) -> None:
    """Each app state gives exactly this status row."""
    rows = status_rows(desired, observed, health, failed)
    assert [r.to_json() for r in rows] == expected


def test_status_rows_order_and_public_urls() -> None:
    """Rows come as declared apps by path, then held apps, then orphans; public URLs are
    filled in for the apps the proxy serves."""
    desired = want(WEB, CMD, pulled("/api"), held=("/bad",))
    observed = seen(ctr(WEB), ctr(OLD), ctr(pulled("/api"), state="exited"))
    rows = status_rows(desired, observed, {"/web": "healthy"},
                       public={"/web": "http://127.0.0.1:8000/web"})
    assert [(r.path, r.state, r.health, r.public_url) for r in rows] == [
        ("/api", "stopped", "-", ""),
        ("/cmd", "command", "-", ""),
        ("/web", "running", "healthy", "http://127.0.0.1:8000/web"),
        ("/bad", "error", "-", ""),
        ("/old", "orphaned", "-", ""),
    ]


DRIFT = [
    pytest.param(want(WEB), seen(ctr(WEB, cid=CID), tags=(WEB.image,)),
                 recs(rec(WEB, ctr(WEB, cid=CID))), {"/web": "healthy"}, [], id="in-sync"),
    pytest.param(want(WEB), seen(ctr(WEB, cid=CID), tags=(WEB.image,)),
                 recs(rec(WEB, ctr(WEB, cid=CID))), {"/web": UNHEALTHY},
                 [item("drift", "container unhealthy", "200 from /", UNHEALTHY)], id="unhealthy"),
    pytest.param(want(WEB), seen(ctr(WEB, cid=CID, state="exited", status=EXITED),
                                 tags=(WEB.image,)),
                 recs(rec(WEB, ctr(WEB, cid=CID))), {},
                 [item("drift", "container stopped", "running", EXITED)], id="exited"),
    pytest.param(want(WEB), seen(tags=(WEB.image,)), recs(rec(WEB, ctr(WEB, cid=CID))), {},
                 [item("drift", "container gone", "4f2a9c01d3e5 running", "absent")],
                 id="missing"),
    pytest.param(want(WEB), seen(ctr(WEB, cid="9b8c7d6e5f4a3b2c"), tags=(WEB.image,)),
                 recs(rec(WEB, ctr(WEB, cid=CID))), {"/web": "healthy"},
                 [item("drift", "container replaced outside ace", "4f2a9c01d3e5",
                       "9b8c7d6e5f4a")], id="replaced-outside"),
    pytest.param(want(WEB), seen(ctr(WEB, cid=CID)), recs(rec(WEB, ctr(WEB, cid=CID))),
                 {"/web": "healthy"},
                 [item("drift", "image removed", "ace-t/web:in1", "absent")],
                 id="image-removed"),
    pytest.param(want(WEB), seen(), recs(), {},
                 [item("pending", "not applied yet", "version v1", "nothing recorded")],
                 id="never-applied"),
    pytest.param(want(WEB2), seen(ctr(WEB, cid=CID), tags=(WEB.image,)),
                 recs(rec(WEB, ctr(WEB, cid=CID))), {"/web": "healthy"},
                 [item("pending", "declared change not applied", "version v2", "version v1")],
                 id="pending-change-after-failed-apply"),
    pytest.param(want(CMD), seen(ctr(built("/cmd")), tags=(CMD.image,)), recs(), {},
                 [item("pending", "service of a command app", "no container",
                       "ace-t-cmd-v1 running", app="/cmd")], id="command-app-with-service"),
    pytest.param(want(), seen(ctr(OLD, state="exited")), recs(rec(OLD)), {},
                 [item("pending", "app removed from apps file", "no container",
                       "ace-t-old-v1 exited", app="/old")], id="orphan"),
    pytest.param(want(held=("/web",)), seen(ctr(WEB)), recs(rec(WEB)), {}, [],
                 id="held-app-is-no-orphan"),
]


@pytest.mark.parametrize(("desired", "observed", "recorded", "health", "expected"), DRIFT)
def test_drift_items(desired: DesiredState, observed: ObservedState, recorded: RecordedState,
                     health: dict[str, str], expected: list[dict[str, str]]) -> None:
    """Each difference between declared, recorded and running gives exactly these items."""
    items = drift_items(desired, observed, recorded, health)
    assert [i.to_json() for i in items] == expected


def test_drift_items_of_several_apps_in_path_order() -> None:
    """Items come per declared app by path, then one per orphaned container."""
    api = pulled("/api")
    desired = want(WEB2, api)
    observed = seen(ctr(WEB, cid=CID), ctr(OLD), tags=(WEB.image, "busybox:latest"))
    items = drift_items(desired, observed, recs(rec(WEB, ctr(WEB, cid=CID))), {})
    assert [(i.app, i.kind, i.what) for i in items] == [
        ("/api", "pending", "not applied yet"),
        ("/web", "pending", "declared change not applied"),
        ("/old", "pending", "app removed from apps file"),
    ]
