""".dockerignore, as `docker build` reads it: Go filepath.Match patterns plus `**`, `!`
exceptions, the last matching rule winning, a matched directory excluding all below it. One
matcher for hashing build inputs and for watching files."""

from __future__ import annotations

import os
import re
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache

__all__ = ["DockerIgnore"]


@lru_cache(maxsize=512)
def _pattern_regex(pattern: str) -> re.Pattern[str]:
    out: list[str] = []
    i = 0
    while i < len(pattern):
        c = pattern[i]
        if pattern.startswith("**", i):
            i += 2
            if pattern.startswith("/", i):  # "**/" matches zero or more directories
                i += 1
                out.append("(?:.*/)?")
            else:
                out.append(".*")
            continue
        if c == "*":
            out.append("[^/]*")
        elif c == "?":
            out.append("[^/]")
        elif c == "[":
            end = pattern.find("]", i + 1)
            if end == -1:
                out.append(re.escape(c))
            else:
                body = pattern[i + 1 : end]
                if body.startswith("!") or body.startswith("^"):
                    body = "^" + body[1:]
                out.append("[" + body.replace("\\", "\\\\") + "]")
                i = end
        elif c == "\\" and i + 1 < len(pattern):
            i += 1
            out.append(re.escape(pattern[i]))
        else:
            out.append(re.escape(c))
        i += 1
    # A pattern that matches a directory excludes everything below it.
    return re.compile("^" + "".join(out) + "(?:/.*)?$")


def _clean(pattern: str) -> str:
    pattern = pattern.strip().lstrip("/")
    pattern = os.path.normpath(pattern) if pattern else pattern
    return "" if pattern == "." else pattern


@dataclass(frozen=True, slots=True)
class DockerIgnore:
    """A context's .dockerignore rules: (negated, regex) pairs, the last matching rule wins."""

    rules: tuple[tuple[bool, re.Pattern[str]], ...] = ()

    @classmethod
    def parse(cls, lines: Iterable[str]) -> DockerIgnore:
        rules: list[tuple[bool, re.Pattern[str]]] = []
        for raw in lines:
            line = raw.strip()
            if not line or line.startswith("#"):
                continue
            negated = line.startswith("!")
            pattern = _clean(line[1:] if negated else line)
            if pattern:
                rules.append((negated, _pattern_regex(pattern)))
        return cls(tuple(rules))

    @classmethod
    def read(cls, context_dir: str) -> DockerIgnore:
        """The rules of `context_dir/.dockerignore` (none when it is absent or unreadable)."""
        path = os.path.join(context_dir, ".dockerignore")
        if not os.path.isfile(path):  # absent (one stat, no open), or not a regular file
            return cls()
        try:
            with open(path, encoding="utf-8", errors="replace") as fh:
                return cls.parse(fh)
        except OSError:
            return cls()

    def __bool__(self) -> bool:
        return bool(self.rules)

    @property
    def negates(self) -> bool:
        """Whether some rule re-includes paths (then ignored directories cannot be pruned)."""
        return any(neg for neg, _ in self.rules)

    def ignores(self, rel: str) -> bool:
        """Whether the context-relative path `rel` is excluded from the build context."""
        ignored = False
        for negated, rx in self.rules:
            if rx.match(rel):
                ignored = not negated
        return ignored
