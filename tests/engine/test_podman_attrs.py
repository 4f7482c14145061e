"""Podman's API answers read as Docker's (reconciler/driver/podman.py), and which container
addresses the host reaches (hostnet.py): pure, no engine needed."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from reconciler.core.types import ObservedContainer
from reconciler.driver.attrs import container_from_inspect, container_from_listing
from reconciler.driver.hostnet import connected_networks, engine_networks, only_reachable
from reconciler.driver.podman import (
    container_inspect_as_docker,
    containers_as_docker,
    exec_failure,
    familiar,
    ignored_limits,
    images_as_docker,
    is_podman_version,
)
from reconciler.driver.sdkerrors import gone

BUSYBOX_ID = "sha256:b0"
WEB_ID = "sha256:w1"
IMAGES: list[dict[str, Any]] = [
    {"Id": BUSYBOX_ID, "RepoTags": ["docker.io/library/busybox:latest"],
     "RepoDigests": ["docker.io/library/busybox@sha256:d1"]},
    {"Id": WEB_ID, "RepoTags": ["docker.io/ace-x/web:h1"], "Labels": {"dev.ace.app": "/web"}},
    {"Id": "sha256:l2", "RepoTags": ["localhost/mine:1"]},
    {"Id": "sha256:n3", "RepoTags": None},
]


@pytest.mark.parametrize(("name", "expected"), [
    ("docker.io/library/busybox:latest", "busybox:latest"),
    ("docker.io/ace-x/web:h1", "ace-x/web:h1"),
    ("localhost/mine:1", "mine:1"),
    ("docker.io/library/org/app:1", "library/org/app:1"),
    ("quay.io/org/app:2", "quay.io/org/app:2"),
    ("localhost:5000/app:3", "localhost:5000/app:3"),
    ("busybox:latest", "busybox:latest"),
    ("sha256:b0", "sha256:b0"),
])
def test_familiar_names(name: str, expected: str) -> None:
    """Docker Hub's and Podman's local qualifiers go; other registries (and ports) stay."""
    assert familiar(name) == expected


def test_podman_is_recognised_by_its_version_answer() -> None:
    """`/version` names Podman among its components; Docker's does not."""
    assert is_podman_version({"Components": [{"Name": "Podman Engine", "Version": "4.3.1"}]})
    assert not is_podman_version({"Components": [{"Name": "Engine", "Version": "20.10"}]})
    assert not is_podman_version({})


def test_image_listing_filtered_client_side_in_dockers_spelling() -> None:
    """Several references select every image carrying one of them (Podman 4.3 would AND
    them); tags read as Docker's, and a reference asked as `localhost/...` is found as such."""
    rows = images_as_docker(IMAGES, ["busybox:latest", "ace-x/web:h1", "absent:1"])
    assert [(r["Id"], r["RepoTags"]) for r in rows] == [
        (BUSYBOX_ID, ["busybox:latest"]), (WEB_ID, ["ace-x/web:h1"])]
    rows = images_as_docker(IMAGES, ["localhost/mine:1"])
    assert [r["RepoTags"] for r in rows] == [["mine:1", "localhost/mine:1"]]
    assert [r["Id"] for r in images_as_docker(IMAGES, ["busybox@sha256:d1"])] == [BUSYBOX_ID]
    assert [r["RepoTags"] for r in images_as_docker(IMAGES)][2:] == [["mine:1"], []]


def test_container_image_name_only_while_it_resolves() -> None:
    """A container shows its image's name while that name still names its image; once the
    name is gone or moved to another image, the image id, as Docker shows it."""
    rows = [
        {"Id": "c1", "Image": "docker.io/ace-x/web:h1", "ImageID": WEB_ID, "State": "running"},
        {"Id": "c2", "Image": "docker.io/ace-x/web:h0", "ImageID": "sha256:old",
         "State": "running"},
        {"Id": "c3", "Image": "docker.io/library/busybox:latest", "ImageID": "sha256:older",
         "State": "running"},
    ]
    calls: list[int] = []

    def listing() -> list[dict[str, Any]]:
        calls.append(1)
        return IMAGES

    fixed = containers_as_docker(rows, listing)
    assert [r["Image"] for r in fixed] == ["ace-x/web:h1", "sha256:old", "sha256:older"]
    assert calls == [1]
    assert containers_as_docker([], listing) == [] and calls == [1]


