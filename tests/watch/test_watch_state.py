"""Backoff, plan filtering and health bookkeeping of `ace watch`: pure functions of `now`."""

from __future__ import annotations

from reconciler.apply.executor import StepOutcome
from reconciler.core.types import Plan, Step
from reconciler.watch.backoff import (
    Attempts,
    Backoff,
    Probe,
    crash_details,
    hold_back,
    record_attempts,
    record_probes,
    settle,
    unhealthy_marks,
)

BUILD = Step("build:/web", "build", "/web", "img:2", "build inputs changed: index.html")
REPLACE = Step("replace:/web", "replace", "/web", "c1", "build inputs changed", ("build:/web",))
REMOVE = Step("remove:/web:old", "remove", "/web", "old", "stale older version",
              ("replace:/web",))
START_API = Step("start:/api", "start", "/api", "img:a", "container gone")
PLAN = Plan((BUILD, REPLACE, REMOVE, START_API))
KEYS = {"/web": "v2:img:2", "/api": "va:img:a"}


def failed(step: Step, message: str = "container exited: Exited (3)") -> StepOutcome:
    return StepOutcome(step, "failed", message)


def test_delays_double_and_cap() -> None:
    """1 s doubling, capped."""
    b = Backoff(first=1.0, cap=60.0)
    assert [b.delay(n) for n in (1, 2, 3, 4, 7, 8)] == [1.0, 2.0, 4.0, 8.0, 60.0, 60.0]


def test_attempts_count_per_desired_key() -> None:
    """Each failed try of the same version doubles the wait; a new save starts afresh."""
    a = record_attempts({}, [failed(START_API)], KEYS, now=100.0)
    assert (a["/api"].count, a["/api"].until, a["/api"].exit_code) == (1, 101.0, "3")
    a = record_attempts(a, [failed(START_API)], KEYS, now=101.5)
    assert (a["/api"].count, a["/api"].until) == (2, 103.5)
    assert a["/api"].crash_looping
    a = record_attempts(a, [failed(START_API)], {"/api": "new"}, now=102.0)
    assert a["/api"].count == 1


def test_successful_build_alone_is_no_attempt() -> None:
    """A build that succeeded (with no container step) does not count; skipped steps neither."""
    done = StepOutcome(BUILD, "done")
    skipped = StepOutcome(REPLACE, "skipped")
    assert record_attempts({}, [done, skipped], KEYS, now=1.0) == {}


RESTART = Step("restart:/web", "restart", "/web", "c1", "container exited: Exited (3)")


def test_short_run_found_by_a_restart_is_a_crash() -> None:
    """A restart that went well but found the container exited after a short run counts as a
    crash (with that container's exit code and logs); the first wait is 1 s, the second crash
    in a row is a crash loop."""
    crashed = StepOutcome(RESTART, "done", exit_code="3", logs="dying now\n", ran_for=2.0)
    a = record_attempts({}, [crashed], KEYS, now=100.0)
    assert (a["/web"].count, a["/web"].until, a["/web"].exit_code) == (1, 101.0, "3")
    assert a["/web"].crashed and not a["/web"].failed and not a["/web"].crash_looping
    a = record_attempts(a, [crashed], KEYS, now=101.0)
    assert a["/web"].crash_looping and a["/web"].until == 103.0
    assert a["/web"].logs == "dying now\n"


def test_long_run_or_clean_try_forgets_attempts() -> None:
    """A container that ran longer than the healthy period before it exited (killed after a
    day, say) is no crash: the restart forgets the app's attempts, as any try that went well."""
    prev = {"/web": Attempts("/web", KEYS["/web"], 3, 90.0, 94.0, False, "3", "", True)}
    long_run = StepOutcome(RESTART, "done", exit_code="137", ran_for=86400.0)
    assert record_attempts(prev, [long_run], KEYS, now=100.0) == {}
    unknown = StepOutcome(RESTART, "done", exit_code="1", ran_for=None)
    assert record_attempts(prev, [unknown], KEYS, now=100.0) == {}


