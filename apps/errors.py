"""Exception types shared by every ace package (the root lives here: apps/ has no dependencies)."""

from __future__ import annotations

__all__ = ["AceError", "AppError", "EngineError", "StateError", "where"]


def where(file: str, line: int = 0, column: int = 0) -> str:
    """`file:line:column` (or `file` when the line is unknown): how every place is written."""
    if not (file and line):
        return file
    return f"{file}:{line}:{column}" if column else f"{file}:{line}"


class AceError(Exception):
    """Root of every error ace raises on purpose."""


class AppError(AceError):
    """A user's app definition is wrong. Carries the app path, file, line and column (1-based)."""

    def __init__(
        self, message: str, *, app: str = "", file: str = "", line: int = 0, column: int = 0
    ) -> None:
        super().__init__(message)
        self.message = message
        self.app = app
        self.file = file
        self.line = line
        self.column = column

    def __str__(self) -> str:
        at = where(self.file, self.line, self.column)
        prefix = f"app {self.app}: " if self.app else ""
        return f"{prefix}{at + ': ' if at else ''}{self.message}"


class StateError(AceError):
    """The state directory or database cannot be used (schema mismatch, lock timeout, ...)."""



class EngineError(AceError):
    """The Docker engine refused or failed an operation; `retryable` when it did not answer
    (down, timed out) rather than refused."""

    def __init__(self, message: str, *, retryable: bool = False) -> None:
        super().__init__(message)
        self.retryable = retryable
