"""`ace down` on the contract-checked fake engine when some objects carry ace's labels only in
part: they are skipped with a reason and everything that is ace's is still removed."""

from __future__ import annotations

from reconciler.apply.teardown import teardown
from reconciler.core.types import LABEL_APP, LABEL_INPUTS, LABEL_INSTALL, LABEL_MANAGED
from state import Store
from tests.fakes import FakeEngine, FakeImage


def own(engine: FakeEngine, install: str, app: str, name: str) -> str:
    """A running container of ace's (all its labels)."""
    c = engine.run_container(name=name, image="busybox:latest", port=8080,
                             command=["sleep", "3600"], env={}, mounts=[],
                             labels={LABEL_INSTALL: install, LABEL_APP: app})
    return c.id


def forged_container(engine: FakeEngine, install: str, name: str) -> str:
    """A container with this installation's label but not the managed one."""
    cid = engine.add_foreign_container(name)
    engine.containers[cid].labels = {LABEL_INSTALL: install, LABEL_APP: "/web"}
    return cid


def image(engine: FakeEngine, tag: str, **labels: str) -> None:
    engine.images[f"sha256:{tag}"] = FakeImage(f"sha256:{tag}", {tag}, dict(labels))


def test_down_skips_what_is_not_all_ace_s_and_removes_the_rest(store: Store) -> None:
    """A container with the install label but no managed label, and an image tagged as this
    installation's but labelled for another, are skipped with a reason; ace's own container,
    image and the record go."""
    engine, install = FakeEngine(), store.install_id
    forged = forged_container(engine, install, "forged")
    mine = own(engine, install, "/web", "ace-web")
    ours = {LABEL_MANAGED: "1", LABEL_INSTALL: install, LABEL_APP: "/web", LABEL_INPUTS: "h"}
    image(engine, f"ace-{install}/web:1", **ours)
    image(engine, f"ace-{install}/web:2", **{**ours, LABEL_INSTALL: "another"})
    done = teardown(engine, store, images=True)
    assert done.removed == ("container ace-web (/web)", f"image ace-{install}/web:1")
    assert done.skipped == (
        "container forged (/web): refusing to remove container forged: it is not managed by "
        "ace (no dev.ace.managed=1 label)",
        f"image ace-{install}/web:2: labelled dev.ace.install=another, not this installation "
        f"({install})")
    assert done.failed == ()
    assert set(engine.containers) == {forged} and mine not in engine.containers
    assert [sorted(i.tags) for i in engine.images.values() if i.labels] == [
        [f"ace-{install}/web:2"]]


def test_down_notes_its_own_failures_and_goes_on(store: Store) -> None:
    """An image of ace's that the engine will not remove (a container uses it) is a failure;
    the other objects are still removed."""
    engine, install = FakeEngine(), store.install_id
    ours = {LABEL_MANAGED: "1", LABEL_INSTALL: install, LABEL_APP: "/web", LABEL_INPUTS: "h"}
    image(engine, f"ace-{install}/web:1", **ours)
    image(engine, f"ace-{install}/web:2", **ours)
    engine.add_foreign_container("user", f"ace-{install}/web:1")
    done = teardown(engine, store, images=True)
    assert done.removed == (f"image ace-{install}/web:2",)
    assert done.failed == (f"image ace-{install}/web:1: remove image ace-{install}/web:1: image "
                           "is being used by a container",)
