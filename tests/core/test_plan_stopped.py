"""Golden plans for apps stopped by the user (`ace stop`, carried by RecordedState.stopped): their
containers are stopped and nothing else happens to them until `ace start`."""

from __future__ import annotations

from dataclasses import replace

from reconciler.core.planner import plan
from reconciler.core.types import RecordedState
from tests.core.builders import built, ctr, pulled, rec, recs, seen, want
from tests.core.golden import after_apply, golden

WEB = built("/web")
WEB2 = built("/web", version="v2", inputs="in2")
HELLO = pulled("/hello")


def stopped(state: RecordedState, *apps: str) -> RecordedState:
    return replace(state, stopped=frozenset(apps))


def test_running_app_stopped_by_user_is_stopped_then_left_alone() -> None:
    """Its container is stopped (removed); the next plan keeps it so, with the reason."""
    desired, recorded = want(WEB, HELLO), stopped(recs(rec(WEB), rec(HELLO)), "/web")
    observed = seen(ctr(WEB), ctr(HELLO), tags=(WEB.image, HELLO.image))
    p = plan(desired, observed, recorded)
    assert golden(p) == (f"stop:/web:{ctr(WEB).name} stop /web {ctr(WEB).name} (stopped by user)"
                         "\nok /hello (running v1)")
    observed, after = after_apply(desired, observed, recorded, p)
    assert golden(plan(desired, observed, stopped(after, "/web"))) == (
        "ok /hello (running v1)\nok /web (stopped by user)")


def test_stopped_app_is_neither_built_nor_started() -> None:
    """A declared change or a missing image of a stopped app waits for `ace start`."""
    assert golden(plan(want(WEB2), seen(), stopped(recs(rec(WEB)), "/web"))) == (
        "ok /web (stopped by user)")


def test_held_app_and_command_app_ignore_the_mark() -> None:
    """An app with errors is left as it is; a command app has no service to stop."""
    cmd = built("/cmd", service=False)
    p = plan(want(cmd, held=("/web",)), seen(ctr(WEB), tags=(cmd.image,)),
             stopped(recs(), "/web", "/cmd"))
    assert golden(p) == ("ok /cmd (command app: image ready)\n"
                         "ok /web (app has errors: left as it is)")
