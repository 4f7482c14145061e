"""What runs versus what was declared and recorded: `ace status` rows (also the watch table's
and the proxy's `/_ace/status`) and `ace drift` items.

Both read one observation and the health the caller probed (`apply.health.probe_health`);
status rows also take evaluation errors and each app's last apply (read from the store by the
caller). An app that does not evaluate is shown from what runs of it. Pure: no I/O here."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace

from apps.model import EvalError
from reconciler.core.changes import changed_files, sides, spec_changes
from reconciler.core.cluster import cluster_drift, cluster_row
from reconciler.core.status import AppStatus, DriftItem
from reconciler.core.types import (
    DesiredApp,
    DesiredState,
    ObservedContainer,
    ObservedState,
    RecordedApp,
    RecordedState,
    current_container,
)
from state.runs import LastApply

__all__ = [
    "APPS_FILE_HELD",
    "HELD",
    "IDLE_DETAIL",
    "STOPPED_BY_USER",
    "AppStatus",
    "DriftItem",
    "app_errors",
    "drift_items",
    "status_rows",
    "unevaluated",
]

STOPPED_BY_USER = "stopped by user"


HELD = "app does not evaluate: see ace config"
APPS_FILE_HELD = "the apps file does not evaluate: see ace config"


def app_errors(errors: Iterable[EvalError]) -> dict[str, str]:
    """app path -> its first evaluation error as `file:line:column: message` (errors of the
    apps file itself, app "", are not an app's)."""
    out: dict[str, str] = {}
    for e in errors:
        if e.app:
            out.setdefault(e.app, f"{e.where}: {e.message}")
    return out


def unevaluated(desired: DesiredState, observed: ObservedState) -> list[str]:
    """Apps with no declaration this pass whose containers are left as they run: apps that do
    not evaluate, and — while the apps file itself does not — every app with a container."""
    known = {a.path for a in desired.apps} | desired.static
    out = set(desired.held) - known
    if not desired.prune:
        out |= {c.app for c in observed.containers if c.version and c.app not in known}
    return sorted(out)


def status_rows(
    desired: DesiredState, observed: ObservedState, health: Mapping[str, str],
    failed_steps: Mapping[str, str] | None = None, public: Mapping[str, str] | None = None,
    *, errors: Mapping[str, str] | None = None,
    last_apply: Mapping[str, LastApply] | None = None, stopped: frozenset[str] = frozenset(),
) -> list[AppStatus]:
    """One row per app: declared apps by path, then apps that do not evaluate (their running
    container, health and URL, with the error), then orphans. `failed_steps` are failures of
    the last pass the caller saw; `errors` evaluation errors (`app_errors`); `last_apply` each
    app's latest applied step (the store's); `public` maps app paths to their proxy URLs;
    apps in `stopped` (by the user: `ace stop`) are `stopped`, detail `stopped by user`."""
    ctx = _Ctx(observed, health, failed_steps or {}, errors or {}, last_apply or {})
    idle = dict(desired.idle)
    rows = sorted([*(_declared(ctx, app, app.path in desired.held, idle.get(app.path))
                     for app in desired.apps),
                   *(_static(ctx, path, path in desired.held) for path in desired.static)],
                  key=lambda r: r.path)
    rows += [_held(ctx, path, path in desired.declared or path in desired.held)
             for path in unevaluated(desired, observed)]
    wanted = {a.path for a in desired.apps} | desired.held
    if desired.prune:
        for c in sorted(observed.containers, key=lambda c: c.app):
            if c.app not in wanted:
                rows.append(AppStatus(c.app, "orphaned", "-", "", c.name, c.image, c.created,
                                      "not declared any more; reconcile removes it",
                                      last_apply=ctx.last_apply.get(c.app)))
    rows = [_by_user(r) if r.path in stopped and r.state not in ("command", "error", "orphaned")
            else r for r in rows]
    modes = {a.path: a.mode for a in desired.apps}
    rows = [replace(r, mode=modes.get(r.path, "normal"),
                    public_url=(public or {}).get(r.path, "")) for r in rows]
    return rows


def _by_user(r: AppStatus) -> AppStatus:
    """The row of an app the user stopped (`ace stop`): `stopped`, not missing or failed."""
    if r.state == "running":  # the stop is not applied yet (or it was started by hand)
        return replace(r, detail=f"{STOPPED_BY_USER}, still running: reconcile stops it")
    return replace(r, state="stopped", health="-", detail=STOPPED_BY_USER)


@dataclass(frozen=True, slots=True)
class _Ctx:
    observed: ObservedState
    health: Mapping[str, str]
    failed_steps: Mapping[str, str]
    errors: Mapping[str, str]
    last_apply: Mapping[str, LastApply]

    def without_apply(self, path: str) -> _Ctx:
        """The same, with no last apply for `path` (its failure no longer applies)."""
        return replace(self, last_apply={k: v for k, v in self.last_apply.items() if k != path})

    def apply_failure(self, path: str, *, whole: bool) -> str:
        """Why the app's last apply failed ("" when it did not): the last pass's failure, else
        the store's last step (its whole message, or the first line)."""
        if path in self.failed_steps:
            return self.failed_steps[path]
        la = self.last_apply.get(path)
        if la is None or la.outcome != "failed":
            return ""
        message = la.message.strip() if whole else _first_line(la.message)
        return f"last {la.action} failed" + (f": {message}" if message else "")


def _first_line(text: str, width: int = 160) -> str:
    line = text.strip().splitlines()[0] if text.strip() else ""
    return line if len(line) <= width else line[: width - 1] + "…"


def _running(ctx: _Ctx, path: str, c: ObservedContainer, scheme: str
             ) -> tuple[str, str, str, str]:
    """(state, health, url, detail) of an app's current container."""
    running = c.state == "running"
    h = ctx.health.get(path, "unknown" if running else "-")
    detail = "" if running else c.status
    if h.startswith("unhealthy:"):
        h, detail = "unhealthy", h.split(": ", 1)[1]
    url = f"{scheme}://127.0.0.1:{c.host_port}" if c.host_port and running else ""
    return ("running" if running else "stopped"), h, url, detail


IDLE_DETAIL = "asleep: the next request through ace's proxy starts it"


# Steps toward a version of an app: once the declared version runs healthy (after a revert,
# with no step), their failure is over.
_TOWARD_VERSION = frozenset({"build", "pull", "start", "replace", "restart"})


def _superseded(la: LastApply | None, app: DesiredApp, c: ObservedContainer | None,
                health: str) -> bool:
    """Whether the app's last failed apply no longer applies: a build or pull of other inputs
    than those declared now, or a step toward a version while the declared one runs healthy."""
    if la is None or la.outcome != "failed":
        return False
    if la.action in ("build", "pull") and la.target != app.image:
        return True
    return (la.action in _TOWARD_VERSION and c is not None and c.version == app.version
            and c.state == "running" and health == "healthy")


def _declared(ctx: _Ctx, app: DesiredApp, held: bool, idle: str | None) -> AppStatus:
    error = ctx.errors.get(app.path, HELD if held else "")
    la = ctx.last_apply.get(app.path)
    if not app.service:
        la = None if _superseded(la, app, None, "") else la
        return AppStatus(app.path, "command", "-", "", "", app.image, 0,
                         "image only; run actions with ace run", error=error, last_apply=la)
    c = current_container(ctx.observed.containers, app.path, app.version)
    if _superseded(la, app, c, ctx.health.get(app.path, "")):
        ctx, la = ctx.without_apply(app.path), None
    if idle is not None and (c is None or c.state != "running"):
        return AppStatus(app.path, "idle", "-", "", c.name if c else "", app.image,
                         c.created if c else 0,
                         _join(f"{idle}; {IDLE_DETAIL}", ctx.apply_failure(app.path, whole=False)),
                         error=error, last_apply=la)
    if c is None:
        failure = ctx.apply_failure(app.path, whole=True)
        return AppStatus(app.path, "failed" if failure else "missing", "-", "", "", app.image, 0,
                         _join(f"does not evaluate: {error}" if error else "", failure),
                         error=error, last_apply=la)
    state, h, url, detail = _running(ctx, app.path, c, app.scheme)
    older = state == "running" and c.version != app.version and not detail
    row = AppStatus(
        app.path, state, h, url, c.name, app.image, c.created,
        _join(f"does not evaluate: {error}" if error else "",
              "an older version runs; reconcile to apply the change" if older else detail,
              ctx.apply_failure(app.path, whole=False)),
        error=error, last_apply=la)
    return cluster_row(row, app.scheme, c, ctx.health) if c.replicas else row


def _static(ctx: _Ctx, path: str, held: bool) -> AppStatus:
    """A static app: no container; ace's proxy serves its files (its public URL)."""
    error = ctx.errors.get(path, HELD if held else "")
    return AppStatus(path, "static", "-", "", "", "", 0,
                     f"does not evaluate: {error}" if error else "", error=error,
                     last_apply=ctx.last_apply.get(path))


def _held(ctx: _Ctx, path: str, declared: bool) -> AppStatus:
    """An app without a declaration this pass, from what runs of it."""
    error = ctx.errors.get(path) or (HELD if declared else APPS_FILE_HELD)
    la = ctx.last_apply.get(path)
    c = current_container(ctx.observed.containers, path)
    if c is None:
        return AppStatus(path, "error", "-", "", "", "", 0, f"does not evaluate: {error}",
                         error=error, last_apply=la)
    state, h, url, detail = _running(ctx, path, c, c.scheme or "http")
    row = AppStatus(path, state, h, url, c.name, c.image, c.created,
                    _join(f"does not evaluate, what runs is left alone: {error}", detail,
                          ctx.apply_failure(path, whole=False)),
                    error=error, last_apply=la)
    return cluster_row(row, c.scheme or "http", c, ctx.health) if c.replicas else row


def _join(*parts: str) -> str:
    return "; ".join(p for p in parts if p)


def _pending_change(app: DesiredApp, rec: RecordedApp) -> DriftItem:
    """What the declared spec changes against the applied one, with values (secrets masked);
    the two versions when the record keeps no spec to compare."""
    changes = spec_changes(rec.spec_json, app.spec_json, app.secret_env) if rec.spec_json else None
    if not changes:
        return DriftItem(app.path, "pending", "declared change not applied",
                         f"version {app.version[:12]}", f"version {rec.version[:12]}")
    expected, actual = sides(changes)
    files = changed_files(rec.files, app.build.files) if app.build and rec.files else []
    if files:
        shown = ", ".join(files[:3]) + (f" (+{len(files) - 3} more)" if len(files) > 3 else "")
        expected += f"; build inputs changed: {shown}"
    return DriftItem(app.path, "pending", "declared change not applied", expected, actual)


def _network_items(desired: DesiredState, observed: ObservedState) -> list[DriftItem]:
    """The app network removed by hand (when the pass looked for it), and running services
    that are not on it (taken off by hand, or started before ace had the network)."""
    net = desired.network
    if not net:
        return []
    items: list[DriftItem] = []
    if observed.networks is not None and net not in dict(observed.networks):
        items.append(DriftItem("", "drift", "app network missing", f"network {net}", "absent"))
    skip = desired.held | desired.idle_apps()
    for app in sorted(desired.apps, key=lambda a: a.path):
        if not app.service or app.path in skip:
            continue
        c = current_container(observed.containers, app.path, app.version)
        if c is not None and c.state == "running" and net not in dict(c.networks):
            items.append(DriftItem(app.path, "drift", "container not on the app network",
                                   f"on {net} as {app.alias}", f"{c.name} not attached"))
    return items


def drift_items(
    desired: DesiredState, observed: ObservedState, recorded: RecordedState,
    health: dict[str, str], unit: str = "container",
) -> list[DriftItem]:
    """`unit` names what runs an app: "container" (one engine) or "service" (a cluster)."""
    items: list[DriftItem] = _network_items(desired, observed)
    tags = observed.image_tags()
    idle = desired.idle_apps()
    for app in sorted(desired.apps, key=lambda a: a.path):
        rec = recorded.get(app.path)
        mine = [c for c in observed.containers if c.app == app.path]
        if rec is not None and rec.image not in tags and rec.image == app.image:
            items.append(DriftItem(app.path, "drift", "image removed", rec.image, "absent"))
        if app.path in idle:  # asleep: stopped (or not started) is what it should be
            continue
        if not app.service:
            for c in mine:
                items.append(DriftItem(app.path, "pending", "service of a command app",
                                       "no container", f"{c.name} {c.state}"))
            continue
        if app.path in recorded.stopped:  # no container is the declared state
            for c in mine:
                items.append(DriftItem(app.path, "pending", STOPPED_BY_USER, "no container",
                                       f"{c.name} {c.state}"))
            continue
        if rec is None:
            items.append(DriftItem(app.path, "pending", "not applied yet",
                                   f"version {app.version[:12]}", "nothing recorded"))
        elif rec.version != app.version:
            items.append(_pending_change(app, rec))
        if rec is None:
            continue
        by_id = {c.id: c for c in mine}
        cur = by_id.get(rec.container_id)
        if cur is None:
            others = [o for o in mine if o.state == "running"]
            if others:
                items.append(DriftItem(app.path, "drift", f"{unit} replaced outside ace",
                                       rec.container_id[:12], others[0].id[:12]))
            else:
                items.append(DriftItem(app.path, "drift", f"{unit} gone",
                                       f"{rec.container_id[:12]} running", "absent"))
            continue
        if cur.replicas:
            items += cluster_drift(app, cur, rec.version != app.version)
        if cur.state != "running":
            items.append(DriftItem(app.path, "drift", "container stopped", "running",
                                   cur.status or cur.state))
        elif health.get(app.path, "healthy") != "healthy":
            items.append(DriftItem(app.path, "drift", "container unhealthy",
                                   f"200 from {app.health}", health[app.path]))
    wanted = {a.path for a in desired.apps} | desired.held
    for c in sorted(observed.containers, key=lambda c: c.app):
        if c.app not in wanted and desired.prune:  # a broken apps file removes nothing
            items.append(DriftItem(c.app, "pending", "app removed from apps file",
                                   "no container", f"{c.name} {c.state}"))
    return items
