"""`ace status` rows and `ace drift` items from hand-made desired/observed/recorded values: the
exact JSON each app state gives (running, unhealthy, exited, missing, orphaned, pending change,
failed last apply). Health is passed in as probed, so nothing here opens a socket."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from apps.model import EvalError
from reconciler.core.report import APPS_FILE_HELD, HELD, app_errors, drift_items, status_rows
from reconciler.core.types import DesiredState, ObservedState, RecordedState
from state.runs import LastApply
from tests.core.builders import built, ctr, pulled, rec, recs, seen, want

WEB = built("/web")
WEB2 = built("/web", version="v2", inputs="in2")  # declared change not applied yet
CMD = built("/cmd", service=False)
WEB_FILES = built("/web", version="v2", inputs="in2",
                  files=(("index.html", "d2"), ("Containerfile", "dc")))
API = pulled("/api", env=(("COUNT", "1"), ("TOKEN", "one")), secret_env=frozenset({"TOKEN"}))
API2 = pulled("/api", version="v2", port=9090, env=(("COUNT", "2"), ("TOKEN", "two")),
              secret_env=frozenset({"TOKEN"}))
OLD = pulled("/old")  # no longer declared
CID = "4f2a9c01d3e5b7aa"  # a container id longer than the 12 characters drift shows
UNHEALTHY = "unhealthy: 503 Service Unavailable"
EXITED = "Exited (1) 3 seconds ago"
BUILD_FAILED = "build of ace-t/web:in1 failed\nRUN false returned 1"


def row(state: str, health: str = "-", url: str = "", container: str = "",
        image: str = WEB.image, since: int = 0, detail: str = "", path: str = "/web",
        public_url: str = "", error: str = "",
        last_apply: dict[str, Any] | None = None, mode: str = "normal") -> dict[str, Any]:
    return {"path": path, "state": state, "health": health, "url": url, "public_url": public_url,
            "container": container, "image": image, "since": since, "detail": detail,
            "error": error, "last_apply": last_apply, "mode": mode}


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
    pytest.param(want(held=("/web",)), seen(), {}, {},
                 [row("error", image="", detail=f"does not evaluate: {HELD}", error=HELD)],
                 id="held-app-nothing-runs"),
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


BROKEN = "/src/web/app.star:3:5: name 'x' is not defined"
LABELLED = replace(ctr(WEB, created=5), scheme="https", health_path="/ping")
BUILD_FAILED_EARLIER = LastApply("/web", "build:/web", "build", "ace-t/web:in2", "failed",
                                 BUILD_FAILED, 1700000000.5, 7)
BUILD_FAILED_NOW = replace(BUILD_FAILED_EARLIER, target=WEB.image)  # of the declared inputs
REPLACE_FAILED = LastApply("/web", "replace:/web", "replace", "ace-t-web-v1", "failed",
                           "not healthy", 1700000000.5, 7)
REPLACED = LastApply("/web", "replace:/web", "replace", "ace-t-web-v1", "done", "", 1700000100.0,
                     9)


def last(la: LastApply) -> dict[str, Any]:
    return {"step": la.step_id, "action": la.action, "outcome": la.outcome,
            "message": la.message, "at": int(la.at)}


HELD_STATUS = [
    pytest.param(want(held=("/web",)), seen(LABELLED), {"/web": "healthy"}, {"/web": BROKEN}, {},
                 [row("running", "healthy", "https://127.0.0.1:40001", "ace-t-web-v1",
                      since=5, error=BROKEN,
                      detail=f"does not evaluate, what runs is left alone: {BROKEN}")],
                 id="held-app-shows-what-runs-and-why"),
    pytest.param(want(held=("/web",)), seen(ctr(WEB, created=5)), {}, {}, {},
                 [row("running", "unknown", "http://127.0.0.1:40001", "ace-t-web-v1", since=5,
                      error=HELD, detail=f"does not evaluate, what runs is left alone: {HELD}")],
                 id="held-app-container-without-probe-labels"),
    pytest.param(want(held=("/web",)), seen(ctr(WEB, state="exited", status=EXITED)), {},
                 {"/web": BROKEN}, {"/web": BUILD_FAILED_EARLIER},
                 [row("stopped", container="ace-t-web-v1", since=1, error=BROKEN,
                      detail=f"does not evaluate, what runs is left alone: {BROKEN}; {EXITED}; "
                             "last build failed: build of ace-t/web:in1 failed",
                      last_apply=last(BUILD_FAILED_EARLIER))],
                 id="held-app-stopped-with-failed-apply"),
    pytest.param(want(WEB2), seen(ctr(WEB, created=5)), {"/web": "healthy"}, {},
                 {"/web": BUILD_FAILED_EARLIER},
                 [row("running", "healthy", "http://127.0.0.1:40001", "ace-t-web-v1",
                      image=WEB2.image, since=5, last_apply=last(BUILD_FAILED_EARLIER),
                      detail="an older version runs; reconcile to apply the change; "
                             "last build failed: build of ace-t/web:in1 failed")],
                 id="older-version-serves-after-a-failed-apply"),
    pytest.param(want(WEB), seen(), {}, {}, {"/web": BUILD_FAILED_NOW},
                 [row("failed", detail=f"last build failed: {BUILD_FAILED}",
                      last_apply=last(BUILD_FAILED_NOW))],
                 id="failed-apply-nothing-runs"),
    pytest.param(want(WEB), seen(), {}, {}, {"/web": BUILD_FAILED_EARLIER},
                 [row("missing")], id="failed-build-of-other-inputs-nothing-runs"),
    pytest.param(want(WEB), seen(ctr(WEB, created=5)), {"/web": "healthy"}, {},
                 {"/web": BUILD_FAILED_EARLIER},
                 [row("running", "healthy", "http://127.0.0.1:40001", "ace-t-web-v1", since=5)],
                 id="failed-build-then-reverted-to-what-runs"),
    pytest.param(want(WEB), seen(ctr(WEB, created=5)), {"/web": "healthy"}, {},
                 {"/web": REPLACE_FAILED},
                 [row("running", "healthy", "http://127.0.0.1:40001", "ace-t-web-v1", since=5)],
                 id="failed-replace-then-reverted-to-what-runs"),
    pytest.param(want(WEB), seen(ctr(WEB, created=5)), {"/web": UNHEALTHY}, {},
                 {"/web": REPLACE_FAILED},
                 [row("running", "unhealthy", "http://127.0.0.1:40001", "ace-t-web-v1", since=5,
                      detail="503 Service Unavailable; last replace failed: not healthy",
                      last_apply=last(REPLACE_FAILED))],
                 id="failed-replace-while-what-runs-is-unhealthy"),
    pytest.param(want(WEB), seen(ctr(WEB, created=5)), {"/web": "healthy"}, {},
                 {"/web": REPLACED},
                 [row("running", "healthy", "http://127.0.0.1:40001", "ace-t-web-v1", since=5,
                      last_apply=last(REPLACED))],
                 id="last-apply-done"),
    pytest.param(want(prune=False), seen(ctr(WEB, created=5)), {"/web": "healthy"}, {}, {},
                 [row("running", "healthy", "http://127.0.0.1:40001", "ace-t-web-v1", since=5,
                      error=APPS_FILE_HELD,
                      detail=f"does not evaluate, what runs is left alone: {APPS_FILE_HELD}")],
                 id="broken-apps-file-orphans-nothing"),
]


@pytest.mark.parametrize(("desired", "observed", "health", "errors", "applies", "expected"),
                         HELD_STATUS)
def test_status_row_shows_what_runs_errors_and_last_apply(
    desired: DesiredState, observed: ObservedState, health: dict[str, str],
    errors: dict[str, str], applies: dict[str, LastApply], expected: list[dict[str, Any]],
) -> None:
    """An app that does not evaluate shows its running container, health and URL with the
    error; the last apply's failure shows even while an older version serves, and no more
    once the declared version runs healthy or when it was a build of other inputs."""
    rows = status_rows(desired, observed, health, errors=errors, last_apply=applies)
    assert [r.to_json() for r in rows] == expected


def test_app_errors_first_per_app() -> None:
    """Each app's first evaluation error, located; the apps file's own errors are no app's."""
    errs = [EvalError("/web", "/a/app.star", 3, 5, "boom"), EvalError("/web", "/a/x", 1, 1, "2"),
            EvalError("", "/apps.star", 2, 1, "bad")]
    assert app_errors(errs) == {"/web": "/a/app.star:3:5: boom"}


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
                 [item("pending", "declared change not applied", "image: ace-t/web:in2",
                       "image: ace-t/web:in1")],
                 id="pending-change-after-failed-apply"),
    pytest.param(want(WEB_FILES), seen(ctr(WEB, cid=CID), tags=(WEB.image,)),
                 recs(rec(WEB, ctr(WEB, cid=CID))), {"/web": "healthy"},
                 [item("pending", "declared change not applied",
                       "image: ace-t/web:in2; build inputs changed: index.html",
                       "image: ace-t/web:in1")],
                 id="pending-build-names-the-files"),
    pytest.param(want(API2), seen(ctr(API, cid=CID), tags=("busybox:latest",)),
                 recs(rec(API, ctr(API, cid=CID))), {"/api": "healthy"},
                 [item("pending", "declared change not applied",
                       "port: 9090; env COUNT: 2; env TOKEN: ***",
                       "port: 8080; env COUNT: 1; env TOKEN: ***", app="/api")],
                 id="pending-values-secrets-masked"),
    pytest.param(want(WEB2), seen(ctr(WEB, cid=CID), tags=(WEB.image,)),
                 recs(replace(rec(WEB, ctr(WEB, cid=CID)), spec_json="")), {"/web": "healthy"},
                 [item("pending", "declared change not applied", "version v2", "version v1")],
                 id="pending-without-recorded-spec-gives-versions"),
    pytest.param(want(CMD), seen(ctr(built("/cmd")), tags=(CMD.image,)), recs(), {},
                 [item("pending", "service of a command app", "no container",
                       "ace-t-cmd-v1 running", app="/cmd")], id="command-app-with-service"),
    pytest.param(want(), seen(ctr(OLD, state="exited")), recs(rec(OLD)), {},
                 [item("pending", "app removed from apps file", "no container",
                       "ace-t-old-v1 exited", app="/old")], id="orphan"),
    pytest.param(want(held=("/web",)), seen(ctr(WEB)), recs(rec(WEB)), {}, [],
                 id="held-app-is-no-orphan"),
    pytest.param(want(prune=False), seen(ctr(WEB)), recs(rec(WEB)), {}, [],
                 id="broken-apps-file-removes-nothing"),
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
