"""BuildKit builds through a docker CLI, for container files the classic builder rejects.

The docker SDK (used by reconciler/driver.py) only speaks the classic builder, which refuses
`RUN --mount` and friends. A 20.x docker CLI builds with BuildKit when DOCKER_BUILDKIT=1; newer
clients need the buildx plugin. This module finds such a client and runs it; it never imports
docker. Errors are apps.errors.EngineError.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from collections.abc import Callable, Mapping

from apps.errors import EngineError

__all__ = ["build_with_cli", "find_buildkit_cli", "needs_buildkit"]

# Syntax the classic builder rejects: RUN --mount/--network/--security, COPY/ADD --link, heredocs.
_BUILDKIT_SYNTAX = re.compile(
    r"^\s*(RUN\s+(?:--\S+\s+)*--(?:mount|network|security)\b|(?:COPY|ADD)\s+(?:--\S+\s+)*--link\b"
    r"|(?:RUN|COPY)\b.*<<-?\s*[\"']?\w+)",
    re.IGNORECASE | re.MULTILINE,
)
_KNOWN_CLIENTS = ("/usr/bin/docker", "/usr/local/bin/docker", "/bin/docker")


def needs_buildkit(containerfile_text: str) -> bool:
    """True when the container file uses syntax only BuildKit understands."""
    return bool(_BUILDKIT_SYNTAX.search(containerfile_text))


def find_buildkit_cli(env: Mapping[str, str]) -> str:
    """A docker CLI that builds with BuildKit: $ACE_DOCKER_CLI, `docker` on PATH, or a known
    location; a 20.x client (BuildKit built in) or one with the buildx plugin."""
    found = [p for p in (env.get("ACE_DOCKER_CLI"), shutil.which("docker", path=env.get("PATH")))]
    candidates = list(dict.fromkeys(p for p in [*found, *_KNOWN_CLIENTS] if p))
    for cli in candidates:
        if os.access(cli, os.X_OK) and _has_buildkit(cli, env):
            return cli
    raise EngineError(
        "this container file needs BuildKit (RUN --mount, ...) but no docker CLI with BuildKit"
        f" was found (tried {', '.join(candidates)}); install docker.io or the buildx plugin, or"
        " point ACE_DOCKER_CLI at such a client"
    )


def build_with_cli(
    cli: str,
    *,
    context_dir: str,
    containerfile: str,
    tag: str,
    build_args: Mapping[str, str],
    labels: Mapping[str, str],
    env: Mapping[str, str],
    emit: Callable[[str], None],
    target: str = "",
) -> int:
    """Run `cli build` with BuildKit, streaming each output line to `emit`; the exit code."""
    argv = [cli, "build", "--progress=plain", "-f", containerfile, "-t", tag]
    if target:
        argv += ["--target", target]
    for k, v in sorted(build_args.items()):
        argv += ["--build-arg", f"{k}={v}"]
    for k, v in sorted(labels.items()):
        argv += ["--label", f"{k}={v}"]
    argv.append(context_dir)
    try:
        proc = subprocess.Popen(
            argv,
            env={**env, "DOCKER_BUILDKIT": "1"},
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            text=True,
            errors="replace",
        )
    except OSError as e:
        raise EngineError(f"build {tag}: cannot run {cli}: {e}") from e
    assert proc.stdout is not None
    with proc.stdout:
        for line in proc.stdout:
            if line.strip():
                emit(line.rstrip())
    return proc.wait()


def _has_buildkit(cli: str, env: Mapping[str, str]) -> bool:
    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [cli, *args],
            env=dict(env),
            capture_output=True,
            text=True,
            timeout=15,
            stdin=subprocess.DEVNULL,
        )

    try:
        version = run("version", "--format", "{{.Client.Version}}").stdout.strip()
        major = int(version.split(".")[0]) if version[:1].isdigit() else 0
        if 18 <= major < 23:  # the classic CLI with BuildKit built in
            return True
        return run("buildx", "version").returncode == 0
    except (OSError, subprocess.SubprocessError, ValueError):
        return False
