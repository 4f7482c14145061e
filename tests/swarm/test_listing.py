"""Swarm listings read as ace's values (pure): a service's start/finish times come from its
newest task that ran (task creation and last state change, the only times Swarm records), a
service is only ever running or exited (never paused, never created-but-unstarted), and which
services still run an image (pinned by digest in the registry or by its own tag); the image
collection's listing of whole repositories is the manager's, not the registry's; removing an
image takes the manager's two local tags once nothing uses it, never the registry's copy."""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from typing import Any

import pytest

from reconciler.core.types import LABEL_APP, LABEL_PORT, LABEL_VERSION, ObservedImage
from reconciler.driver.attrs import engine_time as instant
from reconciler.driver.ports import ImageInUse
from reconciler.driver.swarm import SwarmEngine
from reconciler.driver.swarm.attrs import Node, service_from_listing
from reconciler.driver.swarm.images import is_tagged, remove_manager_tags, services_using
from reconciler.driver.swarm.registry import Registry
from reconciler.driver.swarm.spec import LABEL_IMAGE

NODES = {"n1": Node("n1", "node-1", "10.0.0.1", True)}
SERVICE = {"ID": "s1", "CreatedAt": "2026-01-01T00:00:00Z",
           "Spec": {"Name": "ace-t-web-v1-ab12", "Mode": {"Replicated": {"Replicas": 1}},
                    "Labels": {LABEL_APP: "/web", LABEL_VERSION: "v1", LABEL_PORT: "8080"}}}


def task(tid: str, state: str, created: str, changed: str, desired: str = "running",
         ) -> dict[str, Any]:
    return {"ID": tid, "NodeID": "n1", "DesiredState": desired, "CreatedAt": created,
            "Status": {"State": state, "Timestamp": changed}}


def test_times_are_those_of_the_newest_task_that_ran() -> None:
    """A task that failed after it ran: started at its creation, finished at its last state
    change (nanoseconds kept to the microsecond); older tasks do not count."""
    old = task("t0", "failed", "2026-01-01T00:00:01Z", "2026-01-01T00:00:40Z", "shutdown")
    new = task("t1", "failed", "2026-01-01T00:01:00.25Z", "2026-01-01T00:01:02.750000001Z",
               "shutdown")
    seen = service_from_listing(SERVICE, [old, new], NODES)
    assert seen.finished_at - seen.started_at == 2.5
    assert seen.started_at == instant("2026-01-01T00:01:00.25Z") > 0


def test_a_running_task_has_no_finish_and_unstarted_tasks_no_times() -> None:
    """The newest task running: started known, finished unknown (0); only tasks that never
    started a container (pending, rejected): both unknown, so no run time is ever made up."""
    running = task("t1", "running", "2026-01-01T00:01:00Z", "2026-01-01T00:01:01Z")
    seen = service_from_listing(SERVICE, [running], NODES)
    assert seen.started_at == instant("2026-01-01T00:01:00Z") and seen.finished_at == 0.0
    never = [task("t2", "rejected", "2026-01-01T00:02:00Z", "2026-01-01T00:02:01Z", "shutdown"),
             task("t3", "pending", "2026-01-01T00:02:02Z", "2026-01-01T00:02:02Z")]
    seen = service_from_listing(SERVICE, never, NODES)
    assert (seen.started_at, seen.finished_at) == (0.0, 0.0)
    assert instant("0001-01-01T00:00:00Z") == 0.0 and instant("garbage") == 0.0


def test_a_service_is_never_paused_nor_created_but_unstarted() -> None:
    """Whatever its tasks' states, a service reads as running or exited: the planner's rules
    for paused and never-started containers cannot fire for one."""
    states = ["new", "pending", "assigned", "accepted", "preparing", "ready", "starting",
              "running", "complete", "shutdown", "failed", "rejected", "remove", "orphaned"]
    desired = ["running", "ready", "shutdown", "remove"]
    seen = {service_from_listing(SERVICE, [task("t", s, "", "", d)], NODES).state
            for s, d in itertools.product(states, desired)}
    seen.add(service_from_listing(SERVICE, [], NODES).state)
    assert seen == {"running", "exited"}


