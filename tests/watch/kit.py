"""Helpers of the watch loop tests: `Clock`, the loop's clock that the test moves by hand."""

from __future__ import annotations

__all__ = ["Clock"]


class Clock:
    """A clock reading `now` (1000.0 at first); the test moves it forward."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now
