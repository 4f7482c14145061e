"""Content hashes: build inputs (image identity) and container specs (container identity).

Hashes are canonical JSON digests with an explicit scheme version, so they stay stable across ace
releases and Python versions; tests pin known values. File digests are cached by
(path, size, mtime_ns) so an unchanged build context is stat()ed, never read.

Special files in a context are never opened (reading a FIFO would wait for a writer forever).
`docker build` sends FIFOs and device nodes as empty entries (they end up in the image as
such) and leaves sockets out, so a FIFO or device counts by its name and kind, a socket not at
all; `hash_build_inputs` returns every one of them, for a warning. A dev image's hash reads
only its container file and env files (an env file that is not a regular file counts by its
kind, unread); `hash_dev_inputs` still lists the build context's special files (a stat walk,
no reads), since docker sends that context to build the dev image.
"""

from __future__ import annotations

import hashlib
import json
import os
import stat
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from reconciler.core.types import ContainerSpec

__all__ = [
    "HASH_SCHEME",
    "DigestCache",
    "canonical_json",
    "context_files",
    "hash_build_inputs",
    "hash_dev_inputs",
    "special_files",
    "special_kind",
    "spec_json",
    "version_of",
]

HASH_SCHEME = 1

# (size, mtime_ns, digest) by absolute path
CacheEntry = tuple[int, int, str]


@dataclass(slots=True)
class DigestCache:
    """Per-file digests keyed by absolute path; `fresh` collects entries computed this pass so the
    caller can persist them (and knows to write nothing when it is empty)."""

    known: Mapping[str, CacheEntry] = field(default_factory=dict)
    fresh: dict[str, CacheEntry] = field(default_factory=dict)

    def digest(self, path: str, st: os.stat_result) -> str:
        hit = self.fresh.get(path) or self.known.get(path)
        if hit is not None and hit[0] == st.st_size and hit[1] == st.st_mtime_ns:
            return hit[2]
        link = stat.S_ISLNK(st.st_mode)
        digest = "link:" + os.readlink(path) if link else _file_digest(path)
        self.fresh[path] = (st.st_size, st.st_mtime_ns, digest)
        return digest


def _file_digest(path: str) -> str:
    """sha256 of a regular file's content. Never blocks: the open neither waits for a FIFO's
    writer nor follows a link, and a file that stopped being regular since its lstat (swapped
    for a FIFO or a device) is an OSError, like a file that vanished."""
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOFOLLOW | os.O_CLOEXEC)
    with open(fd, "rb") as fh:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise OSError(f"{path} is no longer a regular file")
        h = hashlib.sha256()
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def special_kind(mode: int) -> str:
    """"fifo", "socket", "character device" or "block device" for a special file's mode; ""
    for regular files, directories and symlinks."""
    if stat.S_ISFIFO(mode):
        return "fifo"
    if stat.S_ISSOCK(mode):
        return "socket"
    if stat.S_ISCHR(mode):
        return "character device"
    if stat.S_ISBLK(mode):
        return "block device"
    return ""


def canonical_json(value: object) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=True)


def _sha(value: object) -> str:
    return hashlib.sha256(canonical_json(value).encode()).hexdigest()


def context_files(context_dir: str) -> list[tuple[str, str, os.stat_result]]:
    """(relative path, absolute path, lstat) of every file docker would send, sorted."""
    from reconciler.core.dockerignore import DockerIgnore  # apps without a build never need it

    rules = DockerIgnore.read(context_dir)
    can_prune = not rules.negates
    found: list[tuple[str, str, os.stat_result]] = []
    for root, dirs, files in os.walk(context_dir):
        rel_root = os.path.relpath(root, context_dir)
        rel_root = "" if rel_root == "." else rel_root + "/"
        if can_prune:
            dirs[:] = [d for d in dirs if not rules.ignores(rel_root + d)]
        dirs.sort()
        for name in files:
            rel = rel_root + name
            if rules and rules.ignores(rel) and rel != ".dockerignore":
                continue
            path = os.path.join(root, name)
            found.append((rel, path, os.lstat(path)))
        for d in dirs:  # symlinked directories are sent as links, not followed
            path = os.path.join(root, d)
            if os.path.islink(path):
                found.append((rel_root + d, path, os.lstat(path)))
    found.sort(key=lambda f: f[0])
    return found


