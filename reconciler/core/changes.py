"""What differs between an applied container spec and the declared one, as values: the plan's
causes (`env COUNT: 1 → 2; port: 8080 → 9090`) and drift's expected/actual. Env values that come
from `{{secret "KEY"}}` are masked; long values are cut with `…`. Pure: text in, text out."""

from __future__ import annotations

import json
import shlex
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from typing import Any

__all__ = [
    "MASK", "UNSET", "Change", "changed_files", "short", "sides", "spec_changes", "summary",
]

MASK = "***"  # a secret-derived value
UNSET = "(unset)"
WIDTH = 40  # the longest value shown before it is cut with "…"
_FIELDS = ("image", "port", "command", "cpus", "memory")


@dataclass(frozen=True, slots=True)
class Change:
    """One differing part of a container spec: `field` is `image`, `port`, `command`, `cpus`,
    `memory`, `volumes` or `env NAME`; `old` and `new` are shown as they are."""

    field: str
    old: str
    new: str

    def render(self) -> str:
        return f"{self.field}: {self.old} → {self.new}"


def short(text: str, width: int = WIDTH) -> str:
    """`text` on one line, cut to `width` characters with "…"."""
    one = " ".join(text.split()) if "\n" in text else text
    return one if len(one) <= width else one[: width - 1] + "…"


def _memory(value: Any) -> str:
    if not isinstance(value, int):
        return UNSET
    for unit, size in (("g", 1024**3), ("m", 1024**2), ("k", 1024)):
        if value % size == 0:
            return f"{value // size}{unit}"
    return str(value)


def _value(key: str, value: Any) -> str:
    if value is None or value == []:
        return UNSET
    if key == "command":
        return shlex.join(str(v) for v in value)
    if key == "memory":
        return _memory(value)
    if key == "cpus":
        return f"{value:g}" if isinstance(value, int | float) else str(value)
    return str(value)


def _volume(v: Sequence[Any]) -> str:
    _, source, target, read_only = v
    return f"{source}:{target}" + (":ro" if read_only else "")


def _volumes(old: list[Any], new: list[Any]) -> Change | None:
    before = {_volume(v) for v in old}
    after = {_volume(v) for v in new}
    if before == after:
        return None
    gone, added = sorted(before - after), sorted(after - before)
    return Change("volumes", short(", ".join(gone) or "(none)"),
                  short(", ".join(added) or "(none)"))


def spec_changes(old_json: str, new_json: str, secret_env: Collection[str] = ()
                 ) -> tuple[Change, ...] | None:
    """The differences between two canonical spec JSONs (`hashing.spec_json`), in a fixed order:
    image, port, command, cpus, memory, volumes, then env by name. Values of env names in
    `secret_env` are masked on both sides. None when either text cannot be read."""
    try:
        old, new = json.loads(old_json), json.loads(new_json)
    except ValueError:
        return None
    if not isinstance(old, dict) or not isinstance(new, dict):
        return None
    out: list[Change] = []
    for key in _FIELDS:
        if old.get(key) != new.get(key):
            out.append(Change(key, short(_value(key, old.get(key))),
                              short(_value(key, new.get(key)))))
    vols = _volumes(old.get("volumes") or [], new.get("volumes") or [])
    if vols is not None:
        out.append(vols)
    old_env = {k: v for k, v in old.get("env") or []}
    new_env = {k: v for k, v in new.get("env") or []}
    for name in sorted(old_env.keys() | new_env.keys()):
        before, after = old_env.get(name), new_env.get(name)
        if before == after:
            continue
        if name in secret_env:
            shown = [MASK if v is not None else UNSET for v in (before, after)]
        else:
            shown = [short(v) if v is not None else UNSET for v in (before, after)]
        out.append(Change(f"env {name}", shown[0], shown[1]))
    return tuple(out)


def summary(changes: Sequence[Change], limit: int = 4) -> str:
    """The first `limit` changes, `; `-separated, then how many more there are."""
    text = "; ".join(c.render() for c in changes[:limit])
    if len(changes) > limit:
        text += f" (+{len(changes) - limit} more)"
    return text


def sides(changes: Sequence[Change], limit: int = 4) -> tuple[str, str]:
    """(declared, applied): the first `limit` changes as `field: value` on each side (drift's
    expected and actual), then how many more there are."""
    more = f" (+{len(changes) - limit} more)" if len(changes) > limit else ""
    new = "; ".join(f"{c.field}: {c.new}" for c in changes[:limit]) + more
    old = "; ".join(f"{c.field}: {c.old}" for c in changes[:limit]) + more
    return new, old


def changed_files(old: Sequence[tuple[str, str]], new: Sequence[tuple[str, str]]) -> list[str]:
    """The build-context files (relative paths) whose digest differs, added or removed, sorted."""
    before, after = dict(old), dict(new)
    return sorted(k for k in before.keys() | after.keys() if before.get(k) != after.get(k))
