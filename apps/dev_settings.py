"""`container.config(dev_settings={...})`: every key validated (in every mode), and — for an app
running in dev mode — resolved into `DevSettings`, inferring what is missing from the container
file's stages the way OpenRun does.

Keys (OpenRun's): `target` (build stage), `dir` (where the source is mounted; absolute), `command`
(run with `sh -c`), `reload` (`none`, `restart`, `recreate`), `env_files` (files of the source
whose content defines the dev image), `additional_mounts` (`name:/target` volumes), `port` (the
dev command's port; 0 = the app's), `dev_stage` (another name for `target`) and `disable` (run the
normal way). An unknown key is an error, as in OpenRun. Empty values ("", [], 0, None) count as not
given: OpenRun's `container` spec passes its unset params that way.

Inference (build apps only; an `image:` app has no stages): target = `target`, else a stage named
`dev`, else the penultimate stage if it is named; dir = `dir`, else that stage's effective WORKDIR;
command = `command`, else that stage's ENTRYPOINT/CMD, else the final stage's. When something
cannot be found the app runs the normal way and `dev_note` says why (OpenRun does this silently).

`reload` defaults to `restart`: OpenRun's generic `container` spec defaults it so, and it is the
only choice under which a source change reaches an app that has no reloader of its own. Framework
specs with a reloader (flask, streamlit) pass `none` explicitly.
"""

from __future__ import annotations

import os
import posixpath
import re
import shlex
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, cast

from apps.container_opts import OptionError
from apps.container_volumes import inside
from apps.containerfile import Stage, parse_stages
from apps.model import DevSettings, Reload

__all__ = [
    "DEFAULT_RELOAD",
    "DEV_SETTINGS_KEYS",
    "RELOADS",
    "DevSpec",
    "parse_dev_spec",
    "resolve_dev",
]

DEV_SETTINGS_KEYS = (
    "target",
    "command",
    "dir",
    "reload",
    "env_files",
    "additional_mounts",
    "port",
    "dev_stage",
    "disable",
)
RELOADS: tuple[Reload, ...] = ("none", "restart", "recreate")
DEFAULT_RELOAD: Reload = "restart"
_STAGE_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_.-]*$")
_VOLUME_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
_NORMAL = "; running the normal way"


@dataclass(frozen=True, slots=True)
class DevSpec:
    """dev_settings as written, validated. "", (), 0 mean "not given"."""

    target: str = ""
    dir: str = ""
    command: str = ""
    reload: Reload | None = None
    env_files: tuple[str, ...] = ()
    additional_mounts: tuple[tuple[str, str], ...] = ()
    port: int = 0
    disable: bool = False


def _text(key: str, value: Any) -> str:
    if value is None:
        return ""
    if not isinstance(value, str):
        raise OptionError(f"dev_settings {key} must be a string, not {type(value).__name__}")
    return value.strip()


def _target(settings: Mapping[str, Any]) -> str:
    target = _text("target", settings.get("target"))
    alias = _text("dev_stage", settings.get("dev_stage"))
    if target and alias and target.lower() != alias.lower():
        raise OptionError(
            f"dev_settings gives target {target!r} and dev_stage {alias!r}; dev_stage is another "
            "name for target: keep one"
        )
    target = target or alias
    if target and not _STAGE_NAME.match(target):
        raise OptionError(
            f"dev_settings target {target!r} is not a stage name (letters, digits, '_', '.', "
            "'-', starting with a letter); name a FROM ... AS NAME stage of the container file"
        )
    return target


def _dir(value: Any) -> str:
    path = _text("dir", value)
    if path and not path.startswith("/"):
        raise OptionError(
            f"dev_settings dir {path!r} must be an absolute path in the container, like /app"
        )
    return posixpath.normpath(path) if path else ""


def _command(value: Any) -> str:
    if isinstance(value, list | tuple):
        if not all(isinstance(v, str) for v in value):
            raise OptionError("dev_settings command must be a string (run with sh -c)")
        return shlex.join(value)
    return _text("command", value)


