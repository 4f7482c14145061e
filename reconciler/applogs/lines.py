"""One line of an app's logs, and the `--since` values `ace logs` takes (as `docker logs`)."""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from apps.errors import AceError
from reconciler.driver.attrs import parse_timestamp

__all__ = ["AppLine", "iso_time", "parse_since"]

_DURATION = re.compile(r"(\d+(?:\.\d+)?)(ms|h|m|s)")
_UNIT = {"h": 3600.0, "m": 60.0, "s": 1.0, "ms": 0.001}


@dataclass(frozen=True, slots=True)
class AppLine:
    """A line of an app's logs: `container` is the container's name ("" for build output),
    `stream` "stdout", "stderr" or "build", `time` unix seconds."""

    app: str
    container: str
    stream: str
    time: float
    text: str

    def to_json(self) -> dict[str, Any]:
        return {"app": self.app, "container": self.container, "stream": self.stream,
                "time": iso_time(self.time), "text": self.text}


def iso_time(t: float) -> str:
    """Unix seconds -> RFC 3339 in UTC with microseconds ("2024-05-01T12:34:56.123456Z")."""
    return datetime.fromtimestamp(t, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse_since(value: str, now: float | None = None) -> float:
    """`--since`: a duration back from now (`10m`, `1h30m`, `45s`, `500ms`), unix seconds, or an
    RFC 3339 time or date (`2024-05-01T12:00:00Z`, `2024-05-01`); -> unix seconds."""
    text = value.strip()
    now = time.time() if now is None else now
    if text and _DURATION.sub("", text) == "":
        return now - sum(float(n) * _UNIT[u] for n, u in _DURATION.findall(text))
    try:
        return float(text)
    except ValueError:
        pass
    try:
        if len(text) == 10:
            return datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp()
        return parse_timestamp(text)
    except ValueError:
        raise AceError(f"--since {value!r}: give a duration (10m, 1h30m), unix seconds or an "
                       "RFC 3339 time (2024-05-01T12:00:00Z)") from None
