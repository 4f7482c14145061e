"""Request paths, normalised before routing so that no spelling reaches another app's prefix.

Refused (400): dot segments (`.`/`..`, also percent-encoded), encoded slashes or backslashes
(`%2F`, `%5C`), raw backslashes, NUL and control characters, and request targets that are not
origin-form (`/path?query`; absolute-form `http://host/path` is reduced to its path). Browsers
resolve dot segments before sending, so only crafted requests carry them. Absolute-form targets
need a host, and may carry no user info, port other than digits, or fragment. Empty segments
(`//`) collapse. Routing compares decoded segments; the upstream gets the original spelling of
the kept segments."""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from urllib.parse import unquote, urlsplit

__all__ = ["NormPath", "PathRefused", "join_prefix", "normalise", "prefix_segments"]


class PathRefused(Exception):
    pass


@dataclass(frozen=True, slots=True)
class NormPath:
    raw: tuple[str, ...]  # kept segments as sent (percent-encoding preserved)
    decoded: tuple[str, ...]
    trailing: bool  # the path ended in "/" (and is not the root)
    query: str  # "" or "?..."

    @property
    def path(self) -> str:
        return self.tail(0)

    def tail(self, n: int) -> str:
        """The raw path after the first n segments ("/" when nothing is left)."""
        rest = self.raw[n:]
        if not rest:
            return "/"
        return "/" + "/".join(rest) + ("/" if self.trailing else "")

    def starts_with(self, prefix: tuple[str, ...]) -> bool:
        return self.decoded[: len(prefix)] == prefix


_CONTROL = re.compile("[\x00-\x1f\x7f]")


def _check(seg: str) -> str:
    if "%" in seg:
        low = seg.lower()
        if "%2f" in low or "%5c" in low:
            raise PathRefused("encoded slash in path")
        dec = unquote(seg, errors="strict")
    else:
        dec = seg
    if dec in (".", ".."):
        raise PathRefused("dot segment in path (path traversal)")
    if _CONTROL.search(dec):
        raise PathRefused("control character in path")
    return dec


def normalise(target: str) -> NormPath:
    if target.startswith(("http://", "https://")):
        parts = urlsplit(target)
        try:
            parts.port  # noqa: B018 - raises ValueError for a port that is not one
        except ValueError:
            raise PathRefused("invalid port in an absolute-form target") from None
        if not parts.hostname or "@" in parts.netloc or "#" in target:
            raise PathRefused("absolute-form target without a host, or with user info or a "
                              "fragment")
        target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    if not target.startswith("/"):
        raise PathRefused("request target must be a path")
    path, sep, query = target.partition("?")
    if "\\" in path or "#" in path:
        raise PathRefused("backslash or fragment in path")
    try:
        pieces = path.split("/")[1:]
        raw = tuple(p for p in pieces if p)
        decoded = tuple(_check(p) for p in raw)
    except UnicodeDecodeError:
        raise PathRefused("invalid percent-encoding in path") from None
    return NormPath(raw, decoded, bool(raw) and path.endswith("/"), sep + query)


@lru_cache(maxsize=1024)  # routes' strip paths are looked up per request
def prefix_segments(prefix: str) -> tuple[str, ...]:
    return tuple(unquote(p) for p in prefix.split("/") if p)


def join_prefix(app_path: str, route_path: str) -> str:
    """The public prefix of a route: app "/web" + route "/" -> "/web"; "/" + "/" -> "/"."""
    segs = [p for p in (app_path + "/" + route_path).split("/") if p]
    return "/" + "/".join(segs)
