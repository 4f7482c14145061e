"""Dev mode against the real engine: a dev app runs from its mounted source; under `ace watch` a
source save reaches it with no build, by each reload rule, while a request loop through ace's
proxy sees no failure; env files rebuild the dev image; mode switches replace."""

from __future__ import annotations

import threading
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest

from tests.engine.appkit import Project, get
from tests.engine.test_proxy import free_port
from tests.engine.watchkit import Event, WatchProc

pytestmark = pytest.mark.engine

DEV_CONTAINERFILE = """FROM busybox AS dev
WORKDIR /site
EXPOSE 8080
CMD ["httpd", "-f", "-p", "8080", "-h", "/site"]

FROM dev
COPY index.html /site/
"""

# {reload} and {extra} are filled per test; the dev stage is inferred from the Containerfile.
DEV_APP_STAR = """load("proxy.in", "proxy")
load("container.in", "container")

app = ace.app("Dev",
    routes=[ace.proxy("/", proxy.config(container.URL))],
    container=container.config(container.AUTO, dev_settings={{"reload": "{reload}"{extra}}}),
    permissions=[ace.permission("proxy.in", "config", [container.URL]),
                 ace.permission("container.in", "config", [container.AUTO])])
"""


def dev_app(project: Project, reload: str, extra: str = "", dev: bool = True) -> None:
    project.write("site/Containerfile", DEV_CONTAINERFILE)
    project.write("site/index.html", "v1\n")
    project.write("site/app.star", DEV_APP_STAR.format(reload=reload, extra=extra))
    project.apps(f'app("/site", "./site", dev={dev})')


def start(project: Project, procs: list[WatchProc]) -> tuple[WatchProc, str]:
    port = free_port()
    w = WatchProc(project.apps_file, "--resync", "1", "--health-timeout", "20",
                  "--listen", f"127.0.0.1:{port}")
    procs.append(w)
    base = f"http://127.0.0.1:{port}/site/"
    wait_body(base, "v1\n", 90)
    time.sleep(1.0)  # the file watcher (started after the first pass) settles
    return w, base


