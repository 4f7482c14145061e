"""Golden plans: (desired, observed, recorded) -> every step with its id, cause and dependencies,
and every app left alone with its reason; then the state a successful apply leaves plans nothing.

Complements tests/reconciler/test_planner.py (rendered steps only) with ids, `after` edges and
no-op reasons, in the style of compose's plan tests. Texts are in tests/core/golden.py's format.
"""

from __future__ import annotations

import textwrap
from dataclasses import dataclass

import pytest

from reconciler.core.planner import PlanOptions, plan
from reconciler.core.types import DesiredState, ObservedState, RecordedState
from tests.core.builders import built, ctr, pulled, rec, recs, seen, want
from tests.core.golden import after_apply, golden

WEB = built("/web")
FILES2 = (("index.html", "d2"), ("Containerfile", "dc"))  # index.html changed
WEB2 = built("/web", version="v2", inputs="in2", files=FILES2)
WEB_ENV = built("/web", version="v1e", env=(("MODE", "prod"),))
HELLO = pulled("/hello")
HELLO_ENV = pulled("/hello", env=(("COUNT", "1"), ("TOKEN", "s3cret-1")),
                   secret_env=frozenset({"TOKEN"}))
HELLO_ENV2 = pulled("/hello", version="v2", env=(("COUNT", "2"), ("TOKEN", "s3cret-2")),
                    secret_env=frozenset({"TOKEN"}))
HELLO_MOVED = pulled("/hello", "busybox:1.37", version="v2")
CMD = built("/cmd", service=False)
CMD_SVC = built("/cmd")  # the same app while it still declared a service
BUSYBOX = "busybox:latest"


@dataclass(frozen=True)
class Case:
    name: str
    desired: DesiredState
    observed: ObservedState
    recorded: RecordedState
    want: str  # golden plan text
    then: str | None = None  # golden text of the next plan after a successful apply
    options: PlanOptions = PlanOptions()


def text(s: str) -> str:
    return textwrap.dedent(s).strip()


CASES = [
    Case("new-app-builds-then-starts", want(WEB), seen(), recs(), """
        build:/web build /web ace-t/web:in1 (image not built yet)
        start:/web start /web ace-t/web:in1 (new app) after build:/web
        """, then="ok /web (running v1)"),
    Case("image-present-starts-only", want(WEB), seen(tags=(WEB.image,)), recs(), """
        start:/web start /web ace-t/web:in1 (new app)
        """, then="ok /web (running v1)"),
    Case("build-input-change-replaces-after-build", want(WEB2),
         seen(ctr(WEB), tags=(WEB.image,)), recs(rec(WEB)), """
        build:/web build /web ace-t/web:in2 (build inputs changed: index.html)
        replace:/web replace /web ace-t-web-v1 (build inputs changed: index.html) after build:/web
        """, then="ok /web (running v2)"),
    Case("env-change-replaces-without-build", want(WEB_ENV),
         seen(ctr(WEB), tags=(WEB.image,)), recs(rec(WEB)), """
        replace:/web replace /web ace-t-web-v1 (env MODE: (unset) → prod)
        """, then="ok /web (running v1e)"),
    Case("env-values-shown-secrets-masked", want(HELLO_ENV2),
         seen(ctr(HELLO_ENV), tags=(BUSYBOX,)), recs(rec(HELLO_ENV)), """
        replace:/hello replace /hello ace-t-hello-v1 (env COUNT: 1 → 2; env TOKEN: *** → ***)
        """, then="ok /hello (running v2)"),
    Case("image-values-shown", want(HELLO_MOVED),
         seen(ctr(HELLO), tags=(BUSYBOX, "busybox:1.37")), recs(rec(HELLO)), """
        replace:/hello replace /hello ace-t-hello-v1 (image: busybox:latest → busybox:1.37)
        """, then="ok /hello (running v2)"),
    Case("replace-then-removes-stale-version", want(WEB_ENV),
         seen(ctr(WEB, created=2), ctr(WEB, version="v0", state="exited"), tags=(WEB.image,)),
         recs(rec(WEB)), """
        replace:/web replace /web ace-t-web-v1 (env MODE: (unset) → prod)
        remove:/web:ace-t-web-v0 remove /web ace-t-web-v0 (stale older version) after replace:/web
        """, then="ok /web (running v1e)"),
    Case("image-removed-outside-rebuilds-only", want(WEB), seen(ctr(WEB)), recs(rec(WEB)), """
        build:/web build /web ace-t/web:in1 (image removed outside ace)
        """, then="ok /web (running v1)"),
    Case("pulled-image-missing-pulls-then-starts", want(HELLO), seen(), recs(), """
        pull:/hello pull /hello busybox:latest (image missing locally)
        start:/hello start /hello busybox:latest (new app) after pull:/hello
        """, then="ok /hello (running v1)"),
    Case("pull-always-pulls-a-present-image", want(HELLO),
         seen(ctr(HELLO), tags=(BUSYBOX,)), recs(rec(HELLO)), """
        pull:/hello pull /hello busybox:latest (--pull always)
        """, options=PlanOptions(pull="always")),
    Case("pull-never-holds-a-missing-image", want(HELLO), seen(), recs(), """
        ok /hello (image busybox:latest is missing and --pull never forbids pulling it)
        """, options=PlanOptions(pull="never")),
    Case("pull-never-starts-from-a-present-image", want(HELLO), seen(tags=(BUSYBOX,)), recs(), """
        start:/hello start /hello busybox:latest (new app)
        """, then="ok /hello (running v1)", options=PlanOptions(pull="never")),
    Case("app-removed-from-apps-file", want(HELLO),
         seen(ctr(HELLO), ctr(WEB), tags=(BUSYBOX, WEB.image)), recs(rec(HELLO), rec(WEB)), """
        remove:/web:ace-t-web-v1 remove /web ace-t-web-v1 (app removed from apps file)
        ok /hello (running v1)
        """, then="ok /hello (running v1)"),
    Case("app-declares-no-container", want(declared=("/web",)),
         seen(ctr(WEB), tags=(WEB.image,)), recs(rec(WEB)), """
        remove:/web:ace-t-web-v1 remove /web ace-t-web-v1 (app declares no container)
        """, then=""),
    Case("failed-evaluation-holds-the-app", want(held=("/web",)),
         seen(ctr(WEB), tags=(WEB.image,)), recs(rec(WEB)), """
        ok /web (app has errors: left as it is)
        """),
    Case("held-app-with-a-change-is-untouched", want(WEB2, held=("/web",)),
         seen(ctr(WEB), tags=(WEB.image,)), recs(rec(WEB)), """
        ok /web (app has errors: left as it is)
        """),
    Case("broken-apps-file-prunes-nothing", want(HELLO, prune=False),
         seen(ctr(HELLO), ctr(WEB), tags=(BUSYBOX, WEB.image)), recs(rec(HELLO), rec(WEB)), """
        ok /hello (running v1)
        ok /web (apps file has errors: nothing is removed)
        """),
    Case("exited-container-restarts", want(WEB),
         seen(ctr(WEB, state="exited", status="Exited (1) 3 seconds ago"), tags=(WEB.image,)),
         recs(rec(WEB)), """
        restart:/web restart /web ace-t-web-v1 (container exited: Exited (1) 3 seconds ago)
        """, then="ok /web (running v1)"),
    Case("removed-container-starts-again", want(WEB), seen(tags=(WEB.image,)), recs(rec(WEB)), """
        start:/web start /web ace-t/web:in1 (container gone)
        """, then="ok /web (running v1)"),
    Case("exited-old-version-is-replaced", want(WEB_ENV),
         seen(ctr(WEB, state="exited", status="Exited (137)"), tags=(WEB.image,)),
         recs(rec(WEB)), """
        replace:/web replace /web ace-t-web-v1 (env MODE: (unset) → prod)
        """, then="ok /web (running v1e)"),
    Case("unhealthy-mark-replaces", want(WEB),
         seen(ctr(WEB, health="unhealthy: 503 Service Unavailable"), tags=(WEB.image,)),
         recs(rec(WEB)), """
        replace:/web replace /web ace-t-web-v1 (health check failing: 503 Service Unavailable)
        """, then="ok /web (running v1)"),
    Case("command-app-gets-its-image-only", want(CMD), seen(), recs(), """
        build:/cmd build /cmd ace-t/cmd:in1 (image not built yet)
        """, then="ok /cmd (command app: image ready)"),
    Case("command-app-stops-its-old-service", want(CMD),
         seen(ctr(CMD_SVC), tags=(CMD.image,)), recs(rec(CMD_SVC)), """
        stop:/cmd:ace-t-cmd-v1 stop /cmd ace-t-cmd-v1 (lifetime is command: no service runs)
        """, then="ok /cmd (command app: image ready)"),
    Case("everything-in-sync-gives-only-reasons", want(WEB, HELLO, CMD),
         seen(ctr(WEB), ctr(HELLO), tags=(WEB.image, BUSYBOX, CMD.image)),
         recs(rec(WEB), rec(HELLO)), """
        ok /cmd (command app: image ready)
        ok /hello (running v1)
        ok /web (running v1)
        """),
]

