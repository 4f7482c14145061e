"""Body framing fed as bytes arrive, for the protocol relay (`relay`): the same rules as
`http1.copy_body` (chunk size lines checked by `parse_chunk_size`, a CRLF after each chunk,
trailer fields checked like headers, a short body is an error), without a reader to await.

`BodyFeed.feed` takes whatever bytes came and appends what the receiver gets to a list (the
bare bytes, or chunked framing when `chunked_out`); it returns None while the body goes on,
else the bytes that came after its end."""

from __future__ import annotations

from reconciler.proxy.http1 import MAX_HEAD, BadMessage, Framing, check_field, parse_chunk_size

__all__ = ["BodyFeed"]

LINE_LIMIT = 64 * 1024  # a chunk size or trailer line (the stream path's reader limit)
_LENGTH, _SIZE, _DATA, _CRLF, _TRAILERS, _CLOSE, _DONE = range(7)


class BodyFeed:
    """One body being relayed. `count` is the body bytes passed so far (traffic counters);
    `sized` turns true once the first chunk size line was read and found valid (a broken one
    is refused before anything is forwarded)."""

    __slots__ = ("buf", "chunked_out", "count", "left", "sized", "state", "trailer")

    def __init__(self, src: Framing, chunked_out: bool) -> None:
        kind = src.kind
        self.state = (_DONE if kind == "none" else _LENGTH if kind == "length" else
                      _SIZE if kind == "chunked" else _CLOSE)
        self.left = src.length
        self.chunked_out = chunked_out
        self.buf = b""
        self.trailer: list[bytes] = []
        self.count = 0
        self.sized = kind != "chunked"

    @property
    def done(self) -> bool:
        return self.state == _DONE

    def feed(self, data: bytes, out: list[bytes]) -> bytes | None:
        pos = 0
        while True:
            st = self.state
            if st in (_LENGTH, _DATA):
                take = min(self.left, len(data) - pos)
                if take:
                    out.append(data if take == len(data) else data[pos:pos + take])
                    pos += take
                    self.left -= take
                    self.count += take
                if self.left:
                    return None
                if st == _LENGTH:
                    self.state = _DONE
                    return data[pos:]
                self.state = _CRLF
            elif st == _CRLF:
                got = self.buf + data[pos:pos + 2 - len(self.buf)]
                pos += len(got) - len(self.buf)
                if len(got) < 2:
                    self.buf = got
                    return None
                self.buf = b""
                if got != b"\r\n":
                    raise BadMessage("chunk not followed by CRLF")
                if self.chunked_out:
                    out.append(b"\r\n")
                self.state = _SIZE
            elif st in (_SIZE, _TRAILERS):
                if self.buf:
                    data, pos = self.buf + data[pos:], 0
                    self.buf = b""
                end = data.find(b"\r\n", pos)
                if end < 0:
                    if len(data) - pos > LINE_LIMIT:
                        raise BadMessage("chunk size line too long" if st == _SIZE
                                         else f"trailer section larger than {MAX_HEAD} bytes")
                    self.buf = data[pos:]
                    return None
                line = data[pos:end + 2]
                pos = end + 2
                if st == _SIZE:
                    size = parse_chunk_size(line)
                    self.sized = True
                    if size == 0:
                        self.state = _TRAILERS
                        continue
                    if self.chunked_out:
                        out.append(b"%x\r\n" % size)
                    self.left = size
                    self.state = _DATA
                    continue
                self.trailer.append(line)
                if sum(map(len, self.trailer)) > MAX_HEAD:
                    raise BadMessage(f"trailer section larger than {MAX_HEAD} bytes")
                if line == b"\r\n":
                    if self.chunked_out:
                        out.append(b"0\r\n" + b"".join(self.trailer))
                    self.state = _DONE
                    return data[pos:]
                name, sep, value = line[:-2].partition(b":")
                if not sep:
                    raise BadMessage(f"malformed trailer line {line[:60]!r}")
                check_field(name, value)
            elif st == _CLOSE:
                piece = data[pos:] if pos else data
                if piece:
                    self.count += len(piece)
                    out.append(b"%x\r\n%s\r\n" % (len(piece), piece) if self.chunked_out
                               else piece)
                return None
            else:  # _DONE
                return data[pos:]

    def eof(self, out: list[bytes]) -> None:
        """The sender closed: ends a close-delimited body; anything else is cut short."""
        if self.state == _CLOSE:
            if self.chunked_out:
                out.append(b"0\r\n\r\n")
            self.state = _DONE
        elif self.state == _LENGTH:
            raise BadMessage(f"body ended {self.left} bytes short")
        elif self.state != _DONE:
            raise BadMessage("chunked body truncated")
