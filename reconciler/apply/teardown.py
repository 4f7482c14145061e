"""`ace down`: remove what this installation created (containers, and the app network once no
container is left; images and volumes on request). Only objects carrying this installation's
labels are listed, so nothing else can be touched."""

from __future__ import annotations

from reconciler.core.desired import Naming, slug
from reconciler.driver.ports import Engine
from reconciler.logs import get_logger
from state import Store

__all__ = ["teardown"]

log = get_logger("ace.down")


def teardown(
    engine: Engine, store: Store, *, apps: tuple[str, ...] = (), images: bool = False,
    volumes: bool = False,
) -> list[str]:
    """Remove containers of `apps` (all when empty); returns a line per removed object."""
    wanted = set(apps)
    install = store.install_id
    removed: list[str] = []
    seen_apps: set[str] = set()
    for c in engine.list_containers(install):
        if wanted and c.app not in wanted:
            continue
        engine.stop_and_remove(c.id)
        store.forget_container(c.id)
        seen_apps.add(c.app)
        removed.append(f"container {c.name} ({c.app})")
        log.info("container_removed", app=c.app, container=c.name)
    for app in seen_apps | wanted:
        store.forget_app(app, images=images)
    network = Naming(install, "").network
    if not engine.list_containers(install) and engine.remove_network(network):
        removed.append(f"network {network}")
        log.info("network_removed", network=network)
    if images:
        for img in engine.list_images():
            if not img.app or (wanted and img.app not in wanted):
                continue
            if not any(t.startswith(f"ace-{install}/") for t in img.tags):
                continue
            for tag in img.tags:
                engine.remove_image(tag)
                removed.append(f"image {tag}")
    if volumes:
        prefixes = tuple(f"ace-{install}-{slug(a)}-" for a in wanted) or (f"ace-{install}-",)
        for name in engine.list_volumes(install):
            if name.startswith(prefixes):
                engine.remove_volume(name)
                removed.append(f"volume {name}")
    return removed
