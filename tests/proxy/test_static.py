"""Static apps served by the proxy from their source directory, against real files: the index,
nested paths and directories, single_file, conditional requests, HEAD, traversal and symlink
refusal, 404s (missing, .dockerignore'd, .star), content types and streaming of large files."""

from __future__ import annotations

import asyncio
import hashlib
import http.client
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from email.utils import formatdate
from pathlib import Path

import pytest

from apps.model import App, AppEntry, Route
from reconciler.core.types import DesiredState, ObservedState
from reconciler.proxy import static
from reconciler.proxy.service import ProxyService
from tests.proxy.kit import app, configure, request, running
from tests.proxy.upstream import upstream

BIG = 3 * 1024 * 1024 + 7  # streamed in chunks (larger than static.SMALL_FILE)


def site_app(path: str, root: Path | str, *, index: str = "", single_file: bool = False,
             routes: tuple[Route, ...] = ()) -> App:
    return App(entry=AppEntry(path=path, source=str(root)), name="site", params=(),
               routes=routes, static_only=True, index=index, single_file=single_file)


@pytest.fixture
def site(tmp_path: Path) -> Path:
    """A source directory with nested files, ignored ones, .star files and symlinks (one
    inside, two leading outside)."""
    root = tmp_path / "site"
    files = {
        "index.html": "<h1>home</h1>\n", "style.css": "body{}\n", "app.js": "run()\n",
        "logo.svg": "<svg/>\n", "data.xyz": "??\n", "my page.html": "spaced\n",
        "docs/index.html": "docs\n", "docs/guide.html": "guide\n", "docs/main.html": "main\n",
        "empty/listing-would-show-me.txt": "x\n", "app.star": "app = ace.app('x')\n",
        "lib.star": "X = 1\n", "secret.env": "TOKEN=1\n", "private/key.txt": "key\n",
        "private/ok.txt": "ok\n", ".dockerignore": "*.env\nprivate/\n!private/ok.txt\n",
    }
    for rel, text in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text)
    (root / "img.png").write_bytes(b"\x89PNG\r\n\x1a\n")
    (root / "big.bin").write_bytes(os.urandom(BIG))
    (tmp_path / "outside").mkdir()
    (tmp_path / "outside" / "secret.txt").write_text("outside secret\n")
    (root / "leak.txt").symlink_to(tmp_path / "outside" / "secret.txt")
    (root / "leakdir").symlink_to(tmp_path / "outside")
    (root / "alias.css").symlink_to("style.css")
    return root


@contextmanager
def serving(*apps: App) -> Iterator[ProxyService]:
    with running() as p:
        p.update(list(apps), DesiredState(()), ObservedState((), ()), {})
        yield p


def test_index_nested_paths_and_directories(site: Path) -> None:
    """APP/ serves index.html, other paths their file; APP and a directory without "/"
    redirect to the slash; a directory serves its index; one without an index is 404 with no
    listing; an app's own `index` names the file served for directories."""
    with serving(site_app("/site", site), site_app("/alt", site, index="main.html")) as p:
        assert request(p, "GET", "/site/")[::2] == (200, b"<h1>home</h1>\n")
        assert request(p, "GET", "/site/docs/guide.html")[::2] == (200, b"guide\n")
        assert request(p, "GET", "/site/my%20page.html")[::2] == (200, b"spaced\n")
        for asked, location in (("/site", "/site/"), ("/site/docs?x=1", "/site/docs/?x=1")):
            status, h, _ = request(p, "GET", asked)
            assert (status, h["location"]) == (301, location)
        assert request(p, "GET", "/site/docs/")[::2] == (200, b"docs\n")
        status, _, body = request(p, "GET", "/site/empty/")
        assert status == 404 and b"listing-would-show-me" not in body
        assert b"ace lists no directories" in body
        assert request(p, "GET", "/alt/docs/")[::2] == (200, b"main\n")
        assert request(p, "GET", "/alt/")[0] == 404  # no main.html at the top


def test_app_at_root_serves_its_index_at_slash(site: Path) -> None:
    """A static app at "/" answers "/" with its index (no redirect) and every other path."""
    with serving(site_app("/", site)) as p:
        assert request(p, "GET", "/")[::2] == (200, b"<h1>home</h1>\n")
        assert request(p, "GET", "/docs/guide.html")[::2] == (200, b"guide\n")


def test_single_file_serves_the_index_for_every_path(site: Path) -> None:
    """single_file=True answers every path, existing files included, with the index."""
    with serving(site_app("/one", site, index="docs/guide.html", single_file=True)) as p:
        for path in ("/one", "/one/", "/one/deep/route", "/one/style.css", "/one/docs/"):
            status, h, body = request(p, "GET", path)
            assert (status, body) == (200, b"guide\n"), path
            assert h["content-type"] == "text/html; charset=utf-8"


