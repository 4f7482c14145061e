"""The service spec ace asks of a cluster (pure): dev mode's entrypoint and working directory
are the ContainerSpec's Command and Dir, part of the fingerprint that tells a service changed
by hand."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from reconciler.core.types import LABEL_APP, LABEL_INSTALL, LABEL_MANAGED, LABEL_VERSION
from reconciler.driver.swarm.spec import LABEL_TEMPLATE, fingerprint, service_spec

LABELS = {LABEL_MANAGED: "1", LABEL_INSTALL: "t", LABEL_APP: "/web", LABEL_VERSION: "v1"}


def spec(entrypoint: Sequence[str] = (), workdir: str = "") -> dict[str, Any]:
    return service_spec(name="s", image="busybox", port=8080, replicas=1,
                        command=["python app.py"], env={}, labels=LABELS,
                        entrypoint=entrypoint, workdir=workdir)


def with_container(s: dict[str, Any], **changes: Any) -> dict[str, Any]:
    """`s` with its ContainerSpec changed, as someone might by hand."""
    tt = s["TaskTemplate"]
    return {**s, "TaskTemplate": {**tt, "ContainerSpec": {**tt["ContainerSpec"], **changes}}}


def test_entrypoint_and_workdir_are_command_and_dir() -> None:
    """`entrypoint` becomes Command (the command its Args) and `workdir` Dir; without them
    the image's entrypoint and working directory stay (neither key is set)."""
    cs = spec(("sh", "-c"), "/app")["TaskTemplate"]["ContainerSpec"]
    assert (cs["Command"], cs["Args"], cs["Dir"]) == (["sh", "-c"], ["python app.py"], "/app")
    plain = spec()["TaskTemplate"]["ContainerSpec"]
    assert "Command" not in plain and "Dir" not in plain


def test_entrypoint_and_workdir_are_in_the_fingerprint() -> None:
    """A service whose Command or Dir was changed by hand no longer matches ace's label."""
    dev = spec(("sh", "-c"), "/app")
    label = dev["Labels"][LABEL_TEMPLATE]
    assert fingerprint(dev) == label
    assert fingerprint(with_container(dev, Command=["bash", "-c"])) != label
    assert fingerprint(with_container(dev, Dir="/srv")) != label
