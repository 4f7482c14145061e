"""The planner on a cluster: a service observed with replicas is scaled in place when the app's
`replicas` differ, replaced when it was changed by hand, left alone otherwise; a plain
container (replicas 0, one engine) is never scaled."""

from __future__ import annotations

from dataclasses import replace

import pytest

from reconciler.core.planner import plan
from reconciler.core.types import DesiredApp, ObservedContainer
from tests.core.builders import built, ctr, rec, recs, seen, want
from tests.core.golden import golden

WEB = built("/web")


def svc(app: DesiredApp, replicas: int, changed: str = "") -> ObservedContainer:
    """A cluster service of `app` running `replicas` tasks."""
    return replace(ctr(app, host_port=None), replicas=replicas, changed_outside=changed)


@pytest.mark.parametrize(("desired", "observed", "expected"), [
    (1, svc(WEB, 1), "ok /web (running v1)"),
    (3, svc(WEB, 3), "ok /web (running v1)"),
    (3, svc(WEB, 1), "scale:/web scale /web ace-t-web-v1 (replicas 1 -> 3)"),
    (1, svc(WEB, 5), "scale:/web scale /web ace-t-web-v1 (replicas 5 -> 1)"),
    (3, ctr(WEB), "ok /web (running v1)"),
    (2, svc(WEB, 2, "task template changed"),
     "replace:/web replace /web ace-t-web-v1 (changed outside ace: task template changed)"),
], ids=["one", "three", "scale-up", "scale-down", "plain-container", "changed-by-hand"])
def test_replicas_table(desired: int, observed: ObservedContainer, expected: str) -> None:
    """Scale only where the observed service's replicas differ; replace a hand-changed one."""
    app = replace(WEB, replicas=desired)
    got = plan(want(app), seen(observed, tags=(WEB.image,)), recs(rec(WEB, observed)))
    assert golden(got) == expected


def test_scale_waits_for_a_new_image_never() -> None:
    """A version change on a cluster is a replace (a new service), not a scale."""
    web2 = replace(built("/web", version="v2", inputs="in2"), replicas=3)
    old = svc(WEB, 1)
    got = plan(want(web2), seen(old, tags=(WEB.image, web2.image)), recs(rec(WEB, old)))
    assert [s.action for s in got.steps] == ["replace"]


@pytest.mark.parametrize(("reload", "expected"), [
    ("restart", ["restart"]),
    ("recreate", ["replace"]),
    ("none", ["scale"]),
], ids=["restart", "recreate", "none"])
def test_a_dev_source_change_comes_before_a_scale(reload: str, expected: list[str]) -> None:
    """A dev app's saved source restarts or recreates its cluster service even when its
    replicas changed too (the scale follows on the next pass); with reload none the scale
    happens at once."""
    app = replace(WEB, mode="dev", reload=reload, replicas=3)
    observed = svc(app, 1)
    got = plan(replace(want(app), touched=frozenset({"/web"})),
               seen(observed, tags=(app.image,)), recs(rec(app, observed)))
    assert [s.action for s in got.steps] == expected
    after = plan(want(app), seen(observed, tags=(app.image,)), recs(rec(app, observed)))
    assert [s.action for s in after.steps] == ["scale"]


def test_an_exited_service_is_restarted_and_a_stopped_one_stopped() -> None:
    """A service with no task wanted running (state exited) is restarted, not taken for a
    paused or never-started container; an app stopped by the user has its service stopped."""
    observed = replace(svc(WEB, 1), state="exited", status="0/1 tasks running")
    got = plan(want(WEB), seen(observed, tags=(WEB.image,)), recs(rec(WEB, observed)))
    assert golden(got) == ("restart:/web restart /web ace-t-web-v1 "
                           "(container exited: 0/1 tasks running)")
    stopped = replace(recs(rec(WEB, observed)), stopped=frozenset({"/web"}))
    got = plan(want(WEB), seen(svc(WEB, 1), tags=(WEB.image,)), stopped)
    assert [(s.action, s.cause) for s in got.steps] == [("stop", "stopped by user")]
