"""Pure rules of the proxy: path normalisation, routing and strip rules, header rules."""

from __future__ import annotations

import pytest

from apps.model import App, Route
from reconciler.proxy.address import is_loopback, parse_listen
from reconciler.proxy.headers import request_headers, response_headers, rewrite_location
from reconciler.proxy.http1 import Framing, Head
from reconciler.proxy.paths import PathRefused, join_prefix, normalise
from reconciler.proxy.routing import Backend, Match, Table, build_entries
from tests.proxy.kit import CONTAINER, app


@pytest.mark.parametrize("target", [
    "/web/../api/x", "/web/%2e%2e/api", "/web/%2E%2e/api", "/web/..%2fapi", "/web%2F..%2Fapi",
    "/web/./x", "/web\\..\\api", "/web/%5c..", "/a/%00", "web/x", "*", "/%ff%fe",
])
def test_traversal_and_odd_paths_are_refused(target: str) -> None:
    with pytest.raises(PathRefused):
        normalise(target)


def test_normalise_collapses_slashes_keeps_encoding_and_query() -> None:
    p = normalise("//web///a%20b/?q=1/../x")
    assert p.path == "/web/a%20b/" and p.query == "?q=1/../x"
    assert p.decoded == ("web", "a b") and p.trailing
    assert normalise("/").path == "/" and normalise("/").decoded == ()
    assert normalise("http://h:1/web/x?y").path == "/web/x"
    assert normalise("/w%65b/x").decoded == ("web", "x")


def test_join_prefix() -> None:
    assert join_prefix("/", "/") == "/"
    assert join_prefix("/web", "/") == "/web"
    assert join_prefix("/web", "/api/") == "/web/api"
    assert join_prefix("/", "/api") == "/api"


def _table(*apps: App) -> Table:
    return Table(build_entries(apps))


def test_longest_prefix_wins_and_root_catches_the_rest() -> None:
    t = _table(app("/"), app("/web"), app("/web/api"), app("/webby"),
               app("/x", Route("/deep/er", CONTAINER)))
    def who(path: str) -> str | None:
        e = t.find(normalise(path))
        return e.app if e else None
    assert who("/web/api/v1") == "/web/api"
    assert who("/web/apix") == "/web"
    assert who("/webby/z") == "/webby"
    assert who("/web") == "/web"
    assert who("/other") == "/"
    assert who("/x/deep/er/1") == "/x"
    assert who("/x/deep") == "/"
    assert _table(app("/web")).find(normalise("/other")) is None


def test_strip_app_strip_path_and_prefix_header() -> None:
    t = _table(app("/web"), app("/full", Route("/", CONTAINER, strip_app=False)),
               app("/s", Route("/api", CONTAINER, strip_path="/api")))
    def resolve(path: str) -> tuple[str, str]:
        p = normalise(path)
        e = t.find(p)
        assert e is not None
        m = t.resolve(e, p)
        return m.upstream_path, m.stripped
    assert resolve("/web/a/b?x=1") == ("/a/b?x=1", "/web")
    assert resolve("/web/") == ("/", "/web")
    assert resolve("/full/a") == ("/full/a", "")
    assert resolve("/s/api/v1/") == ("/v1/", "/s/api")


def test_bare_app_path_redirects_only_when_asked_and_for_the_app_root_route() -> None:
    """ace.app(redirect_bare_path=True) turns /web into a redirect to /web/ (as OpenRun's
    framework specs ask); without it /web is served as the app's root."""
    entries = {e.prefix: e for e in build_entries([
        app("/web", redirect_bare_path=True), app("/", name="root", redirect_bare_path=True),
        app("/x", Route("/api", CONTAINER), redirect_bare_path=True), app("/plain")])}
    assert entries["/web"].redirect_bare
    assert not entries["/"].redirect_bare
    assert not entries["/x/api"].redirect_bare
    assert not entries["/plain"].redirect_bare
    t = _table(app("/plain"))
    p = normalise("/plain")
    e = t.find(p)
    assert e is not None and t.resolve(e, p).upstream_path == "/"


def _match(route: Route, path: str = "/web/a") -> Match:
    t = _table(app("/web", route))
    p = normalise(path)
    e = t.find(p)
    assert e is not None
    return t.resolve(e, p)


