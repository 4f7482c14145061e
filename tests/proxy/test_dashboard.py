"""The dashboard on a running proxy (no engine): pages listing the apps, the live event stream,
an action form generated from the params, a run through the injected runner, and every refusal
that keeps another site from using it through the user's browser (foreign Host, foreign
Origin, cross-site fetch, no token, a wrong or another page's token, GET never running)."""

from __future__ import annotations

import http.client
import json
import re
import socket
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest

from apps.errors import AceError
from apps.model import Action, App, AppEntry, Route
from apps.params import ParamDecl
from apps.sandbox import Location
from reconciler.applogs.follow import LogSource
from reconciler.dashboard.board import Board
from reconciler.dashboard.guard import Guard, Tokens
from reconciler.dashboard.handler import Dashboard
from reconciler.proxy.service import ProxyService
from reconciler.watch.reporter import Row
from tests.fakes import FakeEngine
from tests.proxy.kit import CONTAINER, configure, request, running

HERE = Location("params.star", 1, 1)


def decl(name: str, type_: str = "STRING", default: Any = "", display: str = "",
         description: str = "") -> ParamDecl:
    return ParamDecl(name, type_, default, False, description or f"the {name}", display, HERE)


DECLS = (decl("command", default="ls -l /", description="The command to run"),
         decl("json", "BOOLEAN", False), decl("token", display="PASSWORD"),
         decl("notes", display="TEXTAREA"), decl("image", default="busybox"),
         decl("options_shell", "LIST", ["sh", "bash"]), decl("shell", default="sh"),
         decl("flavour", display="COMBO"), decl("options_flavour", "LIST", ["mild", "hot"]))
CMD = App(entry=AppEntry(path="/cmd", source="-"), name="Commands",
          params=(("command", "ls -l /"), ("json", False), ("token", "s3cret"),
                  ("notes", ""), ("image", "busybox"), ("options_shell", ["sh", "bash"]),
                  ("shell", "sh"), ("flavour", "mild"), ("options_flavour", ["mild", "hot"])),
          actions=(Action("Run a command", "/", "Runs it", hidden=("image",)),))
WEB = App(entry=AppEntry(path="/web", source="-"), name="Web", params=(),
          routes=(Route("/", CONTAINER),))


@dataclass
class Calls:
    runs: list[tuple[str, str, tuple[str, ...], bool]] = field(default_factory=list)
    result: dict[str, Any] = field(default_factory=lambda: {
        "status": "Command output", "values": [{"name": "a", "size": 1}, {"name": "b"}]})


@contextmanager
def dashboard() -> Iterator[tuple[ProxyService, Board, Calls]]:
    calls = Calls()

    def run(app: str, action: str, params: Sequence[str], dry: bool) -> dict[str, Any]:
        calls.runs.append((app, action, tuple(params), dry))
        if any(p == "command=fail" for p in params):
            raise AceError("container.run failed: command `fail` not found")
        return calls.result

    with running() as p:
        board = Board()
        p.board = board
        p.core.dashboard = Dashboard(
            board, Guard("127.0.0.1", p.port, names=()), last=p.last,
            describe=lambda path: (CMD, DECLS), run=run, plan=lambda app: ([], []),
            logs=lambda: LogSource(FakeEngine(), "none", Path("/nonexistent")),
            tokens=Tokens(b"k" * 32))
        configure(p, [CMD, WEB], {"/cmd": None, "/web": None})
        board.rows([Row("/cmd", "command", "-", "", "", ""),
                    Row("/web", "build-failed", "unknown", "http://127.0.0.1:9", "",
                        "build failed at step [2/2] RUN make (Containerfile:2): exit code 2")])
        yield p, board, calls


def host(p: ProxyService) -> dict[str, str]:
    return {"Host": f"127.0.0.1:{p.port}"}


def page(p: ProxyService, path: str, headers: dict[str, str] | None = None) -> tuple[int, str]:
    status, _, body = request(p, "GET", path, headers={**host(p), **(headers or {})})
    return status, body.decode()


def token_of(html: str) -> str:
    m = re.search(r'name="_token" value="([^"]+)"', html)
    assert m, html
    return m.group(1)


def post(p: ProxyService, path: str, form: dict[str, str],
         headers: dict[str, str] | None = None) -> tuple[int, str]:
    hdrs = {**host(p), "Content-Type": "application/x-www-form-urlencoded", **(headers or {})}
    status, _, body = request(p, "POST", path, body=urlencode(form).encode(), headers=hdrs)
    return status, body.decode()


