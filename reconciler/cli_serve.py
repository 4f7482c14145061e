"""`ace serve` (registered on the main app by `register(app)`), and the proxy wiring that
`ace watch` shares.

`ace serve` is `ace watch` without file watching: a pass every --resync seconds, and ace's proxy
on one stable address (`--listen`, default 127.0.0.1:8000) serving every app's `ace.proxy`
routes. When a replaced app's new container is healthy, the proxy sends new requests to it and
lets requests in flight on the old one finish (at most --drain seconds) before it is stopped.
"""

# No `from __future__ import annotations`: typer reads the annotations of the commands.

import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from apps.errors import AceError
from apps.model import EvalResult
from reconciler.proxy.address import DEFAULT_LISTEN, UPSTREAM_TIMEOUT
from reconciler.types import DesiredState, ObservedState

if TYPE_CHECKING:
    from reconciler.proxy.service import ProxyService

__all__ = ["ListenOpt", "NoProxyOpt", "proxy_hooks", "register", "start_proxy"]

ListenOpt = Annotated[str, typer.Option(
    "--listen", help="HOST:PORT of ace's proxy serving every app's routes.")]
NoProxyOpt = Annotated[bool, typer.Option("--no-proxy", help="Do not start ace's proxy.")]
DrainOpt = Annotated[float, typer.Option(
    "--drain", min=0.0, help="Seconds requests in flight on a replaced container may take.")]
UpstreamTimeoutOpt = Annotated[float, typer.Option(
    "--upstream-timeout", min=0.1, help="Seconds the proxy waits for an app's response head "
    "before answering 504 (streamed bodies and websockets are not limited).")]


def start_proxy(listen: str, state_dir: Path, drain: float = 10.0, *, required: bool = True,
                upstream_timeout: float = UPSTREAM_TIMEOUT) -> "ProxyService | None":
    """Bind the proxy; warn on stderr when it is not loopback-only. When it cannot bind: an
    AceError, or (not `required`) a warning and None: `ace watch` on the default address keeps
    working when another ace already serves there."""
    from reconciler.proxy.service import ProxyService

    try:
        proxy = ProxyService(listen, state_dir=state_dir, drain=drain,
                             upstream_timeout=upstream_timeout)
    except ValueError as exc:
        raise AceError(str(exc)) from None
    if not proxy.loopback:
        print(f"warning: the proxy listens on {proxy.host}, reachable from other machines; "
              f"apps have no authentication in front of them (use 127.0.0.1 to keep it local)",
              file=sys.stderr)
    try:
        proxy.start()
    except OSError as exc:
        msg = f"proxy cannot listen on {listen}: {exc.strerror or exc}"
        if required:
            raise AceError(f"{msg} (use --listen HOST:PORT, or --no-proxy)") from None
        print(f"warning: {msg}; watching without the proxy (use --listen HOST:PORT)",
              file=sys.stderr)
        return None
    print(f"ace proxy serving apps on {proxy.base_url}", file=sys.stderr)
    return proxy


def proxy_hooks(proxy: "ProxyService") -> dict[str, Any]:
    """The WatchOptions fields that keep the proxy in step with the loop."""

    def on_pass(result: EvalResult, desired: DesiredState, observed: ObservedState,
                errors: dict[str, str]) -> None:
        proxy.update(result.apps, desired, observed, errors,
                     [e.to_json() for e in result.errors])

    switch: Callable[[str, str, str | None, str], None] = proxy.switch
    return {"on_switch": switch, "on_pass": on_pass}


def register(app: typer.Typer) -> None:
    """Add the `serve` command, with the common options of `watch`."""
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
    from reconciler.cli_watch import DownOpt, ResyncOpt, _reporter, run_loop

    @app.command()
    def serve(file: FileOpt = Path("apps.star"), state_dir: StateOpt = None,
              listen: ListenOpt = DEFAULT_LISTEN, drain: DrainOpt = 10.0,
              upstream_timeout: UpstreamTimeoutOpt = UPSTREAM_TIMEOUT,
              pull: PullOpt = "missing", parallel: ParallelOpt = 4,
              health_timeout: HealthOpt = 60.0, deadline: DeadlineOpt = 2.0,
              resync: ResyncOpt = 5.0, down_on_exit: DownOpt = False,
              log_json: LogJsonOpt = False) -> None:
        """Serve every app's routes on one address; reconcile every --resync seconds."""
        with _errors():
            settings = _settings(file, state_dir, pull=pull, parallel=parallel,
                                 health_timeout=health_timeout, deadline=deadline)
            reporter = _reporter(log_json)
            proxy = start_proxy(listen, settings.state_dir, drain,
                                upstream_timeout=upstream_timeout)
            assert proxy is not None
            run_loop(settings, reporter, proxy, resync=resync, down_on_exit=down_on_exit,
                     watch_files=False)
