"""Old images against the real engine: successive builds of an app leave its last two
versions, and an image a container still uses is never removed (reconcile still succeeds)."""

from __future__ import annotations

from typing import Any

import docker
import pytest

from reconciler.core.types import LABEL_INSTALL
from tests.engine.appkit import Project, get

pytestmark = pytest.mark.engine

WEB = 'app("/web", "./web")'


def build(project: Project, page: str) -> dict[str, Any]:
    project.write("web/index.html", page + "\n")
    return dict(project.ace_json("reconcile"))


def built_tag(out: dict[str, Any]) -> str:
    return str(next(s["target"] for s in out["steps"] if s["action"] == "build"))


def images(project: Project, client: docker.DockerClient) -> list[str]:
    found = client.images.list(filters={"label": f"{LABEL_INSTALL}={project.install}"})
    return sorted(t for i in found for t in i.tags)


def test_four_builds_leave_two_images(project: Project,
                                      docker_client: docker.DockerClient) -> None:
    """After each replace, images older than the last 2 versions are removed."""
    project.web_app()
    project.apps(WEB)
    tags = [built_tag(build(project, f"v{n}")) for n in range(4)]
    assert images(project, docker_client) == sorted(tags[2:])
    assert get(project.url("/web")) == (200, "v3\n")


def test_image_a_container_uses_is_kept(project: Project,
                                        docker_client: docker.DockerClient) -> None:
    """A container made by hand from an old version keeps that image through later builds
    (the step says so, reconcile succeeds); once it is gone, the next build collects it."""
    project.web_app()
    project.apps(WEB)
    first = built_tag(build(project, "v0"))
    user = docker_client.containers.run(first, ["sleep", "300"], detach=True)
    try:
        second = built_tag(build(project, "v1"))
        out = build(project, "v2")
        (kept,) = [s for s in out["steps"] if s["action"] == "remove_image"]
        assert (kept["target"], kept["outcome"]) == (first, "done")
        assert kept["message"] == "kept: a container uses it"
        assert first in images(project, docker_client)
    finally:
        user.remove(force=True)
    out = build(project, "v3")
    assert sorted(s["target"] for s in out["steps"] if s["action"] == "remove_image") == sorted(
        [first, second])
    assert len(images(project, docker_client)) == 2
