"""What `ace watch` and `ace serve` share: their options, the proxy wiring, the display choice,
signals, and the one loop runner.

Signals: the first Ctrl-C / SIGTERM stops the loop (services keep running unless
--down-on-exit); a pass still running gets `_GRACE` seconds to finish, then the process exits
anyway (its containers are labelled: the next pass or reconcile picks them up). A second signal
exits at once.
"""

from __future__ import annotations

import logging
import os
import signal
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Annotated, Any, cast

import typer

from apps.errors import AceError
from apps.prints import set_print_handler
from reconciler.logs import setup_logging
from reconciler.proxy.address import UPSTREAM_TIMEOUT

if TYPE_CHECKING:  # the loop and the proxy load only when `ace watch`/`ace serve` runs
    from apps.model import EvalResult
    from reconciler.apply.pipeline import Settings
    from reconciler.core.types import DesiredState, ObservedState
    from reconciler.proxy.service import ProxyService
    from reconciler.watch.loop import Watch
    from reconciler.watch.reporter import Reporter

__all__ = [
    "DownOpt",
    "DrainOpt",
    "IdleShutdownOpt",
    "LazyOpt",
    "ListenOpt",
    "NoProxyOpt",
    "ResyncOpt",
    "UpstreamTimeoutOpt",
    "choose_reporter",
    "proxy_hooks",
    "run_loop",
    "start_proxy",
    "tee",
]

_GRACE = 1.5

ResyncOpt = Annotated[float, typer.Option("--resync", min=0.1,
                                          help="Seconds between passes without file events.")]
DownOpt = Annotated[bool, typer.Option(
    "--down-on-exit", help="On Ctrl-C / SIGTERM, remove ace's containers (as `ace down`).")]
ListenOpt = Annotated[str, typer.Option(
    "--listen", help="HOST:PORT of ace's proxy serving every app's routes.")]
NoProxyOpt = Annotated[bool, typer.Option("--no-proxy", help="Do not start ace's proxy.")]
DrainOpt = Annotated[float, typer.Option(
    "--drain", min=0.0, help="Seconds requests in flight on a replaced container may take.")]
IdleShutdownOpt = Annotated[float, typer.Option(
    "--idle-shutdown", min=0.0, metavar="S",
    help="Stop an app when no request reached it through the proxy for S seconds (and under "
    "1500 bytes moved); its next request starts it again. 0: off. An app opts out with "
    "app_config={\"container.idle_shutdown_secs\": 0}.")]
LazyOpt = Annotated[bool, typer.Option(
    "--lazy", help="Start each app on its first request through the proxy, not before.")]
UpstreamTimeoutOpt = Annotated[float, typer.Option(
    "--upstream-timeout", min=0.1, help="Seconds the proxy waits for an app's response head "
    "before answering 504 (streamed bodies and websockets are not limited).")]


def choose_reporter(log_json: bool, verbose: bool = False) -> Reporter:
    """The live table on a terminal; JSON lines when asked or when stdout is not a terminal;
    with `verbose` (on a terminal), every info event as a line for people instead of the
    table."""
    import structlog

    from reconciler.cli.watch_view import JsonReporter, LiveReporter

    if log_json or not sys.stdout.isatty():
        setup_logging(json_lines=True)
        return JsonReporter()
    if verbose:
        setup_logging(json_lines=False, verbose=True)
        return JsonReporter()
    setup_logging(json_lines=False)
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.CRITICAL))
    reporter = LiveReporter()
    set_print_handler(reporter.app_print)  # above the table, as changes are
    return reporter


