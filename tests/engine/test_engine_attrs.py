"""Engine API dicts to observed values, and BuildKit detection: pure, no engine needed."""

from __future__ import annotations

import pytest

from reconciler.core.types import LABEL_APP, LABEL_INPUTS, LABEL_PORT, LABEL_VERSION
from reconciler.driver.attrs import (
    container_from_inspect,
    container_from_listing,
    image_from_listing,
)
from reconciler.driver.buildkit import needs_buildkit

LABELS = {LABEL_APP: "/web", LABEL_VERSION: "v9", LABEL_PORT: "8080"}


def test_listing_reads_the_loopback_port_of_the_app_port() -> None:
    """The host port is the 127.0.0.1 binding of the labelled container port, never 0.0.0.0."""
    row = {
        "Id": "abc", "Names": ["/ace-web"], "Labels": LABELS, "State": "running",
        "Status": "Up 2 seconds", "Created": 1700000000, "Image": "busybox:latest",
        "Ports": [
            {"IP": "0.0.0.0", "PrivatePort": 8080, "PublicPort": 1111, "Type": "tcp"},
            {"IP": "127.0.0.1", "PrivatePort": 9090, "PublicPort": 2222, "Type": "tcp"},
            {"IP": "127.0.0.1", "PrivatePort": 8080, "PublicPort": 3333, "Type": "tcp"},
        ],
    }
    c = container_from_listing(row)
    assert (c.name, c.app, c.version, c.host_port, c.created) == ("ace-web", "/web", "v9", 3333,
                                                                  1700000000)


def test_container_network_address_prefers_the_default_bridge() -> None:
    """The proxy's direct address: the bridge IP with the labelled port; none without an IP
    (host network mode, an exited container) or without a port label."""
    nets = {"Networks": {"mynet": {"IPAddress": "10.1.0.5"}, "bridge": {"IPAddress": "172.17.0.3"}}}
    row = {"Id": "a", "Names": ["/x"], "Labels": LABELS, "NetworkSettings": nets}
    assert container_from_listing(row).address == "172.17.0.3:8080"
    only = {"Networks": {"mynet": {"IPAddress": "10.1.0.5"}}}
    assert container_from_listing({**row, "NetworkSettings": only}).address == "10.1.0.5:8080"
    host = {"Networks": {"host": {"IPAddress": ""}}}
    assert container_from_listing({**row, "NetworkSettings": host}).address == ""
    assert container_from_listing({**row, "Labels": {LABEL_APP: "/web"}}).address == ""
    raw = {"Id": "a", "Name": "/x", "Config": {"Labels": LABELS}, "State": {"Status": "running"},
           "NetworkSettings": {"Ports": {}, **nets}}
    assert container_from_inspect(raw).address == "172.17.0.3:8080"


def test_inspect_of_an_exited_container() -> None:
    """An exited container has no host port and an `Exited (code)` status like listings."""
    raw = {
        "Id": "abc", "Name": "/ace-web", "Created": "2026-01-02T03:04:05.123456789Z",
        "Config": {"Labels": LABELS, "Image": "busybox:latest"},
        "State": {"Status": "exited", "ExitCode": 137, "Running": False},
        "NetworkSettings": {"Ports": {"8080/tcp": None}},
    }
    c = container_from_inspect(raw)
    assert (c.state, c.status, c.host_port, c.created) == ("exited", "Exited (137)", None,
                                                           1767323045)


def test_image_listing_drops_untagged_placeholders() -> None:
    """`<none>:<none>` is not a tag; ace labels are read without an inspect."""
    img = image_from_listing({"Id": "sha256:1", "RepoTags": ["<none>:<none>"],
                              "Labels": {LABEL_APP: "/web", LABEL_INPUTS: "h1"}})
    assert (img.tags, img.app, img.inputs) == ((), "/web", "h1")
    assert image_from_listing({"Id": "sha256:2", "RepoTags": None, "Labels": None}).tags == ()


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("FROM busybox\nRUN --mount=type=cache,target=/c make\n", True),
        ("FROM busybox\nrun --network=none --mount=type=secret,id=x cat\n", True),
        ("FROM busybox\nCOPY --link a /a\n", True),
        ("FROM busybox\nRUN <<EOF\necho hi\nEOF\n", True),
        ("FROM busybox\nRUN echo --mount is just text\nCOPY --chown=1 a /a\n", False),
    ],
)
def test_needs_buildkit(text: str, expected: bool) -> None:
    """Only syntax the classic builder rejects sends a build to the BuildKit CLI."""
    assert needs_buildkit(text) is expected
