"""The proxy's address: `--listen` parsing, the loopback check, the records
`<state dir>/proxy-<pid>-<port>.json` each running proxy writes (and removes when it stops) so
that `ace status` can show each app's public URL — one record per proxy, so two proxies of one
state dir never remove each other's — and the defaults the CLI shows. Imports nothing heavy
(the CLI loads it on every `ace status`)."""

from __future__ import annotations

import ipaddress
import json
import os
from collections.abc import Sequence
from pathlib import Path

from apps.model import App

__all__ = ["DEFAULT_LISTEN", "RECORD", "UPSTREAM_TIMEOUT", "is_loopback", "live_proxies",
           "parse_listen", "public_base", "public_urls", "record_path", "served_urls",
           "write_record"]

DEFAULT_LISTEN = "127.0.0.1:8000"
RECORD = "proxy.json"  # the one record of earlier versions, still read while its writer runs
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


def record_path(state_dir: Path, pid: int, port: int) -> Path:
    """Where the proxy of process `pid` on `port` records itself."""
    return state_dir / f"proxy-{pid}-{port}.json"


def write_record(path: Path, url: str, started: float, served: Sequence[str]) -> None:
    """A proxy's record, written whole (a reader never sees half of it): its base URL, process,
    start time and the app paths it serves (an app that does not evaluate any more is still
    served from its last good declaration: `ace status` learns its public URL here)."""
    tmp = path.with_name("." + path.name)
    tmp.write_text(json.dumps({"url": url, "pid": os.getpid(), "started": started,
                               "apps": list(served)}))
    tmp.replace(path)


def served_urls(state_dir: Path, base: str) -> dict[str, str]:
    """app path -> public URL of every app the running proxy at `base` serves, as its record
    says ({} when the record lists none)."""
    for _, url, pid, path in _records(state_dir):
        if url != base or not _alive(pid):
            continue
        try:
            served = json.loads(path.read_text()).get("apps") or []
        except (OSError, ValueError, AttributeError):
            return {}
        return {str(p): base + str(p).rstrip("/") + "/" for p in served if isinstance(p, str)}
    return {}


def _records(state_dir: Path) -> list[tuple[float, str, int, Path]]:
    """(started, url, pid, path) of every proxy record, oldest first; dead or not."""
    out: list[tuple[float, str, int, Path]] = []
    for path in [state_dir / RECORD, *sorted(state_dir.glob("proxy-*.json"))]:
        try:
            rec = json.loads(path.read_text())
            out.append((float(rec.get("started", 0)), str(rec["url"]), int(rec["pid"]), path))
        except (OSError, ValueError, KeyError, TypeError, AttributeError):
            continue
    return sorted(out, key=lambda r: r[0])


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # EPERM: it runs, as another user
        return True
    return True


def live_proxies(state_dir: Path, *, prune: bool = False) -> list[str]:
    """The base URLs of the proxies serving this state dir that still run, oldest first.
    `prune` removes the records of proxies that died without removing theirs (SIGKILL)."""
    live: list[str] = []
    for _, url, pid, path in _records(state_dir):
        if _alive(pid):
            live.append(url)
        elif prune:
            path.unlink(missing_ok=True)
    return live


def public_base(state_dir: Path) -> str:
    """The base URL of the oldest proxy serving this state dir, or "" when none runs."""
    live = live_proxies(state_dir)
    return live[0] if live else ""