def start_proxy(listen: str, state_dir: Path, drain: float = 10.0, *, required: bool = True,
                has_no_proxy: bool = True, upstream_timeout: float = UPSTREAM_TIMEOUT,
                wake_limit: float | None = None
                ) -> ProxyService | None:
    """Bind the proxy; warn on stderr when it is not loopback-only. When it cannot bind: an
    AceError, or (not `required`) a warning and None: `ace watch` on the default address keeps
    working when another ace already serves there. `has_no_proxy`: the command has a
    --no-proxy option to suggest (`ace serve` has not)."""
    from reconciler.proxy.service import ProxyService
    from reconciler.proxy.wake import WAKE_LIMIT

    try:
        proxy = ProxyService(listen, state_dir=state_dir, drain=drain,
                             upstream_timeout=upstream_timeout,
                             wake_limit=wake_limit or WAKE_LIMIT)
    except ValueError as exc:
        raise AceError(str(exc)) from None
    if not proxy.loopback:
        print(f"warning: the proxy listens on {proxy.host}, reachable from other machines; "
              f"apps, the dashboard and the apps' actions have no authentication in front of "
              f"them (use 127.0.0.1 to keep it local)", file=sys.stderr)
    try:
        proxy.start()
    except OSError as exc:
        msg = f"proxy cannot listen on {listen}: {exc.strerror or exc}"
        if required:
            fix = ("use --listen HOST:PORT, or --no-proxy" if has_no_proxy else
                   "use --listen HOST:PORT with a free port, or stop what listens there")
            raise AceError(f"{msg} ({fix})") from None
        print(f"warning: {msg}; watching without the proxy (use --listen HOST:PORT)",
              file=sys.stderr)
        return None
    print(f"ace proxy serving apps on {proxy.base_url} (dashboard: {proxy.base_url}/_ace/)",
          file=sys.stderr)
    return proxy


def proxy_hooks(proxy: ProxyService, *, idle_shutdown: float = 0.0, lazy: bool = False
                ) -> dict[str, Any]:
    """The WatchOptions fields that keep the proxy in step with the loop (and let it put idle
    apps to sleep and wake them)."""
    from reconciler.watch.sleeper import SleepOptions

    def on_pass(result: EvalResult, desired: DesiredState, observed: ObservedState,
                errors: dict[str, str]) -> None:
        proxy.update(result.apps, desired, observed, errors,
                     [e.to_json() for e in result.errors])

    switch: Callable[[str, str, str | None, str], None] = proxy.switch
    sleep = SleepOptions(idle_shutdown=idle_shutdown, lazy=lazy, enabled=True,
                         traffic=proxy.traffic, on_sleep=proxy.sleep)
    return {"on_switch": switch, "on_hold": proxy.hold, "on_pass": on_pass, "sleep": sleep}


def run_loop(settings: Settings, reporter: Reporter, proxy: ProxyService | None, *,
             resync: float, down_on_exit: bool, watch_files: bool,
             idle_shutdown: float = 0.0, lazy: bool = False) -> None:
    """The loop of `ace watch` / `ace serve` until a signal, the proxy (if any) in step with
    it and stopped at the end. Idle shutdown and lazy start need the proxy (it wakes apps)."""
    from reconciler.watch.loop import Watch, WatchOptions, default_engine

    if proxy is not None:  # the dashboard on the proxy: one more display of the loop
        reporter = tee(reporter, proxy.enable_dashboard(settings, default_engine))
    try:
        if proxy is None and (idle_shutdown or lazy):
            raise AceError("--idle-shutdown and --lazy need ace's proxy: a request through it "
                           "starts a sleeping app (drop --no-proxy, or use --listen HOST:PORT)")
        if settings.backend != "docker" and (idle_shutdown or lazy):
            raise AceError("--idle-shutdown and --lazy run apps on one engine only (not with "
                           f"--backend {settings.backend})")
        hooks = proxy_hooks(proxy, idle_shutdown=idle_shutdown, lazy=lazy) if proxy else {}
        loop = Watch(settings, default_engine(settings.backend, settings.registry), reporter,
                     WatchOptions(resync=resync, down_on_exit=down_on_exit,
                                  watch_files=watch_files, **hooks))
        if proxy is not None:
            proxy.set_wake(loop.request_wake)
        _install_signals(loop, down_on_exit)
        loop.run()
    finally:
        if proxy is not None:
            proxy.stop()


def tee(*reporters: Any) -> Reporter:
    """A Reporter telling each of `reporters` every fact, in turn."""

    class Tee:
        def __getattr__(self, name: str) -> Callable[..., None]:
            calls = [getattr(r, name) for r in reporters]

            def each(*args: Any) -> None:
                for call in calls:
                    call(*args)
            return each

    return cast("Reporter", Tee())


def _install_signals(watch: Watch, down_on_exit: bool) -> None:
    def hard_exit() -> None:
        sys.stderr.flush()
        os._exit(130)

    def on_signal(signum: int, frame: FrameType | None) -> None:
        if watch.stopping:
            hard_exit()
        watch.request_stop()
        if watch.in_pass and not down_on_exit:
            t = threading.Timer(_GRACE, hard_exit)
            t.daemon = True
            t.start()

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
