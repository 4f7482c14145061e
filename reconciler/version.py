"""ace's version, as installed."""

from __future__ import annotations

__all__ = ["DISTRIBUTION", "version"]

DISTRIBUTION = "ace-reconciler"  # the package's name on an index; the command is `ace`


def version() -> str:
    """ace's version, as installed ("unknown" when run from a source tree never installed)."""
    from importlib.metadata import PackageNotFoundError
    from importlib.metadata import version as installed

    try:
        return installed(DISTRIBUTION)
    except PackageNotFoundError:
        return "unknown"