def test_conditional_requests_answer_304(site: Path) -> None:
    """If-None-Match (exact, weak, in a list, `*`) and If-Modified-Since answer 304 without a
    body; a different tag, an older or a bad date, or an edited file answer 200. If-None-Match
    wins over If-Modified-Since."""
    with serving(site_app("/site", site)) as p:
        _, h, _ = request(p, "GET", "/site/style.css")
        etag, modified = h["etag"], h["last-modified"]
        assert h["cache-control"] == "no-cache"
        for inm in (etag, f'"x", W/{etag}', "*"):
            status, h304, body = request(p, "GET", "/site/style.css",
                                         headers={"If-None-Match": inm})
            assert (status, body, h304["etag"]) == (304, b"", etag), inm
        assert request(p, "GET", "/site/style.css",
                       headers={"If-Modified-Since": modified})[::2] == (304, b"")
        older = formatdate(time.time() - 3600 * 24 * 400, usegmt=True)
        os.utime(site / "style.css", (time.time() - 3600, time.time() - 3600))
        for headers in ({"If-None-Match": '"other"'}, {"If-Modified-Since": older},
                        {"If-Modified-Since": "yesterday"},
                        {"If-None-Match": '"other"', "If-Modified-Since": modified}):
            assert request(p, "GET", "/site/style.css", headers=headers)[0] == 200, headers
        (site / "style.css").write_text("body{color:red}\n")
        status, h, body = request(p, "GET", "/site/style.css", headers={"If-None-Match": etag})
        assert (status, body) == (200, b"body{color:red}\n") and h["etag"] != etag


def test_head_answers_the_get_headers_without_a_body(site: Path) -> None:
    """HEAD gets GET's status and headers (Content-Length, ETag) and no body, for small and
    streamed files and for a 404."""
    with serving(site_app("/site", site)) as p:
        for path, size in (("/site/style.css", 7), ("/site/big.bin", BIG)):
            _, got, _ = request(p, "GET", path)
            status, h, body = request(p, "HEAD", path)
            assert (status, body, h["content-length"], h["etag"]) == (
                200, b"", str(size), got["etag"])
        assert request(p, "HEAD", "/site/nope")[::2] == (404, b"")


def test_traversal_and_symlinks_leaving_the_directory_are_refused(site: Path) -> None:
    """Dot segments (plain or encoded) and encoded slashes are refused before routing (400); a
    symlink to a file or directory outside the source is refused (403) and shows nothing of
    it; a symlink inside the source is served."""
    with serving(site_app("/site", site)) as p:
        for path in ("/site/../outside/secret.txt", "/site/%2e%2e/outside/secret.txt",
                     "/site/docs%2f..%2f..%2foutside%2fsecret.txt", "/site/docs\\..\\x"):
            assert request(p, "GET", path)[0] == 400, path
        for path in ("/site/leak.txt", "/site/leakdir/secret.txt", "/site/leakdir/"):
            status, _, body = request(p, "GET", path)
            assert status == 403 and b"outside secret" not in body, path
        assert request(p, "GET", "/site/alias.css")[::2] == (200, b"body{}\n")


def test_missing_file_is_a_404_page_in_the_proxy_style(site: Path) -> None:
    """A missing file answers the proxy's own 404 page naming the path and the app."""
    with serving(site_app("/site", site)) as p:
        status, h, body = request(p, "GET", "/site/docs/nope.html")
    assert status == 404 and h["content-type"] == "text/html; charset=utf-8"
    assert h["cache-control"] == "no-store"
    assert b"<h1>404 Not found</h1>" in body and b"ace proxy" in body
    assert b"/site/docs/nope.html: no such file in app /site (site)" in body


def test_dockerignored_and_star_files_are_not_served(site: Path) -> None:
    """Files .dockerignore excludes (also below an excluded directory) and .star files answer
    404 saying why; a `!` exception is served; the file is read again on each update."""
    with serving(site_app("/site", site)) as p:
        code = b".star files are the app&#x27;s code"  # the page escapes the quote
        for path, why in (("/site/app.star", code), ("/site/lib.star", code),
                          ("/site/secret.env", b".dockerignore"),
                          ("/site/private/key.txt", b".dockerignore")):
            status, _, body = request(p, "GET", path)
            assert status == 404 and why in body, path
        assert request(p, "GET", "/site/private/ok.txt")[::2] == (200, b"ok\n")
        (site / ".dockerignore").write_text("docs/guide.html\n")
        p.update([site_app("/site", site)], DesiredState(()), ObservedState((), ()), {})
        assert request(p, "GET", "/site/docs/guide.html")[0] == 404
        assert request(p, "GET", "/site/secret.env")[0] == 200


