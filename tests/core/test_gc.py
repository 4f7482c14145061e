"""Old images collected by the plan (pure): after a build or replace of an app, its images
beyond the last N versions get `remove_image` steps that follow the app's other steps; never
an image a remaining container uses, another app's or another installation's."""

from __future__ import annotations

from dataclasses import replace

from reconciler.core.gc import collect_images, gc_apps
from reconciler.core.planner import plan
from reconciler.core.types import ObservedContainer, ObservedImage
from state.runs import ImageRecord
from tests.core.builders import NAMING, built, ctr, pulled, rec, recs, seen, want

V = [built("/web", version=f"v{n}", inputs=f"in{n}") for n in range(1, 5)]  # /web, 4 versions
HELLO = pulled("/hello")


def image(app: str, tag: str, install: str = NAMING.install) -> ObservedImage:
    return ObservedImage(id=f"sha-{tag}", tags=(tag,), app=app, inputs="x", install=install)


def records(*tags: str) -> dict[str, tuple[ImageRecord, ...]]:
    """The store's images of /web, built in the order given (one second apart)."""
    return {"/web": tuple(ImageRecord("/web", t, f"sha-{t}", "x", (), float(n))
                          for n, t in enumerate(tags))}


def collected(keep: int = 2, *, extra: tuple[ObservedImage, ...] = (),
              others: tuple[ObservedContainer, ...] = ()) -> list[str]:
    """The golden text of the collecting steps when /web goes from v3 to v4 (a build)."""
    containers = (ctr(V[2]), *others)
    observed = seen(*containers, tags=tuple(a.image for a in V[:3]))
    desired = want(V[3], HELLO)
    p = plan(desired, observed, recs(rec(V[2])))
    images = [image("/web", a.image) for a in V[:3]] + list(extra)
    done = collect_images(p, desired, observed, images, records(*(a.image for a in V[:3])),
                          NAMING, keep)
    assert done.steps[:len(p.steps)] == p.steps
    return [f"{s.id} ({s.cause}) after {', '.join(s.depends_on)}"
            for s in done.steps[len(p.steps):]]


def test_images_beyond_the_last_two_versions_are_removed_after_the_replace() -> None:
    """Building v4 keeps v4 and v3 (the newest recorded); v1 and v2 go once the build, the
    replace and every other step of /web succeeded."""
    assert collected() == [
        "remove_image:/web:ace-t/web:in2 (older than the last 2 versions) after build:/web, "
        "replace:/web",
        "remove_image:/web:ace-t/web:in1 (older than the last 2 versions) after build:/web, "
        "replace:/web"]
    assert [s.split(" ")[0] for s in collected(3)] == ["remove_image:/web:ace-t/web:in1"]
    assert collected(0) == []


def test_image_a_container_still_uses_is_never_removed() -> None:
    """An image a container the plan leaves in place was created from is kept, even beyond
    the last N versions; the replaced container's image is no such reason."""
    uses_v1 = replace(ctr(HELLO), image=V[0].image)  # /hello's container, made from v1
    assert [s.split(" ")[0] for s in collected(others=(uses_v1,))] == [
        "remove_image:/web:ace-t/web:in2"]


def test_only_this_installation_s_images_of_the_app() -> None:
    """Images of another app, or tagged like /web's but labelled for another installation,
    are never candidates."""
    extra = (image("/hello", "ace-t/hello:old"), image("/web", "ace-t/web:forged", "other"))
    assert [s.split(" ")[0] for s in collected(extra=extra)] == [
        "remove_image:/web:ace-t/web:in2", "remove_image:/web:ace-t/web:in1"]


def test_no_build_or_replace_no_collection() -> None:
    """Only a plan that builds or replaces an app makes it collectable: a no-op pass, or a
    restart, lists no images."""
    running = seen(ctr(V[3]), tags=(V[3].image,))
    assert gc_apps(plan(want(V[3]), running, recs(rec(V[3]))), want(V[3]), 2) == ()
    stopped = seen(ctr(V[3], state="exited", status="Exited (1)"), tags=(V[3].image,))
    assert gc_apps(plan(want(V[3]), stopped, recs(rec(V[3]))), want(V[3]), 2) == ()
    assert gc_apps(plan(want(V[3]), seen(ctr(V[2])), recs(rec(V[2]))), want(V[3]), 2) == (
        "/web",)
