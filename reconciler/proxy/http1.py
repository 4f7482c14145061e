"""HTTP/1.1 wire format for the proxy: message heads, body framing and streaming body relay.

Nothing is buffered beyond one read (64 KiB): bodies are copied chunk by chunk with writer
backpressure (`drain`). Heads are limited to `MAX_HEAD` bytes."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Literal

__all__ = [
    "MAX_HEAD",
    "BadMessage",
    "Framing",
    "Head",
    "copy_body",
    "encode_head",
    "parse_request",
    "parse_response",
    "read_head",
    "read_response_head",
    "request_framing",
    "response_framing",
]

MAX_HEAD = 64 * 1024
CHUNK = 64 * 1024
Kind = Literal["none", "length", "chunked", "close"]


class BadMessage(Exception):
    """A malformed or unsupported message (answered with 400 / 502)."""


@dataclass(slots=True)
class Head:
    """A request head (method, target, version) or a response head (version, status, reason)."""

    version: str
    method: str = ""
    target: str = ""
    status: int = 0
    reason: str = ""
    headers: list[tuple[str, str]] = field(default_factory=list)

    def get(self, name: str) -> str | None:
        low = name.lower()
        for k, v in self.headers:
            if k.lower() == low:
                return v
        return None

    def get_all(self, name: str) -> list[str]:
        low = name.lower()
        return [v for k, v in self.headers if k.lower() == low]

    def tokens(self, name: str) -> set[str]:
        """Comma-separated header tokens, lowercased (Connection, Transfer-Encoding, Upgrade)."""
        return {t.strip().lower() for v in self.get_all(name) for t in v.split(",") if t.strip()}


@dataclass(frozen=True, slots=True)
class Framing:
    kind: Kind
    length: int = 0


async def read_head(reader: asyncio.StreamReader) -> bytes | None:
    """The bytes of one head up to and including the blank line; None on EOF before any byte."""
    try:
        return await reader.readuntil(b"\r\n\r\n")
    except asyncio.IncompleteReadError as exc:
        if not exc.partial.strip():
            return None
        raise BadMessage("connection closed in the middle of a message head") from None
    except asyncio.LimitOverrunError:
        raise BadMessage(f"message head larger than {MAX_HEAD} bytes") from None


async def read_response_head(reader: asyncio.StreamReader) -> bytes | None:
    """Like `read_head`, but lenient as upstreams are: lines may end in a bare LF (busybox
    httpd's CGI responses do)."""
    lines: list[bytes] = []
    size = 0
    while True:
        try:
            line = await reader.readline()
        except (ValueError, asyncio.LimitOverrunError):
            raise BadMessage(f"message head larger than {MAX_HEAD} bytes") from None
        if not line.endswith(b"\n"):
            if not lines and not line.strip():
                return None
            raise BadMessage("connection closed in the middle of a message head")
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
        if raw[0] in (0x20, 0x09):
            raise BadMessage("obsolete header line folding")
        name, sep, value = raw.partition(b":")
        if not sep or not name or name != name.strip() or b" " in name:
            raise BadMessage(f"malformed header line {raw[:60]!r}")
        out.append((name.decode("latin-1"), value.strip().decode("latin-1")))
    return out


def parse_request(raw: bytes) -> Head:
    lines = raw[:-4].split(b"\r\n")
    parts = lines[0].split(b" ")
    if len(parts) != 3 or not parts[2].startswith(b"HTTP/1."):
        raise BadMessage(f"malformed request line {lines[0][:80]!r}")
    method, target, version = (p.decode("latin-1") for p in parts)
    if not method.isalpha() or not target:
        raise BadMessage(f"malformed request line {lines[0][:80]!r}")
    return Head(version=version, method=method.upper(), target=target, headers=_headers(lines[1:]))


def parse_response(raw: bytes) -> Head:
    lines = [x.rstrip(b"\r") for x in raw.rstrip(b"\r\n").split(b"\n")]
    parts = lines[0].split(b" ", 2)
    if len(parts) < 2 or not parts[0].startswith(b"HTTP/1.") or not parts[1].isdigit():
        raise BadMessage(f"malformed status line {lines[0][:80]!r}")
    reason = parts[2].decode("latin-1") if len(parts) == 3 else ""
    return Head(version=parts[0].decode("latin-1"), status=int(parts[1]), reason=reason,
                headers=_headers(lines[1:]))


def _length(head: Head) -> int | None:
    values = {v.strip() for raw in head.get_all("content-length") for v in raw.split(",")}
    if not values:
        return None
    if len(values) != 1 or not next(iter(values)).isdigit():
        raise BadMessage("conflicting or invalid Content-Length")
    return int(next(iter(values)))


def request_framing(head: Head) -> Framing:
    te = head.tokens("transfer-encoding")
    if te:
        if head.get("content-length") is not None:
            raise BadMessage("both Transfer-Encoding and Content-Length")
        if te != {"chunked"}:
            raise BadMessage(f"unsupported Transfer-Encoding {', '.join(sorted(te))}")
        return Framing("chunked")
    n = _length(head)
    return Framing("length", n) if n else Framing("none")


def response_framing(head: Head, request_method: str) -> Framing:
    if request_method == "HEAD" or head.status in (204, 304) or 100 <= head.status < 200:
        return Framing("none")
    te = head.tokens("transfer-encoding")
    if te:
        return Framing("chunked") if "chunked" in te else Framing("close")
    n = _length(head)
    if n is None:
        return Framing("close")
    return Framing("length", n) if n else Framing("none")


def encode_head(first: str, headers: list[tuple[str, str]]) -> bytes:
    parts = [first]
    parts.extend(f"{k}: {v}" for k, v in headers)
    return ("\r\n".join(parts) + "\r\n\r\n").encode("latin-1")


async def _read_chunk_size(reader: asyncio.StreamReader) -> int:
    line = await reader.readuntil(b"\r\n")
    size = line.split(b";", 1)[0].strip()
    try:
        return int(size, 16)
    except ValueError:
        raise BadMessage(f"bad chunk size line {line[:40]!r}") from None


async def copy_body(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, src: Framing,
                    *, chunked_out: bool) -> int:
    """Copy one body from `reader` to `writer`; returns the body bytes copied. `chunked_out`:
    the receiver gets chunked framing (a chunked source keeps its chunks and trailers; a
    close-delimited one is chunked as it arrives); else the bare bytes. Raises BadMessage /
    IncompleteReadError on truncation."""
    total = 0
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
            await writer.drain()
        return total
    if src.kind == "chunked":
        while True:
            size = await _read_chunk_size(reader)
            if size == 0:
                trailer = await reader.readuntil(b"\r\n")
                rest = [trailer]
                while trailer != b"\r\n":
                    trailer = await reader.readuntil(b"\r\n")
                    rest.append(trailer)
                if chunked_out:
                    writer.write(b"0\r\n" + b"".join(rest))
                    await writer.drain()
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
            if await reader.readexactly(2) != b"\r\n":
                raise BadMessage("chunk not followed by CRLF")
            if chunked_out:
                writer.write(b"\r\n")
            await writer.drain()
    # "close": everything until EOF
    while True:
        data = await reader.read(CHUNK)
        if not data:
            break
        total += len(data)
        writer.write(b"%x\r\n%s\r\n" % (len(data), data) if chunked_out else data)
        await writer.drain()
    if chunked_out:
        writer.write(b"0\r\n\r\n")
        await writer.drain()
    return total
