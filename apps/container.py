"""Resolving `container.config(...)` of one app into a frozen `ContainerConfig`.

The evaluator calls `resolve_container` with the keyword arguments the app gave (unknown keywords
already rejected) and the app's context; every problem is an `AppError` located at the
`container.config` call that says what to fix (a bad `container_opts` at the apps file's
`app(...)` call that gave it). Nothing here touches Docker.

Differences from OpenRun, on purpose: `EXPOSE 8080/tcp` is read; a service with no port is an
error at load time; `command` replaces the image CMD; unknown `lifetime`, `scheme` and health
paths not starting with `/` are errors; VOLUME instructions of the container file become
app-scoped volumes (as in OpenRun) unless an explicit volume has the same target.

`dev_settings` are validated in every mode; for an app in dev mode they resolve into
`ContainerConfig.dev` (or a `dev_note` saying why it runs the normal way), see apps.dev_settings.
`command` is never replaced by the dev command: the dev settings carry it.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Collection, Mapping, Sequence
from typing import Any, Literal, NoReturn

from apps.container_opts import (
    OptionError,
    parse_build_args,
    parse_command,
    parse_container_opts,
)
from apps.container_volumes import (
    VolumeContext,
    VolumeError,
    allowed_mounts_from_env,
    inside,
    parse_volumes,
)
from apps.containerfile import ContainerfileFacts, scan_containerfile
from apps.dev_settings import parse_dev_spec, resolve_dev
from apps.errors import AppError
from apps.locate import KEEP_INSIDE, entry_column, symlink_escape
from apps.model import SECRET_MASK, AppEntry, ContainerConfig, as_text

__all__ = [
    "AUTO",
    "COMMAND",
    "CONTAINERFILE_NAMES",
    "IMAGE_PREFIX",
    "PROXY_BASE_URL",
    "files_read",
    "resolve_container",
]

AUTO = "auto"
COMMAND = "command"
IMAGE_PREFIX = "image:"
CONTAINERFILE_NAMES = ("Containerfile", "Dockerfile")
PROXY_BASE_URL = "http://127.0.0.1:8000"  # the stable address ace's proxy serves apps on
_IMAGE_REF = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._/:@+-]*$")
_DEFAULTS: dict[str, Any] = {
    "src": AUTO,
    "port": 0,
    "scheme": "http",
    "health": "/",
    "lifetime": "app",
    "build_dir": "",
    "volumes": [],
    "cargs": {},
    "dev_settings": {},
    "command": None,
}


class _Fail:
    """Raises AppErrors located at the container.config call."""

    def __init__(self, app: str, file: str, line: int, column: int) -> None:
        self.app, self.file, self.line, self.column = app, file, line, column

    def __call__(self, message: str) -> NoReturn:
        raise AppError(message, app=self.app, file=self.file, line=self.line, column=self.column)


def _string(raw: Mapping[str, Any], key: str, fail: _Fail) -> str:
    value = raw.get(key, _DEFAULTS[key])
    if value is None:
        value = _DEFAULTS[key]
    if not isinstance(value, str):
        fail(f"container.config {key}= must be a string, not {type(value).__name__}")
    return value


def _port(raw: Mapping[str, Any], fail: _Fail) -> int:
    value = raw.get("port", 0)
    if value is None:
        return 0
    if isinstance(value, bool) or not isinstance(value, int):
        fail(f"container.config port= must be an int, not {type(value).__name__} {value!r}")
    if not 0 <= value <= 65535:
        fail(f"container.config port={value} is out of range; use 1..65535 (0 = from EXPOSE)")
    return value


def _find_file(name: str, search_dirs: Sequence[str], fail: _Fail) -> tuple[str, str]:
    """(absolute container file, the search dir holding it) for a named container file."""
    if not name or os.path.isabs(name):
        fail(
            f"container.config src={name!r}: give a container file name relative to the app "
            'source, "auto", or image:REF'
        )
    rel = os.path.normpath(name)
    if rel == ".." or rel.startswith(".." + os.sep):
        fail(f"container.config src={name!r} points outside the app source; name a file in it")
    for root in search_dirs:
        path = os.path.join(root, rel)
        _refuse_escape(root, path, fail)
        if os.path.isfile(path):
            return os.path.realpath(path), root
    fail(
        f"container file {name!r} not found in "
        + (", ".join(search_dirs) or "(no app dirs)")
        + "; add it to the app source or change src="
    )


def _refuse_escape(root: str, path: str, fail: _Fail) -> None:
    """A container file that a symlink takes out of the app's dir is refused: ace would hash
    and docker would build from a file that is not part of the app."""
    escape = symlink_escape(root, path)
    if escape:
        fail(f"container file {escape}; {KEEP_INSIDE}")


def _auto_file(search_dirs: Sequence[str], fail: _Fail) -> tuple[str, str]:
    for root in search_dirs:
        for name in CONTAINERFILE_NAMES:
            path = os.path.join(root, name)
            _refuse_escape(root, path, fail)
            if os.path.isfile(path):
                return os.path.realpath(path), root
    fail(
        "container.config(container.AUTO) found neither Containerfile nor Dockerfile in "
        + (", ".join(search_dirs) or "(no app dirs: the app has no source)")
        + '; add one, or use src="image:REF"'
    )


def _build_dir(value: str, root: str, fail: _Fail) -> str:
    rel = value.strip().lstrip("/") or "."
    path = os.path.normpath(os.path.join(root, rel))
    if not inside(root, path):
        fail(
            f"container.config build_dir={value!r} leaves the app source {root}; "
            "give a directory inside it"
        )
    if not os.path.isdir(path):
        fail(f"container.config build_dir={value!r}: {path} is not a directory")
    return os.path.realpath(path)


def _refuse_expose(facts: ContainerfileFacts, app: str, containerfile: str) -> None:
    """An EXPOSE docker refuses to build (`abc`, `99999`, `80/xyz`) is an error at its line."""
    refused = [n for n in facts.notes if n.refused]
    if refused:
        n = refused[0]
        raise AppError(f"EXPOSE {n.token} {n.why}; docker refuses to build this file",
                       app=app, file=containerfile, line=n.line, column=1)


def _lifetime(value: str, fail: _Fail) -> Literal["app", "command"]:
    if value in ("", "app"):
        return "app"
    if value == COMMAND:
        return "command"
    fail(
        f"container.config lifetime={value!r} is not known; use container.COMMAND "
        '("command") or leave it out for a service'
    )


def _text_params(params: Mapping[str, Any], env_params: Mapping[str, str]) -> dict[str, str]:
    """Params as the container sees them, for cl_secret templates."""
    data = {k: as_text(v) for k, v in params.items() if k != "secrets"}
    data.update({k: v for k, v in env_params.items() if k != "secrets"})
    return data


def _masked(message: str, secrets: Sequence[str]) -> str:
    """`message` with every secret value in it shown as SECRET_MASK (longest values first)."""
    for value in sorted({v for v in secrets if v}, key=len, reverse=True):
        message = message.replace(value, SECRET_MASK)
    return message


def _env(entry: AppEntry, env_params: Mapping[str, str], port: int) -> tuple[tuple[str, str], ...]:
    app_path = "" if entry.path == "/" else entry.path
    env = {k: as_text(v) for k, v in env_params.items() if k != "secrets"}
    env["PORT"] = str(port)
    env["CL_APP_PATH"] = app_path
    env["CL_APP_URL"] = PROXY_BASE_URL + app_path
    return tuple(sorted(env.items()))


def resolve_container(
    raw: Mapping[str, Any],
    *,
    entry: AppEntry,
    search_dirs: Sequence[str],
    params: Mapping[str, Any],
    env_params: Mapping[str, str],
    file: str,
    line: int,
    column: int,
    secret: Callable[[str], str] | None = None,
    secret_env: Collection[str] = (),
) -> ContainerConfig:
    """The resolved container of one app; raises `AppError` located at the config call.

    `secret` (optional) resolves `{{ secret "KEY" }}` in cl_secret templates; the caller enforces
    the app's secret allow-list in it. Without it such a template is an error. `secret_env`
    names the env params whose values hold a resolved secret (kept to mask them in output).
    """
    fail = _Fail(entry.path, file, line, column)
    src = _string(raw, "src", fail).strip() or AUTO
    port = _port(raw, fail)
    scheme = _string(raw, "scheme", fail)
    health = _string(raw, "health", fail) or "/"
    lifetime = _lifetime(_string(raw, "lifetime", fail), fail)
    build_dir_raw = _string(raw, "build_dir", fail)
    if scheme not in ("http", "https"):
        fail(f'container.config scheme={scheme!r} is not supported; use "http" or "https"')
    if not health.startswith("/"):
        fail(f'container.config health={health!r} must be a path starting with "/"')
    source_dir = "" if entry.source in ("", "-") else os.path.abspath(entry.source)

    kind: Literal["build", "image"]
    image = containerfile = build_dir = ""
    image_volumes: tuple[str, ...] = ()
    text = ""
    if src.startswith(IMAGE_PREFIX):
        kind, image = "image", src[len(IMAGE_PREFIX) :].strip()
        if not _IMAGE_REF.match(image):
            fail(
                f"container.config src={src!r}: {image!r} is not an image reference; "
                "write image:NAME[:TAG], like image:busybox:1.36"
            )
        if port == 0 and lifetime != "command":
            fail(
                f"container.config src={src!r} runs an image as a service but gives no port; "
                "set port= in container.config (or lifetime=container.COMMAND for a command "
                "image)"
            )
    else:
        kind = "build"
        if src == AUTO:
            containerfile, found_in = _auto_file(search_dirs, fail)
        else:
            containerfile, found_in = _find_file(src, search_dirs, fail)
        try:
            with open(containerfile, encoding="utf-8", errors="replace") as fh:
                text = fh.read()
            facts = scan_containerfile(text)
        except OSError as exc:
            fail(f"cannot read container file {containerfile}: {exc}")
        image_volumes = facts.volumes
        _refuse_expose(facts, entry.path, containerfile)
        if port == 0:
            port = facts.port
        if port == 0 and lifetime != "command":
            if facts.notes:  # an EXPOSE is there, but names no port ace can serve
                n = facts.notes[-1]
                fail(
                    f"no port for this service: EXPOSE {n.token} at {containerfile}:{n.line} "
                    f"{n.why}; set port= in container.config, or EXPOSE the port as a number"
                )
            fail(
                f"no port for this service: set port= in container.config, or add EXPOSE PORT "
                f"to {containerfile}"
            )
        root = source_dir if source_dir and os.path.isdir(source_dir) else found_in
        build_dir = _build_dir(build_dir_raw, root, fail)

    try:
        cpus, memory, replicas = parse_container_opts(entry.container_opts)
    except OptionError as exc:  # given in the apps file: point at its app(...) call there
        if not entry.file:
            fail(str(exc))
        raise AppError(f"{exc}: fix container_opts of app {entry.path} in the apps file",
                       app=entry.path, file=entry.file, line=entry.line,
                       column=entry_column(entry)) from None
    try:
        build_args = parse_build_args(raw.get("cargs") or {}, entry.container_args)
        command = parse_command(raw.get("command"), "container.config command=")
        dev_spec = parse_dev_spec(
            raw.get("dev_settings"), source_dir if source_dir and os.path.isdir(source_dir) else ""
        )
    except OptionError as exc:
        fail(str(exc))
    dev, dev_note = resolve_dev(
        dev_spec, dev_mode=entry.dev, kind=kind, containerfile=containerfile, text=text, port=port
    )

    vols = raw.get("volumes") or []
    if not isinstance(vols, list | tuple):
        fail(f"container.config volumes= must be a list of strings, not {type(vols).__name__}")
    revealed = [env_params[k] for k in secret_env if k in env_params]  # masked in errors

    def looked_up(key: str) -> str:
        assert secret is not None
        value = secret(key)
        revealed.append(value)
        return value

    ctx = VolumeContext(
        source_dir=source_dir if source_dir and os.path.isdir(source_dir) else "",
        search_dirs=tuple(search_dirs),
        params=_text_params(params, env_params),
        secret=looked_up if secret is not None else None,
        allowed_mounts=allowed_mounts_from_env(),
    )
    try:
        volumes = parse_volumes([*vols, *entry.container_vols], ctx, image_volumes)
    except VolumeError as exc:  # a template error may quote a value: never a secret one
        fail(_masked(str(exc), revealed))

    return ContainerConfig(
        kind=kind,
        image=image,
        source_dir=source_dir,
        containerfile=containerfile,
        build_dir=build_dir,
        port=port,
        scheme=scheme,
        health=health,
        lifetime=lifetime,
        volumes=volumes,
        build_args=build_args,
        env=_env(entry, env_params, port),
        cpus=cpus,
        memory=memory,
        replicas=replicas,
        command=command,
        dev=dev,
        dev_note=dev_note,
        secret_env=tuple(sorted(set(secret_env))),
    )


def files_read(config: ContainerConfig) -> tuple[str, ...]:
    """The files resolving `config` read: the container file and any cl_secret templates."""
    files = [config.containerfile] if config.containerfile else []
    files.extend(v.source for v in config.volumes if v.kind == "secret")
    return tuple(files)
