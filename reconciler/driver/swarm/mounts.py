"""An app's mounts on a cluster: named volumes (made by each node, with ace's labels), secret
files as Swarm secrets (one per content: a changed file is a new secret, so every version keeps
its own), and bind mounts only on a one-node swarm."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from apps.errors import EngineError
from reconciler.core.desired import slug
from reconciler.core.types import LABEL_APP, LABEL_INSTALL, LABEL_MANAGED
from reconciler.driver.policy import own_labels, require_managed
from reconciler.driver.ports import NotManaged, VolumeMount
from reconciler.driver.sdkerrors import translated
from reconciler.driver.swarm.spec import secret_name

if TYPE_CHECKING:
    from reconciler.driver.swarm.engine import SwarmEngine

__all__ = ["swarm_mounts"]


def swarm_mounts(engine: SwarmEngine, mounts: Sequence[VolumeMount], labels: Mapping[str, str],
                 *, multi_node: bool) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(mounts, secret references) of a task; secrets are created when missing."""
    own = {k: labels[k] for k in (LABEL_MANAGED, LABEL_INSTALL, LABEL_APP) if k in labels}
    app = labels.get(LABEL_APP, "")
    vols: list[dict[str, Any]] = []
    secrets: list[dict[str, Any]] = []
    for m in mounts:
        if m.secret:
            secrets.append(_secret(engine, m, own))
        elif m.kind == "volume":
            vols.append({"Type": "volume", "Source": m.source, "Target": m.target,
                         "ReadOnly": m.read_only, "VolumeOptions": {"Labels": own}})
        elif m.kind == "bind":
            if multi_node:
                raise EngineError(
                    f"app {app}: bind mount {m.source}:{m.target} refused on a multi-node swarm: "
                    "a bind mount names a directory of one machine, and this app's tasks run on "
                    "any node; use a named volume (local to each node) instead")
            vols.append({"Type": "bind", "Source": m.source, "Target": m.target,
                         "ReadOnly": m.read_only})
        else:
            raise EngineError(f"unknown mount kind {m.kind!r} for {m.target}")
    return vols, secrets


def _secret(engine: SwarmEngine, m: VolumeMount, own: Mapping[str, str]) -> dict[str, Any]:
    try:
        with open(m.source, "rb") as fh:
            content = fh.read()
    except OSError as exc:
        raise EngineError(f"secret file {m.target}: cannot read {m.source}: {exc}") from exc
    name = secret_name(own.get(LABEL_INSTALL, ""), slug(own.get(LABEL_APP, "")), content)
    with translated(f"create secret {name}"):
        found = engine.api.secrets(filters={"name": name})
        match = [s for s in found if s["Spec"]["Name"] == name]
        if match:
            _require_ours(match[0], name, own.get(LABEL_INSTALL, ""))
            sid = match[0]["ID"]
        else:
            sid = engine.api.create_secret(name, content,
                                           labels=own_labels(dict(own), f"secret {name}", {}))
            sid = sid["ID"] if isinstance(sid, dict) else sid
    return {"SecretID": sid, "SecretName": name,
            "File": {"Name": m.target, "UID": "0", "GID": "0", "Mode": 0o444}}


def _require_ours(secret: dict[str, Any], name: str, install: str) -> None:
    """Refuse (NotManaged) to hand a task a secret of ace's name that is not fully ace's: no
    managed mark, or another installation's label."""
    labels = (secret.get("Spec") or {}).get("Labels") or {}
    require_managed(labels, f"secret {name}", "use")
    if labels.get(LABEL_INSTALL) != install:
        raise NotManaged(f"refusing to use secret {name}: labelled {LABEL_INSTALL}="
                         f"{labels.get(LABEL_INSTALL) or '(none)'}, not this installation "
                         f"({install}); remove it (docker secret rm {name}) if it is not needed")
