"""Golden plans for containers left in states a `start` cannot fix: paused (the engine refuses
to start it) and created but never started (a run killed between create and start). Each plan
converges in one apply: the next plan is empty."""

from __future__ import annotations

from reconciler.core.planner import plan
from tests.core.builders import built, ctr, rec, recs, seen, want
from tests.core.golden import after_apply, golden

WEB = built("/web")
WEB2 = built("/web", version="v2", inputs="in2")


def test_paused_container_is_replaced_not_restarted() -> None:
    """A paused container of the desired version is replaced by a fresh one (never `start`ed
    in a loop); after that apply nothing is left to do."""
    desired, recorded = want(WEB), recs(rec(WEB))
    observed = seen(ctr(WEB, state="paused", status="Up 3 minutes (Paused)"), tags=(WEB.image,))
    p = plan(desired, observed, recorded)
    assert golden(p) == "replace:/web replace /web ace-t-web-v1 (container paused)"
    observed, recorded = after_apply(desired, observed, recorded, p)
    assert golden(plan(desired, observed, recorded)) == "ok /web (running v1)"


def test_never_started_container_is_started_afresh() -> None:
    """A created, never started container of the desired version counts as no container: a
    start (which removes it first) with a cause that says why."""
    desired, recorded = want(WEB), recs(rec(WEB))
    observed = seen(ctr(WEB, state="created", status="Created"), tags=(WEB.image,))
    p = plan(desired, observed, recorded)
    assert golden(p) == "start:/web start /web ace-t/web:in1 (container created but never started)"
    observed, recorded = after_apply(desired, observed, recorded, p)
    assert golden(plan(desired, observed, recorded)) == "ok /web (running v1)"


def test_never_started_new_version_beside_the_old_one() -> None:
    """Killed mid-replace: the old version still runs and the new one was only created. The
    old one is replaced as any declared change is (zero downtime), not restarted."""
    desired, recorded = want(WEB2), recs(rec(WEB))
    observed = seen(ctr(WEB), ctr(WEB2, state="created", status="Created"),
                    tags=(WEB.image, WEB2.image))
    p = plan(desired, observed, recorded)
    assert [(s.id, s.target, s.depends_on) for s in p.steps] == [
        ("replace:/web", "ace-t-web-v1", ())]
    observed, recorded = after_apply(desired, observed, recorded, p)
    assert golden(plan(desired, observed, recorded)) == "ok /web (running v2)"
