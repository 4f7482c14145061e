"""The change path's engine calls (reconciler.driver.wire): JSON bodies, kept-alive connections
shared, one retry when the engine closed an idle one, and an engine that is away reported."""

from __future__ import annotations

from pathlib import Path

import pytest

from apps.errors import EngineError
from reconciler.driver.wire import Wire
from tests.reconciler.test_plainhttp import Scripted

OK = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}"


@pytest.fixture
def path(tmp_path: Path) -> str:
    return str(tmp_path / "engine.sock")


def test_json_body_and_answer(path: str) -> None:
    """The body goes as JSON with its type; the answer's JSON and status come back; the
    engine's flavour is told once, from the first answer's headers."""
    s = Scripted(path, [(b'HTTP/1.1 201 Created\r\nLibpod-API-Version: 4\r\n'
                         b'Content-Length: 11\r\n\r\n{"Id": "c"}', False), (OK, False)])
    seen: list[bool] = []
    w = Wire(("unix", path), 5, seen.append)
    answer = w.call("POST", "/containers/create", "create", query={"name": "a b"},
                    body={"Image": "busybox"})
    assert (answer.ok, answer.json()) == (True, {"Id": "c"})
    assert w.call("GET", "/x", "x").json() == {}
    assert s.requests[0].startswith(b"POST /containers/create?name=a+b HTTP/1.1\r\n")
    assert b"Content-Type: application/json\r\n" in s.requests[0]
    assert s.requests[0].endswith(b'\r\n\r\n{"Image": "busybox"}')
    assert seen == [True] and s.accepted == 1


def test_idle_connection_closed_by_the_engine_is_retried_once(path: str) -> None:
    """The engine closed a kept-alive connection while it was idle: the call goes out once more
    on a fresh connection and succeeds."""
    s = Scripted(path, [(OK, True), (OK, False)])
    w = Wire(("unix", path), 5)
    assert w.call("GET", "/a", "a").ok
    assert w.call("POST", "/b", "b").ok
    assert s.accepted == 2 and [r.split(b" ")[1] for r in s.requests] == [b"/a", b"/b"]


def test_engine_away_is_a_retryable_engine_error(tmp_path: Path) -> None:
    """Nothing answers: an EngineError naming the call and saying the engine is not answering."""
    w = Wire(("unix", str(tmp_path / "none.sock")), 5)
    with pytest.raises(EngineError, match="start container x: the Docker engine is not answering"
                       ) as info:
        w.call("POST", "/containers/x/start", "start container x")
    assert info.value.retryable


def test_error_answer_names_the_call(path: str) -> None:
    """An error answer is returned as such; its failure carries the engine's message."""
    Scripted(path, [(b'HTTP/1.1 409 Conflict\r\nContent-Length: 21\r\n\r\n{"message": "in use"}',
                     False)])
    answer = Wire(("unix", path), 5).call("DELETE", "/containers/x", "remove container x")
    assert not answer.ok
    assert str(answer.failure("remove container x")) == "remove container x: in use"
