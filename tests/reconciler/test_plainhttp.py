"""The driver's plain-HTTP GETs (reconciler.driver.plainhttp): every body framing an engine
uses, keep-alive reuse, and answers that are not HTTP reported as errors."""

from __future__ import annotations

import socket
import threading
from pathlib import Path

import pytest

from reconciler.driver.plainhttp import BadResponse, Connection, _host_port


class Scripted:
    """A unix-socket server answering each request with the next scripted bytes (then closing
    the connection when the script says so); counts the connections it accepted."""

    def __init__(self, path: str, answers: list[tuple[bytes, bool]]) -> None:
        self.answers = answers
        self.accepted = 0
        self.requests: list[bytes] = []
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.bind(path)
        self.sock.listen()
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:  # the head and a small body arrive in one read
        while self.answers:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.accepted += 1
            with conn:
                while self.answers:
                    data = b""
                    while b"\r\n\r\n" not in data:
                        chunk = conn.recv(4096)
                        if not chunk:
                            break
                        data += chunk
                    if not data:
                        break
                    self.requests.append(data)
                    answer, close = self.answers.pop(0)
                    conn.sendall(answer)
                    if close:
                        break


@pytest.fixture
def path(tmp_path: Path) -> str:
    return str(tmp_path / "engine.sock")


def test_content_length_and_keep_alive(path: str) -> None:
    """Two GETs on one connection, bodies framed by Content-Length; the request names the host
    and path."""
    s = Scripted(path, [(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nX-A: 1\r\n\r\n[]", False),
                      (b"HTTP/1.1 404 Not Found\r\nContent-Length: 4\r\n\r\nnope", False)])
    c = Connection(("unix", path), 5)
    r = c.get("/containers/json?all=1", {"Host": "docker"})
    assert (r.status, r.body, r.header("x-a"), r.header("X-A")) == (200, b"[]", "1", "1")
    assert c.get("/x", {"Host": "docker"}).body == b"nope"
    assert s.accepted == 1
    assert s.requests[0].startswith(b"GET /containers/json?all=1 HTTP/1.1\r\nHost: docker\r\n")
    c.close()


def test_chunked_with_extensions_and_trailers(path: str) -> None:
    """A chunked body is joined; chunk extensions and trailers are skipped."""
    Scripted(path, [(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
                   b"3;x=y\r\nabc\r\n10\r\n0123456789abcdef\r\n0\r\nT: 1\r\n\r\n", False)])
    assert Connection(("unix", path), 5).get("/", {}).body == b"abc0123456789abcdef"


def test_interim_answer_skipped_and_body_until_close(path: str) -> None:
    """A 100 Continue is skipped; a body with no length runs to the connection's end, and the
    next GET connects afresh."""
    s = Scripted(path, [(b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\n\r\nall of it", True),
                      (b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 1\r\n\r\nx",
                       True),
                      (b"HTTP/1.1 204 No Content\r\n\r\n", False)])
    c = Connection(("unix", path), 5)
    assert c.get("/", {}).body == b"all of it"
    assert c.get("/", {}).body == b"x"
    assert c.get("/", {}).status == 204
    assert s.accepted == 3


def test_closed_keep_alive_is_a_reset(path: str) -> None:
    """A kept-alive connection the engine closed fails the next GET with ConnectionResetError
    (the driver retries once on a fresh connection)."""
    Scripted(path, [(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", True),
                  (b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", False)])
    c = Connection(("unix", path), 5)
    c.get("/", {})
    with pytest.raises((ConnectionResetError, BrokenPipeError)):
        c.get("/", {})
    assert c.get("/", {}).status == 200


@pytest.mark.parametrize("answer", [
    b"SSH-2.0-OpenSSH\r\n\r\n", b"HTTP/1.1 2x0 OK\r\n\r\n",
    b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort",
    b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
    b"HTTP/1.1 200 OK\r\nno colon here\r\n\r\n",
    b"HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n",
])
def test_not_http_is_an_error(path: str, answer: bytes) -> None:
    """Answers that are not well-formed HTTP raise BadResponse (an OSError)."""
    Scripted(path, [(answer, True)])
    with pytest.raises(BadResponse):
        Connection(("unix", path), 5).get("/", {})


def test_no_engine_is_an_oserror(tmp_path: Path) -> None:
    """Nothing listening: the socket's own error (an OSError the driver reports)."""
    with pytest.raises(OSError):
        Connection(("unix", str(tmp_path / "none.sock")), 5).get("/", {})


def test_tcp_addresses() -> None:
    """host, host:port and bracketed IPv6 addresses (port 80 when none is given)."""
    assert _host_port("10.0.0.1:2375") == ("10.0.0.1", 2375)
    assert _host_port("docker") == ("docker", 80)
    assert _host_port("[::1]:2375") == ("::1", 2375)
    assert _host_port("[::1]") == ("::1", 80)


def test_post_sends_its_body_with_a_length(path: str) -> None:
    """A request with a body sends Content-Length and the body after the head; a POST without
    one says Content-Length: 0 (as the engine's own client does)."""
    s = Scripted(path, [(b"HTTP/1.1 201 Created\r\nContent-Length: 2\r\n\r\n{}", False),
                      (b"HTTP/1.1 204 No Content\r\n\r\n", False)])
    c = Connection(("unix", path), 5)
    r = c.request("POST", "/containers/create?name=x", {"Host": "docker"}, b'{"Image":"b"}')
    assert (r.status, r.body) == (201, b"{}")
    assert c.request("POST", "/containers/x/start", {"Host": "docker"}).status == 204
    assert s.requests[0] == (b"POST /containers/create?name=x HTTP/1.1\r\nHost: docker\r\n"
                             b"Content-Length: 13\r\n\r\n" + b'{"Image":"b"}')
    assert s.requests[1].startswith(b"POST /containers/x/start HTTP/1.1\r\n")
    assert b"Content-Length: 0\r\n" in s.requests[1]
    assert s.accepted == 1