def test_failed_build_or_never_healthy_version_is_no_crash_loop() -> None:
    """Failed builds and a new version that never answers back off, but are no crash loop."""
    build = failed(BUILD, "build of img:2 failed\nRUN exit 3")
    a = record_attempts({}, [build], KEYS, now=100.0)
    a = record_attempts(a, [build], KEYS, now=102.0)
    assert a["/web"].count == 2 and a["/web"].failed and not a["/web"].crash_looping
    slow = failed(REPLACE, "health check http://127.0.0.1:1/ failed: not healthy after 60 s")
    a = record_attempts(a, [StepOutcome(BUILD, "done"), slow], KEYS, now=110.0)
    assert a["/web"].count == 3 and not a["/web"].crash_looping


def test_hold_back_drops_retries_and_dependents_only() -> None:
    """A backing-off app loses its build/replace and what depends on them; others keep theirs."""
    attempts = {"/web": Attempts("/web", KEYS["/web"], 2, 10.0, 12.0, True)}
    filtered, held = hold_back(PLAN, attempts, KEYS, now=11.0)
    assert [s.id for s in filtered.steps] == ["start:/api"]
    assert held == ("/web",)
    same, none = hold_back(PLAN, attempts, KEYS, now=12.0)  # the wait is over
    assert same.steps == PLAN.steps and none == ()
    new, none = hold_back(PLAN, attempts, {**KEYS, "/web": "v3"}, now=11.0)  # a new save
    assert new.steps == PLAN.steps and none == ()


def test_settle_resets_after_healthy_period() -> None:
    """Attempts are forgotten after 30 s of health since the last one, or when undeclared."""
    attempts = {"/web": Attempts("/web", "k", 3, 100.0, 104.0, True),
                "/gone": Attempts("/gone", "k", 1, 100.0, 101.0, True)}
    keys = {"/web": "k"}
    assert set(settle(attempts, ["/web"], keys, now=120.0)) == {"/web"}
    assert settle(attempts, ["/web"], keys, now=130.0) == {}
    assert set(settle(attempts, [], keys, now=500.0)) == {"/web"}  # never healthy: kept


def test_crash_details() -> None:
    """Exit code and log lines come from the executor's failure text or a container status."""
    msg = "health check failed: container exited: Exited (137)\nlast log lines:\nboom\nbye"
    assert crash_details(msg) == ("137", "boom\nbye")
    assert crash_details("", "Exited (1) 3 seconds ago") == ("1", "")
    assert crash_details("no port") == ("", "")


def test_probes_mark_unhealthy_after_threshold() -> None:
    """Failures count per container in a row; a success or a new container resets them."""
    probes: dict[str, Probe] = {}
    for _ in range(2):
        probes = record_probes(probes, {"/web": ("c1", False, "404 Not Found")})
    assert unhealthy_marks(probes, 3) == {}
    probes = record_probes(probes, {"/web": ("c1", False, "404 Not Found")})
    assert unhealthy_marks(probes, 3) == {"c1": "unhealthy: 404 Not Found (3 probes in a row)"}
    assert record_probes(probes, {"/web": ("c2", False, "x")})["/web"].fails == 1
    assert record_probes(probes, {"/web": ("c1", True, "200 OK")})["/web"].fails == 0


def test_probe_all_statuses() -> None:
    """One-thread probes: 200 and 404 from a live server, refused and silent ports fail."""
    import http.server
    import socket
    import threading

    from reconciler.apply.health import Target, probe_all

    class H(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802
            self.send_response(200 if self.path == "/ok" else 404)
            self.end_headers()

        def log_message(self, *a: object) -> None:
            pass

    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen()  # accepts, never answers
    free = socket.socket()
    free.bind(("127.0.0.1", 0))
    refused = free.getsockname()[1]
    free.close()
    port = srv.server_address[1]
    try:
        got = probe_all([Target("ok", "http", port, "/ok"), Target("nf", "http", port, "/x"),
                         Target("refused", "http", refused, "/"),
                         Target("silent", "http", silent.getsockname()[1], "/")], timeout=0.5)
    finally:
        srv.shutdown()
        silent.close()
    assert got["ok"][0] == 200 and got["nf"] == (404, "404 Not Found")
    assert got["refused"][0] == 0 and "Refused" in got["refused"][1]
    assert got["silent"] == (0, "timed out after 0.5 s")