def _reload(value: Any) -> Reload | None:
    text = _text("reload", value)
    if not text:
        return None
    if text not in RELOADS:
        raise OptionError(
            f"dev_settings reload {text!r} is not known; use one of: " + ", ".join(RELOADS)
        )
    return cast(Reload, text)


def _list(key: str, value: Any, example: str) -> list[Any]:
    if value is None:
        return []
    if not isinstance(value, list | tuple):
        raise OptionError(
            f"dev_settings {key} must be a list, not {type(value).__name__}; write [{example}]"
        )
    return list(value)


def _env_files(value: Any, source_dir: str) -> tuple[str, ...]:
    out: list[str] = []
    for item in _list("env_files", value, '"requirements.txt"'):
        if not isinstance(item, str) or not item.strip():
            raise OptionError(
                f"dev_settings env_files entry {item!r} must be a file name relative to the "
                "app source, like requirements.txt"
            )
        if item.startswith("/") or os.path.isabs(item):
            raise OptionError(
                f"dev_settings env_files entry {item!r} is an absolute path; name a file of the "
                "app source relative to it, like requirements.txt"
            )
        rel = posixpath.normpath(item.strip())
        if rel == ".." or rel.startswith("../"):
            raise OptionError(
                f"dev_settings env_files entry {item!r} points outside the app source; name a "
                "file inside it"
            )
        if rel == ".":
            raise OptionError(
                f"dev_settings env_files entry {item!r} names the source directory itself; "
                "name a file in it"
            )
        full = os.path.join(source_dir, rel) if source_dir else ""
        if full and os.path.lexists(full) and not inside(source_dir, full):
            raise OptionError(
                f"dev_settings env_files entry {item!r} is a link that leads outside the app "
                "source; name a file inside it"
            )
        if rel not in out:
            out.append(rel)
    return tuple(out)


def _mounts(value: Any) -> tuple[tuple[str, str], ...]:
    out: list[tuple[str, str]] = []
    for item in _list("additional_mounts", value, '"venv:/app/.venv"'):
        spec = item if isinstance(item, str) else repr(item)
        name, sep, target = spec.partition(":")
        if not isinstance(item, str) or not sep:
            raise OptionError(
                f"dev_settings additional_mounts entry {spec!r} must be NAME:/TARGET, like "
                "venv:/app/.venv"
            )
        if not _VOLUME_NAME.match(name):
            raise OptionError(
                f"dev_settings additional_mounts entry {spec!r}: {name!r} is not a valid volume "
                "name (letters, digits, '_', '.', '-', starting with a letter or digit)"
            )
        if not target.startswith("/") or ":" in target or posixpath.normpath(target) == "/":
            raise OptionError(
                f"dev_settings additional_mounts entry {spec!r}: the target {target!r} must be "
                "an absolute path in the container other than /, like /app/.venv"
            )
        target = posixpath.normpath(target)
        if any(t == target for _, t in out):
            raise OptionError(
                f"dev_settings additional_mounts mounts two volumes at {target}; keep one"
            )
        out.append((name, target))
    return tuple(out)


def _port(value: Any) -> int:
    if value is None:
        return 0
    if isinstance(value, bool) or not isinstance(value, int):
        raise OptionError(f"dev_settings port must be an int, not {type(value).__name__}")
    if not 0 <= value <= 65535:
        raise OptionError(f"dev_settings port {value} is out of range; use 1..65535 (0 = app's)")
    return value


def _disable(value: Any) -> bool:
    if value is None:
        return False
    if not isinstance(value, bool):
        raise OptionError(f"dev_settings disable must be True or False, not {value!r}")
    return value


