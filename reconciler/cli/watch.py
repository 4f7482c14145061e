"""`ace watch`: keep reconciling on every relevant file change and every --resync seconds, and
serve every app's routes on one address (ace's proxy) unless --no-proxy."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from reconciler.cli.flags import (
    BackendOpt,
    DeadlineOpt,
    FileOpt,
    HealthOpt,
    KeepOpt,
    LogJsonOpt,
    ParallelOpt,
    PullOpt,
    RegistryOpt,
    StateOpt,
    VerboseOpt,
)
from reconciler.cli.loop import (
    DownOpt,
    DrainOpt,
    IdleShutdownOpt,
    LazyOpt,
    ListenOpt,
    NoProxyOpt,
    ResyncOpt,
    UpstreamTimeoutOpt,
    choose_reporter,
    run_loop,
    start_proxy,
)
from reconciler.cli.options import (
    errors,
    settings_from,
)
from reconciler.proxy.address import DEFAULT_LISTEN, UPSTREAM_TIMEOUT

__all__ = ["watch"]

DevOpt = Annotated[list[str] | None, typer.Option(
    "--dev", metavar="APP",
    help="Run this app in dev mode (as dev=True in the apps file); repeatable.")]


def watch(file: FileOpt = Path("apps.star"), state_dir: StateOpt = None,
          pull: PullOpt = "missing", parallel: ParallelOpt = 16,
          health_timeout: HealthOpt = 60.0, deadline: DeadlineOpt = 2.0,
          resync: ResyncOpt = 5.0, down_on_exit: DownOpt = False,
          listen: ListenOpt = DEFAULT_LISTEN, no_proxy: NoProxyOpt = False,
          drain: DrainOpt = 10.0,
          upstream_timeout: UpstreamTimeoutOpt = UPSTREAM_TIMEOUT, dev: DevOpt = None,
          keep_images: KeepOpt = 2, idle_shutdown: IdleShutdownOpt = 0.0,
          lazy: LazyOpt = False, verbose: VerboseOpt = False, log_json: LogJsonOpt = False,
          backend: BackendOpt = "docker", registry: RegistryOpt = "") -> None:
    """Keep reconciling: on every relevant file change and every --resync seconds; serve
    every app's routes on one address (--listen) unless --no-proxy."""
    with errors():
        settings = settings_from(file, state_dir, pull=pull, parallel=parallel,
                                 health_timeout=health_timeout, deadline=deadline,
                                 dev_apps=frozenset(dev or ()), backend=backend,
                                 registry=registry, keep_images=keep_images)
        reporter = choose_reporter(log_json, verbose)
        proxy = None if no_proxy else start_proxy(listen, settings.state_dir, drain,
                                                  required=listen != DEFAULT_LISTEN,
                                                  upstream_timeout=upstream_timeout,
                                                  wake_limit=health_timeout + 15)
        run_loop(settings, reporter, proxy, resync=resync, down_on_exit=down_on_exit,
                 watch_files=True, idle_shutdown=idle_shutdown, lazy=lazy)
