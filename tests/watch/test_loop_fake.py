"""The watch loop on the checked fake engine: one pass at a time, a recording reporter, a clock
the test moves. What the loop hands the planner (health marks, held apps) and what it tells its
display, without Docker."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from reconciler.apply.pipeline import Settings
from reconciler.watch.backoff import Backoff
from reconciler.watch.loop import Watch, WatchOptions
from state import Store
from tests.apply.kit import ServingFake
from tests.watch.kit import Clock

HTTPD = 'FROM busybox:latest\nCMD ["httpd", "-f", "-p", "8080"]\nEXPOSE 8080\n'
APP_STAR = """load("container.in", "container")
app = ace.app("web", container=container.config(container.AUTO),
              permissions=[ace.permission("container.in", "config", [container.AUTO])])
"""


class Recorder:
    """A Reporter that keeps every call as (method, args)."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, tuple[Any, ...]]] = []

    def __getattr__(self, name: str) -> Any:
        def record(*args: Any) -> None:
            self.calls.append((name, args))
        return record

    def of(self, name: str) -> list[tuple[Any, ...]]:
        return [args for n, args in self.calls if n == name]


def _project(root: Path, app_star: str = APP_STAR) -> Path:
    (root / "web").mkdir(exist_ok=True)
    (root / "web" / "Containerfile").write_text(HTTPD)
    (root / "web" / "app.star").write_text(app_star)
    (root / "apps.star").write_text('app("/web", "./web")\n')
    return root / "apps.star"


def _watch(root: Path, engine: ServingFake, reporter: Recorder, clock: Clock,
           health_timeout: float = 2.0) -> Watch:
    settings = Settings(apps_file=_project(root), state_dir=root / ".ace",
                        health_timeout=health_timeout)
    options = WatchOptions(watch_files=False, backoff=Backoff(first=1.0, cap=8.0))
    return Watch(settings, engine, reporter, options, clock=clock)  # type: ignore[arg-type]


def _running(engine: ServingFake) -> list[str]:
    return sorted(c.name for c in engine.containers.values() if c.state == "running")


def test_first_pass_starts_the_app_and_reports_rows(tmp_path: Path,
                                                    engine: ServingFake) -> None:
    """A pass makes the app network, builds and starts the app, reports each step and a
    running row; the next pass has nothing to do."""
    rec, clock = Recorder(), Clock()
    w = _watch(tmp_path, engine, rec, clock)
    with Store.open(w.settings.state_dir) as store:
        w._one_pass(store, "resync")
        assert [(o.step.action, o.outcome) for (o,) in rec.of("step")] == [
            ("network", "done"), ("build", "done"), ("start", "done")]
        (rows,) = rec.of("rows")[-1]
        assert [(r.app, r.state) for r in rows] == [("/web", "running")]
        w._one_pass(store, "resync")
    assert [args[2] for args in rec.of("pass_finished")] == [3, 0]  # steps per pass
    assert len(_running(engine)) == 1


def test_failed_probes_become_a_replace(tmp_path: Path, engine: ServingFake) -> None:
    """Three failed probes in a row mark the container unhealthy; the next pass replaces it
    (the mark reaches the planner as input) and the new container serves."""
    rec, clock = Recorder(), Clock()
    w = _watch(tmp_path, engine, rec, clock)
    with Store.open(w.settings.state_dir) as store:
        w._one_pass(store, "resync")
        (first,) = _running(engine)
        engine.answers[first] = 500
        for _ in range(3):
            w._probe()
        assert w.health == {"/web": "unhealthy: 500 Internal Server Error"}
        engine.answers.pop(first)  # a new container of the same version would answer
        clock.now += 1.01  # the first start's backoff (1 s) has ended
        w._one_pass(store, "resync")
    replace = [o for (o,) in rec.of("step") if o.step.action == "replace"]
    assert len(replace) == 1 and replace[0].outcome == "done"
    assert replace[0].step.cause.startswith("health check failing: 500 Internal Server Error")
    assert len(_running(engine)) == 1 and ("stop", first) in engine.events


def test_a_failing_start_backs_off_until_its_timer(tmp_path: Path,
                                                   engine: ServingFake) -> None:
    """A start that never gets healthy is held on the next passes until its backoff ends;
    the loop's next wake-up is that end, not the resync period."""
    rec, clock = Recorder(), Clock()
    w = _watch(tmp_path, engine, rec, clock, health_timeout=0.3)
    engine.answers = _AlwaysFailing()
    with Store.open(w.settings.state_dir) as store:
        w._one_pass(store, "resync")
        starts = [o for (o,) in rec.of("step") if o.step.action == "start"]
        assert [o.outcome for o in starts] == ["failed"]
        delay = w._one_pass(store, "resync")  # 0 s later: held
        assert rec.of("pass_finished")[-1][3] == ("/web",)
        assert 0.0 < delay <= 1.0
        clock.now += 1.01
        w._one_pass(store, "resync")  # the timer ended: tried again
    assert len([o for (o,) in rec.of("step") if o.step.action == "start"]) == 2


def test_a_broken_edit_keeps_what_runs_and_is_told_once(tmp_path: Path,
                                                         engine: ServingFake) -> None:
    """An app.star that stops evaluating leaves the running container alone; its error is
    reported once, located, however many passes see it."""
    rec, clock = Recorder(), Clock()
    w = _watch(tmp_path, engine, rec, clock)
    with Store.open(w.settings.state_dir) as store:
        w._one_pass(store, "resync")
        before = _running(engine)
        (tmp_path / "web" / "app.star").write_text(APP_STAR + "x = (\n")
        w._one_pass(store, "files")
        w._one_pass(store, "resync")
    assert _running(engine) == before
    errors = [e for (batch,) in rec.of("app_errors") for e in batch]
    assert len(errors) == 1
    assert (errors[0].app, errors[0].file, errors[0].line) == (
        "/web", str(tmp_path / "web" / "app.star"), 4)


class _AlwaysFailing(dict[str, int]):
    """ServingFake.answers where every container answers 500."""

    def get(self, key: str, default: Any = None) -> int:  # type: ignore[override]
        return 500