ACTIONS = {"build", "pull", "start", "replace", "restart", "stop", "remove"}


@pytest.mark.parametrize("case", [pytest.param(c, id=c.name) for c in CASES])
def test_golden_plan(case: Case) -> None:
    """The plan's steps, ids, causes, dependencies and no-op reasons are exactly the golden."""
    p = plan(case.desired, case.observed, case.recorded, case.options)
    assert golden(p) == text(case.want)


@pytest.mark.parametrize("case", [pytest.param(c, id=c.name) for c in CASES
                                  if c.then is not None])
def test_next_plan_after_apply_is_empty(case: Case) -> None:
    """After every step succeeded, the next plan has no step, only the golden reasons."""
    p = plan(case.desired, case.observed, case.recorded, case.options)
    observed, recorded = after_apply(case.desired, case.observed, case.recorded, p)
    again = plan(case.desired, observed, recorded, case.options)
    assert again.empty
    assert golden(again) == text(case.then or "")


def test_every_action_has_an_idempotence_case() -> None:
    """Each of the seven actions appears in a case whose next plan is checked empty."""
    covered = {s.action for c in CASES if c.then is not None
               for s in plan(c.desired, c.observed, c.recorded, c.options).steps}
    assert covered == ACTIONS


def test_pull_always_pulls_on_every_pass() -> None:
    """--pull always is the one policy that never settles: after its pull, it pulls again."""
    case = next(c for c in CASES if c.name == "pull-always-pulls-a-present-image")
    p = plan(case.desired, case.observed, case.recorded, case.options)
    observed, recorded = after_apply(case.desired, case.observed, case.recorded, p)
    assert golden(plan(case.desired, observed, recorded, case.options)) == text(case.want)


def test_golden_names_the_dependency_a_skip_follows() -> None:
    """Steps of two apps depend only on their own app's image step, never across apps."""
    p = plan(want(WEB, HELLO), seen(), recs())
    assert golden(p) == text("""
        pull:/hello pull /hello busybox:latest (image missing locally)
        start:/hello start /hello busybox:latest (new app) after pull:/hello
        build:/web build /web ace-t/web:in1 (image not built yet)
        start:/web start /web ace-t/web:in1 (new app) after build:/web
        """)

