"""The proxy's address: `--listen` parsing, the loopback check, and `<state dir>/proxy.json`,
which a running proxy writes so that `ace status` can show each app's public URL; and the
defaults the CLI shows. Imports nothing heavy (the CLI loads it on every `ace status`)."""

from __future__ import annotations

import ipaddress
import json
import os
from collections.abc import Sequence
from pathlib import Path

from apps.model import App

__all__ = ["DEFAULT_LISTEN", "RECORD", "UPSTREAM_TIMEOUT", "is_loopback", "parse_listen",
           "public_base", "public_urls"]

DEFAULT_LISTEN = "127.0.0.1:8000"
RECORD = "proxy.json"
# How long an upstream that took a request may stay silent before its response head (504).
# Only the head: streamed bodies and upgraded connections have no time limit. 30 s is the
# first-byte limit app platforms put behind their routers (Heroku's), so apps written for them
# answer in time; a paused or hung container costs a request no longer than that, and once a
# pass saw it not running, its requests answer 503 at once.
UPSTREAM_TIMEOUT = 30.0


def parse_listen(listen: str) -> tuple[str, int]:
    """"HOST:PORT", "[V6]:PORT" or ":PORT" (loopback) -> (host, port)."""
    host, sep, port = listen.rpartition(":")
    if not sep or not port.isdigit() or int(port) > 65535:
        raise ValueError(f"--listen {listen!r}: expected HOST:PORT, e.g. {DEFAULT_LISTEN}")
    host = host.strip("[]") or "127.0.0.1"
    return host, int(port)


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def public_urls(apps: Sequence[App], base: str) -> dict[str, str]:
    """app path -> its public URL on the proxy, for apps with at least one route and static
    apps."""
    return {a.path: base + a.path.rstrip("/") + "/" for a in apps if a.routes or a.static_only}


def public_base(state_dir: Path) -> str:
    """The base URL of the proxy serving this state dir, or "" when none runs."""
    try:
        rec = json.loads((state_dir / RECORD).read_text())
        os.kill(int(rec["pid"]), 0)
        return str(rec["url"])
    except (OSError, ValueError, KeyError, TypeError):
        return ""
