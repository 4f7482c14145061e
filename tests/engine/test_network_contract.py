"""The Engine contract of the app network, run against the real engine and FakeEngine alike
(the `h` fixture of test_driver_contract: `docker` cases need an engine, never skip)."""

from __future__ import annotations

import pytest

from apps.errors import EngineError
from reconciler.core.types import LABEL_INSTALL, LABEL_MANAGED
from reconciler.driver.ports import CommandResult
from tests.engine import test_driver_contract
from tests.engine.harness import BUSYBOX, Harness

h = test_driver_contract.h  # the contract suite's fixture: the fake and the real engine

# a service whose page is known: busybox httpd serving "hello from web" on port 8080
WEB_PAGE = ["sh", "-c", "mkdir -p /www && echo hello from web > /www/index.html && "
                        "exec httpd -f -p 8080 -h /www"]


def net(h: Harness) -> str:
    return h.name("net")


def attached(h: Harness, container_id: str) -> dict[str, str]:
    """network name -> id of a container, from the one listing call."""
    c = next(x for x in h.engine.list_containers(h.install) if x.id == container_id)
    return dict(c.networks)


def listed(h: Harness, name: str, net_id: str) -> str:
    """How a listing names a container's network: its id (Docker) or its name (Podman)."""
    return net_id if h.network_ids_listed else name


def test_ensure_network_is_labelled_and_idempotent(h: Harness) -> None:
    """ensure_network creates a labelled network once and returns the same id after."""
    first = h.engine.ensure_network(net(h), h.labels())
    assert h.engine.ensure_network(net(h), h.labels()) == first
    labels = h.network_labels(net(h)) or {}
    assert (labels.get(LABEL_MANAGED), labels.get(LABEL_INSTALL)) == ("1", h.install)
    with pytest.raises(EngineError, match=LABEL_INSTALL):
        h.engine.ensure_network(h.name("bare"), {})
    assert h.engine.remove_network(net(h)) is True
    assert h.network_labels(net(h)) is None


def test_network_listing_is_one_call_of_this_installation(h: Harness) -> None:
    """list_networks shows this installation's networks only, in one call."""
    net_id = h.engine.ensure_network(net(h), h.labels())
    h.engine.ensure_network(h.name("other"), {**h.labels(), LABEL_INSTALL: f"{h.install}-x"})
    with h.api_calls() as calls:
        listed = h.engine.list_networks(h.install)
    assert len(calls) == 1, calls
    assert listed == ((net(h), net_id),)
    h.engine.remove_network(net(h))
    h.engine.remove_network(h.name("other"))
    assert h.engine.list_networks(h.install) == ()


def test_foreign_and_other_installations_networks_are_refused(h: Harness) -> None:
    """A network of that name not made by ace, or by another installation, is never used."""
    h.foreign_network(net(h))
    with pytest.raises(EngineError, match="not managed by ace"):
        h.engine.ensure_network(net(h), h.labels())
    with pytest.raises(EngineError, match="not managed by ace"):
        h.engine.remove_network(net(h))
    other = h.name("other")
    h.engine.ensure_network(other, {**h.labels(), LABEL_INSTALL: f"{h.install}-x"})
    with pytest.raises(EngineError, match="another ace installation"):
        h.engine.ensure_network(other, h.labels())
    c = h.serve()
    with pytest.raises(EngineError, match="another ace installation"):
        h.engine.connect(c.id, other, ["web"])
    assert other not in attached(h, c.id)
    h.engine.stop_and_remove(c.id)
    assert h.engine.remove_network(other) is True


def test_container_created_on_the_network_answers_to_its_alias(h: Harness) -> None:
    """run_container(network=..., aliases=...) attaches it there, instead of the default
    bridge; the listing shows the network, with its id."""
    net_id = h.engine.ensure_network(net(h), h.labels())
    c = h.serve(network=net(h), aliases=["web"])
    assert c.state == "running" and c.host_port is not None
    assert attached(h, c.id) == {net(h): listed(h, net(h), net_id)}
    assert "web" in h.aliases(c.id, net(h))
    assert h.engine.remove_network(net(h)) is False, "in use: kept"
    h.engine.stop_and_remove(c.id)
    assert h.engine.remove_network(net(h)) is True
    assert h.engine.remove_network(net(h)) is False, "gone already"


def fetch(h: Harness, url: str, network: str = "") -> CommandResult:
    """`wget -q -O- url` in a command container (on `network`)."""
    return h.engine.run_command(image=BUSYBOX, command=["wget", "-q", "-O-", url], env={},
                                cwd="/", labels=h.labels("/tools"), network=network)