def wait_step(w: WatchProc, action: str, after: int, timeout: float) -> Event:
    """The first step of `action` done after the first `after` events."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        for e in w.events[after:]:
            if e.get("event") == "step_done" and e.get("action") == action:
                return e
        time.sleep(0.05)
    raise AssertionError(f"no {action} step; last output:\n" + "".join(w.raw[-20:]))


def wait_body(url: str, body: str, timeout: float) -> float:
    """Seconds until `url` answers 200 with `body`."""
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout:
        if get(url, timeout=2.0) == (200, body):
            return time.monotonic() - t0
        time.sleep(0.02)
    raise AssertionError(f"{url} never served {body!r}; last {get(url)}")


@contextmanager
def request_loop(url: str) -> Iterator[list[tuple[int, str]]]:
    """GETs `url` back to back in a thread while the block runs; yields the failures."""
    failures: list[tuple[int, str]] = []
    done = threading.Event()

    def loop() -> None:
        while not done.is_set():
            try:
                with urllib.request.urlopen(url, timeout=15) as resp:
                    resp.read()
            except Exception as exc:  # any failed request counts
                failures.append((getattr(exc, "code", 0), str(exc)))
            time.sleep(0.01)

    t = threading.Thread(target=loop, daemon=True)
    t.start()
    try:
        yield failures
    finally:
        done.set()
        t.join(timeout=20)


def container_ids(project: Project) -> list[str]:
    return sorted(c.id for c in project.containers("/site"))


def steps(w: WatchProc, after: int) -> list[Event]:
    """Steps that ended after the first `after` events."""
    return [e for e in w.events[after:] if e.get("event") in ("step_done", "step_failed")]


def test_dev_app_runs_from_its_source(project: Project) -> None:
    """`ace reconcile` builds only the dev stage and mounts the source: an edit is served by
    the running container at once, and the next plan has nothing to do (no build, no drift)."""
    dev_app(project, "none")
    project.ace("reconcile")
    url = project.url("/site")
    assert get(url) == (200, "v1\n")
    (c,) = project.containers("/site")
    assert c.attrs["Config"]["WorkingDir"] == "/site"
    assert c.attrs["Config"]["Entrypoint"] == ["sh", "-c"]
    assert ":dev-" in c.attrs["Config"]["Image"]
    project.write("site/index.html", "v2\n")
    assert get(url) == (200, "v2\n")
    assert project.ace_json("plan")["steps"] == []
    assert project.ace_json("drift")["in_sync"] is True
    status = project.ace_json("status")["apps"]
    assert [(r["path"], r["mode"]) for r in status] == [("/site", "dev")]


def test_reload_none_changes_nothing_in_the_engine(project: Project,
                                                   procs: list[WatchProc]) -> None:
    """reload=none: a save is served through the proxy with no engine event at all and no
    failed request."""
    dev_app(project, "none")
    w, base = start(project, procs)
    before = container_ids(project)
    since, seen = time.time(), len(w.events)
    with request_loop(base) as failures:
        project.write("site/index.html", "v2\n")
        wait_body(base, "v2\n", 10)
        time.sleep(1.5)  # a resync pass or two
    assert failures == []
    assert container_ids(project) == before
    assert project.events(since) == []
    assert steps(w, seen) == []


def test_reload_restart_restarts_the_same_container(project: Project,
                                                    procs: list[WatchProc]) -> None:
    """reload=restart: a save restarts the same container (same id), the proxy holds requests
    meanwhile: zero failed requests in a loop running across it."""
    dev_app(project, "restart")
    w, base = start(project, procs)
    before, seen = container_ids(project), len(w.events)
    with request_loop(base) as failures:
        project.write("site/index.html", "v2\n")
        step = wait_step(w, "restart", seen, 30)
        wait_body(base, "v2\n", 10)
    assert step["cause"] == "dev: source changed, reload restart"
    assert failures == []
    assert container_ids(project) == before
    assert [e["action"] for e in steps(w, seen)] == ["restart"]


def test_reload_recreate_replaces_without_downtime(project: Project,
                                                   procs: list[WatchProc]) -> None:
    """reload=recreate: a save replaces the container (new id, old one gone) the zero-downtime
    way; no build, no failed request."""
    dev_app(project, "recreate")
    w, base = start(project, procs)
    before, seen = container_ids(project), len(w.events)
    with request_loop(base) as failures:
        project.write("site/index.html", "v2\n")
        step = wait_step(w, "replace", seen, 30)
        wait_body(base, "v2\n", 10)
    assert step["cause"] == "dev: source changed, reload recreate"
    assert failures == []
    after = container_ids(project)
    assert len(after) == 1 and after != before
    assert [e["action"] for e in steps(w, seen)] == ["replace"]


def test_env_file_change_rebuilds_the_dev_image(project: Project,
                                                procs: list[WatchProc]) -> None:
    """An env file's content defines the dev image: changing it rebuilds and replaces."""
    dev_app(project, "none", ', "env_files": ["requirements.txt"]')
    project.write("site/requirements.txt", "flask==1\n")
    w, base = start(project, procs)
    seen = len(w.events)
    project.write("site/requirements.txt", "flask==2\n")
    step = wait_step(w, "build", seen, 60)
    assert step["cause"] == "dev: env file changed: requirements.txt"
    assert wait_step(w, "replace", seen, 60)["cause"] == "dev: env file changed: requirements.txt"


def test_switching_modes_replaces(project: Project) -> None:
    """dev=True -> dev=False replaces with the full image (cause "dev mode off"), and back."""
    dev_app(project, "none")
    project.ace("reconcile")
    project.apps('app("/site", "./site")')
    out = project.ace_json("reconcile")
    assert [(s["action"], s["cause"]) for s in out["steps"]] == [
        ("build", "dev mode off"), ("replace", "dev mode off")]
    (c,) = project.containers("/site")
    assert c.attrs["Config"]["WorkingDir"] == "/site" and ":dev-" not in c.attrs["Config"]["Image"]
    project.apps('app("/site", "./site", dev=True)')
    out = project.ace_json("reconcile")
    assert [(s["action"], s["cause"]) for s in out["steps"]] == [("replace", "dev mode on")]


def test_unknown_target_warns_and_runs_normally(project: Project) -> None:
    """An unknown dev target is a located warning, and the app runs the normal way."""
    dev_app(project, "none", ', "target": "nosuch"')
    out: dict[str, Any] = project.ace_json("reconcile")
    (warning,) = out["warnings"]
    assert warning["app"] == "/site" and warning["line"] == 1
    assert "target 'nosuch' is not a stage" in warning["message"]
    assert [s["action"] for s in out["steps"]] == ["network", "build", "start"]
    (c,) = project.containers("/site")
    assert ":dev-" not in c.attrs["Config"]["Image"]