def hash_build_inputs(
    *,
    context_dir: str,
    containerfile: str,
    build_args: Iterable[tuple[str, str]],
    cache: DigestCache,
    exclude: frozenset[str] = frozenset(),
) -> tuple[str, tuple[tuple[str, str], ...], tuple[tuple[str, str], ...]]:
    """Returns (input hash, manifest of (relative path, digest), special files as (relative
    path, kind)) for one build. `exclude` holds absolute paths that ace itself reads (app.star,
    params.star): editing them changes the desired state, not the image, so they never trigger
    a build. Special files are not read: see the module doc."""
    manifest: list[tuple[str, str]] = []
    special: list[tuple[str, str]] = []
    for rel, path, st in context_files(context_dir):
        if path in exclude:
            continue
        kind = special_kind(st.st_mode)
        if kind:
            special.append((rel, kind))
            if kind != "socket":  # docker sends it as an empty entry of its kind
                dev = f":{os.major(st.st_rdev)},{os.minor(st.st_rdev)}" if kind != "fifo" else ""
                manifest.append((rel, f"{kind}{dev}"))
            continue
        digest = cache.digest(path, st)
        mode = "x" if st.st_mode & 0o111 else "-"
        manifest.append((rel, f"{mode}{digest}"))
    cf = cache.digest(containerfile, os.lstat(containerfile))
    value = {
        "scheme": HASH_SCHEME,
        "containerfile": cf,
        "containerfile_name": os.path.basename(containerfile),
        "args": sorted([k, v] for k, v in build_args),
        "files": manifest,
    }
    return _sha(value), tuple(manifest), tuple(special)


def special_files(context_dir: str) -> tuple[tuple[str, str], ...]:
    """The FIFOs, sockets and devices docker would meet in a build context, as (relative path,
    kind), found by lstat alone (.dockerignore honoured)."""
    out: list[tuple[str, str]] = []
    for rel, _, st in context_files(context_dir):
        kind = special_kind(st.st_mode)
        if kind:
            out.append((rel, kind))
    return tuple(out)


def hash_dev_inputs(
    *,
    build_dir: str,
    containerfile: str,
    build_args: Iterable[tuple[str, str]],
    target: str,
    env_files: Iterable[tuple[str, str]],
    cache: DigestCache,
) -> tuple[str, tuple[tuple[str, str], ...], tuple[tuple[str, str], ...]]:
    """(hash, manifest, special files of the build dir) of a dev image: the hash covers the
    container file, build args, target stage, build dir and the contents of the `env_files`
    ((relative path, absolute path); an absent one counts as "absent", one that is not a
    regular file by its kind, never opened) — not the rest of the source, which the dev
    container mounts. The manifest (for change causes) lists the container file by its name,
    then the env files. Special files: see the module doc."""
    manifest: list[tuple[str, str]] = []
    for rel, path in sorted(env_files):
        try:
            st = os.lstat(path)
        except FileNotFoundError:
            manifest.append((rel, "absent"))
            continue
        regular = stat.S_ISREG(st.st_mode)
        manifest.append((rel, cache.digest(path, st) if regular
                         else special_kind(st.st_mode) or "special"))
    cf = cache.digest(containerfile, os.lstat(containerfile))
    value = {
        "scheme": HASH_SCHEME,
        "dev": True,
        "containerfile": cf,
        "containerfile_name": os.path.basename(containerfile),
        "args": sorted([k, v] for k, v in build_args),
        "target": target,
        "build_dir": build_dir,
        "env_files": manifest,
    }
    named = ((os.path.basename(containerfile), cf), *manifest)
    return _sha(value), named, special_files(build_dir)


def spec_json(spec: ContainerSpec) -> str:
    """Canonical JSON of everything that defines a running container. Keys added after the
    first release (entrypoint, workdir) appear only when set, so the versions of containers
    that do not use them never change."""
    doc: dict[str, object] = {
        "scheme": HASH_SCHEME,
        "image": spec.image,
        "port": spec.port,
        "command": list(spec.command),
        "env": sorted([k, v] for k, v in spec.env),
        "volumes": sorted([list(v) for v in spec.volumes]),
        "cpus": spec.cpus,
        "memory": spec.memory,
    }
    if spec.entrypoint:
        doc["entrypoint"] = list(spec.entrypoint)
    if spec.workdir:
        doc["workdir"] = spec.workdir
    return canonical_json(doc)


def version_of(spec: ContainerSpec) -> str:
    return hashlib.sha256(spec_json(spec).encode()).hexdigest()
