"""What differs between an applied and a declared container spec, with values: every field, the
secret mask, the cut of long values and the summary a plan cause is made of."""

from __future__ import annotations

import pytest

from reconciler.core.changes import Change, changed_files, spec_changes, summary
from reconciler.core.hashing import spec_json
from reconciler.core.types import ContainerSpec

BASE = ContainerSpec(image="busybox:latest", port=8080, command=("httpd", "-f"),
                     env=(("COUNT", "1"), ("TOKEN", "old-secret")))


def changes(new: ContainerSpec, old: ContainerSpec = BASE,
            secret: frozenset[str] = frozenset()) -> list[str]:
    found = spec_changes(spec_json(old), spec_json(new), secret)
    assert found is not None
    return [c.render() for c in found]


CASES = [
    pytest.param(BASE, [], id="same"),
    pytest.param(ContainerSpec("busybox:1.37", 9090, ("httpd", "-f"), BASE.env),
                 ["image: busybox:latest → busybox:1.37", "port: 8080 → 9090"], id="image-port"),
    pytest.param(ContainerSpec("busybox:latest", 8080, ("sh", "-c", "echo hi there"), BASE.env),
                 ["command: httpd -f → sh -c 'echo hi there'"], id="command-shell-quoted"),
    pytest.param(ContainerSpec("busybox:latest", 8080, (), BASE.env),
                 ["command: httpd -f → (unset)"], id="command-removed"),
    pytest.param(ContainerSpec("busybox:latest", 8080, ("httpd", "-f"), BASE.env, cpus=0.5,
                               memory=512 * 2**20),
                 ["cpus: (unset) → 0.5", "memory: (unset) → 512m"], id="limits"),
    pytest.param(ContainerSpec("busybox:latest", 8080, ("httpd", "-f"), BASE.env,
                               volumes=(("volume", "ace-t-web-data", "/data", False),
                                        ("bind", "/srv/conf", "/conf", True))),
                 ["volumes: (none) → /srv/conf:/conf:ro, ace-t-web-data:/data"], id="volumes"),
    pytest.param(ContainerSpec("busybox:latest", 8080, ("httpd", "-f"),
                               (("COUNT", "2"), ("NEW", "x"))),
                 ["env COUNT: 1 → 2", "env NEW: (unset) → x", "env TOKEN: old-secret → (unset)"],
                 id="env-changed-added-removed"),
    pytest.param(ContainerSpec("busybox:latest", 8080, ("httpd", "-f"), (("COUNT", "y" * 60),)),
                 ["env COUNT: 1 → " + "y" * 39 + "…", "env TOKEN: old-secret → (unset)"],
                 id="long-value-cut"),
]


@pytest.mark.parametrize(("new", "expected"), CASES)
def test_spec_changes(new: ContainerSpec, expected: list[str]) -> None:
    """Each differing field is shown as `field: old → new`, in a fixed order."""
    assert changes(new) == expected


def test_secret_env_values_are_masked() -> None:
    """A secret-derived env value never shows, on either side; that it changed still does."""
    new = ContainerSpec("busybox:latest", 8080, ("httpd", "-f"),
                        (("COUNT", "1"), ("TOKEN", "new-secret")))
    assert changes(new, secret=frozenset({"TOKEN"})) == ["env TOKEN: *** → ***"]
    gone = ContainerSpec("busybox:latest", 8080, ("httpd", "-f"), (("COUNT", "1"),))
    assert changes(BASE, gone, frozenset({"TOKEN"})) == ["env TOKEN: (unset) → ***"]


def test_unreadable_spec_gives_none() -> None:
    """A recorded spec that is not JSON gives no changes to show (the caller says less)."""
    assert spec_changes("not json", spec_json(BASE)) is None


def test_summary_keeps_four_and_counts_the_rest() -> None:
    """A cause shows at most four changes, then how many more there are."""
    many = [Change(f"env K{i}", "a", "b") for i in range(6)]
    assert summary(many) == ("env K0: a → b; env K1: a → b; env K2: a → b; env K3: a → b"
                             " (+2 more)")


def test_changed_files() -> None:
    """Changed, added and removed build-context files, sorted."""
    assert changed_files((("a", "1"), ("b", "2")), (("b", "3"), ("c", "4"))) == ["a", "b", "c"]
