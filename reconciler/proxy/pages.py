"""Short HTML pages the proxy answers itself: app down, no app here, refused paths."""

from __future__ import annotations

import html
import json
from typing import Any

from reconciler.proxy.http1 import encode_head

__all__ = ["REASONS", "json_response", "page_response"]

REASONS = {200: "OK", 301: "Moved Permanently", 308: "Permanent Redirect", 400: "Bad Request",
           404: "Not Found", 405: "Method Not Allowed", 502: "Bad Gateway",
           503: "Service Unavailable", 504: "Gateway Timeout", 304: "Not Modified",
           403: "Forbidden"}


def _response(status: int, ctype: str, body: bytes, *, close: bool, method: str,
              extra: list[tuple[str, str]] | None = None) -> bytes:
    headers = [("Content-Type", ctype), ("Content-Length", str(len(body))),
               ("Cache-Control", "no-store"), *(extra or [])]
    if close:
        headers.append(("Connection", "close"))
    head = encode_head(f"HTTP/1.1 {status} {REASONS.get(status, 'Error')}", headers)
    return head if method == "HEAD" else head + body


def page_response(status: int, title: str, lines: list[str], *, close: bool = False,
                  method: str = "GET", extra: list[tuple[str, str]] | None = None) -> bytes:
    """A small HTML page: title plus detail lines (escaped; a line may span several)."""
    detail = "".join(f"<pre>{html.escape(x)}</pre>\n" for x in lines if x)
    body = (f"<!doctype html>\n<html><head><meta charset=\"utf-8\"><title>{html.escape(title)}"
            f"</title></head>\n<body><h1>{status} {html.escape(title)}</h1>\n{detail}"
            f"<p><small>ace proxy · <a href=\"/_ace/\">every app</a></small></p>"
            f"</body></html>\n").encode()
    return _response(status, "text/html; charset=utf-8", body, close=close, method=method,
                     extra=extra)


def json_response(doc: Any, *, status: int = 200, close: bool = False,
                  method: str = "GET") -> bytes:
    body = (json.dumps(doc, indent=2) + "\n").encode()
    return _response(status, "application/json", body, close=close, method=method)