def test_request_headers_replace_forwarding_and_drop_hop_by_hop() -> None:
    head = Head("HTTP/1.1", "GET", "/web/a", headers=[
        ("Host", "public:8000"), ("X-Forwarded-For", "6.6.6.6"), ("X-Real-IP", "6.6.6.6"),
        ("Forwarded", "for=6.6.6.6"), ("X-Forwarded-Host", "evil"),
        ("Connection", "keep-alive, X-Secret"),
        ("X-Secret", "hop"), ("Keep-Alive", "1"), ("TE", "trailers"), ("Accept", "*/*"),
    ])
    b = Backend("http", "127.0.0.1", 5000)
    m = _match(Route("/", CONTAINER))
    out = request_headers(head, backend=b, match=m, client_ip="127.0.0.1",
                          public_host="public:8000", framing=Framing("none"), upgrade=None)
    d = dict(out)
    assert d["Host"] == "127.0.0.1:5000"
    assert d["X-Forwarded-For"] == "127.0.0.1" and d["X-Real-IP"] == "127.0.0.1"
    assert d["X-Forwarded-Host"] == "public:8000" and d["X-Forwarded-Proto"] == "http"
    assert d["X-Forwarded-Prefix"] == "/web"
    assert d["Accept"] == "*/*"
    for gone in ("Forwarded", "X-Secret", "Keep-Alive", "TE", "Connection"):
        assert gone not in d
    assert [k for k, _ in out].count("X-Forwarded-For") == 1
    keep = request_headers(head, backend=b, match=_match(Route("/", CONTAINER, preserve_host=True)),
                           client_ip="::1", public_host="public:8000",
                           framing=Framing("length", 3), upgrade="websocket")
    dk = dict(keep)
    assert dk["Host"] == "public:8000" and dk["Content-Length"] == "3"
    assert dk["Upgrade"] == "websocket" and dk["Connection"] == "Upgrade"


def test_location_rewrites() -> None:
    b = Backend("http", "127.0.0.1", 5000)
    m = _match(Route("/", CONTAINER))
    def rw(v: str) -> str:
        return rewrite_location(v, backend=b, match=m, origin="http://pub")
    assert rw("http://127.0.0.1:5000/landed?x=1") == "http://pub/web/landed?x=1"
    assert rw("http://localhost:5000/") == "http://pub/web/"
    assert rw("/landed") == "/web/landed"
    assert rw("/web/already") == "/web/already"
    assert rw("https://example.com/x") == "https://example.com/x"
    assert rw("relative/x") == "relative/x"
    assert rw("//other/x") == "//other/x"
    full = _match(Route("/", CONTAINER, strip_app=False))
    assert rewrite_location("/web/x", backend=b, match=full, origin="o") == "/web/x"
    ext = Backend.from_url("http://127.0.0.1:7000/base")
    assert rewrite_location("http://127.0.0.1:7000/base/y", backend=ext, match=m,
                            origin="http://pub") == "http://pub/web/y"
    assert rewrite_location("/elsewhere", backend=ext, match=m,
                            origin="http://pub") == "/elsewhere"


def test_response_headers_drop_hop_by_hop_and_set_route_headers() -> None:
    b = Backend("http", "127.0.0.1", 5000)
    route = Route("/", CONTAINER, response_headers=(("X-Frame-Options", "DENY"),
                                                    ("Link", "<$url>; rel=canonical")))
    head = Head("HTTP/1.1", status=200, headers=[
        ("Content-Length", "5"), ("Connection", "close"), ("Keep-Alive", "x"),
        ("x-frame-options", "ALLOW"), ("Set-Cookie", "a=1"), ("Set-Cookie", "b=2"),
        ("Transfer-Encoding", "chunked")])
    out = response_headers(head, backend=b, match=_match(route), origin="http://pub",
                           public_url="http://pub/web/a")
    names = [k.lower() for k, _ in out]
    assert "connection" not in names and "keep-alive" not in names
    assert "transfer-encoding" not in names and "content-length" not in names
    assert names.count("set-cookie") == 2 and names.count("x-frame-options") == 1
    d = dict(out)
    assert d["X-Frame-Options"] == "DENY" and d["Link"] == "<http://pub/web/a>; rel=canonical"


def test_listen_parsing_and_loopback() -> None:
    assert parse_listen("127.0.0.1:8000") == ("127.0.0.1", 8000)
    assert parse_listen(":9000") == ("127.0.0.1", 9000)
    assert parse_listen("[::1]:8000") == ("::1", 8000)
    for bad in ("8000", "host:", "h:99999"):
        with pytest.raises(ValueError):
            parse_listen(bad)
    assert is_loopback("127.0.0.1") and is_loopback("::1") and is_loopback("localhost")
    assert not is_loopback("0.0.0.0") and not is_loopback("192.168.1.2")
