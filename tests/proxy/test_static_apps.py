"""Static apps around the proxy: the built-in `static` and `static_single` specs, `ace config
--json`'s static object, `ace status` (state `static`, public URL) and `/_ace/status`, and
`ace serve` serving a static app end to end against a stub engine that only lists nothing."""

from __future__ import annotations

import http.server
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from apps.locate import SPEC_ROOT
from reconciler.cli import options
from reconciler.cli.app import app as cli_app
from reconciler.core.report import status_rows
from reconciler.core.types import DesiredState, ObservedState
from reconciler.driver.engine import DockerEngine
from reconciler.proxy.address import RECORD, public_base
from reconciler.proxy.service import ProxyService
from tests.fakes import FakeEngine
from tests.proxy.kit import get_json
from tests.proxy.test_static import site_app

FIXTURES = Path(__file__).resolve().parents[1] / "apps" / "openrun_specs"


def _project(tmp_path: Path) -> Path:
    """A site directory and an apps file with three static apps (the site's own app.star, and
    the built-in specs) and one that names no source."""
    site = tmp_path / "site"
    site.mkdir()
    (site / "index.html").write_text("<h1>v1</h1>\n")
    (site / "main.html").write_text("main\n")
    (tmp_path / "apps.star").write_text(
        'app("/site", "./site", spec="static")\n'
        'app("/one", "./site", spec="static_single", params={"index": "main.html"})\n'
        'app("/nofiles", "-", spec="static")\n')
    return tmp_path / "apps.star"


def _ace(apps_file: Path, *args: str, expect: int = 0) -> Any:
    res = CliRunner().invoke(cli_app, [*args, "--json", "-f", str(apps_file)])
    if res.exception and not isinstance(res.exception, SystemExit):
        raise res.exception
    assert res.exit_code == expect, res.output
    return json.loads(res.stdout)


def test_builtin_static_specs_are_openrun_s_files() -> None:
    """ace ships OpenRun's `static` and `static_single` specs unmodified."""
    for name in ("static", "static_single"):
        for file in ("app.star", "params.star"):
            assert (SPEC_ROOT / name / file).read_bytes() == \
                (FIXTURES / name / file).read_bytes(), (name, file)


def test_config_json_shows_static_apps_without_a_container(tmp_path: Path) -> None:
    """`ace config --json`: static apps have `container: null` and a `static` object with the
    index served, single_file and the source directory as root; a static app without a source
    is a warning at its app(...) line; other apps have `static: null`."""
    apps_file = _project(tmp_path)
    (tmp_path / "apps.star").write_text(apps_file.read_text() + 'app("/p", "-", spec="proxy", '
                                        'params={"url": "https://example.com"})\n')
    doc = _ace(apps_file, "config")
    apps = {a["path"]: a for a in doc["apps"]}
    site = str(tmp_path / "site")
    assert {p: (a["container"], a["static"]) for p, a in apps.items()} == {
        "/site": (None, {"index": "index.html", "single_file": False, "root": site}),
        "/one": (None, {"index": "main.html", "single_file": True, "root": site}),
        "/nofiles": (None, {"index": "index.html", "single_file": False, "root": ""}),
        "/p": (None, None)}
    [warning] = doc["warnings"]
    assert (warning["app"], warning["file"], warning["line"]) == ("/nofiles", str(apps_file), 3)
    assert "static app without files" in warning["message"]


