"""Evaluated apps to desired state: image references, volumes, health path."""

from __future__ import annotations

import os
import socket
from pathlib import Path

from apps.model import App, AppEntry, ContainerConfig, DevSettings, Route, Volume
from reconciler.core.desired import Naming, desired_app, slug, special_file_warnings
from reconciler.core.hashing import DigestCache, spec_json, version_of
from reconciler.core.types import DesiredState
from tests.apps.helpers import evaluate_files, only_app

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


def _dev_app(src: Path, *, env_files: tuple[str, ...] = ("requirements.txt",),
             volumes: tuple[Volume, ...] = ()) -> App:
    cf = src / "Containerfile"
    cfg = ContainerConfig(kind="build", image="", source_dir=str(src), containerfile=str(cf),
                          build_dir=str(src), port=8080, volumes=volumes,
                          dev=DevSettings(target="dev", dir="/app", command="python app.py",
                                          reload="restart", env_files=env_files,
                                          additional_mounts=(("venv", "/app/.venv"),)))
    return App(AppEntry("/dev", str(src)), "x", (), container=cfg)


def _dev_src(tmp_path: Path) -> Path:
    src = tmp_path / "src"
    src.mkdir()
    (src / "Containerfile").write_text("FROM busybox AS dev\nWORKDIR /app\nFROM dev\n")
    (src / "app.py").write_text("print(1)\n")
    return src


def test_dev_image_depends_on_env_files_not_sources(tmp_path: Path) -> None:
    """Editing a source file keeps the dev image and version; an env file appearing or
    changing gives a new dev image (and so a new version)."""
    src = _dev_src(tmp_path)

    def desired() -> tuple[str, str]:
        d = desired_app(_dev_app(src), NAMING, DigestCache())
        assert d is not None and d.build is not None and d.build.target == "dev"
        return d.image, d.version

    first = desired()
    assert ":dev-" in first[0]
    (src / "app.py").write_text("print(2)\n")
    (src / "new.py").write_text("x = 1\n")
    assert desired() == first
    (src / "requirements.txt").write_text("flask\n")  # was absent
    second = desired()
    assert second[0] != first[0] and second[1] != first[1]
    (src / "requirements.txt").write_text("flask==3\n")
    assert desired()[0] != second[0]


def test_dev_container_runs_the_command_in_the_mounted_source(tmp_path: Path) -> None:
    """The dev container mounts the source read-write at `dir` (replacing a volume there),
    works in it, runs the command with `sh -c`, and mounts the additional named volumes."""
    src = _dev_src(tmp_path)
    d = desired_app(_dev_app(src, volumes=(Volume("volume", "", "/app"),
                                           Volume("volume", "", "/data"))), NAMING,
                    DigestCache())
    assert d is not None and (d.mode, d.reload) == ("dev", "restart")
    assert (d.spec.entrypoint, d.spec.command, d.spec.workdir) == (
        ("sh", "-c"), ("python app.py",), "/app")
    assert sorted(d.spec.volumes) == sorted([
        ("volume", NAMING.volume_name("/dev", "/data"), "/data", False),
        ("bind", str(src), "/app", False),
        ("volume", NAMING.volume_name("/dev", "venv"), "/app/.venv", False)])


SECRET_APP = {
    "params.star": 'param("token", default="")\nparam("count", default="1")\n',
    "app.star": (
        'load("container.in", "container")\n'
        'app = ace.app("s", container=container.config("image:busybox", port=8080),\n'
        '    permissions=[ace.permission("container.in", "config", ["image:busybox"],\n'
        '                                secrets=[["API_TOKEN"]])])\n'
    ),
}
# The version of SECRET_APP as ace computed it before secret-derived env names were kept: the
# names are metadata beside the spec, so versions of running containers do not change.
PINNED_SECRET_APP_VERSION = "ec36e00b01ca27c5a57122f1f3700be050996ccecb29a233d4a063f4a9d56acd"


def test_secret_env_names_are_kept_outside_the_version(tmp_path: Path) -> None:
    """Env params holding a {{secret}} are named in secret_env; spec JSON and version are
    exactly what they were before (pinned), so no container is replaced."""
    result = evaluate_files(
        tmp_path, SECRET_APP,
        'app("/s", "src", params={"token": "{{secret \\"API_TOKEN\\"}}", "count": "2"})\n',
        environ={"API_TOKEN": "s3cret"},
    )
    d = desired_app(only_app(result), NAMING, DigestCache())
    assert d is not None
    assert d.secret_env == frozenset({"token"})
    assert ("token", "s3cret") in d.spec.env
    assert d.spec_json == spec_json(d.spec) and "secret_env" not in d.spec_json
    assert d.version == version_of(d.spec) == PINNED_SECRET_APP_VERSION


def test_dev_app_masks_secret_env_like_normal_apps(tmp_path: Path) -> None:
    """A dev app's secret-derived env names are carried, so plan and drift mask their values."""
    from dataclasses import replace

    src = _dev_src(tmp_path)
    app = _dev_app(src)
    assert app.container is not None
    app = replace(app, container=replace(app.container, secret_env=("TOKEN",)))
    d = desired_app(app, NAMING, DigestCache())
    assert d is not None and d.secret_env == frozenset({"TOKEN"})


def test_dev_app_special_files_are_warned_about(tmp_path: Path) -> None:
    """A FIFO and a socket in a dev app's build dir are one warning each, as for a normal
    build, saying docker sends the FIFO empty to build the dev image."""
    src = _dev_src(tmp_path)
    os.mkfifo(src / "pipe")
    with socket.socket(socket.AF_UNIX) as sock:
        sock.bind(str(src / "app.sock"))
        d = desired_app(_dev_app(src), NAMING, DigestCache())
    assert d is not None and d.mode == "dev"
    warned = special_file_warnings(DesiredState((d,)))
    assert [(w.app, w.file) for w in warned] == [("/dev", str(src / "app.sock")),
                                                 ("/dev", str(src / "pipe"))]
    assert warned[1].message.startswith(
        "fifo pipe in the build context is not read (docker sends it as an empty fifo to "
        "build the dev image)")


def test_dev_app_keeps_network_alias_and_idle_setting(tmp_path: Path) -> None:
    """Dev mode changes the image, build and container spec, nothing else: the app's alias on
    the app network and its own idle-shutdown setting are the same as in normal mode."""
    from dataclasses import replace

    src = _dev_src(tmp_path)
    app = _dev_app(src)
    app = replace(app, entry=replace(app.entry, idle_shutdown=0))
    assert app.container is not None
    dev = desired_app(app, NAMING, DigestCache())
    normal = desired_app(replace(app, container=replace(app.container, dev=None)), NAMING,
                         DigestCache())
    assert dev is not None and normal is not None and dev.mode == "dev"
    assert (dev.alias, dev.idle_shutdown) == (normal.alias, normal.idle_shutdown) == ("dev", 0)
