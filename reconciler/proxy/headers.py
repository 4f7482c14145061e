"""Header rules of the proxy.

Requests: hop-by-hop headers (RFC 9110 7.6.1, plus whatever `Connection` names) are dropped;
client-sent `Forwarded`, `X-Forwarded-*` and `X-Real-IP` are dropped and replaced with ours:
`X-Forwarded-For` and `X-Real-IP` (the client address), `X-Forwarded-Host` (the Host the client
asked for), `X-Forwarded-Proto` (`http`), `X-Forwarded-Prefix` (the public prefix stripped from
the path, when one was). `Host` is the upstream's unless the route sets `preserve_host`.

Responses: hop-by-hop headers dropped; a `Location` pointing at the upstream (absolute URL of the
upstream origin, or a root-relative path) is mapped back to the public path; the route's
`response_headers` are set, `$url` in a value replaced by the public URL of the request."""

from __future__ import annotations

from urllib.parse import urlsplit

from reconciler.proxy.http1 import Framing, Head
from reconciler.proxy.routing import Backend, Match

__all__ = ["HOP_BY_HOP", "request_headers", "response_headers", "rewrite_location"]

HOP_BY_HOP = frozenset({
    "connection", "keep-alive", "proxy-connection", "proxy-authenticate", "proxy-authorization",
    "te", "trailer", "transfer-encoding", "upgrade",
})
FORWARDING = frozenset({
    "forwarded", "x-forwarded-for", "x-forwarded-host", "x-forwarded-proto",
    "x-forwarded-prefix", "x-forwarded-port", "x-forwarded-server", "x-real-ip",
})


_REQUEST_DROP = HOP_BY_HOP | FORWARDING | {"host", "content-length", "expect"}
_RESPONSE_DROP = HOP_BY_HOP | {"content-length"}


def _drop_set(head: Head, fixed: frozenset[str]) -> frozenset[str]:
    named = head.tokens("connection")  # what `Connection` names is hop-by-hop too
    return fixed | named if named else fixed


def request_headers(head: Head, *, backend: Backend, match: Match, client_ip: str,
                    public_host: str, framing: Framing, upgrade: str | None
                    ) -> list[tuple[str, str]]:
    drop = _drop_set(head, _REQUEST_DROP)
    out = [(k, v) for k, v in head.headers if k.lower() not in drop]
    host = public_host if match.entry.route.preserve_host else backend.netloc
    out.insert(0, ("Host", host))
    out += [("X-Forwarded-For", client_ip), ("X-Real-IP", client_ip),
            ("X-Forwarded-Host", public_host), ("X-Forwarded-Proto", "http")]
    if match.stripped:
        out.append(("X-Forwarded-Prefix", match.stripped))
    if framing.kind == "length":
        out.append(("Content-Length", str(framing.length)))
    elif framing.kind == "chunked":
        out.append(("Transfer-Encoding", "chunked"))
    if upgrade is not None:
        out += [("Connection", "Upgrade"), ("Upgrade", upgrade)]
    return out


def _upstream_netlocs(backend: Backend) -> set[str]:
    names = {backend.netloc.lower(), f"{backend.host}:{backend.port}".lower()}
    if backend.host in ("127.0.0.1", "localhost", "::1", "[::1]"):
        names |= {f"{h}:{backend.port}" for h in ("127.0.0.1", "localhost", "[::1]", "0.0.0.0")}
    return names


def rewrite_location(value: str, *, backend: Backend, match: Match, origin: str) -> str:
    """Map a Location from the upstream's address space to the public one (else unchanged)."""
    parts = urlsplit(value)
    absolute = bool(parts.scheme)
    if absolute:
        if parts.netloc.lower() not in _upstream_netlocs(backend):
            return value
    elif not value.startswith("/") or value.startswith("//"):
        return value  # relative reference: the browser resolves it against the public URL
    path = parts.path or "/"
    base = backend.base_path
    if base:
        if path != base and not path.startswith(base + "/"):
            return value
        path = path[len(base):] or "/"
    pre = match.stripped
    if pre and path != pre and not path.startswith(pre + "/"):  # an app that knows its prefix
        path = pre + path  # already sends it; others get it added
    tail = (f"?{parts.query}" if parts.query else "") + (f"#{parts.fragment}" if parts.fragment
                                                         else "")
    return (origin if absolute else "") + path + tail


def response_headers(head: Head, *, backend: Backend, match: Match, origin: str,
                     public_url: str) -> list[tuple[str, str]]:
    drop = _drop_set(head, _RESPONSE_DROP)
    out: list[tuple[str, str]] = []
    for k, v in head.headers:
        low = k.lower()
        if low in drop:
            continue
        if low in ("location", "content-location"):
            v = rewrite_location(v, backend=backend, match=match, origin=origin)
        out.append((k, v))
    extra = match.entry.route.response_headers
    if extra:
        names = {k.lower() for k, _ in extra}
        out = [(k, v) for k, v in out if k.lower() not in names]
        out += [(k, v.replace("$url", public_url)) for k, v in extra]
    return out
