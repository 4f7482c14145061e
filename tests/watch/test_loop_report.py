"""The watch loop with ace's real proxy, on the checked fake engine, logging --log-json lines:
every pass is reported (its `status` and `pass_finished` lines) only once the proxy routes what
the pass did, and logs exactly one `pass_finished`, with the fields of both its old halves."""

from __future__ import annotations

import http.client
import json
from collections.abc import Iterator, MutableMapping
from pathlib import Path
from typing import Any

import pytest
import structlog

from apps import prints
from reconciler import logs
from reconciler.apply.pipeline import Settings
from reconciler.cli.loop import proxy_hooks
from reconciler.cli.watch_view import JsonReporter
from reconciler.proxy.service import ProxyService
from reconciler.watch.loop import Watch, WatchOptions
from state import Store
from tests.apply.kit import ServingFake
from tests.watch.kit import Clock
from tests.watch.test_loop_fake import HTTPD
from tests.watch.test_loop_idle import APP_STAR  # a container app with a proxy route


@pytest.fixture
def proxy() -> Iterator[ProxyService]:
    with ProxyService("127.0.0.1:0", drain=1.0, connect_timeout=1.0) as p:
        yield p


@pytest.fixture
def logging_restored() -> Iterator[None]:
    """The test sets up --log-json logging; restored afterwards (it is process-wide)."""
    threshold, settings = logs._threshold, dict(logs._settings)
    try:
        yield
    finally:
        logs._threshold = threshold
        logs._settings.update(settings)
        prints.set_print_handler(None)
        structlog.reset_defaults()


def _get(proxy: ProxyService, path: str) -> int:
    conn = http.client.HTTPConnection("127.0.0.1", proxy.port, timeout=5)
    try:
        conn.request("GET", path)
        resp = conn.getresponse()
        resp.read()
        return resp.status
    finally:
        conn.close()


class Client:
    """A structlog processor: a client that, on reading a `status` or `pass_finished` line,
    at once requests each app's public URL through the proxy (in the loop's thread, before
    the loop goes on: exactly what a fast client may see)."""

    def __init__(self, proxy: ProxyService) -> None:
        self.proxy = proxy
        self.apps: list[str] = []
        self.seen: list[tuple[str, dict[str, int]]] = []

    def __call__(self, logger: Any, name: str, event: MutableMapping[str, Any]
                 ) -> MutableMapping[str, Any]:
        if event.get("event") in ("status", "pass_finished"):
            self.seen.append((str(event["event"]),
                              {app: _get(self.proxy, f"{app}/") for app in self.apps}))
        return event


def _project(root: Path, *apps: str) -> Path:
    for app in apps:
        (root / app).mkdir(exist_ok=True)
        (root / app / "Containerfile").write_text(HTTPD)
        (root / app / "app.star").write_text(APP_STAR)
    (root / "apps.star").write_text("".join(f'app("/{a}", "./{a}")\n' for a in apps))
    return root / "apps.star"


def _three_passes(root: Path, engine: ServingFake, proxy: ProxyService) -> Client:
    """Under --log-json with the client watching the lines: a first pass starting /web, one
    adding /api, one with nothing to do."""
    logs.setup_logging(json_lines=True)  # as --log-json: JSON lines on (captured) stderr
    client = Client(proxy)
    structlog.configure(processors=[client, *structlog.get_config()["processors"]])
    settings = Settings(apps_file=_project(root, "web"), state_dir=root / ".ace",
                        health_timeout=2.0)
    w = Watch(settings, engine, JsonReporter(),  # type: ignore[arg-type]
              WatchOptions(watch_files=False, **proxy_hooks(proxy)), clock=Clock())
    with Store.open(settings.state_dir) as store:
        client.apps = ["/web"]
        w._one_pass(store, "resync")
        _project(root, "web", "api")
        client.apps = ["/web", "/api"]
        w._one_pass(store, "files")
        w._one_pass(store, "resync")
    return client


@pytest.mark.usefixtures("logging_restored")
def test_a_pass_is_reported_once_the_proxy_routes_it(
        tmp_path: Path, engine: ServingFake, proxy: ProxyService) -> None:
    """A client requesting an app's URL the moment the pass that started it is reported (its
    status and pass_finished lines) gets the app, never 503 'ace is starting' or a 404: on the
    first pass and on a later one that adds an app."""
    client = _three_passes(tmp_path, engine, proxy)
    both = {"/web": 200, "/api": 200}
    assert client.seen == [("status", {"/web": 200}), ("pass_finished", {"/web": 200}),
                           ("status", both), ("pass_finished", both), ("pass_finished", both)]


@pytest.mark.usefixtures("logging_restored")
def test_each_pass_logs_one_pass_finished(tmp_path: Path, engine: ServingFake,
                                          proxy: ProxyService,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    """Under watch each pass logs exactly one pass_finished line (info, with the pass's cycle,
    seconds, steps, held apps and dry_run), whether or not it applied steps."""
    _three_passes(tmp_path, engine, proxy)
    lines = [json.loads(x) for x in capsys.readouterr().err.splitlines() if x.startswith("{")]
    passes = [x["cycle"] for x in lines if x["event"] == "plan_computed"]
    finished = [x for x in lines if x["event"] == "pass_finished"]
    assert len(passes) == 3 and [x["cycle"] for x in finished] == passes  # one each
    assert [(x["steps"], x["held"], x["dry_run"]) for x in finished] == [
        (3, [], False), (2, [], False), (0, [], False)]
    assert all(x["level"] == "info" and x["seconds"] >= 0 for x in finished)
