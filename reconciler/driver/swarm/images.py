"""ace's images on a cluster: which references are ace's builds, which services run an image (a
service pins ace's images to `REGISTRY/TAG@DIGEST`, or runs `TAG` itself without a registry),
and removing an image — the manager's local tags only, never the registry's copy."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any

from reconciler.driver.ports import ImageInUse
from reconciler.driver.swarm.spec import LABEL_IMAGE

if TYPE_CHECKING:
    from reconciler.driver.swarm.engine import SwarmEngine

__all__ = ["LINGER", "is_ace_image", "is_tagged", "remove_manager_tags", "services_using"]

_ACE_IMAGE = re.compile(r"^ace-[^/:]+/")  # Naming.image_tag: what ace builds
_SERVICE_ID = "com.docker.swarm.service.id"  # the label a task's container carries
LINGER = 10.0  # seconds a removal waits for task containers of removed services to go


def is_ace_image(ref: str) -> bool:
    return bool(_ACE_IMAGE.match(ref))


def is_tagged(ref: str) -> bool:
    """Whether `ref` names one tag (`repo:tag`), not a whole repository (`repo`)."""
    return ":" in ref.rpartition("/")[2]


def services_using(services: Iterable[Mapping[str, Any]], ref: str, pushed: str = ""
                   ) -> tuple[str, ...]:
    """Names of the services (any, ace's or not, jobs included) whose tasks run `ref`, or
    `pushed` (its name in the registry), whatever digest they are pinned to."""
    names = {ref, pushed} - {""}
    out = []
    for s in services:
        spec = s.get("Spec") or {}
        image = str(((spec.get("TaskTemplate") or {}).get("ContainerSpec") or {}).get("Image")
                    or "")
        if image.partition("@")[0] in names or (spec.get("Labels") or {}).get(LABEL_IMAGE) == ref:
            out.append(str(spec.get("Name") or s.get("ID") or ""))
    return tuple(sorted(out))


def remove_manager_tags(engine: SwarmEngine, ref: str, *, linger: float = LINGER,
                        sleep: Callable[[float], None] = time.sleep) -> None:
    """Remove the manager's tag `ref` and the registry-named tag a push made of it. ImageInUse
    while a service runs it, or a container on the manager does: one of a removed service
    (which the cluster stops a few seconds after the removal) is waited for up to `linger`
    seconds, any other refuses at once. NotManaged when the image lacks ace's label."""
    pushed = engine.registry.ref(ref) if engine.registry is not None and is_ace_image(ref) else ""
    services = engine._read("/services", "list services")
    users = services_using(services, ref, pushed)
    if users:
        raise ImageInUse(f"remove image {ref}: service {', '.join(users)} still runs it")
    live = {str(s.get("ID")) for s in services}
    deadline = time.monotonic() + linger
    query = {"all": "1", "filters": json.dumps({"ancestor": [ref]})}
    while rows := engine._read("/containers/json", f"list containers of image {ref}", query):
        of = [str((r.get("Labels") or {}).get(_SERVICE_ID) or "") for r in rows]
        leaving = all(sid and sid not in live for sid in of)
        if not leaving or time.monotonic() >= deadline:
            names = ", ".join(sorted(str((r.get("Names") or ["?"])[0]).lstrip("/")
                                     for r in rows))
            why = " (tasks of a removed service, still stopping)" if leaving else ""
            raise ImageInUse(f"remove image {ref}: container {names} on the manager uses "
                             f"it{why}")
        sleep(0.25)
    if pushed:
        engine.local.remove_image(pushed)
    engine.local.remove_image(ref)
