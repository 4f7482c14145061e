"""`container.run` on a cluster: each call is a one-off `replicated-job` service of the app's
image, run to its end (or its timeout) and removed; stdout and stderr are read apart from the
job's logs, the exit code from its task, as on one engine."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from contextlib import suppress
from typing import TYPE_CHECKING, Any

import docker.errors
import requests

from apps.errors import EngineError
from reconciler.driver.commands import TIMED_OUT_EXIT_CODE, stream_text
from reconciler.driver.policy import own_labels
from reconciler.driver.ports import CommandResult, VolumeMount
from reconciler.driver.sdkerrors import translated
from reconciler.driver.swarm.mounts import swarm_mounts
from reconciler.driver.swarm.spec import job_spec

if TYPE_CHECKING:
    from reconciler.driver.swarm.engine import SwarmEngine

__all__ = ["run_job"]

_DONE = frozenset({"complete", "failed", "rejected", "shutdown", "orphaned", "remove"})
_NOT_FOUND = ("executable file not found", "no such file or directory")


def run_job(engine: SwarmEngine, *, image: str, command: Sequence[str], env: Mapping[str, str],
            cwd: str, labels: Mapping[str, str], mounts: Sequence[VolumeMount] = (),
            timeout: float = 300.0, on_output: Callable[[str], None] | None = None
            ) -> CommandResult:
    labels = own_labels(labels, f"command in {image}", {})
    name = f"ace-run-{uuid.uuid4().hex[:12]}"
    pinned = engine._pinned(image, f"run a command of {image}")
    vols, secrets = swarm_mounts(engine, mounts, labels, multi_node=engine._multi_node())
    spec = job_spec(name=name, image=pinned, command=command, env=env, labels=labels, cwd=cwd,
                    mounts=vols, secrets=secrets)
    with translated(f"create job {name} of {image}"):
        sid = engine.api.create_service(spec["TaskTemplate"], name=name, labels=spec["Labels"],
                                        mode=spec["Mode"])["ID"]
    try:
        return _run_to_end(engine, sid, timeout, on_output)
    finally:
        with translated(f"remove job {name}"), suppress(docker.errors.NotFound):
            engine.api.remove_service(sid)


def _task(engine: SwarmEngine, sid: str) -> dict[str, Any] | None:
    with translated("read the job's task"):
        tasks = engine.api.tasks(filters={"service": sid})
    return max(tasks, key=lambda t: t.get("CreatedAt", "")) if tasks else None


def _run_to_end(engine: SwarmEngine, sid: str, timeout: float,
                on_output: Callable[[str], None] | None) -> CommandResult:
    deadline = time.monotonic() + timeout
    follower: threading.Thread | None = None
    task = None
    delay = 0.05
    while time.monotonic() < deadline:
        task = _task(engine, sid)
        state = (task or {}).get("Status", {}).get("State", "")
        if follower is None and on_output is not None and state in ("running", *_DONE):
            follower = _follow(engine, sid, on_output)
        if state in _DONE:
            break
        time.sleep(delay)
        delay = min(delay * 2, 0.5)
    else:
        if follower is not None:
            follower.join(timeout=1)
        out, err = _output(engine, sid)
        return CommandResult(TIMED_OUT_EXIT_CODE, out, err, timed_out=True)
    status = (task or {}).get("Status") or {}
    code = (status.get("ContainerStatus") or {}).get("ExitCode")
    message = str(status.get("Err") or "")
    if follower is not None:
        follower.join(timeout=5)
    if status.get("State") in ("rejected", "failed") and not code and message:
        missing = any(m in message.lower() for m in _NOT_FOUND)
        return CommandResult(127 if missing else 126, "", message)
    out, err = _output(engine, sid)
    return CommandResult(int(code or 0), out, err)


def _output(engine: SwarmEngine, sid: str) -> tuple[str, str]:
    with translated("read the job's output"):
        out = b"".join(engine.api.service_logs(sid, stdout=True, stderr=False))
        err = b"".join(engine.api.service_logs(sid, stdout=False, stderr=True))
    return out.decode("utf-8", "replace"), err.decode("utf-8", "replace")


def _follow(engine: SwarmEngine, sid: str, on_output: Callable[[str], None]
            ) -> threading.Thread:
    """The job's output as it comes (a broken stream only ends the live view)."""

    def pump() -> None:
        with suppress(EngineError, docker.errors.APIError, requests.exceptions.RequestException,
                      OSError):
            stream_text(engine.api.service_logs(sid, stdout=True, stderr=True, follow=True),
                        on_output)

    t = threading.Thread(target=pump, name=f"ace-job-{sid[:12]}", daemon=True)
    t.start()
    return t
