"""Which container addresses this host reaches directly: those on the subnet of one of its own
interfaces (Docker's docker0, rootful Podman's podman0, ...), read from the kernel's routing
table. A rootless engine's network lives in a namespace of its own, and an engine in a VM
behind another host: their container addresses would be routed out through the default
gateway, to whatever machine answers there. ace reports no address for those containers, so
its proxy connects to their published loopback ports instead.

A rootless engine is known by its socket, which belongs to its user rather than root: its
networks may even use the same subnet as a rootful engine's bridge on this host (Podman's
10.88.0.0/16), so none of its addresses are used.
"""

from __future__ import annotations

import ipaddress
import os
import socket
import struct
from collections.abc import Iterable
from dataclasses import replace
from urllib.parse import urlsplit

from reconciler.core.types import ObservedContainer

__all__ = ["ROUTE_TABLE", "connected_networks", "engine_networks", "only_reachable"]

ROUTE_TABLE = "/proc/net/route"

Network = ipaddress.IPv4Network


def connected_networks(route_table: str = ROUTE_TABLE) -> tuple[Network, ...]:
    """The IPv4 subnets of the host's own interfaces (routes without a gateway); none where
    the table cannot be read (not Linux)."""
    try:
        with open(route_table, encoding="ascii") as f:
            lines = f.read().splitlines()[1:]
    except OSError:
        return ()
    nets: list[Network] = []
    for line in lines:
        fields = line.split()
        if len(fields) < 8 or fields[2] != "00000000" or fields[7] == "00000000":
            continue  # via a gateway, or a default route
        try:
            dest, mask = (socket.inet_ntoa(struct.pack("<I", int(v, 16)))
                          for v in (fields[1], fields[7]))
            nets.append(ipaddress.IPv4Network(f"{dest}/{mask}", strict=False))
        except (ValueError, struct.error):
            continue
    return tuple(nets)


def engine_networks(engine_url: str | None, route_table: str = ROUTE_TABLE
                    ) -> tuple[Network, ...]:
    """The subnets where this host reaches the engine's containers: its own interfaces' (see
    `connected_networks`), none when the engine's unix socket (`engine_url`, else DOCKER_HOST,
    else Docker's default) belongs to another user than root: a rootless engine."""
    url = engine_url or os.environ.get("DOCKER_HOST", "") or "unix:///var/run/docker.sock"
    parts = urlsplit(url)
    if parts.scheme in ("unix", "http+unix") and parts.path:
        try:
            if os.stat(parts.path).st_uid != 0:
                return ()
        except OSError:
            pass
    return connected_networks(route_table)


def only_reachable(containers: Iterable[ObservedContainer],
                   nets: tuple[Network, ...]) -> list[ObservedContainer]:
    """The containers, each without its network address unless one of `nets` holds it."""
    return [c if not c.address or _reachable(c.address, nets) else replace(c, address="")
            for c in containers]


def _reachable(address: str, nets: tuple[Network, ...]) -> bool:
    try:
        ip = ipaddress.IPv4Address(address.rpartition(":")[0])
    except ValueError:
        return False
    return any(ip in net for net in nets)
