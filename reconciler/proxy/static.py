"""Static apps (`ace.app(..., static_only=True)`, OpenRun's `static` specs): the files of an app's
source directory, served by the proxy itself; no container.

- `APP/` serves the index (`index`, default `index.html`), `APP/a/b.css` the source's
  `a/b.css`; a directory serves its index (`APP/dir` first redirects to `APP/dir/`, as `APP`
  does to `APP/`, so that relative links resolve), never a listing; `single_file=True` serves
  the index for every path.
- Never outside the source: dot segments, encoded slashes and backslashes were refused before
  routing (`paths`), and a path whose real location (symlinks resolved) is outside the source's
  is refused (403). Files `.dockerignore` excludes and `.star` files (the app's code) are 404.
- `Content-Type` from the file name (Python's built-in table plus a few web types, never the
  machine's /etc/mime.types, so every machine answers the same), `ETag` and `Last-Modified`
  with 304s, `Cache-Control: no-cache` (browsers revalidate, so an edited file shows on the
  next load); GET and HEAD only.

I/O stays off the event loop, which proxies every other app: the lookup (realpath, open, fstat
and, for a file up to `SMALL_FILE`, the read) is one call on the loop's thread pool — a hop of
tens of microseconds, against a blocked loop for as long as a cold disk or a network file system
takes; larger files stream in `CHUNK` reads, each on the pool, with writer backpressure."""

from __future__ import annotations

import asyncio
import mimetypes
import os
import stat
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC
from email.utils import formatdate, parsedate_to_datetime

from apps.model import STATIC_INDEX, App
from reconciler.core.dockerignore import DockerIgnore
from reconciler.proxy.http1 import CHUNK, Head, encode_head
from reconciler.proxy.pages import REASONS, page_response
from reconciler.proxy.paths import NormPath

__all__ = ["SMALL_FILE", "Ask", "Lookup", "Reply", "StaticSite", "content_type", "lookup"]

SMALL_FILE = 64 * 1024  # read whole during the lookup and sent with the head in one write
_OPEN_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0)
_TYPES = mimetypes.MimeTypes()  # Python's built-in table only: the same on every machine
_WEB_TYPES = {".js": "text/javascript", ".mjs": "text/javascript", ".map": "application/json",
              ".md": "text/markdown", ".webp": "image/webp", ".woff": "font/woff",
              ".woff2": "font/woff2", ".ttf": "font/ttf", ".otf": "font/otf"}
_COMPRESSED = {"gzip": "application/gzip", "bzip2": "application/x-bzip2",
               "xz": "application/x-xz"}


def content_type(name: str) -> str:
    """The Content-Type of a file name. A compressed file (`a.tar.gz`) is sent as the archive it
    is, never with a Content-Encoding a browser would undo."""
    low = name.lower()
    ctype, encoding = _TYPES.guess_type(low, strict=False)
    if encoding:
        return _COMPRESSED.get(encoding, "application/octet-stream")
    ctype = _WEB_TYPES.get(os.path.splitext(low)[1]) or ctype or "application/octet-stream"
    return ctype + "; charset=utf-8" if ctype.startswith("text/") else ctype


@dataclass(frozen=True, slots=True)
class Ask:
    """What a lookup needs of one GET or HEAD request."""

    method: str
    rel: tuple[str, ...]  # decoded segments below the app's prefix
    path: str  # the public path as sent (for redirects and error pages)
    query: str
    needs_slash: bool  # a directory asked for without the trailing "/" (not the root "/")
    if_none_match: str | None = None
    if_modified_since: str | None = None
    keep: bool = True


@dataclass(frozen=True, slots=True)
class Reply:
    """What to write: `data` (the head, and the body when it fits), then `size` bytes read from
    the open file `fd` when it is not -1 (the caller streams them and closes it)."""

    data: bytes
    fd: int = -1
    size: int = 0


