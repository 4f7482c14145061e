"""The driver's safety rules, shared with the test twin (tests/fakes.py) so the two cannot drift:
ace only touches objects labelled as managed, and creates nothing without its installation
label. No engine calls here."""

from __future__ import annotations

from collections.abc import Mapping

from apps.errors import EngineError
from reconciler.core.types import LABEL_INSTALL, LABEL_MANAGED
from reconciler.driver.ports import NotManaged

__all__ = ["own_labels", "require_install", "require_managed"]


def require_managed(labels: Mapping[str, str], what: str, verb: str) -> None:
    """Refuse to `verb` an object that ace did not create."""
    if labels.get(LABEL_MANAGED) != "1":
        raise NotManaged(
            f"refusing to {verb} {what}: it is not managed by ace (no {LABEL_MANAGED}=1 label)"
        )


def own_labels(labels: Mapping[str, str], what: str, extra: Mapping[str, str]) -> dict[str, str]:
    """The labels to create an object with: the caller's (which must name the installation),
    plus `extra`, plus the managed mark."""
    if not labels.get(LABEL_INSTALL):
        raise EngineError(f"{what}: refusing to create an object without the {LABEL_INSTALL} label")
    return {**extra, **labels, LABEL_MANAGED: "1"}


def require_install(labels: Mapping[str, str], what: str, install: str) -> None:
    """Refuse to use a network (or other shared object) that is not ace's, or that another
    installation made."""
    require_managed(labels, what, "use")
    if labels.get(LABEL_INSTALL) != install:
        raise EngineError(f"{what} belongs to another ace installation "
                          f"({labels.get(LABEL_INSTALL)!r}); remove it or use another state dir")