def test_status_shows_static_apps_with_their_public_url(tmp_path: Path,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    """`ace status --json` lists static apps as state `static` (no container, health "-") and,
    while a proxy runs for the state dir, with their public URL."""
    apps_file = _project(tmp_path)
    engine = FakeEngine()
    monkeypatch.setattr(options, "engine", lambda *a, **k: engine)
    rows = {r["path"]: r for r in _ace(apps_file, "status")["apps"]}
    assert {p: (r["state"], r["health"], r["container"], r["public_url"])
            for p, r in rows.items()} == {p: ("static", "-", "", "")
                                          for p in ("/nofiles", "/one", "/site")}
    state = tmp_path / ".ace"
    (state / RECORD).write_text(json.dumps({"url": "http://127.0.0.1:8123",
                                            "pid": os.getpid()}))
    rows = {r["path"]: r for r in _ace(apps_file, "status")["apps"]}
    assert rows["/site"]["public_url"] == "http://127.0.0.1:8123/site/"
    assert engine.calls["run_container"] == 0


def test_status_rows_of_static_apps() -> None:
    """status_rows: static rows sort with the others; one that does not evaluate keeps its
    row with the error."""
    desired = DesiredState((), held=frozenset({"/b"}), declared=frozenset({"/a", "/b"}),
                           static=frozenset({"/a", "/b"}))
    rows = status_rows(desired, ObservedState((), ()), {}, public={"/a": "http://x/a/"},
                       errors={"/b": "app.star:1:1: boom"})
    assert [(r.path, r.state, r.public_url, r.error) for r in rows] == [
        ("/a", "static", "http://x/a/", ""), ("/b", "static", "", "app.star:1:1: boom")]


def test_proxy_status_endpoint_lists_static_apps(tmp_path: Path) -> None:
    """`/_ace/status` shows a static app as `static` with its URL on this proxy."""
    site = tmp_path / "site"
    site.mkdir()
    with ProxyService("127.0.0.1:0") as p:
        p.update([site_app("/site", site)], DesiredState((), static=frozenset({"/site"})),
                 ObservedState((), ()), {})
        [row] = get_json(p, "/_ace/status")["apps"]
        assert (row["path"], row["state"], row["public_url"]) == (
            "/site", "static", f"{p.base_url}/site/")


class _StubEngine(http.server.BaseHTTPRequestHandler):
    """The Docker API as a pass that has nothing to run sees it: `OK` to a ping, an empty list
    to every other GET; anything else (creating, removing) is recorded and refused."""

    calls: list[str] = []

    def _answer(self, body: bytes | None) -> None:
        self.calls.append(f"{self.command} {self.path}")
        self.send_response(200 if body is not None else 500)
        self.send_header("Content-Length", str(len(body or b"")))
        self.end_headers()
        self.wfile.write(body or b"")

    def do_GET(self) -> None:  # noqa: N802 - the handler's name
        self._answer(b"OK" if self.path.split("?")[0].endswith("/_ping") else b"[]")

    def do_HEAD(self) -> None:  # noqa: N802
        self._answer(b"")

    def do_POST(self) -> None:  # noqa: N802
        self._answer(None)

    do_PUT = do_DELETE = do_POST

    def log_message(self, *args: Any) -> None:
        return None


@contextmanager
def _stub_engine() -> Iterator[tuple[str, list[str]]]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _StubEngine)
    calls: list[str] = []
    server.RequestHandlerClass = type("Handler", (_StubEngine,), {"calls": calls})
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"tcp://127.0.0.1:{server.server_address[1]}", calls
    finally:
        server.shutdown()
        server.server_close()


def _get(url: str, headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], bytes]:
    import urllib.error
    import urllib.request

    try:
        with urllib.request.urlopen(urllib.request.Request(url, headers=headers or {}),
                                    timeout=5) as resp:
            return resp.status, {k.lower(): v for k, v in resp.headers.items()}, resp.read()
    except urllib.error.HTTPError as exc:
        return exc.code, {k.lower(): v for k, v in exc.headers.items()}, exc.read()


def _serve_static_site(tmp_path: Path, env: dict[str, str]) -> None:
    """Run `python -m reconciler serve` on the project until it serves /site/; check what a
    static app does through it (and `ace status`); stop it with SIGTERM (exit 0)."""
    apps_file = _project(tmp_path)
    proc = subprocess.Popen([sys.executable, "-m", "reconciler", "serve", "-f", str(apps_file),
                             "--listen", "127.0.0.1:0", "--log-json"],
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 60
        base, status, body = "", 0, b""
        while time.monotonic() < deadline and proc.poll() is None and status != 200:
            time.sleep(0.1)
            base = public_base(tmp_path / ".ace")  # its proxy-<pid>-<port>.json record
            if base:
                status, _, body = _get(base + "/site/")
        assert status == 200 and proc.poll() is None, "ace serve did not serve /site/"
        assert body == b"<h1>v1</h1>\n"
        (tmp_path / "site" / "index.html").write_text("<h1>v2</h1>\n")
        status, h, body = _get(base + "/site/")
        assert (status, body) == (200, b"<h1>v2</h1>\n")
        assert _get(base + "/site/", {"If-None-Match": h["etag"]})[0] == 304
        assert _get(base + "/one/any/path")[2] == b"main\n"
        res = subprocess.run([sys.executable, "-m", "reconciler", "status", "--json", "-f",
                              str(apps_file)], env=env, capture_output=True, text=True,
                             timeout=60)
        rows = {r["path"]: r for r in json.loads(res.stdout)["apps"]}
        assert (rows["/site"]["state"], rows["/site"]["public_url"]) == (
            "static", base + "/site/")
    finally:
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=20)
    assert proc.returncode == 0, err.decode()[-2000:]


def test_ace_serve_serves_a_static_app_without_an_engine(tmp_path: Path) -> None:
    """`ace serve` with only static apps runs against an engine that only lists nothing: it
    serves the site (an edit shows on the next request, no pass), 304s, single_file, `ace
    status` shows the public URL, SIGTERM stops it; it asks the engine to make nothing."""
    with _stub_engine() as (host, calls):
        _serve_static_site(tmp_path, {**os.environ, "DOCKER_HOST": host,
                                      "ACE_ENGINE_TIMEOUT": "5"})
    assert calls and all(c.startswith(("GET ", "HEAD ")) for c in calls), calls


@pytest.mark.engine
def test_ace_serve_serves_a_static_app_with_the_engine(
        tmp_path: Path, engine: DockerEngine, engine_install: str) -> None:
    """The same against the real engine: static apps are served, and no container of this
    installation is made for them."""
    _serve_static_site(tmp_path, {**os.environ, "ACE_INSTALL_ID": engine_install})
    assert engine.list_containers(engine_install) == ()
