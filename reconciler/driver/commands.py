"""Commands in fresh containers (`container.run`) and live output streams, over the SDK's
low-level API: create, start, wait with a timeout (kill at the deadline), read stdout and stderr
apart, remove. A command's container always goes, whatever happened."""

from __future__ import annotations

import codecs
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from contextlib import suppress

import docker
import docker.errors
import requests

from apps.errors import EngineError
from reconciler.driver.podman import exec_failure
from reconciler.driver.policy import own_labels
from reconciler.driver.ports import CommandResult, VolumeMount
from reconciler.driver.sdkerrors import docker_mounts, translated

__all__ = ["TIMED_OUT_EXIT_CODE", "run_command", "stream_text"]

TIMED_OUT_EXIT_CODE = 124  # CommandResult.exit_code of a command killed at its timeout

Write = Callable[[str], None]


def stream_text(chunks: Iterable[bytes], on_output: Write) -> None:
    """Pass a byte stream on as text, never splitting a UTF-8 character across calls."""
    decoder = codecs.getincrementaldecoder("utf-8")("replace")
    for chunk in chunks:
        text = decoder.decode(chunk)
        if text:
            on_output(text)


def run_command(
    api: docker.APIClient,
    *,
    image: str,
    command: Sequence[str],
    env: Mapping[str, str],
    cwd: str,
    labels: Mapping[str, str],
    mounts: Sequence[VolumeMount] = (),
    timeout: float = 300.0,
    on_output: Write | None = None,
    network: str = "",
) -> CommandResult:
    """A fresh container of `image` running `command` to its end (or `timeout`); on `network`
    (no alias) when one is named."""
    labels = own_labels(labels, f"command in {image}", {})
    with translated(f"create command container from {image}"):
        cid = api.create_container(
            image,
            command=list(command),
            environment=dict(env),
            working_dir=cwd or None,
            labels=labels,
            host_config=api.create_host_config(
                init=True, mounts=docker_mounts(mounts), auto_remove=False,
                network_mode=network or None,
            ),
        )["Id"]
    try:
        res = _run_to_end(api, cid, timeout, on_output)
    finally:
        with translated(f"remove container {cid}"), suppress(docker.errors.NotFound):
            api.remove_container(cid, force=True)
    if res.stdout or res.timed_out:
        return res
    code, err = exec_failure(res.exit_code, res.stderr, command)  # Podman's init
    return CommandResult(exit_code=code, stdout=res.stdout, stderr=err, timed_out=res.timed_out)


def _run_to_end(api: docker.APIClient, cid: str, timeout: float,
                on_output: Write | None) -> CommandResult:
    try:
        with translated("start command container"):
            api.start(cid)
    except EngineError as e:  # e.g. the executable is missing: report it like a shell
        if isinstance(e.__cause__, docker.errors.NotFound):  # its network is gone: not the
            raise  # command's failure (Podman says so at create already)
        return CommandResult(exit_code=127, stdout="", stderr=str(e))
    follower = _follow(api, cid, on_output) if on_output is not None else None
    deadline = time.monotonic() + timeout
    timed_out = False
    code = TIMED_OUT_EXIT_CODE
    with translated("wait for command"):
        try:
            code = int(api.wait(cid, timeout=max(timeout, 0.001))["StatusCode"])
        except requests.exceptions.RequestException:
            if time.monotonic() < deadline - 0.05:
                raise
            timed_out = True
            with suppress(docker.errors.APIError):  # it may have finished in between
                api.kill(cid)
    if follower is not None:
        follower.join(timeout=5)  # the log stream ends with the container
    with translated("read command output"):
        out = api.logs(cid, stdout=True, stderr=False)
        err = api.logs(cid, stdout=False, stderr=True)
    return CommandResult(
        exit_code=code,
        stdout=out.decode("utf-8", "replace"),
        stderr=err.decode("utf-8", "replace"),
        timed_out=timed_out,
    )


def _follow(api: docker.APIClient, cid: str, on_output: Write) -> threading.Thread:
    """A thread passing the container's output (both streams) to `on_output` as it comes;
    a broken stream only ends the live view (the output is read in full afterwards)."""

    def pump() -> None:
        with suppress(docker.errors.APIError, requests.exceptions.RequestException, OSError):
            stream_text(api.logs(cid, stdout=True, stderr=True, stream=True, follow=True),
                        on_output)

    t = threading.Thread(target=pump, name=f"ace-output-{cid[:12]}", daemon=True)
    t.start()
    return t
