"""Evaluated apps to desired state: image references, volumes, health path."""

from __future__ import annotations

from apps.model import App, AppEntry, ContainerConfig, Route, Volume
from reconciler.core.desired import Naming, desired_app, slug
from reconciler.core.hashing import DigestCache

NAMING = Naming("inst", "/state")


def _app(path: str, *, strip_app: bool = True, health: str = "/",
         volumes: tuple[Volume, ...] = ()) -> App:
    cfg = ContainerConfig(kind="image", image="busybox", source_dir="", containerfile="",
                          build_dir="", port=8080, health=health, volumes=volumes)
    return App(AppEntry(path, "-"), "x", (), routes=(Route("/", "<CONTAINER_URL>",
                                                           strip_app=strip_app),),
               container=cfg)


def _health(app: App) -> str:
    d = desired_app(app, NAMING, DigestCache())
    assert d is not None
    return d.health


def test_health_path_keeps_the_app_prefix_without_strip_app() -> None:
    """Behind strip_app=False the container sees /full/...: its health check does too."""
    assert _health(_app("/full", strip_app=False)) == "/full/"
    assert _health(_app("/full", strip_app=False, health="/ping")) == "/full/ping"
    assert _health(_app("/full")) == "/"
    assert _health(_app("/", strip_app=False)) == "/"


def test_image_refs_and_volume_names() -> None:
    """A bare image gets :latest; app-scoped volumes are named per installation and app."""
    d = desired_app(_app("/a/b", volumes=(Volume("volume", "", "/data"),
                                          Volume("volume", "cache", "/c", True))),
                    NAMING, DigestCache())
    assert d is not None and d.image == "busybox:latest"
    assert d.spec.volumes == (("volume", "ace-inst-a-b-data", "/data", False),
                              ("volume", "ace-inst-a-b-cache", "/c", True))
    assert slug("/") == "root" and slug("/A/b_c") == "a-b-c"
