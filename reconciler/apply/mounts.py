"""An app's mounts made ready before a container of it runs: rendered secret files written
(0600, under the state dir) and named volumes created with ace's labels. Service containers (the
executor) and `ace run` commands (actions) both mount exactly this."""

from __future__ import annotations

import os

from reconciler.core.types import LABEL_APP, LABEL_INSTALL, LABEL_MANAGED, DesiredApp
from reconciler.driver.ports import Engine, VolumeMount

__all__ = ["app_mounts"]


def app_mounts(engine: Engine, install: str, app: DesiredApp) -> list[VolumeMount]:
    """Write the app's secret files (once: the path names their content) and create its named
    volumes; returns the mounts in the order the app declares them."""
    for host, content in app.secret_files:
        if not os.path.exists(host):
            os.makedirs(os.path.dirname(host), mode=0o700, exist_ok=True)
            fd = os.open(host, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "w") as fh:
                fh.write(content)
    mounts = []
    secret_files = {host for host, _ in app.secret_files}
    for kind, source, target, ro in app.spec.volumes:
        if kind == "volume":
            engine.ensure_volume(source, {LABEL_MANAGED: "1", LABEL_INSTALL: install,
                                          LABEL_APP: app.path})
        mounts.append(VolumeMount(kind, source, target, ro, secret=source in secret_files))
    return mounts
