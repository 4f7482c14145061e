"""The dashboard on ace's proxy: `/_ace/` (and `/` when no app is mounted there), a page per
app, the event streams that keep them live, and the apps' action pages at OpenRun's action paths.
The proxy's request loop hands each request to `Dashboard.handle` first; None means "not mine".
Every request it takes passes the `Guard` first; actions run only on a POST with the page's
token. Slow work (evaluating an app, running an action, reading the store) runs in threads."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from importlib import resources
from typing import Any
from urllib.parse import parse_qs

from apps.errors import AceError
from apps.model import Action, App
from reconciler.applogs.follow import LogSource
from reconciler.dashboard import pages
from reconciler.dashboard.actions import ActionRunner, Describer, form_fields, form_params
from reconciler.dashboard.board import Board, action_page
from reconciler.dashboard.guard import SECURITY_HEADERS, Guard, Tokens
from reconciler.dashboard.streams import board_stream, log_stream
from reconciler.proxy.http1 import Framing, Head, encode_head
from reconciler.proxy.paths import NormPath

__all__ = ["Dashboard"]

MAX_FORM = 1 << 20
REASONS = {200: "OK", 403: "Forbidden", 404: "Not Found", 405: "Method Not Allowed",
           411: "Length Required", 413: "Content Too Large", 500: "Internal Server Error"}
_STATIC = {"dashboard.css": "text/css; charset=utf-8",
           "dashboard.js": "text/javascript; charset=utf-8"}
# last() -> (apps, desired, observed) of the last pass, or None before the first
Last = Callable[[], Any]
# plan(app) -> (pending steps, drift items) as dicts, read now
PlanReader = Callable[[str], tuple[list[dict[str, Any]], list[dict[str, Any]]]]


def _response(status: int, body: bytes, ctype: str, *, method: str, keep: bool,
              extra: list[tuple[str, str]] | None = None) -> bytes:
    headers = [("Content-Type", ctype), ("Content-Length", str(len(body))),
               ("Cache-Control", "no-store"), *SECURITY_HEADERS, *(extra or [])]
    if not keep:
        headers.append(("Connection", "close"))
    head = encode_head(f"HTTP/1.1 {status} {REASONS.get(status, 'Error')}", headers)
    return head if method == "HEAD" else head + body


def _html(status: int, text: str, *, method: str, keep: bool,
          extra: list[tuple[str, str]] | None = None) -> bytes:
    return _response(status, text.encode(), "text/html; charset=utf-8", method=method, keep=keep,
                     extra=extra)


class Dashboard:
    def __init__(self, board: Board, guard: Guard, *, last: Last, describe: Describer,
                 run: ActionRunner, plan: PlanReader, logs: Callable[[], LogSource],
                 tokens: Tokens | None = None) -> None:
        self.board = board
        self.guard = guard
        self.last = last
        self.describe = describe
        self.run = run
        self.plan = plan
        self.logs = logs
        self.tokens = tokens or Tokens()

    def _apps(self) -> tuple[App, ...]:
        got = self.last()
        return tuple(got[0]) if got else ()

    def find_action(self, path: NormPath) -> tuple[App, Action, str] | None:
        if path.decoded[:1] == ("_ace",):
            return None
        wanted = "/" + "/".join(path.decoded)
        for app in self._apps():
            for a in app.actions:
                page = action_page(app.path, a.path)
                if page == wanted:
                    return app, a, page
        return None

    async def handle(self, core: Any, reader: asyncio.StreamReader,
                     writer: asyncio.StreamWriter, head: Head, framing: Framing,
                     path: NormPath) -> bool | None:
        """Answer the request when it is the dashboard's; returns whether the connection may
        carry another request, or None when the request is not the dashboard's."""
        segs = path.decoded
        action = self.find_action(path)
        if segs[:1] == ("_ace",):
            rest = segs[1:]
            if rest not in ((), ("app",), ("plan",), ("events",), ("logs",), ("api", "apps")) \
                    and not (len(rest) == 2 and rest[0] == "static"):
                return None  # /_ace/health, /_ace/status and the 404 are the proxy's own
        elif action is None and not (segs == () and core.ready
                                     and core.table.find(path) is None):
            return None  # an app's path (before the first pass, "/" may be one)
        method = head.method
        keep = head.version == "HTTP/1.1" and "close" not in head.tokens("connection")
        headers = {k.lower(): v for k, v in head.headers}
        why = self.guard.refusal(method, headers)
        if why:
            writer.write(_html(403, pages.message_html(403, "Refused", [why]), method=method,
                               keep=False))
            return False
        if action is not None:
            if method not in ("GET", "HEAD", "POST"):
                return self._refuse_method(writer, method, "GET, POST")
            return await self._action(reader, writer, head, framing, *action)
        if method not in ("GET", "HEAD"):
            return self._refuse_method(writer, method, "GET")
        keep = keep and framing.kind == "none"
        query = {k: v[0] for k, v in parse_qs(path.query[1:]).items()}
        rest = segs[1:] if segs else ()
        if rest == ("events",):
            return await board_stream(self.board, reader, writer)
        if rest == ("logs",):
            return await log_stream(self.logs, query.get("app", ""), reader, writer)
        if rest[:1] == ("static",):
            return self._static(writer, rest[1], method, keep)
        if rest == ("api", "apps"):
            body = (json.dumps(self.board.state(), indent=1) + "\n").encode()
            writer.write(_response(200, body, "application/json", method=method, keep=keep))
            return keep
        loop = asyncio.get_running_loop()
        if rest == ("plan",):
            steps, drift = await loop.run_in_executor(None, self.plan, query.get("app", ""))
            writer.write(_html(200, pages.plan_html(steps, drift), method=method, keep=keep))
            return keep
        if rest == ("app",):
            app = query.get("path", "")
            row = next((r for r in self.board.snapshot() if r["app"] == app), None)
            steps, drift = await loop.run_in_executor(None, self.plan, app)
            text = pages.app_html(row, app, self.board.recent(app), pages.plan_html(steps, drift))
            writer.write(_html(200 if row else 404, text, method=method, keep=keep))
            return keep
        writer.write(_html(200, pages.index_html(self.board.state(), self.board.recent()),
                           method=method, keep=keep))
        return keep

    def _refuse_method(self, writer: asyncio.StreamWriter, method: str, allow: str) -> bool:
        writer.write(_html(405, pages.message_html(405, "Method not allowed", [
            f"{method} is not served here (allowed: {allow}); the dashboard changes nothing"]),
            method=method, keep=False, extra=[("Allow", allow)]))
        return False

    def _static(self, writer: asyncio.StreamWriter, name: str, method: str, keep: bool) -> bool:
        ctype = _STATIC.get(name)
        if ctype is None:
            writer.write(_html(404, pages.message_html(404, "Not found", [name]), method=method,
                               keep=keep))
            return keep
        body = resources.files("reconciler.dashboard").joinpath("static", name).read_bytes()
        writer.write(_response(200, body, ctype, method=method, keep=keep))
        return keep

    async def _action(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                      head: Head, framing: Framing, app: App, action: Action, page: str) -> bool:
        method = head.method
        loop = asyncio.get_running_loop()
        form: dict[str, str] | None = None
        if method == "POST":
            if framing.kind != "length" or framing.length > MAX_FORM:
                writer.write(_html(411 if framing.kind != "length" else 413,
                                   pages.message_html(400, "Bad form", [
                                       "post the action form (at most 1 MiB, with a length)"]),
                                   method=method, keep=False))
                return False
            raw = await reader.readexactly(framing.length)
            form = {k: v[0] for k, v in parse_qs(raw.decode("utf-8", "replace"),
                                                 keep_blank_values=True).items()}
            if not self.tokens.check(page, form.get("_token", "")):
                writer.write(_html(403, pages.message_html(403, "Refused", [
                    "the form's page token is missing, wrong or expired: reload the action "
                    "page and submit it again"]), method=method, keep=False))
                return False
        try:
            evaluated, decls = await loop.run_in_executor(None, self.describe, app.path)
        except AceError as exc:
            writer.write(_html(500, pages.message_html(500, "App does not evaluate", [str(exc)]),
                               method=method, keep=False))
            return False
        chosen = next((a for a in evaluated.actions if a.name == action.name), action)
        result, error, dry = "", "", bool(form and "_dry_run" in form)
        if form is not None:
            try:
                params = form_params(evaluated, chosen, decls, form)
                done = await loop.run_in_executor(None, self.run, app.path, chosen.name, params,
                                                  dry)
                result = pages.result_html(done)
            except AceError as exc:
                error = str(exc)
        fields = form_fields(evaluated, chosen, decls, given=form)
        text = pages.action_html(app.path, evaluated.name, chosen.name, chosen.description,
                                 page, fields, self.tokens.issue(page), result=result,
                                 error=error, dry_run=dry)
        writer.write(_html(200, text, method=method, keep=False))
        return False
