"""The build context as the engine's build endpoint gets it (the SDK's classic build).

The SDK packs a container file from outside the context into the context under a random name,
but then also passes the file's text as a second `dockerfile` parameter: Docker reads the first
value, Podman the last (and fails on it as a path). For Podman, ace packs the context itself —
the same tar the SDK makes, honouring `.dockerignore` — and passes the one name.
"""

from __future__ import annotations

import hashlib
import os
from typing import IO, Any

from docker.utils import tar

__all__ = ["build_source"]


def build_source(context_dir: str, containerfile: str, *, podman: bool) -> dict[str, Any]:
    """Keyword arguments for `APIClient.build` naming the context and container file (an
    absolute path, inside the context or not)."""
    inside = not os.path.relpath(containerfile, context_dir).startswith("..")
    if not podman or inside:
        return {"path": context_dir, "dockerfile": containerfile}
    with open(containerfile, encoding="utf-8") as f:
        text = f.read()
    name = f".ace.containerfile.{hashlib.sha256(text.encode()).hexdigest()[:16]}"
    packed: IO[bytes] = tar(context_dir, exclude=_dockerignore(context_dir),
                            dockerfile=(name, text))
    return {"fileobj": packed, "custom_context": True, "dockerfile": name}


def _dockerignore(context_dir: str) -> list[str] | None:
    """The context's .dockerignore patterns, read as the SDK reads them."""
    path = os.path.join(context_dir, ".dockerignore")
    if not os.path.exists(path):
        return None
    with open(path, encoding="utf-8") as f:
        return [ln.strip() for ln in f.read().splitlines() if ln.strip() and ln.strip()[0] != "#"]