@dataclass(frozen=True, slots=True)
class StaticSite:
    """A static app as the routing table holds it (rebuilt on every pass, so `.dockerignore` is
    read again then)."""

    app: str
    name: str
    root: str  # the app's source directory ("" when its source is "-")
    depth: int  # segments of the app's public prefix
    index: tuple[str, ...]  # the index file's path segments
    single_file: bool
    ignore: DockerIgnore

    @classmethod
    def of(cls, app: App, depth: int) -> StaticSite:
        source = app.entry.source
        root = os.path.abspath(source) if source not in ("", "-") else ""
        index = tuple(p for p in (app.index or STATIC_INDEX).split("/") if p not in ("", "."))
        return cls(app.path, app.name, root, depth, index, app.single_file,
                   DockerIgnore.read(root) if root else DockerIgnore())

    async def serve(self, head: Head, path: NormPath, writer: asyncio.StreamWriter,
                    keep: bool) -> bool:
        """Answer one request; returns whether the client connection may carry another."""
        if head.method not in ("GET", "HEAD"):
            writer.write(page_response(405, "Method not allowed", [
                f"app {self.app} ({self.name}) serves files: GET and HEAD only"],
                close=not keep, method=head.method, extra=[("Allow", "GET, HEAD")]))
            return keep
        ask = Ask(head.method, path.decoded[self.depth:], path.path, path.query,
                  not path.trailing and bool(path.raw), head.get("if-none-match"),
                  head.get("if-modified-since"), keep)
        reply = await _off_loop(lookup, self, ask)
        writer.write(reply.data)
        if reply.fd < 0:
            return keep
        try:
            whole = await _stream(writer, reply.fd, reply.size)
        finally:
            os.close(reply.fd)
        return keep and whole


Lookup = Callable[[StaticSite, Ask], Reply]


async def _off_loop(fn: Lookup, site: StaticSite, ask: Ask) -> Reply:
    """`fn(site, ask)` on the loop's thread pool; a file it opened for a request that was
    cancelled meanwhile (the client went away) is closed."""
    fut = asyncio.get_running_loop().run_in_executor(None, fn, site, ask)
    try:
        return await asyncio.shield(fut)
    except asyncio.CancelledError:
        fut.add_done_callback(_close_unused)
        raise


def _close_unused(fut: asyncio.Future[Reply]) -> None:
    if not fut.cancelled() and fut.exception() is None and fut.result().fd >= 0:
        os.close(fut.result().fd)


async def _stream(writer: asyncio.StreamWriter, fd: int, size: int) -> bool:
    """Send `size` bytes of `fd` in CHUNK reads on the thread pool; False when the file ended
    early (it shrank since its length was sent: the connection must close)."""
    loop = asyncio.get_running_loop()
    offset = 0
    while offset < size:
        data = await loop.run_in_executor(None, os.pread, fd, min(CHUNK, size - offset), offset)
        if not data:
            return False
        writer.write(data)
        await writer.drain()
        offset += len(data)
    return True


def lookup(site: StaticSite, ask: Ask) -> Reply:
    """Resolve one request to a file of the site and answer it (blocking file-system calls:
    run it off the event loop)."""
    if not site.root:
        return _page(ask, 404, "Not found", f"app {site.app} ({site.name}) is a static app "
                     "without files: its source is \"-\"; give it a source directory in the "
                     "apps file")
    root = os.path.realpath(site.root)
    segs = site.index if site.single_file else ask.rel
    for _ in range(2):  # the path, then (a directory) its index
        if segs and (segs[-1].endswith(".star") or site.ignore.ignores("/".join(segs))):
            why = ".star files are the app's code" if segs[-1].endswith(".star") else \
                "the app's .dockerignore excludes it"
            return _page(ask, 404, "Not found", f"{ask.path}: not served ({why})")
        real = os.path.realpath(os.path.join(root, *segs))
        if real != root and not real.startswith(root.rstrip(os.sep) + os.sep):
            return _page(ask, 403, "Forbidden", f"{ask.path}: leads outside the directory of "
                         f"app {site.app} (a symlink): not served")
        try:
            fd = os.open(real, _OPEN_FLAGS)
        except OSError as exc:
            if isinstance(exc, PermissionError):
                return _page(ask, 403, "Forbidden", f"{ask.path}: not readable by ace")
            return _missing(site, ask)
        st = os.fstat(fd)
        if stat.S_ISREG(st.st_mode):
            return _file(ask, fd, st, segs[-1])
        os.close(fd)
        if not stat.S_ISDIR(st.st_mode) or site.single_file or segs[len(ask.rel):]:
            break
        if ask.needs_slash:
            loc = ask.path + "/" + ask.query
            return Reply(page_response(301, "Moved", [loc], close=not ask.keep,
                                       method=ask.method, extra=[("Location", loc)]))
        segs = (*segs, *site.index)
    return _missing(site, ask)


