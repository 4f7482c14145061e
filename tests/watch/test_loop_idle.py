"""Idle shutdown and lazy start in the watch loop, on the checked fake engine with a clock the
test moves: an app with no traffic goes to sleep and stays asleep across passes, a request
wakes it, lazy apps wait for their first request, and a start that fails backs off."""

from __future__ import annotations

from pathlib import Path

from reconciler.apply.pipeline import Settings
from reconciler.watch.backoff import Backoff
from reconciler.watch.loop import Watch, WatchOptions
from reconciler.watch.sleeper import SleepOptions
from state import Store
from tests.apply.kit import ServingFake
from tests.watch.kit import Clock
from tests.watch.test_loop_fake import HTTPD, Recorder

APP_STAR = """load("container.in", "container")
load("proxy.in", "proxy")
app = ace.app("web", container=container.config(container.AUTO),
              routes=[ace.proxy("/", proxy.config(container.URL))],
              permissions=[ace.permission("container.in", "config", [container.AUTO]),
                           ace.permission("proxy.in", "config", [container.URL])])
"""


class Traffic:
    def __init__(self) -> None:
        self.counts: dict[str, tuple[int, int]] = {}
        self.parked: list[list[str]] = []

    def __call__(self) -> dict[str, tuple[int, int]]:
        return dict(self.counts)

    def park(self, apps: object) -> None:
        self.parked.append(list(apps))  # type: ignore[call-overload]


def _watch(root: Path, engine: ServingFake, clock: Clock, traffic: Traffic, *,
           idle: float = 30.0, lazy: bool = False, cmd: str = "") -> tuple[Watch, Recorder]:
    (root / "web").mkdir(exist_ok=True)
    cf = HTTPD if not cmd else HTTPD.replace('CMD ["httpd", "-f", "-p", "8080"]', cmd)
    (root / "web" / "Containerfile").write_text(cf)
    (root / "web" / "app.star").write_text(APP_STAR)
    (root / "apps.star").write_text('app("/web", "./web")\n')
    settings = Settings(apps_file=root / "apps.star", state_dir=root / ".ace",
                        health_timeout=1.0)
    sleep = SleepOptions(idle_shutdown=idle, lazy=lazy, enabled=True, traffic=traffic,
                         on_sleep=traffic.park)
    rec = Recorder()
    options = WatchOptions(watch_files=False, backoff=Backoff(first=5.0, cap=40.0), sleep=sleep)
    return Watch(settings, engine, rec, options, clock=clock), rec  # type: ignore[arg-type]


def _states(engine: ServingFake) -> list[str]:
    return [c.state for c in engine.containers.values()]


def _row(rec: Recorder) -> tuple[str, str]:
    (rows,) = rec.of("rows")[-1]
    return rows[0].state, rows[0].last_error


def test_no_traffic_puts_the_app_to_sleep_and_a_request_wakes_it(tmp_path: Path,
                                                                 engine: ServingFake) -> None:
    """After 30 s with no request the app sleeps (container kept, the proxy told first, the
    store records it); passes leave it asleep; a request starts the same container again."""
    clock, traffic = Clock(), Traffic()
    w, rec = _watch(tmp_path, engine, clock, traffic)
    with Store.open(w.settings.state_dir) as store:
        w._one_pass(store, "resync")
        assert _states(engine) == ["running"]
        clock.now += 20
        traffic.counts = {"/web": (1, 300)}  # a request: active again
        w._one_pass(store, "resync")
        clock.now += 29
        w._one_pass(store, "resync")
        assert _states(engine) == ["running"]
        clock.now += 1
        w._one_pass(store, "resync")
        assert _states(engine) == ["exited"] and traffic.parked == [["/web"]]
        assert _row(rec)[0] == "idle"
        assert [(a.app, a.reason) for a in store.idle_apps()] == [("/web", "no request for 30 s")]
        clock.now += 100
        w._one_pass(store, "resync")
        assert _states(engine) == ["exited"], "resync does not restart it"
        (cid,) = engine.containers
        assert w.request_wake("/web") == ""
        w._one_pass(store, "wake")
        assert _states(engine) == ["running"] and list(engine.containers) == [cid]
        steps = [(o.step.action, o.step.cause) for (o,) in rec.of("step")]
        assert steps[-1] == ("restart", "a request is waiting")
        assert store.idle_apps() == () and _row(rec)[0] == "running"
        assert "/web" not in w.attempts, "a start a request asked for is no crash retry"


