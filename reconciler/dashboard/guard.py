"""What keeps another web site from using the dashboard through the user's browser. Pure checks
of a request's headers, and the per-page tokens action forms carry.

- `Host` must name the listener (its address, a loopback name, the machine's own name) and its
  port: a DNS-rebinding page (evil.example resolving to 127.0.0.1) sends `Host: evil.example`.
- A foreign `Origin` (another site, or another port of this host) is refused: cross-site
  fetches, EventSources and form posts all carry one.
- `Sec-Fetch-Site` of another site is refused except for plain navigations (a link to the
  dashboard shows it; nothing can read it).
- Actions run only on POST with the token of the page the form came from (HMAC of the page's
  path and the time it was made, with a secret made when ace starts; valid for 12 hours).
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import secrets
import socket
import time
from collections.abc import Iterable

__all__ = ["SECURITY_HEADERS", "Guard", "Tokens"]

TOKEN_TTL = 12 * 3600.0
# Sent with every dashboard answer: only ace's own files, never framed by another page.
SECURITY_HEADERS: tuple[tuple[str, str], ...] = (
    ("Content-Security-Policy", "default-src 'self'; img-src 'self' data:; "
                                "frame-ancestors 'none'; form-action 'self'; base-uri 'none'"),
    ("X-Frame-Options", "DENY"),
    ("X-Content-Type-Options", "nosniff"),
    ("Referrer-Policy", "same-origin"),
    ("Cross-Origin-Resource-Policy", "same-origin"),
    ("Cross-Origin-Opener-Policy", "same-origin"),
)


def _split_host(value: str) -> tuple[str, int | None]:
    """"host:port", "[v6]:port", "host" -> (lowercased host without brackets, port or None)."""
    value = value.strip().lower()
    if value.startswith("["):
        host, _, rest = value[1:].partition("]")
        port = rest[1:] if rest.startswith(":") else ""
    else:
        host, sep, port = value.rpartition(":")
        if not sep or ":" in host:
            host, port = value, ""
    return host, int(port) if port.isdigit() else None


def _ip(host: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        return None


class Guard:
    """The host names and port that name this listener."""

    def __init__(self, listen_host: str, port: int, names: Iterable[str] | None = None) -> None:
        self.listen_host = listen_host.lower()
        self.port = port
        own = set(names) if names is not None else {socket.gethostname(), socket.getfqdn()}
        self.names = {n.lower() for n in own if n} | {"localhost"}
        ip = _ip(self.listen_host)
        self.wildcard = ip is not None and ip.is_unspecified

    def host_ok(self, host: str | None) -> bool:
        """The Host header names this listener: its port, and its address, a loopback address,
        localhost, the machine's name, or (listening on every address) any IP literal."""
        if not host:
            return False
        name, port = _split_host(host)
        if port is None or port != self.port:
            return False
        ip = _ip(name)
        if ip is not None:
            return ip.is_loopback or self.wildcard or name == self.listen_host.strip("[]")
        return name in self.names or name.endswith(".localhost") or name == self.listen_host

    def origin_ok(self, origin: str | None, host: str | None) -> bool:
        """No Origin (same-origin navigations, curl), or exactly this page's origin."""
        if origin is None:
            return True
        return bool(host) and origin.strip().lower() == f"http://{(host or '').strip().lower()}"

    def refusal(self, method: str, headers: dict[str, str]) -> str:
        """Why this request may not touch the dashboard ("" when it may). `headers` are
        lowercased names."""
        host = headers.get("host")
        if not self.host_ok(host):
            return (f"Host {host!r} does not name this listener (127.0.0.1:{self.port} or "
                    f"localhost:{self.port}); requests through another name are refused")
        if not self.origin_ok(headers.get("origin"), host):
            return f"requests from another site ({headers.get('origin')}) are refused"
        site = headers.get("sec-fetch-site", "")
        if site in ("cross-site", "same-site"):
            navigating = headers.get("sec-fetch-mode") == "navigate" and method in ("GET", "HEAD")
            if not navigating:
                return f"requests from another site (Sec-Fetch-Site: {site}) are refused"
        return ""


class Tokens:
    """Per-page tokens: `issue(path)` for a form, `check(path, token)` when it is posted."""

    def __init__(self, secret: bytes | None = None, ttl: float = TOKEN_TTL) -> None:
        self.secret = secret or secrets.token_bytes(32)
        self.ttl = ttl

    def _sign(self, path: str, stamp: str) -> str:
        return hmac.new(self.secret, f"{path}\n{stamp}".encode(), hashlib.sha256).hexdigest()

    def issue(self, path: str, now: float | None = None) -> str:
        stamp = str(int(time.time() if now is None else now))
        return f"{stamp}.{self._sign(path, stamp)}"

    def check(self, path: str, token: str, now: float | None = None) -> bool:
        stamp, _, sig = token.partition(".")
        if not stamp.isdigit() or not sig:
            return False
        age = (time.time() if now is None else now) - int(stamp)
        return 0 <= age <= self.ttl and hmac.compare_digest(sig, self._sign(path, stamp))
