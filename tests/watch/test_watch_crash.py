"""`ace watch` passes on the in-memory engine with a hand-driven clock: a service that starts,
runs a couple of seconds and exits is a crash loop (exit code, last log lines), retried on its
own backoff timer starting at 1 s."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from reconciler.apply.pipeline import Settings
from reconciler.watch.backoff import Attempts
from reconciler.watch.loop import Watch, WatchOptions
from reconciler.watch.reporter import Row
from state import Store
from tests.apply.kit import ServingFake
from tests.watch.kit import Clock

APP_STAR = """load("container.in", "container")
app = ace.app("Svc", container=container.config("image:busybox:latest", port=8080,
    command=["httpd", "-f", "-p", "8080"]))
"""


class Told:
    """A watch reporter keeping the crash loops and rows it is told (the rest: ignored)."""

    def __init__(self) -> None:
        self.loops: list[tuple[Attempts, float]] = []
        self.table: tuple[Row, ...] = ()

    def crash_loop(self, a: Attempts, retry_in: float) -> None:
        self.loops.append((a, retry_in))

    def rows(self, rows: Sequence[Row]) -> None:
        self.table = tuple(rows)

    def __getattr__(self, name: str) -> Any:
        return lambda *args, **kwargs: None


def watch(tmp_path: Path, engine: ServingFake, told: Told, clock: Clock) -> Watch:
    (tmp_path / "svc").mkdir()
    (tmp_path / "svc/app.star").write_text(APP_STAR)
    (tmp_path / "apps.star").write_text('app("/svc", "./svc")\n')
    settings = Settings(apps_file=tmp_path / "apps.star", state_dir=tmp_path / ".ace",
                        health_timeout=2.0)
    return Watch(settings, engine, told,  # type: ignore[arg-type]
                 WatchOptions(resync=5.0, watch_files=False), clock=clock)


def crash(engine: ServingFake) -> None:
    """The service's container prints a line and exits with 3, two seconds after it started."""
    (c,) = engine.containers.values()
    c.logs.append("dying now")
    engine.crash(c.id, 3, ran=2.0)


def actions(engine: ServingFake) -> list[str]:
    return [what for what, _ in engine.events if what in ("run", "start")]


def test_short_lived_container_is_a_crash_loop_on_its_own_timer(
    tmp_path: Path, engine: ServingFake
) -> None:
    """Each restart is healthy, yet the container dies 2 s later: the first crash waits 1 s
    (not the 5 s resync), the second is reported as a crash loop with exit code and logs and
    waits 2 s, and a pass inside the wait holds the restart back."""
    told, clock = Told(), Clock()
    w = watch(tmp_path, engine, told, clock)
    with Store.open(tmp_path / ".ace") as store:
        assert w._one_pass(store, "resync") == 5.0
        assert actions(engine) == ["run"]
        crash(engine)
        clock.now += 5.0
        assert w._one_pass(store, "resync") == 1.0  # restarted; the next try no sooner than 1 s
        assert actions(engine) == ["run", "start"] and told.loops == []
        crash(engine)
        clock.now += 1.0
        assert w._one_pass(store, "resync") == 2.0
        (a, retry_in), = told.loops
        assert (a.app, a.count, a.exit_code, retry_in) == ("/svc", 2, "3", 2.0)
        assert "dying now" in a.logs
        (row,) = told.table
        assert row.state == "crash-looping"
        assert row.last_error.startswith("exit code 3; last log: dying now")
        crash(engine)
        clock.now += 0.5
        assert w._one_pass(store, "resync") == 1.5  # held back until its backoff ends
        assert actions(engine) == ["run", "start", "start"]
        clock.now += 1.5
        w._one_pass(store, "resync")
        assert actions(engine) == ["run", "start", "start", "start"]
        assert [a.count for a, _ in told.loops] == [2, 3]


def test_killed_after_a_long_run_is_no_crash(tmp_path: Path, engine: ServingFake) -> None:
    """A container that exits after running a long time is restarted at once and nothing backs
    off: the next pass comes at the resync period."""
    told, clock = Told(), Clock()
    w = watch(tmp_path, engine, told, clock)
    with Store.open(tmp_path / ".ace") as store:
        w._one_pass(store, "resync")
        (c,) = engine.containers.values()
        engine.kill(c.id)
        clock.now += 5.0
        assert w._one_pass(store, "resync") == 5.0
        assert actions(engine) == ["run", "start"] and w.attempts == {} and told.loops == []
