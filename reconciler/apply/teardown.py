"""`ace down`: remove what this installation created (containers, and the app network once no
container is left; images and volumes on request). Only objects carrying this installation's
labels are listed, and the engine refuses any whose labels are only partly ace's (NotManaged):
those are skipped with a warning, and everything else that is ace's is still removed."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import partial

from apps.errors import EngineError
from reconciler.core.desired import Naming, slug
from reconciler.core.types import LABEL_INSTALL
from reconciler.driver.ports import Engine, NotManaged
from reconciler.logs import get_logger
from state import Store

__all__ = ["Teardown", "teardown"]

log = get_logger("ace.down")


@dataclass(frozen=True, slots=True)
class Teardown:
    """What `ace down` did: a line per removed object, per object it would not touch (its
    labels are not all ace's), and per object of its own it failed to remove."""

    removed: tuple[str, ...] = ()
    skipped: tuple[str, ...] = ()
    failed: tuple[str, ...] = ()


class _Tally:
    def __init__(self) -> None:
        self.removed: list[str] = []
        self.skipped: list[str] = []
        self.failed: list[str] = []

    def attempt(self, what: str, remove: Callable[[], object]) -> bool:
        """Run `remove`; a refusal is skipped, another failure noted (an engine that does not
        answer stops the whole teardown); `remove` returning False removed nothing (there was
        nothing to remove)."""
        try:
            if remove() is False:
                return False
        except NotManaged as exc:
            self.skip(what, str(exc))
            return False
        except EngineError as exc:
            if exc.retryable:
                raise
            self.failed.append(f"{what}: {exc}")
            log.warning("down_failed", object=what, error=str(exc))
            return False
        self.removed.append(what)
        log.info("down_removed", object=what)
        return True

    def skip(self, what: str, why: str) -> None:
        self.skipped.append(f"{what}: {why}")
        log.warning("down_skipped", object=what, reason=why)

    def result(self) -> Teardown:
        return Teardown(tuple(self.removed), tuple(self.skipped), tuple(self.failed))


def teardown(
    engine: Engine, store: Store, *, apps: tuple[str, ...] = (), images: bool = False,
    volumes: bool = False, unit: str = "container",
) -> Teardown:
    """Remove containers of `apps` (all when empty), and their images / named volumes.
    `unit` names them in the lines: "container" (one engine) or "service" (a cluster)."""
    wanted = set(apps)
    install = store.install_id
    tally = _Tally()
    seen_apps: set[str] = set()
    for c in engine.list_containers(install):
        if wanted and c.app not in wanted:
            continue
        if tally.attempt(f"{unit} {c.name} ({c.app})",
                         partial(engine.stop_and_remove, c.id)):
            store.forget_container(c.id)
            seen_apps.add(c.app)
    for app in seen_apps | wanted:
        store.forget_app(app, images=images)
    network = Naming(install, "").network
    if not engine.list_containers(install):  # the app network goes once nothing is left
        tally.attempt(f"network {network}", partial(engine.remove_network, network))
    if images:
        prefix = f"ace-{install}/"
        for img in engine.list_images():
            mine = [t for t in img.tags if t.startswith(prefix)]
            if not img.app or not (mine or img.install == install):
                continue  # neither tagged nor labelled as this installation's
            if wanted and img.app not in wanted:
                continue
            if img.install != install:
                tally.skip(f"image {', '.join(mine)}", f"labelled {LABEL_INSTALL}="
                           f"{img.install or '(none)'}, not this installation ({install})")
                continue
            for tag in mine:
                tally.attempt(f"image {tag}", partial(engine.remove_image, tag))
    if volumes:
        prefixes = tuple(f"ace-{install}-{slug(a)}-" for a in wanted) or (f"ace-{install}-",)
        for name in engine.list_volumes(install):
            if name.startswith(prefixes):
                tally.attempt(f"volume {name}", partial(engine.remove_volume, name))
    return tally.result()