def test_index_lists_apps_at_ace_and_root_with_security_headers() -> None:
    """/_ace/ and / (no app there) list every app with state, mode, URLs, last error and
    action links; answers carry a CSP without any external source; static files are served."""
    with dashboard() as (p, _, _):
        status, h, body = request(p, "GET", "/_ace/", headers=host(p))
        text = body.decode()
        assert status == 200 and 'data-app="/cmd"' in text and 'data-app="/web"' in text
        assert "build-failed" in text and "Containerfile:2" in text
        assert f'href="http://127.0.0.1:{p.port}/web/"' in text  # the public URL
        assert '<a href="/cmd">Run a command</a>' in text
        assert h["content-security-policy"].startswith("default-src 'self'")
        assert h["x-frame-options"] == "DENY"
        assert page(p, "/")[1] == text
        status, h, js = request(p, "GET", "/_ace/static/dashboard.js", headers=host(p))
        assert status == 200 and h["content-type"].startswith("text/javascript")
        assert b"EventSource" in js and b"http" not in js.replace(b"http-equiv", b"")
        css = request(p, "GET", "/_ace/static/dashboard.css", headers=host(p))[2]
        assert b"prefers-color-scheme: dark" in css and b"url(" not in css
        assert request(p, "GET", "/_ace/other", headers=host(p))[0] == 404
        assert request(p, "GET", "/_ace/health", headers=host(p))[0] == 200


def test_root_app_wins_over_the_dashboard() -> None:
    """An app mounted at / keeps the root; the dashboard stays at /_ace/."""
    with dashboard() as (p, _, _):
        root = App(entry=AppEntry(path="/", source="-"), name="root", params=(),
                   routes=(Route("/", CONTAINER),))
        configure(p, [CMD, root], {"/cmd": None, "/": None})
        status, body = page(p, "/")
        assert status == 503 and "not running" in body
        assert page(p, "/_ace/")[0] == 200


def test_events_stream_pushes_the_table_when_it_changes() -> None:
    """/_ace/events sends the state at once, then each change of the table as it happens."""
    with dashboard() as (p, board, _):
        with socket.create_connection(("127.0.0.1", p.port), timeout=5) as s:
            s.sendall(f"GET /_ace/events HTTP/1.1\r\nHost: 127.0.0.1:{p.port}\r\n\r\n".encode())
            got = b""
            while b"event: state" not in got:
                got += s.recv(65536)
            board.rows([Row("/web", "running", "healthy", "http://127.0.0.1:9",
                            "12:00:00 replace: build inputs changed", "")])
            while b"event: apps" not in got:
                got += s.recv(65536)
        assert b"text/event-stream" in got.split(b"\r\n\r\n")[0]
        data = got.split(b"event: apps\ndata: ")[1].split(b"\n\n")[0]
        (row,) = json.loads(data)["apps"]
        assert (row["app"], row["state"], row["mode"]) == ("/web", "running", "prod")


def test_action_form_from_params_and_a_run_shows_the_result() -> None:
    """The action page (OpenRun's path: the app's path) has a field per visible param with
    its type and display type; Run posts the form with the page token and shows the result
    as a table; Dry run passes dry_run; hidden params posted anyway are ignored."""
    with dashboard() as (p, _, calls):
        status, html = page(p, "/cmd")
        assert status == 200 and "<h1>Run a command</h1>" in html
        assert 'name="command" value="ls -l /"' in html and "The command to run" in html
        assert 'type="checkbox" id="p-json" name="json"' in html
        assert 'type="password" id="p-token" name="token" value=""' in html  # never sent
        assert '<textarea id="p-notes" name="notes"' in html
        assert '<select id="p-shell" name="shell"><option selected>sh</option>' in html
        assert 'list="o-flavour"' in html and '<option value="hot">' in html
        assert 'name="image"' not in html and "options_shell" not in html
        assert calls.runs == []  # showing the form runs nothing
        token = token_of(html)
        status, html = post(p, "/cmd", {"_token": token, "command": "echo hi", "json": "true",
                                        "token": "", "shell": "bash", "image": "evil",
                                        "_run": "1"})
        assert status == 200 and '<p id="status" class="status">Command output</p>' in html
        assert "<th>name</th><th>size</th>" in html and "<td>b</td><td></td>" in html
        assert calls.runs == [("/cmd", "Run a command",
                               ("command=echo hi", "json=true", "shell=bash"), False)]
        post(p, "/cmd", {"_token": token_of(html), "command": "x", "_dry_run": "1"})
        assert calls.runs[-1][3] is True and "json=false" in calls.runs[-1][2]
        status, html = post(p, "/cmd", {"_token": token, "command": "fail"})
        assert status == 200 and "command `fail` not found" in html
        status, html = post(p, "/cmd", {"_token": token, "shell": "zsh"})
        assert "not one of sh, bash" in html and len(calls.runs) == 3
        calls.result = {"status": "Listed", "values": ["line one", "line <two>"]}
        html = post(p, "/cmd", {"_token": token, "command": "ls"})[1]
        assert '<pre id="values" class="lines">line one\nline &lt;two&gt;</pre>' in html


