"""HTTP/1.1 wire format for the proxy: header fields, response heads, body framing and streaming
body relay (request heads: `request`).

Nothing is buffered beyond one read (64 KiB): bodies are copied chunk by chunk with writer
backpressure (`drain`). Heads are limited to `MAX_HEAD` bytes."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

__all__ = [
    "MAX_HEAD",
    "BadMessage",
    "Framing",
    "Head",
    "check_field",
    "copy_body",
    "encode_head",
    "parse_chunk_size",
    "parse_response",
    "read_chunk_size",
    "read_response_head",
    "response_framing",
]

MAX_HEAD = 64 * 1024
CHUNK = 64 * 1024
Kind = Literal["none", "length", "chunked", "close"]
_TOKEN = re.compile(rb"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
_CTL = re.compile(rb"[\x00-\x08\x0a-\x1f\x7f]")  # control characters but HTAB
# size, then optional whitespace and extensions without control characters (but HTAB)
_CHUNK_SIZE = re.compile(rb"([0-9A-Fa-f]{1,16})[ \t]*(;[\t\x20-\x7e\x80-\xff]*)?\r\n")
_DIGITS = re.compile(r"[0-9]{1,18}")
# header lines a response head usually has: token name, value without control characters (but
# HTAB), ended by LF or CRLF (what `check_field` accepts, in one match for the whole block)
_FIELD_LINES = re.compile(rb"(?:[!#$%&'*+\-.^_`|~0-9A-Za-z]+:[\t\x20-\x7e\x80-\xff]*\r?\n)*")


class BadMessage(Exception):
    """A malformed or unsupported message (answered with 400 / 502)."""


@dataclass(slots=True)
class Head:
    """A request head (method, target, version) or a response head (version, status, reason).
    `headers` is not changed once the head is made: lookups by name use an index of it built on
    the first one (a request's head is looked up a dozen times on its way through)."""

    version: str
    method: str = ""
    target: str = ""
    status: int = 0
    reason: str = ""
    headers: list[tuple[str, str]] = field(default_factory=list)
    _index: dict[str, list[str]] | None = field(default=None, init=False, repr=False,
                                                compare=False)

    def values(self, name: str) -> list[str]:
        """The values of every field called `name` (any case), in order; do not change it."""
        index = self._index
        if index is None:
            index = self._index = {}
            for k, v in self.headers:
                index.setdefault(k.lower(), []).append(v)
        return index.get(name.lower(), _NONE)

    def get(self, name: str) -> str | None:
        found = self.values(name)
        return found[0] if found else None

    def get_all(self, name: str) -> list[str]:
        return list(self.values(name))

    def tokens(self, name: str) -> set[str]:
        """Comma-separated header tokens, lowercased (Connection, Transfer-Encoding, Upgrade)."""
        found = self.values(name)
        if not found:
            return set()
        return {t.strip().lower() for v in found for t in v.split(",") if t.strip()}


_NONE: list[str] = []  # what `Head.values` gives for a name no field has (never changed)


@dataclass(frozen=True, slots=True)
class Framing:
    kind: Kind
    length: int = 0


def check_field(name: bytes, value: bytes) -> tuple[str, str]:
    """One header (or trailer) field: a token name, a value without control characters (but
    HTAB); the optional whitespace around the value is removed."""
    if not _TOKEN.fullmatch(name):
        if name[:1] in (b" ", b"\t"):
            raise BadMessage("obsolete header line folding")
        raise BadMessage(f"invalid header name {name[:60]!r}")
    value = value.strip(b" \t")
    if _CTL.search(value):
        raise BadMessage(f"control character in the value of header {name[:60]!r}")
    return name.decode("latin-1"), value.decode("latin-1")


async def read_response_head(reader: asyncio.StreamReader) -> bytes | None:
    """The bytes of one response head; None on EOF before any byte. Lenient as upstreams are:
    lines may end in a bare LF (busybox httpd's CGI responses do)."""
    lines: list[bytes] = []
    size = 0
    while True:
        try:
            line = await reader.readuntil(b"\n")
        except asyncio.IncompleteReadError as exc:  # EOF
            if not lines and not exc.partial.strip():
                return None
            raise BadMessage("connection closed in the middle of a message head") from None
        except asyncio.LimitOverrunError:
            raise BadMessage(f"message head larger than {MAX_HEAD} bytes") from None
        size += len(line)
        if size > MAX_HEAD:
            raise BadMessage(f"message head larger than {MAX_HEAD} bytes")
        if line in (b"\r\n", b"\n"):
            if lines:
                return b"".join(lines)
            continue  # tolerate blank lines before the status line
        lines.append(line)


def _headers(lines: list[bytes]) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    for raw in lines:
        if not raw:
            continue
        name, sep, value = raw.partition(b":")
        if not sep:
            raise BadMessage(f"malformed header line {raw[:60]!r}")
        out.append(check_field(name, value))
    return out


def parse_response(raw: bytes) -> Head:
    status, _, rest = raw.partition(b"\n")
    status = status.rstrip(b"\r")
    parts = status.split(b" ", 2)
    if len(parts) < 2 or not parts[0].startswith(b"HTTP/1.") or not parts[1].isdigit():
        raise BadMessage(f"malformed status line {status[:80]!r}")
    reason = parts[2].decode("latin-1") if len(parts) == 3 else ""
    if _FIELD_LINES.fullmatch(rest):  # the usual head: every line checked by one match
        headers = []
        for line in rest.split(b"\n")[:-1]:
            name, _, value = line.partition(b":")
            headers.append((name.decode("latin-1"), value.strip(b" \t\r").decode("latin-1")))
    else:  # say which line is wrong (or take the rare spellings the one match does not)
        headers = _headers([x.rstrip(b"\r") for x in rest.rstrip(b"\r\n").split(b"\n")])
    return Head(version=parts[0].decode("latin-1"), status=int(parts[1]), reason=reason,
                headers=headers)


def response_framing(head: Head, request_method: str) -> Framing:
    if request_method == "HEAD" or head.status in (204, 304) or 100 <= head.status < 200:
        return Framing("none")
    te = head.tokens("transfer-encoding")
    if te:
        return Framing("chunked") if "chunked" in te else Framing("close")
    values = {v.strip() for raw in head.values("content-length") for v in raw.split(",")}
    if not values:
        return Framing("close")
    if len(values) != 1 or not _DIGITS.fullmatch(next(iter(values))):
        raise BadMessage("conflicting or invalid Content-Length")
    n = int(next(iter(values)))
    return Framing("length", n) if n else Framing("none")


def encode_head(first: str, headers: list[tuple[str, str]]) -> bytes:
    parts = [first]
    parts.extend(f"{k}: {v}" for k, v in headers)
    return ("\r\n".join(parts) + "\r\n\r\n").encode("latin-1")


def parse_chunk_size(line: bytes) -> int:
    """The size of a chunk-size line (with its CRLF): 1 to 16 hex digits, then optional
    whitespace and chunk extensions; no sign, prefix, or leading space."""
    m = _CHUNK_SIZE.fullmatch(line)
    if m is None:
        raise BadMessage(f"bad chunk size line {line[:40]!r}")
    return int(m.group(1), 16)


async def read_chunk_size(reader: asyncio.StreamReader) -> int:
    try:
        line = await reader.readuntil(b"\r\n")
    except asyncio.LimitOverrunError:
        raise BadMessage("chunk size line too long") from None
    return parse_chunk_size(line)


async def _trailers(reader: asyncio.StreamReader) -> bytes:
    """The trailer section after the last chunk, up to and including its empty line; each
    field checked like a header."""
    lines: list[bytes] = []
    size = 0
    while True:
        line = await reader.readuntil(b"\r\n")
        size += len(line)
        if size > MAX_HEAD:
            raise BadMessage(f"trailer section larger than {MAX_HEAD} bytes")
        lines.append(line)
        if line == b"\r\n":
            return b"".join(lines)
        name, sep, value = line[:-2].partition(b":")
        if not sep:
            raise BadMessage(f"malformed trailer line {line[:60]!r}")
        check_field(name, value)


async def copy_body(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, src: Framing,
                    *, chunked_out: bool, first_chunk: int | None = None,
                    drain_timeout: float | None = None,
                    on_data: Callable[[int], None] | None = None) -> int:
    """Copy one body from `reader` to `writer`; returns the body bytes copied. `chunked_out`:
    the receiver gets chunked framing (a chunked source keeps its chunks and trailers; a
    close-delimited one is chunked as it arrives); else the bare bytes. `first_chunk`: the size
    of the first chunk when its line was read already. `drain_timeout`: how long the receiver
    may stop reading (TimeoutError). `on_data(n)` hears of each piece as it passes (traffic
    counting). Raises BadMessage / IncompleteReadError on truncation."""

    async def drain() -> None:
        if on_data is not None and total > counted[0]:
            on_data(total - counted[0])
            counted[0] = total
        if drain_timeout is None:
            await writer.drain()
            return
        async with asyncio.timeout(drain_timeout):
            await writer.drain()

    total = 0
    counted = [0]
    if src.kind == "none":
        return 0
    if src.kind == "length":
        left = src.length
        while left:
            data = await reader.read(min(CHUNK, left))
            if not data:
                raise BadMessage(f"body ended {left} bytes short")
            left -= len(data)
            total += len(data)
            writer.write(data)
            await drain()
        return total
    if src.kind == "chunked":
        while True:
            size = first_chunk if first_chunk is not None else await read_chunk_size(reader)
            first_chunk = None
            if size == 0:
                rest = await _trailers(reader)
                if chunked_out:
                    writer.write(b"0\r\n" + rest)
                    await drain()
                return total
            if chunked_out:
                writer.write(b"%x\r\n" % size)
            left = size
            while left:
                data = await reader.read(min(CHUNK, left))
                if not data:
                    raise BadMessage("chunked body truncated")
                left -= len(data)
                total += len(data)
                writer.write(data)
                await drain()
            if await reader.readexactly(2) != b"\r\n":
                raise BadMessage("chunk not followed by CRLF")
            if chunked_out:
                writer.write(b"\r\n")
    # "close": everything until EOF
    while True:
        data = await reader.read(CHUNK)
        if not data:
            break
        total += len(data)
        writer.write(b"%x\r\n%s\r\n" % (len(data), data) if chunked_out else data)
        await drain()
    if chunked_out:
        writer.write(b"0\r\n\r\n")
        await drain()
    return total
