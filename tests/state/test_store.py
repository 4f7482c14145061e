"""Round-trips of every Store method (no Docker)."""

from __future__ import annotations

import threading

import pytest

from apps.errors import StateError
from reconciler.core.types import RecordedApp, RecordedState, Step
from state import ContainerRecord, ImageRecord, LastApply, StepOutcome, Store

FILES = (("index.html", "sha256:aa"), ("css/site.css", "sha256:bb"))


def test_images_round_trip_newest_first(store: Store) -> None:
    """Recorded images come back per app, newest first, with their file manifest."""
    store.record_image("/web", "ace/web:1", "sha256:i1", "h1", FILES, created_at=10.0)
    store.record_image("/web", "ace/web:2", "sha256:i2", "h2", (), created_at=20.0)
    store.record_image("/api", "ace/api:1", "sha256:i3", "h3", created_at=15.0)
    assert store.images_for("/web") == (
        ImageRecord("/web", "ace/web:2", "sha256:i2", "h2", (), 20.0),
        ImageRecord("/web", "ace/web:1", "sha256:i1", "h1", FILES, 10.0),
    )
    assert store.images_for("/nope") == ()


def test_image_rebuilt_under_same_tag_replaces_record(store: Store) -> None:
    """A rebuild of the same app and tag updates the one record instead of adding another."""
    store.record_image("/web", "ace/web:1", "sha256:old", "h1", FILES, created_at=1.0)
    store.record_image("/web", "ace/web:1", "sha256:new", "h1", FILES[:1], created_at=2.0)
    assert store.images_for("/web") == (
        ImageRecord("/web", "ace/web:1", "sha256:new", "h1", FILES[:1], 2.0),
    )


def test_containers_upsert_keeps_created_at(store: Store) -> None:
    """Recording a known container updates it in place; created_at stays the first time."""
    store.record_container("c1", app="/web", name="ace-web-1", version="v1", host_port=49153,
                           state="created", now=1.0)  # fmt: skip
    store.record_container("c1", app="/web", name="ace-web-1", version="v1", host_port=49153,
                           state="running", health="healthy", now=5.0)  # fmt: skip
    store.record_container("c2", app="/api", name="ace-api-1", version="v9", now=3.0)
    assert store.containers() == (
        ContainerRecord("c2", "/api", "ace-api-1", "v9", None, "", "", 3.0, 3.0),
        ContainerRecord("c1", "/web", "ace-web-1", "v1", 49153, "running", "healthy", 1.0, 5.0),
    )


def test_forget_container(store: Store) -> None:
    """A forgotten container is no longer listed; forgetting an unknown id is harmless."""
    store.record_container("c1", app="/web", name="n1", version="v1")
    store.record_container("c2", app="/web", name="n2", version="v1")
    store.forget_container("c1")
    store.forget_container("unknown")
    assert [c.container_id for c in store.containers()] == ["c2"]


def test_applied_round_trips_as_recorded_state(store: Store) -> None:
    """record_applied stores exactly what recorded() returns, sorted by path; a second record
    of the same app replaces the first."""
    web = RecordedApp("/web", "v1", "ace/web:1", "c1", FILES, '{"image":"ace/web:1"}')
    api = RecordedApp("/api", "v7", "busybox:latest")
    store.record_applied(web)
    store.record_applied(api)
    assert store.recorded() == RecordedState((api, web))
    web2 = RecordedApp("/web", "v2", "ace/web:2", "c9", FILES[1:], '{"image":"ace/web:2"}')
    store.record_applied(web2)
    assert store.recorded().get("/web") == web2
    assert len(store.recorded().apps) == 2


def test_empty_store_reads_empty(store: Store) -> None:
    """A fresh store has nothing recorded and no runs."""
    assert store.recorded() == RecordedState(())
    assert store.containers() == ()
    assert store.runs() == ()
    assert store.last_run() is None
    assert store.digest_cache("") == {}


def test_forget_app_drops_snapshot_and_containers_keeps_images(store: Store) -> None:
    """forget_app removes the app's applied snapshot and containers, not other apps', and its
    images only when asked."""
    for app in ("/web", "/api"):
        store.record_applied(RecordedApp(app, "v1", f"ace{app}:1"))
        store.record_container(f"c{app}", app=app, name=f"n{app}", version="v1")
        store.record_image(app, f"ace{app}:1", "sha256:x", "h")
    store.forget_app("/web")
    assert [a.path for a in store.recorded().apps] == ["/api"]
    assert [c.app for c in store.containers()] == ["/api"]
    assert len(store.images_for("/web")) == 1
    store.forget_app("/web", images=True)
    assert store.images_for("/web") == ()
    assert len(store.images_for("/api")) == 1