def parse_dev_spec(settings: Any, source_dir: str = "") -> DevSpec:
    """Validate dev_settings; raises `OptionError` naming the key and what to write instead.
    `source_dir` (when the app has one) is where env_files must stay, links included."""
    if settings is None:
        return DevSpec()
    if not isinstance(settings, Mapping):
        raise OptionError(f"dev_settings must be a dict, not {type(settings).__name__}")
    for key in settings:
        if key not in DEV_SETTINGS_KEYS:
            raise OptionError(
                f"dev_settings key {key!r} is not supported; allowed keys: "
                + ", ".join(DEV_SETTINGS_KEYS)
            )
    return DevSpec(
        target=_target(settings),
        dir=_dir(settings.get("dir")),
        command=_command(settings.get("command")),
        reload=_reload(settings.get("reload")),
        env_files=_env_files(settings.get("env_files"), source_dir),
        additional_mounts=_mounts(settings.get("additional_mounts")),
        port=_port(settings.get("port")),
        disable=_disable(settings.get("disable")),
    )


def _stage_names(stages: tuple[Stage, ...]) -> str:
    return ", ".join(s.name or f"#{s.index + 1} (no name)" for s in stages)


def _pick_stage(spec: DevSpec, stages: tuple[Stage, ...], file: str) -> Stage | str:
    """The dev stage, or the note saying why there is none."""
    if not stages:
        return f"dev: {file} has no FROM stage" + _NORMAL
    if spec.target:
        for stage in stages:
            if stage.name.lower() == spec.target.lower():
                return stage
        return (
            f"dev: target {spec.target!r} is not a stage of {file} (stages: "
            f"{_stage_names(stages)})" + _NORMAL
        )
    for stage in stages:
        if stage.name.lower() == "dev":
            return stage
    if spec.dir and len(stages) == 1:
        return stages[0]  # one stage and dev_settings name the dir: the whole file is the dev image
    if len(stages) < 2:
        return f"dev: no stage named 'dev' and {file} has a single stage" + _NORMAL
    if not stages[-2].name:
        return "dev: no stage named 'dev' and the penultimate stage is not named" + _NORMAL
    return stages[-2]


def resolve_dev(
    spec: DevSpec,
    *,
    dev_mode: bool,
    kind: str,
    containerfile: str,
    text: str,
    port: int,
) -> tuple[DevSettings | None, str]:
    """(the dev settings, "") when the app runs in dev mode and they resolve; (None, note) when
    it runs in dev mode but the normal way; (None, "") outside dev mode."""
    if not dev_mode:
        return None, ""
    if spec.disable:
        return None, "dev: dev_settings disable=True" + _NORMAL
    if kind != "build":
        return None, (
            "dev: an image: app has no container file, so no dev stage to build and run from "
            "its source" + _NORMAL
        )
    file = os.path.basename(containerfile)
    stages = parse_stages(text)
    picked = _pick_stage(spec, stages, file)
    if isinstance(picked, str):
        return None, picked
    # named by target, "dev", or the named penultimate; or a single-stage file's only stage
    # (target "": the whole file) when dev_settings give a dir
    stage_name = picked.name or "final"
    directory = spec.dir or picked.workdir
    if not directory:
        return None, (
            f"dev: cannot infer dir: stage {stage_name!r} of {file} sets no WORKDIR (nor does a "
            "stage it is built from); set dev_settings dir" + _NORMAL
        )
    command = spec.command or picked.command_line() or stages[-1].command_line()
    if not command:
        return None, (
            f"dev: cannot infer command: neither stage {stage_name!r} nor the final stage of "
            f"{file} has CMD or ENTRYPOINT; set dev_settings command" + _NORMAL
        )
    given = {
        "target": spec.target, "dir": spec.dir, "command": spec.command,
        "reload": spec.reload, "port": spec.port,
    }  # fmt: skip
    return DevSettings(
        target=picked.name,
        dir=directory,
        command=command,
        reload=spec.reload or DEFAULT_RELOAD,
        env_files=spec.env_files,
        additional_mounts=spec.additional_mounts,
        port=spec.port or port,
        inferred=tuple(key for key, value in given.items() if not value),
    ), ""
