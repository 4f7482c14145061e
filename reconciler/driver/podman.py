"""What Podman's Docker-compatible API does differently, made to look like Docker's: pure
functions on API dicts, used by both halves of the driver (plain HTTP and SDK). The rest of ace
never learns which engine answers.

- Podman answers with a `Libpod-Api-Version` header (and names itself in `/version`).
- Image names are fully qualified: `docker.io/library/busybox:latest`, `docker.io/ace-x/web:h`,
  and `localhost/name:tag` for local images named without a registry. Docker spells these
  `busybox:latest`, `ace-x/web:h` and (Podman's local domain) `name:tag`.
- Several `reference` filters match only images that carry all of them (Podman 4.3; Docker:
  any of them): the driver lists images unfiltered, in the same one call, and picks them itself.
- A created or exited container still shows its port bindings (Docker shows none: nothing
  listens there); the driver drops them.
- Its init (catatonit) exits 1 with "failed to exec pid1" when the command cannot be run,
  where a shell (and Docker) says 127 (not found) or 126 (not executable).
- Rootless Podman on cgroups v1 cannot limit resources: it creates the container without the
  cpu and memory limits asked for (and says so only in its own log); the driver warns.
- A container keeps showing the image name it was created from after that name is removed
  (Docker shows the image id then, which is what lets a running container vouch for its image);
  the driver checks the names against one image listing and shows the id for a name that no
  longer resolves to the container's image.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

__all__ = [
    "PODMAN_HEADER",
    "container_inspect_as_docker",
    "containers_as_docker",
    "exec_failure",
    "familiar",
    "ignored_limits",
    "image_tags",
    "images_as_docker",
    "is_podman_version",
    "select_images",
]

PODMAN_HEADER = "Libpod-Api-Version"

_CATATONIT_EXEC = re.compile(r"^ERROR \(catatonit:\d+\): failed to exec pid1: (.+)$", re.MULTILINE)
_BOUND_STATES = ("running", "paused")  # the states in which Docker shows port bindings
_QUALIFIERS = ("docker.io/library/", "docker.io/", "localhost/")


def is_podman_version(version: Mapping[str, Any]) -> bool:
    """Whether a `/version` answer comes from Podman."""
    components = version.get("Components") or []
    return any(str(c.get("Name", "")).startswith("Podman") for c in components)


def familiar(name: str) -> str:
    """An image name as Docker spells it: the default registry, Docker Hub's `library/` and
    Podman's `localhost/` domain dropped; any other registry kept."""
    for prefix in _QUALIFIERS:
        rest = name[len(prefix):]
        if name.startswith(prefix) and rest and (prefix != "docker.io/library/" or "/" not in rest):
            return rest
    return name


def image_tags(row: Mapping[str, Any], references: Iterable[str] = ()) -> list[str]:
    """The tags of an image listing row in Docker's spelling, plus each reference asked for
    that names one of them (so `localhost/app:1`, asked as such, is found as such)."""
    tags = [familiar(t) for t in row.get("RepoTags") or [] if t != "<none>:<none>"]
    asked = [r for r in references if familiar(r) in tags and r not in tags]
    return list(dict.fromkeys([*tags, *asked]))


def select_images(rows: Iterable[Mapping[str, Any]],
                  references: Sequence[str]) -> list[Mapping[str, Any]]:
    """The image listing rows (unfiltered) that carry one of `references` (a tag, or a
    digest reference `name@sha256:...`)."""
    wanted = {familiar(r) for r in references}
    return [row for row in rows
            if wanted & {familiar(t) for t in [*(row.get("RepoTags") or []),
                                               *(row.get("RepoDigests") or [])]}]


def images_as_docker(rows: Iterable[Mapping[str, Any]],
                     references: Sequence[str] = ()) -> list[dict[str, Any]]:
    """An unfiltered image listing as Docker's listing filtered to `references` (all rows
    without) would read: the rows carrying one of them, tags in Docker's spelling."""
    picked = select_images(rows, references) if references else rows
    return [{**r, "RepoTags": image_tags(r, references)} for r in picked]


def containers_as_docker(
    rows: Sequence[Mapping[str, Any]],
    list_images: Callable[[], Iterable[Mapping[str, Any]]],
) -> list[dict[str, Any]]:
    """Container listing rows with `Image` in Docker's spelling while that name still resolves
    to the container's image, else the image id (as Docker shows it). `list_images()` is one
    image listing; it is not called when no row names an image."""
    resolves: set[tuple[str, str]] = set()
    if any(r.get("Image") for r in rows):
        for img in list_images():
            for tag in img.get("RepoTags") or []:
                resolves.add((familiar(tag), str(img.get("Id", ""))))
    out = []
    for r in rows:
        name, image_id = familiar(str(r.get("Image") or "")), str(r.get("ImageID") or "")
        if image_id and (name, image_id) not in resolves:
            name = image_id
        ports = r.get("Ports") if r.get("State") in _BOUND_STATES else []
        out.append({**r, "Image": name, "Ports": ports})
    return out


def container_inspect_as_docker(raw: Mapping[str, Any]) -> dict[str, Any]:
    """A container inspect as Docker's reads: the image name in Docker's spelling, no port
    bindings unless it runs."""
    config = dict(raw.get("Config") or {})
    config["Image"] = familiar(str(config.get("Image") or ""))
    settings = dict(raw.get("NetworkSettings") or {})
    if (raw.get("State") or {}).get("Status") not in _BOUND_STATES:
        settings["Ports"] = {port: None for port in settings.get("Ports") or {}}
    return {**raw, "Config": config, "NetworkSettings": settings}


def exec_failure(exit_code: int, stderr: str, command: Sequence[str]) -> tuple[int, str]:
    """A command's exit code and stderr as a shell reports a command it cannot run: catatonit's
    "failed to exec pid1" (exit 1) becomes 127 (not found) or 126 (found, not executable)
    naming the command; any other result is returned as it is."""
    found = _CATATONIT_EXEC.search(stderr) if exit_code == 1 and command else None
    if found is None:
        return exit_code, stderr
    reason = found.group(1).strip()
    code = 127 if "no such file" in reason.lower() else 126
    return code, f"{command[0]}: {reason}\n"


def ignored_limits(raw: Mapping[str, Any], cpus: float | None, memory: int | None) -> list[str]:
    """The limits asked for that a created container's inspect does not carry."""
    host = raw.get("HostConfig") or {}
    asked = (("cpus", cpus, host.get("NanoCpus")), ("memory", memory, host.get("Memory")))
    return [name for name, want, got in asked if want and not got]
