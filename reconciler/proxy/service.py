"""The proxy as a service of `ace watch` / `ace serve`: its event loop runs in a daemon thread;
the reconcile side calls `update` after each pass and `switch` (the executor's `on_switch`) when a
new container of an app passed its health check, before the old one is stopped.

While it runs, `<state dir>/proxy-<pid>-<port>.json` records its address, so `ace status` can
show each app's public URL; it is removed when the proxy stops (see proxy/address.py)."""

from __future__ import annotations

import asyncio
import contextlib
import os
import threading
import time
from collections.abc import Mapping, Sequence
from concurrent.futures import Future
from pathlib import Path
from typing import Any

from apps.model import App
from reconciler.core.types import DesiredState, ObservedState
from reconciler.proxy.address import (
    DEFAULT_LISTEN,
    UPSTREAM_TIMEOUT,
    is_loopback,
    live_proxies,
    parse_listen,
    public_urls,
    record_path,
    write_record,
)
from reconciler.proxy.request import DEFAULT_PARSER
from reconciler.proxy.routing import Backend, Table, build_entries, container_backends
from reconciler.proxy.server import ProxyCore
from reconciler.proxy.wake import WAKE_LIMIT, WakeFn, release

__all__ = ["ProxyService"]

def _new_loop() -> asyncio.AbstractEventLoop:
    """uvloop when installed (about twice the requests per CPU second), else asyncio's."""
    try:
        import uvloop
    except ImportError:
        return asyncio.new_event_loop()
    return uvloop.new_event_loop()


