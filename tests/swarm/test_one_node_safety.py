"""The swarm backend on a one-node Swarm with its registry (started once for this module), where
main's safety and lifecycle rules meet a cluster: an image a service runs is never removed
(ImageInUse) and removing one takes only the manager's local tags, never the registry's copy;
old images are collected after replaces; objects that are not fully ace's are refused
(NotManaged) — a forged service is skipped by `ace down`, a secret added by hand is left, a
secret under ace's name made by someone else is never handed to a task; and `ace stop` /
`ace start` with `--backend swarm`."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path

import docker.errors
import pytest
from typer.testing import CliRunner

from reconciler.cli.app import app as cli_app
from reconciler.core.desired import slug
from reconciler.core.types import LABEL_APP, LABEL_INSTALL, LABEL_MANAGED, LABEL_VERSION
from reconciler.driver.ports import ImageInUse, NotManaged, VolumeMount
from reconciler.driver.swarm import SwarmEngine
from reconciler.driver.swarm.registry import Registry
from reconciler.driver.swarm.spec import secret_name
from tests.swarm.cluster import Cluster, cluster_up
from tests.swarm.kit import SwarmProject, get, wait_until

pytestmark = pytest.mark.engine

HTTPD = ["httpd", "-f", "-p", "8080", "-h", "/"]
HELLO = 'app("/hello", "./hello")'
WEB = 'app("/web", "./web")'


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    with cluster_up(1, tmp_path_factory.mktemp("c1s")) as c:
        yield c


@pytest.fixture
def eng(cluster: Cluster) -> Iterator[tuple[SwarmEngine, str]]:
    """The engine (with the registry) and a fresh installation id; its services go after."""
    e = SwarmEngine(cluster.manager, timeout=30, registry=cluster.registry)
    install = f"acetest-{uuid.uuid4().hex[:10]}"
    yield e, install
    with cluster.client() as c:
        for s in c.api.services(filters={"label": f"{LABEL_INSTALL}={install}"}):
            c.api.remove_service(s["ID"])
    e.close()


def own(install: str, app: str = "/web") -> dict[str, str]:
    return {LABEL_MANAGED: "1", LABEL_INSTALL: install, LABEL_APP: app, LABEL_VERSION: "v1"}


def local_tags(cluster: Cluster, install: str) -> list[str]:
    """Tags on the manager naming this installation's repositories (ace's or the registry's)."""
    with cluster.client() as c:
        return sorted(t for i in c.images.list() for t in i.tags if f"ace-{install}/" in t)


def test_image_a_service_runs_is_kept_and_removal_is_local(
        eng: tuple[SwarmEngine, str], cluster: Cluster, tmp_path: Path) -> None:
    """remove_image refuses (ImageInUse, naming it) while a service runs the image or a
    container made by hand on the manager uses it; then it removes ace's tag and the
    registry-named tag the push made on the manager (waiting for the removed service's task
    container to go), while the registry keeps the image; an image without ace's label:
    NotManaged."""
    e, install = eng
    (tmp_path / "Containerfile").write_text(f"FROM busybox\nCMD {json.dumps(HTTPD)}\n")
    tag = f"ace-{install}/web:v1"
    e.build(context_dir=str(tmp_path), containerfile=str(tmp_path / "Containerfile"), tag=tag,
            build_args={}, labels=own(install))
    pushed = f"{cluster.registry}/{tag}"
    assert local_tags(cluster, install) == sorted([tag, pushed])
    s = e.run_container(name=f"{install}-web", image=tag, port=8080, command=HTTPD, env={},
                        mounts=[], labels=own(install))
    with pytest.raises(ImageInUse, match=f"service {s.name} still runs it"):
        e.remove_image(tag)
    assert local_tags(cluster, install) == sorted([tag, pushed])
    e.stop_and_remove(s.id)
    with cluster.client() as c:
        by_hand = c.containers.create(tag, ["true"], name=f"{install}-by-hand")
        try:
            with pytest.raises(ImageInUse, match=f"container {install}-by-hand on the manager"):
                e.remove_image(tag)
        finally:
            by_hand.remove(force=True)
    assert local_tags(cluster, install) == sorted([tag, pushed])
    e.remove_image(tag)  # waits for the removed service's task container to go
    assert local_tags(cluster, install) == []
    assert Registry(cluster.registry).digest(tag) is not None
    with cluster.client() as c:
        c.images.get("busybox:latest").tag(f"ace-{install}/forged", "1")
        try:
            with pytest.raises(NotManaged, match="not managed by ace"):
                e.remove_image(f"ace-{install}/forged:1")
        finally:
            c.images.remove(f"ace-{install}/forged:1")