def test_a_command_on_the_network_reaches_an_app_by_its_alias(h: Harness) -> None:
    """run_command(network=...) runs the command on the app network, with no alias of its own:
    it reaches a service there by the service's alias; on the default network it does not."""
    h.engine.ensure_network(net(h), h.labels())
    c = h.serve(network=net(h), aliases=["web"], command=WEB_PAGE)
    h.wait_for(lambda: fetch(h, "http://web:8080/", net(h)).exit_code == 0,
               "the service to answer on the network")
    res = fetch(h, "http://web:8080/", net(h))
    assert (res.exit_code, res.stdout, res.timed_out) == (0, "hello from web\n", False)
    off = fetch(h, "http://web:8080/")
    assert off.exit_code != 0 and off.stdout == "" and "bad address" in off.stderr, off
    assert [x.id for x in h.engine.list_containers(h.install)] == [c.id], "commands are removed"
    with pytest.raises(EngineError, match=h.name("missing")):
        fetch(h, "http://web:8080/", h.name("missing"))
    h.engine.stop_and_remove(c.id)
    assert h.engine.remove_network(net(h)) is True, "no command container is left on it"


def test_connect_joins_in_place(h: Harness) -> None:
    """connect attaches a running container without recreating or restarting it; again is a
    no-op; disconnect detaches it (twice is fine)."""
    net_id = h.engine.ensure_network(net(h), h.labels())
    c = h.serve()
    assert net(h) not in attached(h, c.id)
    h.engine.connect(c.id, net(h), ["web"])
    h.engine.connect(c.id, net(h), ["web"])
    now = h.engine.inspect(c.id)
    assert now is not None and (now.id, now.state, now.created) == (c.id, "running", c.created)
    assert attached(h, c.id)[net(h)] == listed(h, net(h), net_id)
    assert "web" in h.aliases(c.id, net(h))
    h.engine.disconnect(c.id, net(h))
    h.engine.disconnect(c.id, net(h))
    assert net(h) not in attached(h, c.id)
    h.engine.stop_and_remove(c.id)
    h.engine.remove_network(net(h))


def test_connect_refuses_containers_ace_did_not_make(h: Harness) -> None:
    """A container without ace's labels never joins the app network."""
    h.engine.ensure_network(net(h), h.labels())
    foreign = h.foreign_container(h.name("foreign"))
    with pytest.raises(EngineError, match="not managed by ace"):
        h.engine.connect(foreign, net(h), ["x"])
    with pytest.raises(EngineError, match="not managed by ace"):
        h.engine.disconnect(foreign, net(h))
    h.engine.remove_network(net(h))


def test_a_network_removed_by_hand_is_rejoined(h: Harness) -> None:
    """A stopped container keeps the id of a network removed since and cannot start with it
    (Docker); after ensure_network makes a new one, connect re-joins it and it starts."""
    old_id = h.engine.ensure_network(net(h), h.labels())
    c = h.serve(network=net(h), aliases=["web"])
    with pytest.raises(Exception, match="active endpoints|network is being used"):
        h.remove_network_outside(net(h))  # the engine refuses while it runs
    h.kill_outside(c.id)
    h.wait_for(lambda: h.state(c.id) == "exited", "the container to exit")
    if not h.network_ids_listed:  # Podman keeps a network any container is on: off first
        h.disconnect_outside(c.id, net(h))
    h.remove_network_outside(net(h))
    if h.network_ids_listed:  # Docker: the stopped container still names the old network
        assert attached(h, c.id) == {net(h): old_id}, "the stale attachment is still listed"
        with pytest.raises(EngineError):
            h.engine.start(c.id)
    new_id = h.engine.ensure_network(net(h), h.labels())
    assert new_id != old_id
    h.engine.connect(c.id, net(h), ["web"])
    again = h.engine.start(c.id)
    assert again.state == "running"
    assert attached(h, c.id) == {net(h): listed(h, net(h), new_id)}
    assert "web" in h.aliases(c.id, net(h))
    h.engine.stop_and_remove(c.id)
    h.engine.remove_network(net(h))


def test_disconnected_by_hand_shows_in_the_listing(h: Harness) -> None:
    """A container taken off the network outside ace no longer lists it."""
    h.engine.ensure_network(net(h), h.labels())
    c = h.serve(network=net(h), aliases=["web"])
    h.disconnect_outside(c.id, net(h))
    assert net(h) not in attached(h, c.id)
    h.engine.stop_and_remove(c.id)
    h.engine.remove_network(net(h))


def test_stop_keeps_the_container(h: Harness) -> None:
    """stop() stops a running container and keeps it (an idle app's), quickly; start() brings
    the same container back; a foreign container is refused."""
    c = h.serve()
    h.engine.stop(c.id, timeout=5)
    h.engine.stop(c.id)
    seen = h.engine.inspect(c.id)
    assert seen is not None and (seen.id, seen.state, seen.host_port) == (c.id, "exited", None)
    again = h.engine.start(c.id)
    assert (again.id, again.state) == (c.id, "running") and again.host_port is not None
    foreign = h.foreign_container(h.name("foreign"))
    with pytest.raises(EngineError, match="not managed by ace"):
        h.engine.stop(foreign)
    h.engine.stop_and_remove(c.id)
