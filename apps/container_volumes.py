"""Parsing the volume strings of `container.config(volumes=...)` and the apps file's
`container_vols` into `Volume` values.

Forms (an optional `:ro` or `:rw` suffix on each):

- `/target` — a named volume scoped to the app (source ""), like OpenRun's unnamed volume;
- `name:/target` — a named volume (`name` in Docker's volume-name alphabet);
- `./rel:/target` — a bind mount of a path inside the app source; symlinks are resolved and a
  path that leaves the source (`..`, a link pointing out) is refused;
- `/abs:/target` — a bind mount, only from the app source or a directory listed in the
  `ACE_ALLOWED_MOUNTS` environment variable (`os.pathsep` separated); `$VAR` is expanded;
- `cl_secret:./file.tmpl:/target` — the template (found in the app's search dirs, source first)
  is rendered with the params and mounted read-only at the target.
"""

from __future__ import annotations

import os
import posixpath
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from apps.model import Volume

__all__ = [
    "ALLOWED_MOUNTS_ENV",
    "VolumeContext",
    "VolumeError",
    "allowed_mounts_from_env",
    "inside",
    "parse_volume",
    "parse_volumes",
]

ALLOWED_MOUNTS_ENV = "ACE_ALLOWED_MOUNTS"
SECRET_PREFIX = "cl_secret:"
_VOLUME_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
_ENV_VAR = re.compile(r"\$(?:\{([A-Za-z_][A-Za-z0-9_]*)\}|([A-Za-z_][A-Za-z0-9_]*))")


class VolumeError(Exception):
    """A volume string that cannot be used; the message says what to change."""


@dataclass(frozen=True, slots=True)
class VolumeContext:
    """What parsing a volume needs to know about the app."""

    source_dir: str  # absolute user source dir, "" when the app has none
    search_dirs: tuple[str, ...]  # where app files are found, first wins
    params: Mapping[str, str]  # template data: params as strings
    secret: Callable[[str], str] | None = None
    allowed_mounts: tuple[str, ...] = ()


def inside(root: str, path: str) -> bool:
    """Whether `path` is `root` or below it, after resolving symlinks in both."""
    real_root = os.path.realpath(root)
    real = os.path.realpath(path)
    return os.path.commonpath([real_root, real]) == real_root


def _split_mode(spec: str) -> tuple[str, bool]:
    for suffix, read_only in ((":ro", True), (":rw", False)):
        if spec.endswith(suffix):
            return spec[: -len(suffix)], read_only
    return spec, False


def _target(target: str, spec: str) -> str:
    if not target.startswith("/") or ":" in target:
        raise VolumeError(
            f"volume {spec!r}: the target {target!r} must be an absolute path in the container "
            "(like /data)"
        )
    return posixpath.normpath(target)


def _expand(path: str, spec: str) -> str:
    def repl(m: re.Match[str]) -> str:
        name = m.group(1) or m.group(2)
        if name not in os.environ:
            raise VolumeError(f"volume {spec!r}: environment variable ${name} is not set")
        return os.environ[name]

    return _ENV_VAR.sub(repl, path)


def _relative(rel: str, root: str, spec: str, what: str) -> str:
    """`rel` joined to `root`, refusing absolute paths and escapes (symlinks resolved)."""
    if os.path.isabs(rel):
        raise VolumeError(f"volume {spec!r}: {what} {rel!r} must be relative to the app source")
    joined = os.path.normpath(os.path.join(root, rel))
    if not inside(root, joined):
        how = ""
        base = os.path.abspath(root)
        if os.path.commonpath([base, joined]) == base:  # inside as written: a symlink leads out
            how = f" ({joined} resolves through a symlink to {os.path.realpath(joined)})"
        raise VolumeError(
            f"volume {spec!r}: {what} {rel!r} resolves outside the app source {root}{how}; "
            "only paths inside the app source can be used; copy the file or directory into it "
            "(symlinks that stay inside it are fine)"
        )
    return os.path.realpath(joined)


