"""`start_proxy` (shared by `ace serve` and `ace watch`): warnings, bind failures, the record
`ace status` reads; the --upstream-timeout option; and upstream heads with bare LF line ends
(other header rules as for requests)."""

from __future__ import annotations

import asyncio
import socket
from pathlib import Path

import pytest
from typer.testing import CliRunner

from apps.errors import AceError
from reconciler.cli.app import app as cli_app
from reconciler.cli.loop import start_proxy
from reconciler.proxy.address import live_proxies, public_base
from reconciler.proxy.http1 import BadMessage, parse_response, read_response_head


def test_non_loopback_listen_warns(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    with pytest.raises(AceError, match="proxy cannot listen on 192.0.2.1:0"):
        start_proxy("192.0.2.1:0", tmp_path)  # TEST-NET address: warned about, never bound
    assert "reachable from other machines" in capsys.readouterr().err


def test_busy_address_fails_or_warns(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen(1)
        listen = f"127.0.0.1:{s.getsockname()[1]}"
        with pytest.raises(AceError, match="--no-proxy"):
            start_proxy(listen, tmp_path)
        assert start_proxy(listen, tmp_path, required=False) is None
        assert "watching without the proxy" in capsys.readouterr().err
    with pytest.raises(AceError, match="expected HOST:PORT"):
        start_proxy("nonsense", tmp_path)


def test_started_proxy_is_recorded_for_status(tmp_path: Path) -> None:
    proxy = start_proxy("127.0.0.1:0", tmp_path)
    assert proxy is not None
    try:
        assert public_base(tmp_path) == proxy.base_url
    finally:
        proxy.stop()
    assert public_base(tmp_path) == ""


def test_response_heads_with_bare_lf() -> None:
    async def read(data: bytes) -> bytes | None:
        r = asyncio.StreamReader()
        r.feed_data(data)
        r.feed_eof()
        return await read_response_head(r)

    raw = asyncio.run(read(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\n\nbody"))
    assert raw is not None
    head = parse_response(raw)
    assert head.status == 200 and head.get("content-type") == "text/plain"
    assert asyncio.run(read(b"")) is None
    crlf = asyncio.run(read(b"HTTP/1.1 404 Not Found\r\nA: b\r\n\r\n"))
    assert crlf is not None and parse_response(crlf).reason == "Not Found"
    for bad in (b"HTTP/1.1 200 OK\r\nA: b\x00c\r\n\r\n", b"HTTP/1.1 200 OK\r\nA b: c\r\n\r\n"):
        with pytest.raises(BadMessage):
            parse_response(bad)


def test_response_fields_trimmed_and_checked_in_every_line_ending() -> None:
    """Response header values lose their surrounding spaces and tabs whether lines end in CRLF or
    a bare LF; an unusual line still parses, and a bad one is refused with its reason."""
    for eol in (b"\r\n", b"\n"):
        head = parse_response(b"HTTP/1.1 200 OK" + eol + b"A:  x y \t" + eol + b"B:" + eol
                              + b"C:\tz" + eol)
        assert head.headers == [("A", "x y"), ("B", ""), ("C", "z")]
    assert parse_response(b"HTTP/1.1 200 OK\r\nA: v\r\r\n").headers == [("A", "v")]
    with pytest.raises(BadMessage, match="folding"):
        parse_response(b"HTTP/1.1 200 OK\r\nA: v\r\n b: c\r\n")
    with pytest.raises(BadMessage, match="control character"):
        parse_response(b"HTTP/1.1 200 OK\r\nA: v\x01\r\n")
    with pytest.raises(BadMessage, match="malformed status line"):
        parse_response(b"HTTP/2 200 OK\r\nA: v\r\n")


def test_upstream_timeout_option_reaches_the_proxy(tmp_path: Path) -> None:
    """`--upstream-timeout` is an option of both `ace watch` and `ace serve`, and the proxy
    `start_proxy` starts waits that long."""
    for command in ("watch", "serve"):
        out = CliRunner().invoke(cli_app, [command, "--help"], env={"COLUMNS": "200"}).output
        assert "--upstream-timeout" in out, out
    proxy = start_proxy("127.0.0.1:0", tmp_path, upstream_timeout=1.5)
    assert proxy is not None
    try:
        assert proxy.core.upstream_timeout == 1.5
    finally:
        proxy.stop()


def test_serve_on_a_busy_address_suggests_options_serve_has(tmp_path: Path) -> None:
    """`ace serve --listen BUSY` fails naming --listen and not --no-proxy, which serve lacks."""
    (tmp_path / "apps.star").write_text("")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen(1)
        listen = f"127.0.0.1:{s.getsockname()[1]}"
        res = CliRunner().invoke(cli_app, ["serve", "-f", str(tmp_path / "apps.star"),
                                           "--listen", listen])
    assert res.exit_code == 1
    assert f"proxy cannot listen on {listen}" in res.output
    assert "use --listen HOST:PORT with a free port, or stop what listens there" in res.output
    assert "--no-proxy" not in res.output


def test_two_proxies_of_one_state_dir_keep_their_own_records(tmp_path: Path) -> None:
    """Each proxy records itself; one stopping leaves the other's record; a record left by a
    killed proxy is ignored and pruned by the next start."""
    (tmp_path / "proxy-999999999-1.json").write_text(
        '{"url": "http://127.0.0.1:1", "pid": 999999999, "started": 0}')
    first = start_proxy("127.0.0.1:0", tmp_path)
    assert first is not None
    assert not (tmp_path / "proxy-999999999-1.json").exists()
    second = start_proxy("127.0.0.1:0", tmp_path)
    assert second is not None
    try:
        assert live_proxies(tmp_path) == [first.base_url, second.base_url]
        second.stop()
        assert live_proxies(tmp_path) == [first.base_url]
        assert public_base(tmp_path) == first.base_url
    finally:
        second.stop()
        first.stop()
    assert live_proxies(tmp_path) == [] and public_base(tmp_path) == ""