def test_old_images_are_collected_after_replaces(project: SwarmProject) -> None:
    """Three builds of an app (each a replace) leave the manager with the last two versions'
    tags (ace's and the registry-named one each); the first version stays in the registry."""
    project.web("v0")
    project.apps(WEB)
    tags = []
    for n in range(3):
        project.write("web/index.html", f"v{n}\n")
        doc = project.ace_json("reconcile")
        tags.append(next(s["target"] for s in doc["steps"] if s["action"] == "build"))
    reg = project.cluster.registry
    assert local_tags(project.cluster, project.install) == sorted(
        [*tags[1:], *(f"{reg}/{t}" for t in tags[1:])])
    assert Registry(reg).digest(tags[0]) is not None
    assert get(project.row("/web")["url"] + "/") == (200, "v2\n")


def test_down_skips_a_forged_service_and_leaves_a_secret_added_by_hand(
        project: SwarmProject) -> None:
    """A service with this installation's label but not the managed one is skipped by
    `ace down` with a warning (exit 0); ace's service goes, but a secret someone added to it
    by hand stays."""
    project.hello()
    project.apps(HELLO)
    project.ace("reconcile")
    (svc,) = project.services()
    foreign = f"foreign-{uuid.uuid4().hex[:8]}"
    with project.cluster.client() as c:
        sid = c.api.create_secret(foreign, b"theirs")["ID"]
        forged = c.api.create_service(
            {"ContainerSpec": {"Image": "busybox:latest", "Args": ["sleep", "300"]}},
            name=f"{project.install}-forged",
            labels={LABEL_INSTALL: project.install, LABEL_APP: "/hello"})["ID"]
        try:
            project.cluster.docker("service", "update", "--detach", "--secret-add", foreign,
                                   svc["Spec"]["Name"])
            res = CliRunner().invoke(cli_app, ["down", "-f", str(project.apps_file)],
                                     env=project.cluster.ace_env())
            assert res.exit_code == 0, res.output
            assert (f"skipped service {project.install}-forged (/hello): refusing to remove"
                    in res.stderr)
            assert f"removed service {svc['Spec']['Name']} (/hello)" in res.stdout
            assert [s["ID"] for s in project.services()] == [forged]
            assert c.api.inspect_secret(sid)["Spec"]["Name"] == foreign
        finally:
            c.api.remove_service(forged)
            wait_until(lambda: _secret_gone(c, sid), 60, "the foreign secret removed")


def _secret_gone(c: docker.DockerClient, sid: str) -> bool:
    """Remove the secret; False while a task still being removed uses it."""
    try:
        c.api.remove_secret(sid)
    except docker.errors.NotFound:
        return True
    except docker.errors.APIError:
        return False
    return True


def test_secret_under_aces_name_not_fully_aces_is_refused(
        eng: tuple[SwarmEngine, str], cluster: Cluster, tmp_path: Path) -> None:
    """A secret already there under the name ace would give a secret file, but made by someone
    else (no managed label) or labelled for another installation, is never handed to a task:
    NotManaged, and no service is created."""
    e, install = eng
    src = tmp_path / "token"
    src.write_bytes(b"s3cret\n")
    name = secret_name(install, slug("/web"), src.read_bytes())
    mount = VolumeMount("bind", str(src), "/run/secrets/token", read_only=True, secret=True)
    with cluster.client() as c:
        for labels, why in (({}, "not managed by ace"),
                            ({LABEL_MANAGED: "1", LABEL_INSTALL: "another"},
                             "not this installation")):
            sid = c.api.create_secret(name, b"s3cret\n", labels=labels)["ID"]
            try:
                with pytest.raises(NotManaged, match=why):
                    e.run_container(name=f"{install}-web", image="busybox:latest", port=8080,
                                    command=HTTPD, env={}, mounts=[mount], labels=own(install))
                assert e.list_containers(install) == ()
            finally:
                c.api.remove_secret(sid)


def test_stop_and_start_on_the_cluster(project: SwarmProject) -> None:
    """`ace stop` (with --backend swarm from the environment) removes the app's service and a
    reconcile leaves it stopped; `ace start` brings a service back that answers."""
    project.hello()
    project.apps(HELLO)
    project.ace("reconcile")
    project.ace("stop", "/hello")
    assert project.services() == []
    assert project.ace("reconcile") == (0, "")
    assert project.services() == [] and project.row("/hello")["state"] == "stopped"
    project.ace("start", "/hello")
    assert len(project.services()) == 1
    assert get(project.row("/hello")["url"] + "/") == (200, "hi\n")