@pytest.mark.parametrize("why,headers,path", [
    ("DNS rebinding: another name for the listener", {"Host": "evil.example:{port}"}, "/_ace/"),
    ("another port", {"Host": "127.0.0.1:1"}, "/_ace/"),
    ("no Host", {"Host": ""}, "/_ace/"),
    ("a foreign Origin", {"Origin": "http://evil.example"}, "/_ace/events"),
    ("another port's Origin", {"Origin": "http://127.0.0.1:3000"}, "/_ace/api/apps"),
    ("a cross-site fetch", {"Sec-Fetch-Site": "cross-site", "Sec-Fetch-Mode": "cors"},
     "/_ace/api/apps"),
])
def test_reading_the_dashboard_from_another_site_is_refused(why: str, headers: dict[str, str],
                                                            path: str) -> None:
    """Each way another page could read the dashboard through the browser gets 403."""
    with dashboard() as (p, _, _):
        hdrs = {k: v.format(port=p.port) for k, v in headers.items()}
        status, _, body = request(p, "GET", path, headers={**host(p), **hdrs})
        assert status == 403, why
        assert b"refused" in body
        ok = {"Host": f"localhost:{p.port}", "Origin": f"http://localhost:{p.port}",
              "Sec-Fetch-Site": "cross-site", "Sec-Fetch-Mode": "navigate"}
        assert request(p, "GET", "/_ace/", headers=ok)[0] == 200  # a link followed: fine


def test_running_an_action_from_another_site_is_refused() -> None:
    """No token, a wrong token, another page's token, a foreign Origin or a cross-site post
    with a valid token, a foreign Host, or a GET with the form's values: nothing runs."""
    with dashboard() as (p, _, calls):
        token = token_of(page(p, "/cmd")[1])
        form = {"command": "rm -rf /", "_run": "1"}
        assert post(p, "/cmd", form)[0] == 403
        assert post(p, "/cmd", {**form, "_token": "123.abc"})[0] == 403
        other = Tokens(b"k" * 32).issue("/elsewhere")
        assert post(p, "/cmd", {**form, "_token": other})[0] == 403
        expired = Tokens(b"k" * 32).issue("/cmd", now=time.time() - 13 * 3600)
        assert post(p, "/cmd", {**form, "_token": expired})[0] == 403
        signed = {**form, "_token": token}
        assert post(p, "/cmd", signed, {"Origin": "http://evil.example"})[0] == 403
        assert post(p, "/cmd", signed, {"Sec-Fetch-Site": "cross-site"})[0] == 403
        assert post(p, "/cmd", signed, {"Host": f"evil.example:{p.port}"})[0] == 403
        assert page(p, "/cmd?" + urlencode(signed))[0] == 200
        assert request(p, "PUT", "/cmd", body=b"x", headers=host(p))[0] == 405
        assert calls.runs == []
        assert post(p, "/cmd", signed, {"Origin": f"http://127.0.0.1:{p.port}"})[0] == 200
        assert len(calls.runs) == 1


def test_guard_names_of_the_listener() -> None:
    """Host names that name a listener: loopback IPs, localhost, the machine's names, and on a
    wildcard address any IP literal; always its own port."""
    g = Guard("127.0.0.1", 8000, names=["devbox"])
    assert all(g.host_ok(h) for h in ("127.0.0.1:8000", "localhost:8000", "[::1]:8000",
                                      "devbox:8000", "app.localhost:8000"))
    assert not any(g.host_ok(h) for h in ("evil.example:8000", "127.0.0.1:8001", "127.0.0.1",
                                          "10.0.0.5:8000", None))
    wide = Guard("0.0.0.0", 8000, names=[])
    assert wide.host_ok("10.0.0.5:8000") and not wide.host_ok("evil.example:8000")


def test_post_without_length_is_refused() -> None:
    """A chunked post (no length) is not read: 411, nothing runs."""
    with dashboard() as (p, _, calls):
        conn = http.client.HTTPConnection("127.0.0.1", p.port, timeout=5)
        conn.request("POST", "/cmd", body=iter([b"command=ls"]),
                     headers={**host(p), "Transfer-Encoding": "chunked"})
        assert conn.getresponse().status == 411
        conn.close()
        assert calls.runs == []


def test_board_publishes_a_change_once_and_an_idle_pass_not_at_all() -> None:
    """The same table after an idle resync sends no event; a changed one sends one."""
    board = Board()
    got: list[str] = []
    cancel = board.subscribe(lambda kind, data: got.append(kind))
    row = Row("/web", "running", "healthy", "http://127.0.0.1:9", "", "")
    board.rows([row])
    board.rows([row])
    board.rows([Row("/web", "stopped", "-", "", "", "")])
    cancel()
    board.rows([row])
    assert got == ["apps", "apps"]


def test_board_shows_the_mode_the_app_runs_in() -> None:
    """An app's mode is what its row says it runs as: an app marked dev that runs the normal
    way (its dev settings do not resolve) is "prod", one run from its source is "dev"."""
    board = Board()
    marked = App(entry=AppEntry(path="/web", source="-", dev=True), name="Web", params=())
    board.set_apps([marked, CMD], {})
    board.rows([Row("/web", "running", "healthy", "", "", ""),
                Row("/cmd", "running", "healthy", "", "", "", mode="dev")])
    assert [(r["app"], r["mode"]) for r in board.snapshot()] == [("/web", "prod"),
                                                                ("/cmd", "dev")]
