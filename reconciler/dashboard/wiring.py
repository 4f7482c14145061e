"""Putting the dashboard on a running proxy: its Board, Guard and the callables the handler
needs (the last pass's apps, evaluating one app for a form, running an action as `ace run`
does, reading the plan and drift of an app, a log source), all with engines of their own."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from reconciler.applogs.follow import LogSource
from reconciler.dashboard.actions import describe_app, run_with
from reconciler.dashboard.board import Board
from reconciler.dashboard.guard import Guard
from reconciler.dashboard.handler import Dashboard

if TYPE_CHECKING:
    from reconciler.apply.pipeline import Settings
    from reconciler.driver.ports import Engine
    from reconciler.proxy.service import ProxyService

__all__ = ["make_dashboard", "plan_reader"]


def plan_reader(service: ProxyService, settings: Settings
                ) -> Callable[[str], tuple[list[dict[str, Any]], list[dict[str, Any]]]]:
    """plan(app): the steps a pass would take for the app now and its drift items, from the
    last pass's desired and observed state and the store's record (read only)."""

    def read(app: str) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        from reconciler.core.planner import plan
        from reconciler.core.report import drift_items
        from state import Store

        last = service.last()
        if last is None:
            return [], []
        _, desired, observed = last
        with Store.open(settings.state_dir) as store:
            recorded = store.recorded()
        steps = [{"action": s.action, "target": s.target, "cause": s.cause}
                 for s in plan(desired, observed, recorded).steps if s.app == app]
        drift = [d.to_json() for d in drift_items(desired, observed, recorded, {})
                 if d.app == app]
        return steps, drift

    return read


def make_dashboard(service: ProxyService, settings: Settings,
                   engine_factory: Callable[[], Engine]) -> tuple[Board, Dashboard]:
    from state import Store

    with Store.open(settings.state_dir) as store:
        install = store.install_id
    board = Board()
    dashboard = Dashboard(
        board, Guard(service.host, service.port), last=service.last,
        describe=describe_app(str(settings.apps_file), settings.deadline),
        run=lambda *a: run_with(settings, engine_factory())(*a),
        plan=plan_reader(service, settings),
        logs=lambda: LogSource(engine_factory(), install, settings.state_dir))
    return board, dashboard