def test_stopped_containers_show_no_published_ports() -> None:
    """Podman keeps the bindings of a created or exited container; Docker shows none."""
    ports = [{"IP": "127.0.0.1", "PrivatePort": 8080, "PublicPort": 41000, "Type": "tcp"}]
    labels = {"dev.ace.port": "8080"}
    rows = [{"Id": i, "Names": [f"/{i}"], "Labels": labels, "State": s, "Ports": ports,
             "Image": "x", "ImageID": ""} for i, s in (("a", "running"), ("b", "exited"),
                                                       ("c", "created"))]
    seen = [container_from_listing(r) for r in containers_as_docker(rows, lambda: [])]
    assert [c.host_port for c in seen] == [41000, None, None]
    raw = {"Id": "b", "Name": "/b", "Created": "2026-01-02T03:04:05Z",
           "Config": {"Labels": labels, "Image": "docker.io/library/busybox:latest"},
           "State": {"Status": "exited", "ExitCode": 3},
           "NetworkSettings": {"Ports": {"8080/tcp": [{"HostIp": "127.0.0.1",
                                                       "HostPort": "41000"}]}}}
    c = container_from_inspect(container_inspect_as_docker(raw))
    assert (c.host_port, c.image, c.status) == (None, "busybox:latest", "Exited (3)")
    running = {**raw, "State": {"Status": "running"}}
    assert container_from_inspect(container_inspect_as_docker(running)).host_port == 41000


def test_init_exec_failure_reads_like_a_shell() -> None:
    """catatonit's "failed to exec pid1" (exit 1) is 127 naming the command when it is not
    found, 126 when it cannot be run; anything else is left alone."""
    err = "ERROR (catatonit:6): failed to exec pid1: No such file or directory\n"
    assert exec_failure(1, err, ["no-such-tool", "x"]) == (
        127, "no-such-tool: No such file or directory\n")
    denied = "ERROR (catatonit:6): failed to exec pid1: Permission denied\n"
    assert exec_failure(1, denied, ["/etc/passwd"])[0] == 126
    assert exec_failure(1, "plain failure\n", ["sh"]) == (1, "plain failure\n")
    assert exec_failure(2, err, ["x"]) == (2, err)


ROUTES = """Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT
eth0\t00000000\t010200C0\t0003\t0\t0\t0\t00000000\t0\t0\t0
docker0\t000011AC\t00000000\t0001\t0\t0\t0\t0000FFFF\t0\t0\t0
podman0\t0000580A\t00000000\t0001\t0\t0\t0\t0000FFFF\t0\t0\t0
eth0\t000200C0\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0
"""


def test_only_addresses_on_the_hosts_own_networks_are_kept(tmp_path: Path) -> None:
    """A container address on a subnet of the host's interfaces is kept; any other (a rootless
    engine's namespace, an engine in a VM) would leave through the default gateway: dropped."""
    table = tmp_path / "route"
    table.write_text(ROUTES)
    nets = connected_networks(str(table))
    assert [str(n) for n in nets] == ["172.17.0.0/16", "10.88.0.0/16", "192.0.2.0/24"]
    seen = [ObservedContainer(id=i, name=i, app="/a", version="v", state="running",
                              status="Up", host_port=1, address=a)
            for i, a in (("d", "172.17.0.3:8080"), ("p", "10.88.0.7:8080"),
                         ("r", "10.89.1.2:8080"), ("n", ""))]
    assert [c.address for c in only_reachable(seen, nets)] == [
        "172.17.0.3:8080", "10.88.0.7:8080", "", ""]
    assert connected_networks(str(tmp_path / "absent")) == ()


def test_limits_the_engine_did_not_apply_are_named() -> None:
    """cpus or memory asked for but absent from the created container's inspect are named."""
    raw = {"HostConfig": {"NanoCpus": 0, "Memory": 0}}
    assert ignored_limits(raw, 1.0, 64 << 20) == ["cpus", "memory"]
    assert ignored_limits({"HostConfig": {"NanoCpus": 10**9, "Memory": 64 << 20}}, 1.0,
                          64 << 20) == []
    assert ignored_limits(raw, None, None) == []


def test_a_container_removed_while_read_counts_as_gone() -> None:
    """A 404, or Podman's 500 for a container removed while it was read, means gone; another
    server error does not."""
    import docker.errors

    assert gone(docker.errors.NotFound("x"))
    racing = docker.errors.APIError("500", explanation="container c1 does not exist in"
                                    " database: no such container")
    assert gone(racing)
    assert not gone(docker.errors.APIError("500", explanation="disk full"))


def test_a_rootless_engines_containers_have_no_reachable_address(tmp_path: Path) -> None:
    """An engine whose unix socket belongs to a user other than root is rootless: its networks
    live in that user's namespace, so none of its container addresses are used."""
    table = tmp_path / "route"
    table.write_text(ROUTES)
    sock = tmp_path / "podman.sock"
    sock.touch()
    if os.getuid() == 0:  # root's socket: a rootful engine
        assert len(engine_networks(f"unix://{sock}", str(table))) == 3
        os.chown(sock, 1001, 1001)
    assert engine_networks(f"unix://{sock}", str(table)) == ()
    assert len(engine_networks("tcp://127.0.0.1:2375", str(table))) == 3
