"""`ace serve`: `ace watch` without file watching — a pass every --resync seconds, and ace's
proxy on one stable address (`--listen`, default 127.0.0.1:8000) serving every app's
`ace.proxy` routes. When a replaced app's new container is healthy, the proxy sends new requests
to it and lets requests in flight on the old one finish (at most --drain seconds) before it is
stopped."""

from __future__ import annotations

from pathlib import Path

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

__all__ = ["serve"]


def serve(file: FileOpt = Path("apps.star"), state_dir: StateOpt = None,
          listen: ListenOpt = DEFAULT_LISTEN, drain: DrainOpt = 10.0,
          upstream_timeout: UpstreamTimeoutOpt = UPSTREAM_TIMEOUT,
          pull: PullOpt = "missing", parallel: ParallelOpt = 16,
          health_timeout: HealthOpt = 60.0, deadline: DeadlineOpt = 2.0,
          resync: ResyncOpt = 5.0, down_on_exit: DownOpt = False,
          keep_images: KeepOpt = 2, idle_shutdown: IdleShutdownOpt = 0.0,
          lazy: LazyOpt = False, verbose: VerboseOpt = False, log_json: LogJsonOpt = False,
          backend: BackendOpt = "docker", registry: RegistryOpt = "") -> None:
    """Serve every app's routes on one address; reconcile every --resync seconds."""
    with errors():
        settings = settings_from(file, state_dir, pull=pull, parallel=parallel,
                                 health_timeout=health_timeout, deadline=deadline,
                                 backend=backend, registry=registry, keep_images=keep_images)
        reporter = choose_reporter(log_json, verbose)
        proxy = start_proxy(listen, settings.state_dir, drain, has_no_proxy=False,
                            upstream_timeout=upstream_timeout, wake_limit=health_timeout + 15)
        assert proxy is not None
        run_loop(settings, reporter, proxy, resync=resync, down_on_exit=down_on_exit,
                 watch_files=False, idle_shutdown=idle_shutdown, lazy=lazy)
