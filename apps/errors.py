"""Exception types shared by every ace package (the root lives here: apps/ has no dependencies)."""

from __future__ import annotations

__all__ = ["AceError", "AppError", "EngineError", "PlanError", "StateError"]


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
        where = self.file
        if where and self.line:
            where += f":{self.line}:{self.column}"
        prefix = f"app {self.app}: " if self.app else ""
        return f"{prefix}{where + ': ' if where else ''}{self.message}"


class StateError(AceError):
    """The state directory or database cannot be used (schema mismatch, lock timeout, ...)."""


class PlanError(AceError):
    """The desired state cannot be planned (conflicting declarations)."""


class EngineError(AceError):
    """The Docker engine refused or failed an operation; `step` names the step when known."""

    def __init__(self, message: str, *, step: str = "", retryable: bool = False) -> None:
        super().__init__(message)
        self.step = step
        self.retryable = retryable
