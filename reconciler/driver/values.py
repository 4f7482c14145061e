"""The small values the Engine protocol (`ports`) takes and returns besides the core's: a
container's mounts, how a one-off command ended, a line a container printed. Imported from
`ports` as before; defined here so that a pass that uses none of them never defines them."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["CommandResult", "LogLine", "VolumeMount"]


@dataclass(frozen=True, slots=True)
class VolumeMount:
    """One mount of a container: a named volume or a bind mount, as the executor asks for it."""

    kind: str  # "volume" (engine volume name in source) or "bind" (absolute host path)
    source: str
    target: str
    read_only: bool = False
    secret: bool = False  # a rendered secret file (a bind on one engine, a secret on a cluster)


@dataclass(frozen=True, slots=True)
class CommandResult:
    """How a one-off `container.run` command ended."""

    exit_code: int
    stdout: str
    stderr: str
    timed_out: bool = False


@dataclass(frozen=True, slots=True)
class LogLine:
    """One line a container (or a Swarm service's task) printed: `stream` is "stdout" or
    "stderr", `time` unix seconds (0 when unknown)."""

    stream: str
    time: float
    text: str
