"""Old images, collected by the plan: pure, like the planner.

After a build or a replace of an app, the images ace built for that app beyond its last `keep`
versions are removed: `remove_image` steps that depend on every other step of the app, so they
run only once the new version serves. Only images of this installation (its label and its
tag) are candidates; the desired image counts as the newest version; "newest" is when the
state database recorded the build; an image a remaining container was created from (by tag
or id) is never collected.

`gc_apps` says which apps a plan makes collectable (so the pass lists their images only
then: a no-op pass lists none); `collect_images` adds the steps.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

from reconciler.core.desired import Naming
from reconciler.core.types import DesiredState, ObservedImage, ObservedState, Plan, Step

if TYPE_CHECKING:
    from state.runs import ImageRecord

__all__ = ["DEFAULT_KEEP_IMAGES", "collect_images", "gc_apps"]

DEFAULT_KEEP_IMAGES = 2
_GONE_AFTER = ("replace", "remove", "stop")  # steps whose target container is gone after them


def gc_apps(plan: Plan, desired: DesiredState, keep: int) -> tuple[str, ...]:
    """Declared apps with a build or replace step in `plan` (none when `keep` is 0)."""
    if keep <= 0:
        return ()
    paths = {a.path for a in desired.apps}
    return tuple(sorted({s.app for s in plan.steps
                         if s.action in ("build", "replace") and s.app in paths}))


def collect_images(
    plan: Plan, desired: DesiredState, observed: ObservedState, images: Sequence[ObservedImage],
    records: Mapping[str, Sequence[ImageRecord]], naming: Naming, keep: int,
) -> Plan:
    """`plan` plus a `remove_image` step per tag of each collectable app's images older than
    its last `keep` versions. `images`: the listing of those apps' image repositories;
    `records`: the store's images of each app."""
    apps = gc_apps(plan, desired, keep)
    if not apps:
        return plan
    gone = {s.target for s in plan.steps if s.action in _GONE_AFTER}
    in_use = {c.image for c in observed.containers if c.name not in gone}
    wanted = {a.path: a.image for a in desired.apps}
    extra: list[Step] = []
    for app in apps:
        repo = naming.image_repo(app)
        built_at = {r.tag: r.created_at for r in records.get(app, ())}
        mine = [img for img in images if img.app == app and img.install == naming.install
                and any(t.startswith(f"{repo}:") for t in img.tags)]
        current = [img for img in mine if wanted[app] in img.tags]
        older = sorted((img for img in mine if img not in current),
                       key=lambda i: (max((built_at.get(t, 0.0) for t in i.tags), default=0.0),
                                      i.tags), reverse=True)
        after = tuple(s.id for s in plan.steps if s.app == app)
        for img in older[max(0, keep - 1):]:
            if in_use & {img.id, *img.tags}:
                continue
            extra += [Step(f"remove_image:{app}:{t}", "remove_image", app, t,
                           f"older than the last {keep} versions", after)
                      for t in sorted(img.tags) if t.startswith(f"{repo}:")]
    return Plan(plan.steps + tuple(extra), plan.noops)
