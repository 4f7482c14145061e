"""The app network during an apply: which aliases a container answers to, joining a container
in place before it starts again, and taking a replaced one off the network before it stops."""

from __future__ import annotations

from apps.errors import EngineError
from reconciler.core.types import DesiredApp, ObservedContainer
from reconciler.driver.ports import Engine
from reconciler.logs import get_logger

__all__ = ["aliases", "join", "retire"]

log = get_logger("ace.apply")


def aliases(network: str, app: DesiredApp) -> tuple[str, ...]:
    """The names `app` answers to on `network` (none without a network)."""
    return (app.alias,) if network and app.alias else ()


def join(engine: Engine, network: str, app: DesiredApp, c: ObservedContainer) -> None:
    """Put a container that is about to start again on the app network, in place. A stopped
    one may still name a network removed since: `connect` checks, so it is always asked."""
    if network and (c.state != "running" or network not in dict(c.networks)):
        engine.connect(c.id, network, aliases(network, app))


def retire(engine: Engine, network: str, old: ObservedContainer, timeout: float) -> None:
    """Stop and remove a replaced container. It leaves the app network first, so its alias
    answers with the new container only from then on, while the old one still runs."""
    if network and network in dict(old.networks) and old.state == "running":
        try:
            engine.disconnect(old.id, network)
        except EngineError as exc:  # stopping it takes it off the network anyway
            log.warning("disconnect_failed", container=old.name, error=str(exc))
    engine.stop_and_remove(old.id, timeout=timeout)
