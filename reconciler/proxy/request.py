"""Request heads from clients, read and parsed strictly: whatever one reading of a request could
frame differently from another (request smuggling) is refused with 400 before anything reaches
an upstream.

`read_request_head` reads line by line, so a head with bare-LF line ends or an HTTP/0.9 request
line is refused as soon as its line arrives instead of waiting for a CRLF CRLF that never comes.
Two parsers turn the head into a `Head`: llhttp (Node's parser, through `httptools`, with every
leniency off) and `parse_builtin`, a strict hand-written one (the reference the tests hold llhttp
to, and the fallback when httptools is not installed). Both are followed by the same rules
(`request_framing`): exactly one `Host` (HTTP/1.1), Content-Length as plain digits given once,
Transfer-Encoding exactly `chunked` (once, HTTP/1.1 only) and never together with a length.
Chunk sizes are checked as the body streams (`http1.parse_chunk_size`); the first one before the
request is forwarded."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable

from reconciler.proxy.http1 import MAX_HEAD, BadMessage, Framing, Head, check_field

__all__ = ["DEFAULT_PARSER", "PARSERS", "check_request_line", "parse_builtin", "parse_llhttp",
           "read_request_head", "request_framing"]

_TCHAR = rb"!#$%&'*+\-.^_`|~0-9A-Za-z"
# method SP request-target SP HTTP-version: single spaces, a target of visible ASCII
_REQUEST_LINE = re.compile(rb"([" + _TCHAR + rb"]+) ([\x21-\x7e]+) HTTP/1\.([01])\r\n")
_DIGITS = re.compile(r"[0-9]{1,18}")
# reg-name or IP literal, optional port (RFC 3986 host; no userinfo, no path)
_HOST = re.compile(r"(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9\-._~!$&'()*+,;=%]*)(:[0-9]*)?")


def check_request_line(line: bytes) -> tuple[str, str, str]:
    """(method, target, version) of a request line (with its CRLF); BadMessage otherwise: also
    for HTTP/0.9 (no version), HTTP/2 and later, and any other spacing."""
    m = _REQUEST_LINE.fullmatch(line)
    if m is None:
        raise BadMessage(f"malformed request line {line[:80]!r}")
    return (m.group(1).decode("ascii"), m.group(2).decode("ascii"),
            "HTTP/1." + m.group(3).decode("ascii"))


async def read_request_head(reader: asyncio.StreamReader) -> bytes | None:
    """The bytes of one request head up to and including the blank line; None on EOF before
    any byte. Empty lines before the request line are skipped (RFC 9112 2.2)."""
    size = 0
    lines: list[bytes] = []
    while True:
        try:
            line = await reader.readuntil(b"\n")
        except asyncio.IncompleteReadError as exc:
            if not lines and not exc.partial.strip():
                return None
            raise BadMessage("connection closed in the middle of a message head") from None
        except asyncio.LimitOverrunError:
            raise BadMessage(f"message head larger than {MAX_HEAD} bytes") from None
        size += len(line)
        if size > MAX_HEAD:
            raise BadMessage(f"message head larger than {MAX_HEAD} bytes")
        if not line.endswith(b"\r\n"):
            raise BadMessage(f"line not ended by CRLF {line[:60]!r}")
        if not lines:
            if line == b"\r\n":
                continue
            check_request_line(line)
        elif line == b"\r\n":
            lines.append(line)
            return b"".join(lines)
        lines.append(line)


def parse_builtin(raw: bytes) -> Head:
    """The hand-written parser: the request line, then `name: value` lines (RFC 9110 tokens;
    no control characters but HTAB in values; no obs-fold)."""
    if not raw.endswith(b"\r\n\r\n"):
        raise BadMessage("message head not ended by an empty line")
    first, _, rest = raw[:-2].partition(b"\r\n")
    method, target, version = check_request_line(first + b"\r\n")
    headers = []
    for line in rest.split(b"\r\n")[:-1]:
        name, sep, value = line.partition(b":")
        if not sep:
            raise BadMessage(f"malformed header line {line[:60]!r}")
        headers.append(check_field(name, value))
    return Head(version=version, method=method, target=target, headers=headers)


try:
    import httptools
except ImportError:  # pragma: no cover - httptools is a dependency; this keeps ace usable
    httptools = None  # type: ignore[assignment]


class _Collect:
    """httptools callbacks: the target and the header fields of one head."""

    __slots__ = ("complete", "headers", "url")

    def __init__(self) -> None:
        self.url = b""
        self.headers: list[tuple[str, str]] = []
        self.complete = False

    def on_url(self, url: bytes) -> None:
        self.url += url

    def on_header(self, name: bytes, value: bytes) -> None:
        self.headers.append((name.decode("latin-1"), value.strip(b" \t").decode("latin-1")))

    def on_headers_complete(self) -> None:
        self.complete = True


def parse_llhttp(raw: bytes) -> Head:
    """llhttp with all leniencies off (its defaults, set again so that a changed default
    cannot loosen it): refuses bare CR or LF, obs-fold, CL with TE, duplicate or malformed
    Content-Length, control characters in values, non-token names, unknown methods."""
    if httptools is None:  # pragma: no cover
        raise RuntimeError("httptools is not installed")
    out = _Collect()
    parser = httptools.HttpRequestParser(out)
    parser.set_dangerous_leniencies(
        lenient_headers=False, lenient_chunked_length=False, lenient_keep_alive=False,
        lenient_transfer_encoding=False, lenient_version=False, lenient_data_after_close=False,
        lenient_optional_lf_after_cr=False, lenient_optional_cr_before_lf=False,
        lenient_optional_crlf_after_chunk=False, lenient_spaces_after_chunk_size=False)
    try:
        parser.feed_data(raw)
    except httptools.HttpParserUpgrade:
        pass  # the head is complete; what follows belongs to the upgraded protocol
    except httptools.HttpParserError as exc:
        raise BadMessage(f"malformed request: {exc}") from None
    if not out.complete:
        raise BadMessage("incomplete message head")
    version = parser.get_http_version()
    end = raw.index(b"\r\n")
    # llhttp takes runs of spaces between the parts of the request line, HTTP/0.9 and 2.0
    if raw.count(b" ", 0, end) != 2 or version not in ("1.0", "1.1"):
        raise BadMessage(f"malformed request line {raw[:min(end, 80)]!r}")
    return Head(version="HTTP/" + version, method=parser.get_method().decode("ascii"),
                target=out.url.decode("ascii"), headers=out.headers)


PARSERS: dict[str, Callable[[bytes], Head]] = {"builtin": parse_builtin, "llhttp": parse_llhttp}
DEFAULT_PARSER = "llhttp" if httptools is not None else "builtin"


def _length(values: list[str]) -> int | None:
    if not values:
        return None
    if len(values) != 1 or not _DIGITS.fullmatch(values[0]):
        raise BadMessage("Content-Length given more than once or not plain digits")
    return int(values[0])


def request_framing(head: Head) -> Framing:
    """How the request's body is delimited; BadMessage for every ambiguous or unsupported
    framing, and for a missing or repeated Host."""
    hosts = head.values("host")
    te = head.values("transfer-encoding")
    cl = head.values("content-length")
    if len(hosts) > 1 or (not hosts and head.version == "HTTP/1.1"):
        raise BadMessage("a request needs exactly one Host header")
    if hosts and not _HOST.fullmatch(hosts[0]):
        raise BadMessage(f"malformed Host header {hosts[0][:60]!r}")
    length = _length(cl)
    if te:
        if length is not None:
            raise BadMessage("both Transfer-Encoding and Content-Length")
        if head.version != "HTTP/1.1":
            raise BadMessage("Transfer-Encoding in an HTTP/1.0 request")
        if len(te) != 1 or te[0].lower() != "chunked":
            raise BadMessage(f"unsupported Transfer-Encoding {', '.join(te)[:60]!r} "
                             f"(only a single 'chunked' is accepted)")
        return Framing("chunked")
    return Framing("length", length) if length else Framing("none")