def test_services_using_an_image() -> None:
    """A service runs a tag when its image is the tag or the tag's registry name (any digest),
    or ace labelled it with the tag; other tags and repositories do not match."""
    tag = "ace-t/web:abc"

    def svc(name: str, image: str, labels: dict[str, str] | None = None) -> dict[str, Any]:
        return {"ID": name, "Spec": {"Name": name, "Labels": labels or {},
                                     "TaskTemplate": {"ContainerSpec": {"Image": image}}}}

    services = [svc("pinned", f"reg:5000/{tag}@sha256:1"), svc("plain", tag),
                svc("labelled", "elsewhere@sha256:2", {LABEL_IMAGE: tag}),
                svc("other", "reg:5000/ace-t/web:def@sha256:3"), svc("busy", "busybox")]
    assert services_using(services, tag, f"reg:5000/{tag}") == ("labelled", "pinned", "plain")
    assert services_using(services, tag) == ("labelled", "plain")
    assert is_tagged(tag) and is_tagged("reg:5000/x:y") and not is_tagged("reg:5000/ace-t/web")


class ManagerImages:
    """The manager's own engine, as far as image listings go: records what it is asked."""

    def __init__(self) -> None:
        self.asked: list[Sequence[str] | None] = []

    def list_images(self, references: Sequence[str] | None = None) -> tuple[ObservedImage, ...]:
        self.asked.append(references)
        return tuple(ObservedImage(f"id-{r}", (f"{r}:old",)) for r in references or ())


def test_repositories_are_listed_on_the_manager_and_tags_in_the_registry() -> None:
    """With a registry, a tag ace builds is looked up there; a whole repository of ace's (the
    image collection's listing) and images ace does not build are listed on the manager."""
    e = SwarmEngine("unix:///nonexistent.sock", registry="reg:5000")
    manager = ManagerImages()
    e.local = manager  # type: ignore[assignment]
    looked: list[str] = []
    assert e.registry is not None

    def digest(tag: str) -> str:
        looked.append(tag)
        return "sha256:1"

    e.registry.digest = digest  # type: ignore[method-assign]
    got = e.list_images(["ace-t/web:abc", "ace-t/web", "busybox:latest"])
    assert looked == ["ace-t/web:abc"]
    assert manager.asked == [["ace-t/web", "busybox:latest"]]
    assert [i.tags for i in got] == [("ace-t/web:abc",), ("ace-t/web:old",),
                                     ("busybox:latest:old",)]


class Manager:
    """What remove_manager_tags reads and removes: scripted service and container listings
    (the last one repeats), and the tags removed, in order."""

    def __init__(self, services: list[dict[str, Any]], *containers: list[dict[str, Any]]):
        self.services = services
        self.containers = list(containers) or [[]]
        self.removed: list[str] = []
        self.registry = Registry("reg:5000")
        self.local = self

    def _read(self, path: str, what: str, query: Any = None) -> Any:
        if path == "/services":
            return self.services
        return self.containers.pop(0) if len(self.containers) > 1 else self.containers[0]

    def remove_image(self, ref: str) -> None:
        self.removed.append(ref)


def task_of(service: str, name: str = "t1") -> dict[str, Any]:
    return {"Names": [f"/{name}"], "Labels": {"com.docker.swarm.service.id": service}}


def remove(m: Manager, linger: float = 10.0) -> None:
    remove_manager_tags(m, "ace-t/web:abc", linger=linger,  # type: ignore[arg-type]
                        sleep=lambda s: None)


def test_removing_an_image_takes_both_local_tags_after_lingering_tasks() -> None:
    """The task container of a removed service is waited for; then the registry-named tag and
    ace's tag are removed (never anything in the registry)."""
    m = Manager([], [task_of("gone")], [task_of("gone")], [])
    remove(m)
    assert m.removed == ["reg:5000/ace-t/web:abc", "ace-t/web:abc"] and m.containers == [[]]


def test_removing_an_image_in_use_refuses_before_removing_anything() -> None:
    """A service running the image, a container not of a removed service (made by hand, or a
    live service's task), or a removed service's task outliving the wait: ImageInUse, and no
    tag is removed."""
    pinned = {"ID": "s1", "Spec": {"Name": "web", "TaskTemplate": {
        "ContainerSpec": {"Image": "reg:5000/ace-t/web:abc@sha256:1"}}}}
    cases = [(Manager([pinned]), "service web still runs it"),
             (Manager([], [{"Names": ["/by-hand"], "Labels": {}}]), "container by-hand on the"),
             (Manager([{"ID": "s2", "Spec": {"Name": "other"}}], [task_of("s2", "live")]),
              "container live on the manager uses it$"),
             (Manager([], [task_of("gone", "slow")]), "slow .*still stopping")]
    for m, why in cases:
        with pytest.raises(ImageInUse, match=why):
            remove(m, linger=0.0)
        assert m.removed == []
