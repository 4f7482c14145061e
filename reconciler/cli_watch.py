"""`ace watch`: the typer command (registered on the main app by `register(app)`).

Signals: the first Ctrl-C / SIGTERM stops the loop (services keep running unless
--down-on-exit); a pass still running gets `_GRACE` seconds to finish, then the process exits
anyway (its containers are labelled: the next pass or reconcile picks them up). A second signal
exits at once.
"""

# No `from __future__ import annotations`: typer reads the annotations of `watch`, whose option
# types are imported inside `register` (reconciler.cli imports this module at its end).

import logging
import os
import signal
import sys
import threading
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Annotated

import typer

from reconciler.logs import setup_logging

if TYPE_CHECKING:  # the loop loads only when `ace watch` runs, not for every ace command
    from reconciler.pipeline import Settings
    from reconciler.proxy.service import ProxyService
    from reconciler.watch import Watch
    from reconciler.watch_ui import Reporter

__all__ = ["register"]

_GRACE = 1.5

ResyncOpt = Annotated[float, typer.Option("--resync", min=0.1,
                                          help="Seconds between passes without file events.")]
DownOpt = Annotated[bool, typer.Option("--down-on-exit",
                                       help="Remove ace's containers when watch stops.")]


def _reporter(log_json: bool) -> "Reporter":
    import structlog

    from reconciler.watch_ui import JsonReporter, LiveReporter

    if log_json or not sys.stdout.isatty():
        setup_logging(json_lines=True)
        return JsonReporter()
    setup_logging(json_lines=False)
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.CRITICAL))
    return LiveReporter()


def run_loop(settings: "Settings", reporter: "Reporter", proxy: "ProxyService | None", *,
             resync: float, down_on_exit: bool, watch_files: bool) -> None:
    """The loop of `ace watch` / `ace serve` until a signal, the proxy (if any) in step with
    it and stopped at the end."""
    from reconciler.cli_serve import proxy_hooks
    from reconciler.watch import Watch, WatchOptions, default_engine

    try:
        loop = Watch(settings, default_engine(), reporter,
                     WatchOptions(resync=resync, down_on_exit=down_on_exit,
                                  watch_files=watch_files,
                                  **(proxy_hooks(proxy) if proxy else {})))
        _install_signals(loop, down_on_exit)
        loop.run()
    finally:
        if proxy is not None:
            proxy.stop()


def _install_signals(watch: "Watch", down_on_exit: bool) -> None:
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


def register(app: typer.Typer) -> None:
    """Add the `watch` command, with the common options of `reconcile`."""
    from reconciler.cli import (
        DeadlineOpt,
        FileOpt,
        HealthOpt,
        LogJsonOpt,
        ParallelOpt,
        PullOpt,
        StateOpt,
        _errors,
        _settings,
    )
    from reconciler.cli_serve import (
        DrainOpt,
        ListenOpt,
        NoProxyOpt,
        UpstreamTimeoutOpt,
        start_proxy,
    )
    from reconciler.proxy.address import DEFAULT_LISTEN, UPSTREAM_TIMEOUT

    @app.command()
    def watch(file: FileOpt = Path("apps.star"), state_dir: StateOpt = None,
              pull: PullOpt = "missing", parallel: ParallelOpt = 4,
              health_timeout: HealthOpt = 60.0, deadline: DeadlineOpt = 2.0,
              resync: ResyncOpt = 5.0, down_on_exit: DownOpt = False,
              listen: ListenOpt = DEFAULT_LISTEN, no_proxy: NoProxyOpt = False,
              drain: DrainOpt = 10.0, upstream_timeout: UpstreamTimeoutOpt = UPSTREAM_TIMEOUT,
              log_json: LogJsonOpt = False) -> None:
        """Keep reconciling: on every relevant file change and every --resync seconds; serve
        every app's routes on one address (--listen) unless --no-proxy."""
        with _errors():
            settings = _settings(file, state_dir, pull=pull, parallel=parallel,
                                 health_timeout=health_timeout, deadline=deadline)
            reporter = _reporter(log_json)
            proxy = None if no_proxy else start_proxy(listen, settings.state_dir, drain,
                                                      required=listen != DEFAULT_LISTEN,
                                                      upstream_timeout=upstream_timeout)
            run_loop(settings, reporter, proxy, resync=resync, down_on_exit=down_on_exit,
                     watch_files=True)
