"""One health probe (`reconciler.apply.health.probe`): plain HTTP reads the status line over a
raw socket; HTTPS (certificate not checked) goes through http.client; failures are (0, why)."""

from __future__ import annotations

import http.server
import socket
import ssl
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from reconciler.apply.health import probe


class _Handler(http.server.BaseHTTPRequestHandler):
    seen: list[str] = []

    def do_GET(self) -> None:  # noqa: N802
        self.seen.append(f"{self.command} {self.path} {self.request_version} "
                         f"{self.headers.get('Host')} {self.headers.get('User-Agent')}")
        body = b"x" * 100_000  # more than the probe reads
        self.send_response(200 if self.path == "/ok" else 503)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *a: object) -> None:
        pass


def _serve(srv: http.server.ThreadingHTTPServer) -> Iterator[int]:
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    try:
        yield srv.server_address[1]
    finally:
        srv.shutdown()
        srv.server_close()


@pytest.fixture
def port() -> Iterator[int]:
    yield from _serve(http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler))


@pytest.fixture
def tls_port(tmp_path: Path) -> Iterator[int]:
    key, cert = tmp_path / "k.pem", tmp_path / "c.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
                    "-subj", "/CN=localhost", "-keyout", str(key), "-out", str(cert)],
                   check=True, capture_output=True)
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert, key)
    srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
    yield from _serve(srv)


def test_plain_http_status_line_and_request(port: int) -> None:
    """A 200 and a 503 with their reasons; the request is an HTTP/1.0 GET naming host, port
    and ace; a large body is not waited for."""
    _Handler.seen.clear()
    assert probe("http", port, "/ok") == (200, "200 OK")
    assert probe("http", port, "/busy") == (503, "503 Service Unavailable")
    assert probe("http", port, "") == (503, "503 Service Unavailable")  # "" is "/"
    assert _Handler.seen[0] == f"GET /ok HTTP/1.0 127.0.0.1:{port} ace-health"
    assert _Handler.seen[2].startswith("GET / HTTP/1.0")


def test_refused_silent_and_not_http() -> None:
    """Nothing listening, a listener that never answers, and an answer that is not HTTP."""
    free = socket.socket()
    free.bind(("127.0.0.1", 0))
    refused = free.getsockname()[1]
    free.close()
    status, why = probe("http", refused, "/")
    assert status == 0 and why.startswith("ConnectionRefusedError")
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        assert probe("http", silent.getsockname()[1], "/", timeout=0.3) == (
            0, "TimeoutError: timed out")
    with socket.socket() as liar:
        liar.bind(("127.0.0.1", 0))
        liar.listen()

        def answer() -> None:
            conn, _ = liar.accept()
            conn.recv(1024)
            conn.sendall(b"SSH-2.0-OpenSSH\r\n")
            conn.close()

        threading.Thread(target=answer, daemon=True).start()
        status, why = probe("http", liar.getsockname()[1], "/")
        assert status == 0 and why.startswith("not HTTP: 'SSH-2.0")


def test_https_without_certificate_check(tls_port: int) -> None:
    """An HTTPS health check answers through TLS with a self-signed certificate."""
    assert probe("https", tls_port, "/ok") == (200, "200 OK")
    assert probe("https", tls_port, "/no") == (503, "503 Service Unavailable")
