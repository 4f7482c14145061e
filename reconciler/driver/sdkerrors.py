"""SDK and transport failures as EngineError, and ace's mounts as SDK mounts: shared by the
SDK-side modules of the driver package."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager

import docker
import docker.errors
import docker.types
import requests

from apps.errors import EngineError
from reconciler.driver.ports import VolumeMount

__all__ = ["docker_mounts", "gone", "translated"]


@contextmanager
def translated(what: str) -> Iterator[None]:
    """Turn SDK and transport exceptions into EngineError naming the operation."""
    try:
        yield
    except EngineError:
        raise
    except docker.errors.APIError as e:
        detail = e.explanation or str(e)
        status = e.status_code or 0
        retry = status in (502, 503, 504)
        raise EngineError(f"{what}: {detail}", retryable=retry) from e
    except docker.errors.DockerException as e:
        cause = e.__cause__ or e.__context__
        down = isinstance(cause, requests.exceptions.RequestException | OSError)
        hint = " (is the Docker engine running?)" if down else ""
        raise EngineError(f"{what}: {e}{hint}", retryable=down) from e
    except requests.exceptions.RequestException as e:
        raise EngineError(f"{what}: the Docker engine is not answering: {e}", retryable=True) from e


def gone(e: docker.errors.APIError) -> bool:
    """Whether the error says the container is not there: a 404, or Podman's 500 for a
    container removed while it was being read ("does not exist in database: no such
    container")."""
    return isinstance(e, docker.errors.NotFound) or "no such container" in str(
        e.explanation or "").lower()


def docker_mounts(mounts: Sequence[VolumeMount]) -> list[docker.types.Mount]:
    out = []
    for m in mounts:
        if m.kind not in ("volume", "bind"):
            raise EngineError(f"unknown mount kind {m.kind!r} for {m.target}")
        out.append(docker.types.Mount(m.target, m.source, type=m.kind, read_only=m.read_only))
    return out
