"""Small value parsers for container config: container_opts (cpus, memory), build args and the
command override. Each raises `OptionError` with what to fix (dev_settings: apps.dev_settings)."""

from __future__ import annotations

import json
import re
import shlex
from collections.abc import Mapping, Sequence
from typing import Any

from apps.model import as_text

__all__ = [
    "ALLOWED_OPTS",
    "OptionError",
    "parse_build_args",
    "parse_command",
    "parse_container_opts",
    "parse_cpus",
    "parse_memory",
    "parse_replicas",
]

ALLOWED_OPTS = ("cpus", "memory", "min_replicas")
MIN_MEMORY = 6 * 1024 * 1024  # Docker refuses limits below 6 MiB
_CPUS = re.compile(r"^(\d+(?:\.\d*)?|\.\d+)(m?)$")
_MEMORY = re.compile(r"^(\d+(?:\.\d*)?|\.\d+)\s*([A-Za-z]*)$")
_UNITS = {
    "": 1,
    "b": 1,
    "k": 1024,
    "kb": 1024,
    "ki": 1024,
    "kib": 1024,
    "m": 1024**2,
    "mb": 1024**2,
    "mi": 1024**2,
    "mib": 1024**2,
    "g": 1024**3,
    "gb": 1024**3,
    "gi": 1024**3,
    "gib": 1024**3,
    "t": 1024**4,
    "tb": 1024**4,
    "ti": 1024**4,
    "tib": 1024**4,
}
_BUILD_ARG = re.compile(r"^[A-Za-z_][A-Za-z0-9_.-]*$")


class OptionError(Exception):
    """A container option that cannot be used; the message says what to change."""




def _unjson(value: str) -> str:
    """Apps-file values arrive JSON-encoded when they were not strings: `"2"` stays 2."""
    value = value.strip()
    if value.startswith('"') and value.endswith('"') and len(value) >= 2:
        try:
            decoded = json.loads(value)
        except ValueError:
            return value
        return str(decoded).strip()
    return value


def parse_cpus(value: str) -> float:
    """`2`, `0.5` or Kubernetes-style millicores `500m` → CPUs as a float (> 0)."""
    m = _CPUS.match(_unjson(value))
    if not m:
        raise OptionError(f"container_opts cpus {value!r} is not a CPU count; write 2, 0.5 or 500m")
    cpus = float(m.group(1)) / (1000 if m.group(2) else 1)
    if cpus <= 0:
        raise OptionError(f"container_opts cpus {value!r} must be more than 0")
    return cpus


def parse_memory(value: str) -> int:
    """`512m`, `1g`, `512Mi`, `1Gi`, `2GB` or plain bytes → bytes.

    Units are binary and case-insensitive, as Docker reads them (`512m` is 512 MiB, not Kubernetes'
    milli-bytes); `b`, `k/kb/ki/kib`, `m/mb/mi/mib`, `g/...`, `t/...` are accepted. The result must
    be at least 6 MiB, Docker's minimum.
    """
    m = _MEMORY.match(_unjson(value))
    unit = m.group(2).lower() if m else ""
    if not m or unit not in _UNITS:
        raise OptionError(
            f"container_opts memory {value!r} is not a size; write 512m, 1g, 512Mi, 1Gi or bytes"
        )
    size = int(float(m.group(1)) * _UNITS[unit])
    if size < MIN_MEMORY:
        raise OptionError(
            f"container_opts memory {value!r} is below the 6 MiB minimum a container needs"
        )
    return size


def parse_replicas(value: str) -> int:
    """OpenRun's `min_replicas`: how many tasks of the app a cluster runs (1 to 100)."""
    text = _unjson(value)
    if not text.isdigit() or not 1 <= int(text) <= 100:
        raise OptionError(f"container_opts min_replicas {value!r} must be a whole number from "
                          "1 to 100")
    return int(text)


def parse_container_opts(opts: Sequence[tuple[str, str]]
                         ) -> tuple[float | None, int | None, int]:
    """The apps file's `container_opts` → (cpus, memory bytes, replicas)."""
    cpus: float | None = None
    memory: int | None = None
    replicas = 1
    for key, value in opts:
        if key == "cpus":
            cpus = parse_cpus(value)
        elif key == "memory":
            memory = parse_memory(value)
        elif key == "min_replicas":
            replicas = parse_replicas(value)
        else:
            raise OptionError(
                f"container_opts key {key!r} is not supported; allowed keys: "
                + ", ".join(ALLOWED_OPTS)
            )
    return cpus, memory, replicas


def parse_build_args(
    cargs: Any, container_args: Sequence[tuple[str, str]]
) -> tuple[tuple[str, str], ...]:
    """`container.config(cargs=...)` merged with the apps file's `container_args` (which win),
    as sorted pairs of strings."""
    if not isinstance(cargs, Mapping):
        raise OptionError(f"cargs must be a dict of build args, not {type(cargs).__name__}")
    merged: dict[str, str] = {}
    for key, value in cargs.items():
        if not isinstance(key, str) or not _BUILD_ARG.match(key):
            raise OptionError(f"cargs key {key!r} is not a valid build arg name")
        merged[key] = as_text(value)
    for key, value in container_args:
        if not _BUILD_ARG.match(key):
            raise OptionError(f"container_args key {key!r} is not a valid build arg name")
        merged[key] = value
    return tuple(sorted(merged.items()))


def parse_command(value: Any, what: str) -> tuple[str, ...]:
    """A command: a string split shell-like, or a list of strings. None, "" and [] mean unset."""
    if value is None:
        return ()
    if isinstance(value, str):
        try:
            return tuple(shlex.split(value))
        except ValueError as exc:
            raise OptionError(f"{what} {value!r} cannot be split into words: {exc}") from exc
    if isinstance(value, list | tuple):
        if not all(isinstance(part, str) for part in value):
            raise OptionError(f"{what} must be a string or a list of strings")
        return tuple(value)
    raise OptionError(f"{what} must be a string or a list of strings, not {type(value).__name__}")