def test_lazy_apps_start_on_their_first_request(tmp_path: Path, engine: ServingFake) -> None:
    """With --lazy the app is built but not started until a request asks for it."""
    clock, traffic = Clock(), Traffic()
    w, rec = _watch(tmp_path, engine, clock, traffic, idle=0, lazy=True)
    with Store.open(w.settings.state_dir) as store:
        w._one_pass(store, "resync")
        assert engine.containers == {} and any(t for i in engine.images.values()
                                               for t in i.tags if t.startswith("ace-"))
        assert _row(rec) == ("idle", "")
        w._one_pass(store, "resync")
        assert engine.containers == {}
        w.request_wake("/web")
        w._one_pass(store, "wake")
        assert _states(engine) == ["running"]
        clock.now += 1000
        w._one_pass(store, "resync")
        assert _states(engine) == ["running"], "started once: lazy is done, no idle shutdown"


def test_a_failing_start_goes_back_to_sleep_and_backs_off(tmp_path: Path,
                                                          engine: ServingFake) -> None:
    """A lazy app that cannot start stays asleep with its error; requests during the backoff
    are refused at once (no start per request); after it, a request tries again."""
    clock, traffic = Clock(), Traffic()
    w, rec = _watch(tmp_path, engine, clock, traffic, idle=0, lazy=True,
                    cmd='CMD ["sh", "-c", "echo broken; exit 3"]')
    with Store.open(w.settings.state_dir) as store:
        w._one_pass(store, "resync")
        builds = engine.calls["build"]
        assert w.request_wake("/web") == ""
        w._one_pass(store, "wake")
        assert _row(rec)[0] == "idle"
        assert [a.reason for a in store.idle_apps()][0].startswith(
            "woken for a request, failed to start")
        refused = w.request_wake("/web")
        assert refused.startswith("app /web failed to start (1 tries); the next try is in 5 s")
        runs = engine.calls["run_container"]
        w._one_pass(store, "resync")
        assert engine.calls["run_container"] == runs and engine.calls["build"] == builds
        clock.now += 5
        assert w.request_wake("/web") == ""
        w._one_pass(store, "wake")
        assert engine.calls["run_container"] == runs + 1
        assert "(2 tries); the next try is in 10 s" in w.request_wake("/web")


def test_a_restarted_loop_keeps_sleeping_apps_asleep(tmp_path: Path,
                                                     engine: ServingFake) -> None:
    """The store remembers which apps sleep: a new loop with idle shutdown keeps them asleep
    (a request still wakes them); one without it starts them and forgets the record."""
    clock, traffic = Clock(), Traffic()
    w, _ = _watch(tmp_path, engine, clock, traffic, idle=30)
    with Store.open(w.settings.state_dir) as store:
        w._one_pass(store, "resync")
        w._one_pass(store, "resync")  # seen running from now on
        clock.now += 30
        w._one_pass(store, "resync")
        assert _states(engine) == ["exited"]
    again, rec = _watch(tmp_path, engine, clock, Traffic(), idle=30)
    with Store.open(again.settings.state_dir) as store:
        again._one_pass(store, "resync")
        assert _states(engine) == ["exited"] and _row(rec)[0] == "idle"
    plain, rec = _watch(tmp_path, engine, clock, Traffic(), idle=0)
    with Store.open(plain.settings.state_dir) as store:
        plain._one_pass(store, "resync")
        assert _states(engine) == ["running"] and _row(rec)[0] == "running"
        assert store.idle_apps() == ()


def test_other_commands_see_apps_asleep_only_while_a_loop_can_wake_them(
        tmp_path: Path, engine: ServingFake) -> None:
    """`ace reconcile`/`status`/`drift` (prepare without idle) keep recorded apps asleep while
    a watch/serve proxy serves the state dir; without one nothing could wake them: they run."""
    import json
    import os

    from reconciler.apply.pipeline import prepare

    w, _ = _watch(tmp_path, engine, Clock(), Traffic())
    with Store.open(w.settings.state_dir) as store:
        store.set_idle({"/web": "no request for 30 s"})
        assert prepare(w.settings, store, engine).desired.idle == ()
        (w.settings.state_dir / "proxy.json").write_text(
            json.dumps({"url": "http://127.0.0.1:1", "pid": os.getpid()}))
        prepared = prepare(w.settings, store, engine)
        assert prepared.desired.idle == (("/web", "no request for 30 s"),)
        assert [s.action for s in prepared.plan.steps] == ["build"], "built, not started"