def test_content_types_from_the_file_name(site: Path) -> None:
    """Content-Type comes from the name with Python's own table (not the machine's), text gets
    utf-8, unknown names are octet-stream, compressed files are not given a Content-Encoding;
    with nosniff."""
    want = {"/site/": "text/html; charset=utf-8", "/site/style.css": "text/css; charset=utf-8",
            "/site/app.js": "text/javascript; charset=utf-8", "/site/logo.svg": "image/svg+xml",
            "/site/img.png": "image/png", "/site/data.xyz": "application/octet-stream"}
    with serving(site_app("/site", site)) as p:
        for path, ctype in want.items():
            _, h, _ = request(p, "GET", path)
            assert (h["content-type"], h["x-content-type-options"]) == (ctype, "nosniff"), path
    assert static.content_type("A.HTML") == "text/html; charset=utf-8"
    assert static.content_type("font.woff2") == "font/woff2"
    assert static.content_type("notes.md") == "text/markdown; charset=utf-8"
    assert static.content_type("code.ts") == "application/octet-stream"  # not Qt's linguist
    assert static.content_type("a.tar.gz") == "application/gzip"


def test_large_files_stream_and_the_connection_is_kept(site: Path) -> None:
    """A file larger than one read streams whole and intact, and the client connection then
    carries the next request."""
    want = hashlib.sha256((site / "big.bin").read_bytes()).hexdigest()
    with serving(site_app("/site", site)) as p:
        conn = http.client.HTTPConnection("127.0.0.1", p.port, timeout=10)
        try:
            conn.request("GET", "/site/big.bin")
            resp = conn.getresponse()
            body = resp.read()
            assert resp.status == 200 and resp.getheader("content-type") == \
                "application/octet-stream"
            assert len(body) == BIG and hashlib.sha256(body).hexdigest() == want
            conn.request("GET", "/site/style.css")
            assert conn.getresponse().read() == b"body{}\n"
        finally:
            conn.close()


def test_a_file_that_shrinks_while_streaming_ends_the_connection(tmp_path: Path) -> None:
    """When the file has fewer bytes than the Content-Length sent, streaming stops and says
    the connection cannot be reused."""
    path = tmp_path / "f"
    path.write_bytes(b"x" * 10)

    class Sink:
        def __init__(self) -> None:
            self.data = b""

        def write(self, data: bytes) -> None:
            self.data += data

        async def drain(self) -> None:
            return None

    sink = Sink()
    fd = os.open(path, os.O_RDONLY)
    try:
        assert asyncio.run(static._stream(sink, fd, 100)) is False  # type: ignore[arg-type]
    finally:
        os.close(fd)
    assert sink.data == b"x" * 10


def test_other_methods_and_apps_without_files(site: Path) -> None:
    """POST answers 405 with Allow; a static app whose source is "-" answers 404 saying
    what to do."""
    with serving(site_app("/site", site), site_app("/none", "-")) as p:
        status, h, _ = request(p, "POST", "/site/", body=b"x")
        assert (status, h["allow"]) == (405, "GET, HEAD")
        status, _, body = request(p, "GET", "/none/")
        assert status == 404 and b"give it a source directory" in body


def test_a_route_beside_a_static_app_keeps_its_prefix(site: Path) -> None:
    """An app with a route under the static app's path gets its requests (longest prefix)."""
    with upstream("api") as a, running() as p:
        configure(p, [site_app("/site", site), app("/site/api", name="api")],
                  {"/site/api": a.port})
        status, h, _ = request(p, "GET", "/site/api/x")
        assert (status, h["x-upstream"]) == (200, "api")
        assert request(p, "GET", "/site/style.css")[::2] == (200, b"body{}\n")


def test_if_modified_since_rules() -> None:
    """A future or unparsable If-Modified-Since is ignored; a date without zone is UTC."""
    mtime = 1_700_000_000.5
    assert static.not_modified(None, formatdate(1_700_000_000, usegmt=True), '"e"', mtime)
    assert not static.not_modified(None, formatdate(time.time() + 3600, usegmt=True),
                                   '"e"', mtime)
    assert not static.not_modified(None, "not a date", '"e"', mtime)
    assert static.not_modified(None, "Tue, 14 Nov 2023 22:13:20 -0000", '"e"', mtime)
    assert not static.not_modified(None, None, '"e"', mtime)
