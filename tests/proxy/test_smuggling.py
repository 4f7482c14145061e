"""Request smuggling and malformed requests, one table, both request parsers: every row is
answered 400 and nothing reaches the upstream (it sees no connection at all)."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator

import pytest

from reconciler.proxy.request import PARSERS
from reconciler.proxy.service import ProxyService
from tests.proxy.kit import app, configure, running
from tests.proxy.upstream import Sink, sink

H = b"Host: x\r\n"


def post(*headers: bytes, body: bytes = b"") -> bytes:
    return b"POST /web/x HTTP/1.1\r\n" + H + b"".join(h + b"\r\n" for h in headers) + b"\r\n" + body


def get(*headers: bytes) -> bytes:
    return b"GET /web/x HTTP/1.1\r\n" + H + b"".join(h + b"\r\n" for h in headers) + b"\r\n"


def chunked(first_line: bytes) -> bytes:
    return post(b"Transfer-Encoding: chunked", body=first_line + b"hello\r\n0\r\n\r\n")


CASES: dict[str, bytes] = {
    # Content-Length and Transfer-Encoding together, either order
    "cl-then-te": post(b"Content-Length: 5", b"Transfer-Encoding: chunked", body=b"0\r\n\r\n"),
    "te-then-cl": post(b"Transfer-Encoding: chunked", b"Content-Length: 5", body=b"0\r\n\r\n"),
    # Content-Length given twice or not as plain digits
    "duplicate-cl-same": post(b"Content-Length: 5", b"Content-Length: 5", body=b"hello"),
    "duplicate-cl-list": post(b"Content-Length: 5, 5", body=b"hello"),
    "conflicting-cl": post(b"Content-Length: 5", b"Content-Length: 6", body=b"hello!"),
    "cl-plus": post(b"Content-Length: +5", body=b"hello"),
    "cl-minus": post(b"Content-Length: -5", body=b"hello"),
    "cl-hex": post(b"Content-Length: 0x5", body=b"hello"),
    "cl-letters": post(b"Content-Length: 5a", body=b"hello"),
    "cl-inner-space": post(b"Content-Length: 5 5", body=b"hello"),
    "cl-superscript-digit": post(b"Content-Length: \xb2", body=b"hi"),
    "cl-empty": post(b"Content-Length:", body=b""),
    "cl-huge": post(b"Content-Length: 99999999999999999999999", body=b"hello"),
    # Transfer-Encoding other than one plain "chunked"
    "te-chunked-gzip": post(b"Transfer-Encoding: chunked, gzip", body=b"0\r\n\r\n"),
    "te-gzip-chunked": post(b"Transfer-Encoding: gzip, chunked", body=b"0\r\n\r\n"),
    "te-chunked-twice": post(b"Transfer-Encoding: chunked", b"Transfer-Encoding: chunked",
                             body=b"0\r\n\r\n"),
    "te-chunked-list-twice": post(b"Transfer-Encoding: chunked, chunked", body=b"0\r\n\r\n"),
    "te-identity": post(b"Transfer-Encoding: identity", body=b""),
    "te-vertical-tab": post(b"Transfer-Encoding:\x0bchunked", body=b"0\r\n\r\n"),
    "te-space-before-colon": post(b"Transfer-Encoding : chunked", body=b"0\r\n\r\n"),
    "te-in-http-1.0": b"POST /web/x HTTP/1.0\r\n" + H + b"Transfer-Encoding: chunked\r\n\r\n"
                      b"0\r\n\r\n",
    # obs-fold continuation lines
    "obs-fold": get(b"X-A: a", b" b"),
    "obs-fold-te": post(b"Transfer-Encoding:", b" chunked", body=b"0\r\n\r\n"),
    "fold-after-request-line": b"GET /web/x HTTP/1.1\r\n Host: x\r\n\r\n",
    # bare LF line ends
    "bare-lf-everywhere": b"GET /web/x HTTP/1.1\nHost: x\n\n",
    "bare-lf-request-line": b"GET /web/x HTTP/1.1\nHost: x\r\n\r\n",
    "bare-lf-header": b"GET /web/x HTTP/1.1\r\nHost: x\nX-A: b\r\n\r\n",
    "bare-lf-end": b"GET /web/x HTTP/1.1\r\nHost: x\r\n\n",
    # chunk size lines (the first one is checked before anything is forwarded)
    "chunk-size-huge": chunked(b"fffffffffffffffffffff\r\n"),
    "chunk-size-signed": chunked(b"-5\r\n"),
    "chunk-size-plus": chunked(b"+5\r\n"),
    "chunk-size-0x": chunked(b"0x5\r\n"),
    "chunk-size-underscore": chunked(b"0_5\r\n"),
    "chunk-size-leading-space": chunked(b" 5\r\n"),
    "chunk-size-empty": chunked(b"\r\n"),
    "chunk-size-bare-lf": chunked(b"5\n"),
    "chunk-ext-nul": chunked(b"5;a=\x00\r\n"),
    "chunk-ext-bare-lf": chunked(b"5;a\nb\r\n"),
    # control characters in header values
    "nul-in-value": get(b"X-A: a\x00b"),
    "cr-in-value": get(b"X-A: a\rb"),
    "cr-in-value-before-header": get(b"X-A: a\rTransfer-Encoding: chunked"),
    "del-in-value": get(b"X-A: a\x7fb"),
    "ctl-in-value": get(b"X-A: a\x01b"),
    # header names
    "space-in-name": get(b"X A: b"),
    "parenthesis-in-name": get(b"X(A): b"),
    "empty-name": get(b": b"),
    "non-ascii-name": get(b"X-\xe9: b"),
    "no-colon": get(b"X-A b"),
    # request lines
    "space-in-target": b"GET /web/a b HTTP/1.1\r\n" + H + b"\r\n",
    "double-space": b"GET  /web/x HTTP/1.1\r\n" + H + b"\r\n",
    "trailing-space": b"GET /web/x HTTP/1.1 \r\n" + H + b"\r\n",
    "leading-space": b" GET /web/x HTTP/1.1\r\n" + H + b"\r\n",
    "tab-separator": b"GET\t/web/x HTTP/1.1\r\n" + H + b"\r\n",
    "nul-in-method": b"G\x00ET /web/x HTTP/1.1\r\n" + H + b"\r\n",
    "ctl-in-target": b"GET /web/x\x01 HTTP/1.1\r\n" + H + b"\r\n",
    "non-ascii-target": b"GET /web/caf\xe9 HTTP/1.1\r\n" + H + b"\r\n",
    "http-0.9": b"GET /web/x\r\n",
    "http-2.0-line": b"GET /web/x HTTP/2.0\r\n" + H + b"\r\n",
    "http-1.2": b"GET /web/x HTTP/1.2\r\n" + H + b"\r\n",
    "lowercase-version": b"GET /web/x http/1.1\r\n" + H + b"\r\n",
    "version-without-minor": b"GET /web/x HTTP/1\r\n" + H + b"\r\n",
    # absolute-form and other targets
    "absolute-empty-authority": b"GET http:///web/x HTTP/1.1\r\n" + H + b"\r\n",
    "absolute-no-authority": b"GET http:/web/x HTTP/1.1\r\n" + H + b"\r\n",
    "absolute-userinfo": b"GET http://u@x/web/x HTTP/1.1\r\n" + H + b"\r\n",
    "absolute-fragment": b"GET http://x/web/x#f HTTP/1.1\r\n" + H + b"\r\n",
    "absolute-dot-segments": b"GET http://x/other/../web/x HTTP/1.1\r\n" + H + b"\r\n",
    "absolute-other-scheme": b"GET ftp://x/web/x HTTP/1.1\r\n" + H + b"\r\n",
    "authority-form": b"CONNECT x:443 HTTP/1.1\r\n" + H + b"\r\n",
    "asterisk-form": b"OPTIONS * HTTP/1.1\r\n" + H + b"\r\n",
    # Host
    "no-host": b"GET /web/x HTTP/1.1\r\n\r\n",
    "two-hosts": b"GET /web/x HTTP/1.1\r\nHost: x\r\nHost: y\r\n\r\n",
    "host-with-space": b"GET /web/x HTTP/1.1\r\nHost: x y\r\n\r\n",
    "host-with-path": b"GET /web/x HTTP/1.1\r\nHost: x/y\r\n\r\n",
    # size
    "head-too-large": get(b"X-A: " + b"a" * 70_000),
}


def exchange(port: int, raw: bytes) -> bytes:
    """Send `raw` on a new connection; everything the proxy answers until it closes."""
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(raw)
        got = b""
        while True:
            try:
                data = sock.recv(65536)
            except ConnectionResetError:
                break
            if not data:
                break
            got += data
        return got


@pytest.fixture(scope="module", params=sorted(PARSERS))
def setup(request: pytest.FixtureRequest) -> Iterator[tuple[ProxyService, Sink]]:
    """A proxy with the parser of the param and one app whose upstream counts connections."""
    with sink() as up, running(upstream_timeout=0.3, parser=str(request.param)) as p:
        configure(p, [app("/web")], {"/web": up.port})
        yield p, up


@pytest.mark.parametrize("name", sorted(CASES))
def test_refused_with_400_and_never_forwarded(setup: tuple[ProxyService, Sink],
                                              name: str) -> None:
    """The row is answered 400 at once and the upstream sees no connection."""
    p, up = setup
    before = (up.connections, len(up.received))
    t0 = time.monotonic()
    answer = exchange(p.port, CASES[name])
    assert answer.startswith(b"HTTP/1.1 400 "), answer[:300]
    assert time.monotonic() - t0 < 1.5
    time.sleep(0.02)
    assert (up.connections, len(up.received)) == before


def test_the_table_setup_forwards_a_valid_request(setup: tuple[ProxyService, Sink]) -> None:
    """Control: a well-formed chunked POST through the same setup does reach the upstream."""
    p, up = setup
    before = up.connections
    answer = exchange(p.port, chunked(b"5;ext=1 \r\n"))
    assert answer.startswith(b"HTTP/1.1 504 "), answer[:300]
    assert up.connections == before + 1 and up.received.endswith(b"5\r\nhello\r\n0\r\n\r\n")


def test_a_bad_later_chunk_cuts_the_forwarded_request_short(
        setup: tuple[ProxyService, Sink]) -> None:
    """A chunk size line that breaks after the first chunk was forwarded: the client gets 400
    and the upstream's connection is closed before the request's end (no last chunk)."""
    p, up = setup
    before = up.received
    answer = exchange(p.port, post(b"Transfer-Encoding: chunked",
                                   body=b"5\r\nhello\r\n-1\r\nx\r\n0\r\n\r\n"))
    assert answer.startswith(b"HTTP/1.1 400 "), answer[:300]
    time.sleep(0.05)
    sent = up.received[len(before):]
    assert sent.endswith(b"5\r\nhello\r\n") and b"0\r\n\r\n" not in sent
