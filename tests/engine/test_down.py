"""`ace down` against the real engine when objects carry ace's labels only in part: it skips
them with a warning, removes everything of its own, and exits 0."""

from __future__ import annotations

from pathlib import Path

import docker
import pytest
from typer.testing import CliRunner

from reconciler.cli.app import app as cli_app
from reconciler.core.types import LABEL_APP, LABEL_INPUTS, LABEL_INSTALL, LABEL_MANAGED
from tests.engine.appkit import Project

pytestmark = pytest.mark.engine

WEB = 'app("/web", "./web")'


def test_down_skips_forged_objects_and_removes_its_own(
    project: Project, docker_client: docker.DockerClient, tmp_path: Path
) -> None:
    """A container with this installation's label but not the managed one, and an image tagged
    as this installation's but labelled for another: `ace down --images` warns about both,
    leaves them, removes ace's container and image, and exits 0."""
    project.web_app()
    project.apps(WEB)
    project.ace("reconcile")
    install = project.install
    (c,) = project.containers("/web")
    image = c.attrs["Config"]["Image"]
    forged = docker_client.containers.run(
        "busybox:latest", ["sleep", "300"], name=f"{install}-forged", detach=True, init=True,
        labels={LABEL_INSTALL: install, LABEL_APP: "/web"})
    ctx = tmp_path / "forged"
    ctx.mkdir()
    (ctx / "Containerfile").write_text("FROM busybox\n")
    tag = f"ace-{install}/web:forged"
    docker_client.images.build(  # rm: the builder's step containers carry these labels too
        path=str(ctx), dockerfile="Containerfile", tag=tag, rm=True, forcerm=True, labels={
            LABEL_MANAGED: "1", LABEL_INSTALL: "another", LABEL_APP: "/web", LABEL_INPUTS: "x"})
    try:
        res = CliRunner().invoke(cli_app, ["down", "--images", "-f", str(project.apps_file)])
        assert res.exit_code == 0, res.output
        assert f"skipped container {install}-forged (/web): refusing to remove" in res.stderr
        assert f"skipped image {tag}: labelled dev.ace.install=another" in res.stderr
        assert f"removed container {c.name}" in res.stdout and f"removed image {image}" in \
            res.stdout
        assert [x.id for x in project.containers()] == [forged.id]
        assert docker_client.images.get(tag).tags == [tag]
        with pytest.raises(docker.errors.ImageNotFound):
            docker_client.images.get(image)
    finally:
        forged.remove(force=True)
        docker_client.images.remove(tag, force=True)
