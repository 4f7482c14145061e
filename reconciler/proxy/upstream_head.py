"""An upstream's response head on the relay (`exchange`): split from the bytes as they arrive
(blank lines and interim 1xx heads skipped, `MAX_HEAD` kept, a 101 refused), then turned into
the client's response head and the body framing, by the same rules as the stream path."""

from __future__ import annotations

from dataclasses import dataclass

from reconciler.proxy.bodies import BodyFeed
from reconciler.proxy.forwarding import _Upstream, response_start
from reconciler.proxy.headers import response_headers
from reconciler.proxy.http1 import MAX_HEAD, BadMessage, Head, parse_response
from reconciler.proxy.paths import NormPath
from reconciler.proxy.routing import Backend, Match

__all__ = ["ClientResponse", "client_response", "split_response"]


def split_response(data: bytes) -> tuple[Head | None, bytes]:
    """(the final response head, the bytes after it); (None, what to keep for more bytes) while
    the head is not all there. BadMessage for a head over `MAX_HEAD`, `_Upstream` for a 101
    (no upgrade was asked for)."""
    while True:
        while data[:1] == b"\n" or data[:2] == b"\r\n":  # blank lines before the status
            data = data[1:] if data[:1] == b"\n" else data[2:]
        ends = [i for i in (data.find(b"\n\n"), data.find(b"\n\r\n")) if i >= 0]
        if not ends:
            if len(data) > MAX_HEAD:
                raise BadMessage(f"message head larger than {MAX_HEAD} bytes")
            return None, data
        end = min(ends) + 1
        if end > MAX_HEAD:
            raise BadMessage(f"message head larger than {MAX_HEAD} bytes")
        resp = parse_response(data[:end])
        data = data[end + (1 if data[end:end + 1] == b"\n" else 2):]
        if resp.status == 101:
            raise _Upstream("101 Switching Protocols without an upgrade request")
        if not 100 <= resp.status < 200:
            return resp, data


@dataclass(frozen=True)
class ClientResponse:
    """The response head for the client, whether the client connection may carry another
    request (`keep`) and the upstream one too (`reusable`), and the body's re-framing."""

    head: bytes
    keep: bool
    reusable: bool
    feed: BodyFeed


def client_response(head: Head, resp: Head, *, backend: Backend, match: Match,
                    path: NormPath) -> ClientResponse:
    """What the client gets for the upstream's `resp` to its request `head`; BadMessage when
    the upstream's framing cannot be relayed."""
    origin = f"http://{head.get('host') or '127.0.0.1'}"
    out = response_headers(resp, backend=backend, match=match, origin=origin,
                           public_url=origin + path.path + path.query)
    pre, keep, chunked_out, rf = response_start(head, resp, out)
    reusable = (rf.kind != "close" and resp.version == "HTTP/1.1"
                and "close" not in resp.tokens("connection"))
    return ClientResponse(pre, keep, reusable, BodyFeed(rf, chunked_out))