def _missing(site: StaticSite, ask: Ask) -> Reply:
    index = "/".join(site.index)
    what = ("no such file" if site.single_file or ask.rel and not ask.path.endswith("/")
            else f"no such file, or a directory without {index} (ace lists no directories)")
    return _page(ask, 404, "Not found", f"{ask.path}: {what} in app {site.app} ({site.name})")


def _page(ask: Ask, status: int, title: str, line: str) -> Reply:
    return Reply(page_response(status, title, [line], close=not ask.keep, method=ask.method))


def _file(ask: Ask, fd: int, st: os.stat_result, name: str) -> Reply:
    """The answer for an open regular file: 304, a HEAD's head, or the file (read now when
    small, else left open for streaming)."""
    validators = [("ETag", f'"{st.st_mtime_ns:x}-{st.st_size:x}"'),
                  ("Last-Modified", formatdate(st.st_mtime, usegmt=True)),
                  ("Cache-Control", "no-cache")]
    if not_modified(ask.if_none_match, ask.if_modified_since, validators[0][1], st.st_mtime):
        os.close(fd)
        return Reply(_head(304, validators, ask.keep))
    size = st.st_size
    data = b""
    if ask.method == "GET" and size <= SMALL_FILE:
        try:
            data = _read(fd, size)
        finally:
            os.close(fd)
        size = len(data)  # what was read, should the file have changed since the fstat
    elif ask.method == "HEAD":
        os.close(fd)
    headers = [("Content-Type", content_type(name)), ("Content-Length", str(size)),
               *validators, ("X-Content-Type-Options", "nosniff")]
    head = _head(200, headers, ask.keep)
    if ask.method == "HEAD" or size <= SMALL_FILE:
        return Reply(head + data)
    return Reply(head, fd, size)


def _read(fd: int, size: int) -> bytes:
    parts: list[bytes] = []
    left = size
    while left > 0:
        data = os.read(fd, left)
        if not data:
            break
        parts.append(data)
        left -= len(data)
    return b"".join(parts)


def _head(status: int, headers: list[tuple[str, str]], keep: bool) -> bytes:
    if not keep:
        headers = [*headers, ("Connection", "close")]
    return encode_head(f"HTTP/1.1 {status} {REASONS[status]}", headers)


def not_modified(if_none_match: str | None, if_modified_since: str | None, etag: str,
                 mtime: float) -> bool:
    """RFC 9110's conditional GET: If-None-Match (weak comparison, `*`) when sent, else
    If-Modified-Since (a date that does not parse, or lies in the future, is ignored)."""
    if if_none_match is not None:
        want = etag.removeprefix("W/")
        return any(t == "*" or t.removeprefix("W/") == want
                   for t in (p.strip() for p in if_none_match.split(",")))
    if not if_modified_since:
        return False
    try:
        when = parsedate_to_datetime(if_modified_since)
    except (TypeError, ValueError, IndexError, OverflowError):
        return False
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    since = when.timestamp()
    return since <= time.time() and int(mtime) <= since
