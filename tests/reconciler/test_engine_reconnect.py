"""The driver's plain-HTTP reads survive a keep-alive connection the engine closed meanwhile
(a broken pipe or a reset on the reused connection): one retry on a fresh connection."""

from __future__ import annotations

import http.server
import json
import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from apps.errors import EngineError
from reconciler.driver.engine import DockerEngine


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:
        body = json.dumps([]).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
        self.close_connection = True  # the engine closes the keep-alive connection

    def log_message(self, format: str, *args: object) -> None:
        pass


class _UnixServer(http.server.ThreadingHTTPServer):
    address_family = socket.AF_UNIX

    def server_bind(self) -> None:
        self.socket.bind(self.server_address)  # type: ignore[arg-type]

    def get_request(self) -> tuple[socket.socket, tuple[str, int]]:
        conn, _ = self.socket.accept()
        return conn, ("local", 0)


@pytest.fixture
def engine_sock(tmp_path: Path) -> Iterator[str]:
    path = str(tmp_path / "engine.sock")
    server = _UnixServer(path, _Handler)  # type: ignore[arg-type]
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield path
    server.shutdown()
    server.server_close()


def test_reads_reconnect_after_the_engine_closed_the_connection(engine_sock: str) -> None:
    """Every listing after the first reuses a connection the engine closed: each succeeds."""
    engine = DockerEngine(f"unix://{engine_sock}")
    for _ in range(5):
        assert engine.list_containers("inst") == ()


def test_an_engine_that_is_gone_is_still_reported(tmp_path: Path) -> None:
    """No engine at the socket: the retry fails too, and the error says it is not answering."""
    engine = DockerEngine(f"unix://{tmp_path / 'nothing.sock'}")
    with pytest.raises(EngineError, match="not answering") as info:
        engine.list_containers("inst")
    assert info.value.retryable
