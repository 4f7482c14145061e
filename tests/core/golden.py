"""Golden text of a plan, and the state a successful apply of it leaves (for idempotence).

One line per step: `<id> <action> <app> <target> (<cause>)`, then ` after <dep>, ...` when the
step depends on others; then one `ok <app> (<reason>)` line per app left alone. Plan.render()
leaves out ids and dependencies, which are what decide skips in the executor.
"""

from __future__ import annotations

import dataclasses

from reconciler.core.types import (
    DesiredState,
    ObservedImage,
    ObservedState,
    Plan,
    RecordedApp,
    RecordedState,
)
from tests.core.builders import ctr, rec

__all__ = ["after_apply", "golden"]


def golden(p: Plan) -> str:
    lines = []
    for s in p.steps:
        after = f" after {', '.join(s.depends_on)}" if s.depends_on else ""
        lines.append(f"{s.id} {s.action} {s.app} {s.target} ({s.cause}){after}")
    lines += [f"ok {n.app} ({n.reason})" for n in p.noops]
    return "\n".join(lines)


def after_apply(desired: DesiredState, observed: ObservedState, recorded: RecordedState,
                p: Plan) -> tuple[ObservedState, RecordedState]:
    """Observed and recorded state after every step of `p` succeeded, recorded the way the
    executor records: a service step records the app, a stop/remove forgets an app that is
    no longer declared or is a command app, a build only adds its image."""
    apps = {a.path: a for a in desired.apps}
    containers = {c.name: c for c in observed.containers}
    tags = set(observed.image_tags())
    records: dict[str, RecordedApp] = {r.path: r for r in recorded.apps}
    clock = max((c.created for c in observed.containers), default=0)
    for s in p.steps:
        app = apps.get(s.app)
        if s.action in ("build", "pull"):
            tags.add(s.target)
        elif s.action in ("start", "replace", "restart"):
            assert app is not None, f"{s.id} acts on an app that is not desired"
            clock += 1
            if s.action == "replace":
                del containers[s.target]
            new = ctr(app, created=clock)
            if s.action == "restart":
                new = dataclasses.replace(containers.pop(s.target), state="running",
                                          status="Up", host_port=new.host_port)
            containers[new.name] = new
            records[app.path] = rec(app, new)
        else:
            del containers[s.target]
            if s.app not in desired.declared or (app is not None and not app.service):
                records.pop(s.app, None)
    images = tuple(ObservedImage(id=f"sha-{t}", tags=(t,)) for t in sorted(tags))
    return (ObservedState(tuple(containers.values()), images),
            RecordedState(tuple(records[k] for k in sorted(records))))
