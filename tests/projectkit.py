"""A temp project for tests that run ace on it, as files: apps.star and app dirs written under
`root`, its state dir and installation id, the web app's Containerfile, and an in-process ace
command's result checked. The engine tests' `Project` (tests/engine/appkit.py) and the swarm
tests' `SwarmProject` (tests/swarm/kit.py) add how ace is run and what is read back."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from typer.testing import Result

from state.db import derive_install_id

__all__ = ["WEB_CONTAINERFILE", "ProjectFiles", "checked"]

WEB_CONTAINERFILE = """FROM busybox
COPY index.html /www/index.html
EXPOSE 8080
CMD ["httpd", "-f", "-p", "8080", "-h", "/www"]
"""


@dataclass
class ProjectFiles:
    """A temp project's files under `root`."""

    root: Path

    @property
    def apps_file(self) -> Path:
        return self.root / "apps.star"

    @property
    def state_dir(self) -> Path:
        return self.root / ".ace"

    @property
    def install(self) -> str:
        return derive_install_id(self.state_dir)

    def write(self, rel: str, text: str) -> Path:
        """Write `text` to `rel` under the root (its directories made)."""
        p = self.root / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(text)
        return p

    def apps(self, *lines: str) -> None:
        """apps.star of these lines."""
        self.write("apps.star", "\n".join(lines) + "\n")


def checked(res: Result, args: tuple[str, ...], expect: int | None) -> None:
    """An in-process ace command's `res`: what it raised (other than its exit) raised again, its
    exit code `expect`ed (None: any)."""
    if res.exception and not isinstance(res.exception, SystemExit):
        raise res.exception
    if expect is not None:
        assert res.exit_code == expect, f"ace {' '.join(args)} -> {res.exit_code}\n{res.output}"