class ProxyService:
    def __init__(self, listen: str = DEFAULT_LISTEN, *, state_dir: Path | None = None,
                 drain: float = 10.0, connect_timeout: float = 3.0,
                 upstream_timeout: float = UPSTREAM_TIMEOUT, parser: str = DEFAULT_PARSER,
                 wake_limit: float = WAKE_LIMIT) -> None:
        self.host, self.port = parse_listen(listen)
        self.state_dir = state_dir
        self.drain = drain
        self.core = ProxyCore(connect_timeout=connect_timeout, upstream_timeout=upstream_timeout,
                              parser=parser, status=self._status)
        self.core.wake_limit = wake_limit
        self._loop: asyncio.AbstractEventLoop | None = None
        self._server: asyncio.Server | None = None
        self._thread: threading.Thread | None = None
        self._record: Path | None = None
        self._started = 0.0
        self._served: tuple[str, ...] = ()  # the app paths in the record
        self._last: tuple[Sequence[App], DesiredState, ObservedState, dict[str, str],
                          list[dict[str, Any]]] | None = None
        self.board: Any = None  # reconciler.dashboard.board.Board, when the dashboard is on

    # -- lifecycle --------------------------------------------------------------------------

    @property
    def loopback(self) -> bool:
        return is_loopback(self.host)

    @property
    def base_url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    def start(self) -> None:
        """Bind and serve; raises OSError when the address cannot be bound."""
        ready: Future[None] = Future()
        self._thread = threading.Thread(target=self._run, args=(ready,), name="ace-proxy",
                                        daemon=True)
        self._thread.start()
        ready.result(timeout=10)
        if self.state_dir is not None:
            self.state_dir.mkdir(parents=True, exist_ok=True)
            live_proxies(self.state_dir, prune=True)  # records left by killed proxies go
            self._record = record_path(self.state_dir, os.getpid(), self.port)
            self._started = time.time()
            write_record(self._record, self.base_url, self._started, self._served)

    def _run(self, ready: Future[None]) -> None:
        loop = self._loop = _new_loop()
        try:
            self._server = loop.run_until_complete(asyncio.start_server(
                self.core.client, self.host, self.port, limit=64 * 1024, backlog=1024))
            sock = self._server.sockets[0].getsockname()
            self.port = int(sock[1])
        except BaseException as exc:
            ready.set_exception(exc)
            loop.close()
            return
        ready.set_result(None)
        try:
            loop.run_forever()
        finally:
            self._server.close()
            self.core.pool.close_idle()
            tasks = asyncio.all_tasks(loop)
            for t in tasks:
                t.cancel()
            with contextlib.suppress(Exception):
                loop.run_until_complete(asyncio.gather(*tasks, return_exceptions=True))
            loop.close()

    def stop(self) -> None:
        if self._record is not None:  # this proxy's own record, never another's
            self._record.unlink(missing_ok=True)
            self._record = None
        if self._loop is not None and self._loop.is_running():
            self._loop.call_soon_threadsafe(self._loop.stop)
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> ProxyService:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _call(self, coro: Any, timeout: float) -> Any:
        assert self._loop is not None, "proxy not started"
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(timeout)

    # -- what the reconcile side calls ------------------------------------------------------

    def update(self, apps: Sequence[App], desired: DesiredState, observed: ObservedState,
               errors: Mapping[str, str] | None = None,
               eval_errors: list[dict[str, Any]] | None = None) -> None:
        """Routes of `apps`, containers from `observed`; `errors` are the apps' latest errors
        (an app keeps its last error while it has no container)."""
        table = Table(build_entries(apps))
        backends = container_backends(desired, observed)
        errs = dict(errors or {})
        idle = desired.idle_apps()
        self._last = (apps, desired, observed, errs, list(eval_errors or []))
        public = public_urls(apps, self.base_url)
        if self.board is not None:
            self.board.set_apps(apps, public)
        served = tuple(sorted(public))
        if served != self._served:
            self._served = served
            if self._record is not None:
                write_record(self._record, self.base_url, self._started, served)

        async def apply() -> None:
            core = self.core
            for app in [a for a in core.slots if a not in backends]:
                del core.slots[app]
            for app, (b, why) in backends.items():
                slot = core.slots.get(app)
                if slot is None:
                    await core.switch(app, b, 0.0)
                    slot = core.slots[app]
                elif b is None:  # known not running: its requests answer 503 at once
                    if slot.backend is not None:
                        core.pool.close_idle(slot.backend)
                    slot.backend = None
                elif not b.same(slot.backend):
                    await core.switch(app, b, 0.0)
                slot.state = why if b is None else ""
                if app in errs:
                    slot.error = errs[app]
                elif b is not None:
                    slot.error = ""
                if app in idle and b is None:
                    slot.asleep = True
                elif slot.asleep or slot.woken is not None:
                    release(slot)  # awake now, or its start failed: waiting requests go on
            core.table = table
            core.ready = True

        self._call(apply(), 10)

    def switch(self, app: str, new_url: str, old_url: str | None = None,
               address: str = "") -> None:
        """The executor's `on_switch`: new requests go to `new_url` (through the container's
        network `address` when it is reachable) from now on; returns once requests in flight
        on the previous container finished (or `drain` seconds passed). For a cluster app,
        `address` lists every task ("ip:port,ip:port", `new_url` the first): requests are
        spread over them."""
        addresses = [a for a in address.split(",") if a]
        scheme, _, netloc = new_url.partition("://")
        backend = (Backend.group(scheme, addresses) if netloc.rstrip("/") in addresses
                   else None) or Backend.from_url(new_url, direct=address)
        self._call(self.core.switch(app, backend, self.drain), self.drain + 5)

    def set_wake(self, wake: WakeFn) -> None:
        """The watch loop's `request_wake`: how a request for a sleeping app starts it."""
        self.core.wake = wake

    def traffic(self) -> dict[str, tuple[int, int]]:
        """app -> (requests started, bytes moved) through the proxy since it started."""
        return {app: (c.requests, c.bytes) for app, c in list(self.core.traffic.items())}

    def sleep(self, apps: Sequence[str]) -> None:
        """Before idle apps are stopped: their new requests wake them (after the stop), and
        requests in flight finish first (at most `drain` seconds)."""

        async def park() -> None:
            for app in apps:
                slot = self.core.slots.get(app)
                if slot is None:
                    continue
                slot.asleep = True
                await self.core.switch(app, None, self.drain)

        self._call(park(), self.drain * len(apps) + 5)

    def hold(self, app: str, held: bool) -> None:
        """The executor's `on_hold`: while an app's container restarts in place, its new
        requests wait (at most 10 s) instead of failing."""
        self._call(self.core.hold(app, held, self.drain), self.drain + 5)

    def last(self) -> tuple[Sequence[App], DesiredState, ObservedState] | None:
        """The apps, desired and observed state of the last pass (None before the first)."""
        got = self._last
        return None if got is None else (got[0], got[1], got[2])

    def enable_dashboard(self, settings: Any, engine_factory: Any) -> Any:
        """Serve the dashboard (reconciler.dashboard) on this proxy; returns its Board, a
        Reporter for the watch loop to feed. `engine_factory()` makes an engine for each log
        stream and action run (never the loop's own)."""
        from reconciler.dashboard.wiring import make_dashboard

        self.board, self.core.dashboard = make_dashboard(self, settings, engine_factory)
        return self.board

    def _status(self) -> dict[str, Any]:
        """`ace status --json` for what the last pass saw (health probed now)."""
        from apps.model import EvalError
        from reconciler.apply.health import probe_health
        from reconciler.core.report import app_errors, status_rows

        if self._last is None:
            return {"apps": [], "errors": []}
        apps, desired, observed, errs, eval_errors = self._last
        evals = app_errors(EvalError(**e) for e in eval_errors)
        failed = {app: msg for app, msg in errs.items() if app not in evals}  # failed steps
        rows = status_rows(desired, observed, probe_health(desired, observed), failed,
                           public=public_urls(apps, self.base_url), errors=evals)
        return {"apps": [r.to_json() for r in rows], "errors": eval_errors}