def test_runs_round_trip(store: Store) -> None:
    """A run records its command, plan, outcome, duration and every step's outcome in order;
    an unfinished run reads back with outcome "" and no finish time."""
    step = Step("build:/web", "build", "/web", "ace/web:1", "build inputs changed: index.html")
    first = store.begin_run("reconcile", "build /web ...", started_at=100.0)
    steps = [
        StepOutcome(step.id, step.app, step.action, step.target, step.cause, "done", duration=1.5),
        StepOutcome(
            "replace:/web",
            "/web",
            "replace",
            "ace-web",
            "image changed",
            "failed",
            "health check timed out",
            60.0,
        ),  # fmt: skip
        StepOutcome("stop:/api", "/api", "stop", "ace-api", "app removed", "skipped"),
    ]
    store.finish_run(first, "partial", steps, finished_at=162.5)
    second = store.begin_run("plan", "", started_at=200.0)
    assert second > first
    runs = store.runs()
    assert [r.id for r in runs] == [second, first]
    done = runs[1]
    assert (done.command, done.plan_text) == ("reconcile", "build /web ...")
    assert done.outcome == "partial"
    assert (done.started_at, done.finished_at, done.duration) == (100.0, 162.5, 62.5)
    assert done.finished
    assert store.run_steps(first) == tuple(steps)
    assert steps[0] == StepOutcome("build:/web", "/web", "build", "ace/web:1",
                                   "build inputs changed: index.html", "done", "", 1.5)  # fmt: skip
    last = store.last_run()
    assert last is not None and last.id == second
    assert (last.outcome, last.finished_at, last.duration, last.finished) == ("", None, None, False)
    assert store.run_steps(second) == ()
    assert len(store.runs(limit=1)) == 1


def test_finish_run_twice_or_unknown_fails(store: Store) -> None:
    """Finishing a run that is unknown or already finished is an error, and changes nothing."""
    run = store.begin_run("reconcile", "")
    store.finish_run(run, "ok")
    with pytest.raises(StateError, match=f"run {run} does not exist or is already finished"):
        store.finish_run(run, "failed", [StepOutcome("s", "/a", "stop", "t", "c", "done")])
    with pytest.raises(StateError, match="run 999 does not exist"):
        store.finish_run(999, "ok")
    assert store.runs()[0].outcome == "ok"
    assert store.run_steps(run) == ()


def test_digest_cache_by_prefix(store: Store) -> None:
    """The digest cache returns exactly the entries under a prefix (case-sensitive), and
    save_digests upserts and drops entries in bulk."""
    store.save_digests({
        "/ctx/web/index.html": (10, 111, "d1"),
        "/ctx/web/css/a.css": (20, 222, "d2"),
        "/ctx/webapp/x": (1, 1, "d3"),
        "/ctx/WEB/y": (1, 1, "d4"),
    })  # fmt: skip
    assert store.digest_cache("/ctx/web/") == {
        "/ctx/web/index.html": (10, 111, "d1"),
        "/ctx/web/css/a.css": (20, 222, "d2"),
    }
    assert len(store.digest_cache("")) == 4
    store.save_digests({"/ctx/web/index.html": (11, 333, "d1b")}, drop=["/ctx/web/css/a.css"])
    assert store.digest_cache("/ctx/web/") == {"/ctx/web/index.html": (11, 333, "d1b")}
    store.save_digests({}, drop=["/ctx/webapp/x", "/not/there"])
    assert sorted(store.digest_cache("/ctx")) == ["/ctx/WEB/y", "/ctx/web/index.html"]


def test_threads_share_a_store(store: Store) -> None:
    """Worker threads may record through one Store at once (the executor does)."""

    def work(n: int) -> None:
        for i in range(50):
            store.record_container(f"c{n}-{i}", app=f"/a{n}", name=f"n{i}", version="v")
            store.recorded()

    threads = [threading.Thread(target=work, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(store.containers()) == 200


def test_closed_store_raises_state_error(store: Store) -> None:
    """Using a closed store is a StateError, not a driver exception."""
    store.close()
    with pytest.raises(StateError, match="closed"):
        store.recorded()


def test_finish_run_rejects_unknown_outcomes(store: Store) -> None:
    """Outcomes are a closed set: a typo is a ValueError and the run stays unfinished."""
    run = store.begin_run("reconcile", "")
    with pytest.raises(ValueError, match="run outcome must be one of"):
        store.finish_run(run, "success")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="step outcome must be one of .* not 'ok'"):
        store.finish_run(run, "ok", [StepOutcome("s", "/a", "stop", "t", "c", "ok")])  # type: ignore[arg-type]
    assert store.runs()[0].finished is False


def _finish(store: Store, at: float, *steps: StepOutcome) -> int:
    run = store.begin_run("reconcile", "", started_at=at)
    store.finish_run(run, "ok" if all(s.outcome == "done" for s in steps) else "failed",
                     list(steps), finished_at=at + 1)
    return run


def test_last_applies_per_app_survive_later_runs_of_other_apps(store: Store) -> None:
    """Each app's latest run with steps for it tells how it went — its failed step before a
    skipped or done one — however many runs for other apps came after."""
    assert store.last_applies() == {}
    _finish(store, 100.0, StepOutcome("start:/web", "/web", "start", "ace-web-1", "new", "done"))
    failed = _finish(
        store, 200.0,
        StepOutcome("build:/web", "/web", "build", "ace/web:2", "inputs", "failed", "RUN false"),
        StepOutcome("replace:/web", "/web", "replace", "ace-web-1", "inputs", "skipped"),
        StepOutcome("start:/api", "/api", "start", "ace-api-1", "new", "done"),
    )
    later = _finish(store, 300.0,
                    StepOutcome("restart:/api", "/api", "restart", "ace-api-1", "exited", "done"))
    got = store.last_applies()
    assert got["/web"] == LastApply("/web", "build:/web", "build", "ace/web:2", "failed",
                                    "RUN false", 201.0, failed)
    assert got["/api"] == LastApply("/api", "restart:/api", "restart", "ace-api-1", "done", "",
                                    301.0, later)
    assert sorted(got) == ["/api", "/web"]