def _secret(spec: str, rest: str, read_only: bool, ctx: VolumeContext) -> Volume:
    rel, sep, target = rest.partition(":")
    if not sep or not rel or not target:
        raise VolumeError(
            f"volume {spec!r}: expected cl_secret:./file.tmpl:/target (template path, then the "
            "target in the container)"
        )
    target = _target(target, spec)
    if not ctx.search_dirs:
        raise VolumeError(f"volume {spec!r}: the app has no source to find the template in")
    for root in ctx.search_dirs:
        path = _relative(rel, root, spec, "template")
        if os.path.isfile(path):
            break
    else:
        raise VolumeError(
            f"volume {spec!r}: template {rel!r} not found in {', '.join(ctx.search_dirs)}"
        )
    # the template engine is loaded only for apps that have a secret template
    from apps.secret_template import TemplateError, render_template

    try:
        with open(path, encoding="utf-8") as fh:
            text = fh.read()
        content = render_template(text, ctx.params, ctx.secret)
    except (OSError, UnicodeDecodeError) as exc:
        raise VolumeError(f"volume {spec!r}: cannot read template {path}: {exc}") from exc
    except TemplateError as exc:
        raise VolumeError(f"volume {spec!r}: template {path}: {exc}") from exc
    return Volume("secret", path, target, read_only=True, content=content)


def _bind_absolute(src: str, target: str, read_only: bool, spec: str, ctx: VolumeContext) -> Volume:
    path = os.path.realpath(os.path.normpath(src))
    roots = [*ctx.allowed_mounts, *([ctx.source_dir] if ctx.source_dir else [])]
    if not any(inside(root, path) for root in roots if root):
        allowed = ", ".join(r for r in roots if r) or "none"
        raise VolumeError(
            f"volume {spec!r}: {src} is not inside an allowed mount directory (allowed: {allowed});"
            f" add its directory to the {ALLOWED_MOUNTS_ENV} environment variable "
            f"({os.pathsep!r} separated) or mount a path inside the app source with ./"
        )
    return Volume("bind", path, target, read_only=read_only)


def parse_volume(spec: str, ctx: VolumeContext) -> Volume:
    """One volume string to a `Volume`; raises `VolumeError`."""
    if not isinstance(spec, str) or not spec.strip():
        raise VolumeError(f"volume {spec!r}: a volume must be a non-empty string")
    body, read_only = _split_mode(spec.strip())
    if body.startswith(SECRET_PREFIX):
        return _secret(spec, body[len(SECRET_PREFIX) :], read_only, ctx)
    src, sep, target = body.partition(":")
    if not sep:
        return Volume("volume", "", _target(src, spec), read_only=read_only)
    target = _target(target, spec)
    if not src:
        raise VolumeError(f"volume {spec!r}: empty source before ':'")
    expanded = _expand(src, spec)
    if os.path.isabs(expanded):
        return _bind_absolute(expanded, target, read_only, spec, ctx)
    if expanded in (".", "..") or expanded.startswith(("./", "../")):
        if not ctx.source_dir:
            raise VolumeError(
                f"volume {spec!r}: a ./ bind mount needs an app source directory; this app has "
                'none (source "-")'
            )
        path = _relative(expanded, ctx.source_dir, spec, "path")
        return Volume("bind", path, target, read_only=read_only)
    if not _VOLUME_NAME.match(src):
        raise VolumeError(
            f"volume {spec!r}: {src!r} is not a valid volume name (letters, digits, '_', '.', "
            "'-', starting with a letter or digit); write ./PATH for a directory of the app"
        )
    return Volume("volume", src, target, read_only=read_only)


def allowed_mounts_from_env() -> tuple[str, ...]:
    """The directories `ACE_ALLOWED_MOUNTS` lists (absolute, existing or not)."""
    raw = os.environ.get(ALLOWED_MOUNTS_ENV, "")
    return tuple(os.path.abspath(p) for p in raw.split(os.pathsep) if p.strip())


def parse_volumes(
    specs: Sequence[str], ctx: VolumeContext, image_volumes: Sequence[str] = ()
) -> tuple[Volume, ...]:
    """All volumes; two different volumes on one target are an error (an identical string given
    twice counts once). `image_volumes` are the container file's VOLUME targets: each becomes an
    app-scoped volume unless an explicit volume has its target."""
    result: list[Volume] = []
    seen: dict[str, str] = {}
    for spec in specs:
        if spec in seen.values():
            continue  # the same string twice (config and apps file) is one volume, as in OpenRun
        vol = parse_volume(spec, ctx)
        if vol.target in seen:
            raise VolumeError(
                f"volume {spec!r}: target {vol.target} is already mounted by {seen[vol.target]!r};"
                " each target can be mounted once"
            )
        seen[vol.target] = spec
        result.append(vol)
    for target in image_volumes:
        norm = posixpath.normpath(target) if target.startswith("/") else ""
        if norm and norm not in seen:
            seen[norm] = f"VOLUME {target}"
            result.append(Volume("volume", "", norm))
    return tuple(result)
