"""The Engine contract, run against the real Docker engine (DockerEngine) and FakeEngine alike.

Whatever the fake does, the real engine must do too: the `docker` cases need an engine (marked
`engine`; they fail, never skip, without one). Each test uses a unique installation id and
removes what it made.
"""

from __future__ import annotations

import socket
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from apps.errors import EngineError
from reconciler.core.types import LABEL_APP, LABEL_INPUTS, LABEL_INSTALL
from reconciler.driver.engine import DockerEngine
from reconciler.driver.ports import ImageInUse, LogLine, NotManaged, VolumeMount
from tests.engine.harness import (
    BUSYBOX,
    DockerHarness,
    FakeHarness,
    Harness,
    SdkHarness,
    sdk_only,
)
from tests.fakes import FakeEngine


@pytest.fixture(params=["fake", pytest.param("docker", marks=pytest.mark.engine),
                        pytest.param("sdk", marks=pytest.mark.engine)])
def h(request: pytest.FixtureRequest) -> Iterator[Harness]:
    """The fake; the real engine over plain HTTP; the real engine as TLS or ssh reach it (the
    SDK's session carries the same lifecycle calls)."""
    if request.param == "fake":
        yield FakeHarness(FakeEngine(), f"acetest-{uuid.uuid4().hex[:10]}")
        return
    engine = request.getfixturevalue("engine")
    request.getfixturevalue("busybox")
    kind = SdkHarness if request.param == "sdk" else DockerHarness
    if request.param == "sdk":
        engine = sdk_only()
    harness = kind(
        engine, request.getfixturevalue("engine_install"), request.getfixturevalue("docker_client")
    )
    yield harness
    harness.cleanup()
    if request.param == "sdk":
        engine.close()


def write(path: Path, text: str) -> str:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return str(path)


# -- listing --------------------------------------------------------------------------------


def test_listings_are_one_call_each(h: Harness) -> None:
    """list_containers and list_images each cost exactly one engine call (list_containers two
    on Podman, see PodmanHarness)."""
    h.serve()
    with h.api_calls() as calls:
        listed = h.engine.list_containers(h.install)
    assert len(calls) == h.container_listing_calls, calls
    assert [c.name for c in listed] == [h.name("web")]
    with h.api_calls() as calls:
        images = h.engine.list_images()
    assert len(calls) == 1, calls
    assert any(BUSYBOX in i.tags for i in images)


def test_listing_only_shows_this_installation(h: Harness) -> None:
    """Containers of another installation id are not listed."""
    h.serve()
    other = f"{h.install}-other"
    h.engine.run_container(
        name=h.name("other"), image=BUSYBOX, port=8080, command=["sleep", "60"], env={},
        mounts=[], labels={**h.labels(), LABEL_INSTALL: other},
    )
    assert [c.name for c in h.engine.list_containers(h.install)] == [h.name("web")]
    assert [c.name for c in h.engine.list_containers(other)] == [h.name("other")]
    for c in h.engine.list_containers(other):
        h.engine.stop_and_remove(c.id)


# -- containers -----------------------------------------------------------------------------


def test_run_container_publishes_on_loopback_only(h: Harness) -> None:
    """A started container is running, labelled, and published on 127.0.0.1 only."""
    started = h.serve(labels=h.labels(app="/api", version="abc"))
    assert started.state == "running"
    assert (started.name, started.app, started.version) == (h.name("web"), "/api", "abc")
    assert isinstance(started.host_port, int) and started.host_port > 0
    assert h.host_ips(started.id) == {"127.0.0.1"}
    listed = h.engine.list_containers(h.install)[0]
    assert (listed.id, listed.host_port, listed.state) == (started.id, started.host_port, "running")
    assert listed.image == BUSYBOX and listed.created > 0
    assert h.engine.inspect(started.id) == started


def test_run_container_refuses_an_existing_name(h: Harness) -> None:
    """A second container with the same name is an EngineError; the first keeps running."""
    first = h.serve()
    with pytest.raises(EngineError):
        h.serve()
    assert [c.id for c in h.engine.list_containers(h.install)] == [first.id]


def test_run_container_requires_installation_label(h: Harness) -> None:
    """The driver never creates an object without the installation label."""
    with pytest.raises(EngineError, match="dev.ace.install"):
        h.serve(labels={LABEL_APP: "/web"})
    assert h.engine.list_containers(h.install) == ()


def test_stop_and_remove_is_idempotent(h: Harness) -> None:
    """stop_and_remove removes the container; a container already gone is fine."""
    c = h.serve()
    started = time.monotonic()
    h.engine.stop_and_remove(c.id, timeout=5)
    assert time.monotonic() - started < 4, "init=True: the stop must not wait for the timeout"
    assert h.engine.inspect(c.id) is None
    h.engine.stop_and_remove(c.id)
    assert h.engine.list_containers(h.install) == ()


def test_crash_then_start_again(h: Harness) -> None:
    """A container killed outside ace shows as exited without a port; start() revives it."""
    c = h.serve(command=["sh", "-c", "echo booted; sleep 60"])
    h.kill_outside(c.id)
    h.wait_for(lambda: h.state(c.id) == "exited", "the container to exit")
    seen = h.engine.list_containers(h.install)[0]
    assert (seen.state, seen.host_port) == ("exited", None)
    assert seen.status.startswith("Exited (137)")
    again = h.engine.start(c.id)
    assert again.state == "running" and isinstance(again.host_port, int)
    h.wait_for(lambda: h.engine.logs(c.id).count("booted") == 2, "two boots in the logs")


def test_inspect_tells_how_long_an_exited_container_ran(h: Harness) -> None:
    """inspect() gives when a container started and, once it exited, when it finished (the
    watch loop tells a crash from a long run by it); a listing does not carry them."""
    c = h.serve(command=["sh", "-c", "echo bye; exit 3"])
    h.wait_for(lambda: h.state(c.id) == "exited", "the container to exit")
    seen = h.engine.inspect(c.id)
    assert seen is not None and seen.started_at > 1_000_000_000
    # a process that exits at once may be stamped finished a hair before started
    assert -1 < seen.finished_at - seen.started_at < 5
    running = h.serve("long")
    now = h.engine.inspect(running.id)
    assert now is not None and now.started_at > 0 and now.finished_at == 0
    assert {x.started_at for x in h.engine.list_containers(h.install)} == {0}


def test_logs_tail(h: Harness) -> None:
    """logs() returns the last `tail` lines of stdout and stderr together."""
    c = h.serve(command=["sh", "-c", "echo oops >&2; sleep 0.2; echo one; echo two; sleep 60"])
    h.wait_for(lambda: "two" in h.engine.logs(c.id), "the logs")
    assert h.engine.logs(c.id, tail=2).split() == ["one", "two"]
    assert h.engine.logs(c.id).split() == ["oops", "one", "two"]


def test_log_lines_tail_since_follow_and_stop(h: Harness) -> None:
    """log_lines() gives the last `tail` lines in order with their times and streams, only
    those since a time when asked; a follow returns once the container stops, and at once
    when `stop` is set on a container that is still running and quiet."""
    # the engine reads stdout and stderr apart: a pause keeps their lines in the order written
    c = h.serve(command=["sh", "-c", "echo a; sleep 0.2; echo b >&2; sleep 0.2; echo c; sleep 0.5"])
    h.wait_for(lambda: "c" in h.engine.logs(c.id).split(), "the logs")
    seen: list[LogLine] = []
    h.engine.log_lines(c.id, tail=2, follow=True, on_line=seen.append)
    assert [(x.text, x.stream) for x in seen] == [("b", "stderr"), ("c", "stdout")]
    assert seen[0].time <= seen[1].time and seen[0].time > 1e9
    h.wait_for(lambda: h.state(c.id) == "exited", "the container to exit")
    everything: list[LogLine] = []
    h.engine.log_lines(c.id, on_line=everything.append)
    assert [x.text for x in everything] == ["a", "b", "c"]
    later: list[LogLine] = []
    h.engine.log_lines(c.id, since=everything[1].time, on_line=later.append)
    if everything[0].time < everything[1].time:
        assert [x.text for x in later] == ["b", "c"]
    else:  # Podman stamps log lines to the whole second: `since` cannot split one second
        assert everything[0].time == float(int(everything[0].time))
        assert [x.text for x in later] == ["a", "b", "c"]
    quiet = h.serve("quiet", command=["sh", "-c", "echo up; sleep 30"])
    h.wait_for(lambda: "up" in h.engine.logs(quiet.id), "the quiet container's line")
    stop = threading.Event()
    threading.Timer(0.3, stop.set).start()
    t0 = time.monotonic()
    h.engine.log_lines(quiet.id, tail=-1, follow=True, on_line=lambda line: None, stop=stop)
    assert time.monotonic() - t0 < 5


def test_refuses_containers_it_did_not_create(h: Harness) -> None:
    """An unlabelled container made by someone else is never stopped, started or removed."""
    foreign = h.foreign_container(h.name("foreign"))
    with pytest.raises(NotManaged, match="not managed by ace"):
        h.engine.stop_and_remove(foreign)
    with pytest.raises(EngineError, match="not managed by ace"):
        h.engine.start(foreign)
    assert h.exists(foreign)


def test_engine_down_is_retryable(h: Harness) -> None:
    """When no engine answers, calls raise a retryable EngineError."""
    down = h.down_engine()
    for call in (down.ping, lambda: down.list_containers(h.install)):
        with pytest.raises(EngineError) as err:
            call()
        assert err.value.retryable


# -- commands -------------------------------------------------------------------------------


def test_run_command_separates_streams(h: Harness) -> None:
    """stdout and stderr come back apart, with the exit code, env and working directory."""
    res = h.engine.run_command(
        image=BUSYBOX, command=["sh", "-c", "echo out $GREETING; pwd; echo oops >&2; exit 3"],
        env={"GREETING": "hi"}, cwd="/tmp", labels=h.labels(),
    )
    assert (res.exit_code, res.stdout, res.stderr, res.timed_out) == (3, "out hi\n/tmp\n",
                                                                       "oops\n", False)
    assert h.engine.list_containers(h.install) == (), "the command container is removed"


def test_run_command_timeout(h: Harness) -> None:
    """A command outliving its timeout is killed and reported as timed out."""
    started = time.monotonic()
    res = h.engine.run_command(image=BUSYBOX, command=["sh", "-c", "echo early; sleep 30"],
                               env={}, cwd="/", labels=h.labels(), timeout=1)
    assert res.timed_out and res.exit_code == 124 and res.stdout == "early\n"
    assert time.monotonic() - started < 10
    assert h.engine.list_containers(h.install) == ()


def test_run_command_missing_executable(h: Harness) -> None:
    """A missing executable is a non-zero exit with a message, not a crash."""
    res = h.engine.run_command(image=BUSYBOX, command=["no-such-tool", "x"], env={}, cwd="/",
                               labels=h.labels())
    assert res.exit_code != 0 and "no-such-tool" in res.stderr and not res.timed_out


# -- images ---------------------------------------------------------------------------------


def test_build_labels_and_exposed_ports(h: Harness, tmp_path: Path) -> None:
    """A build outside-context container file gets ace's labels, EXPOSE and streamed logs."""
    ctx = tmp_path / "ctx"
    write(ctx / "index.html", "hello\n")
    cf = write(tmp_path / "elsewhere" / "Containerfile",
               "FROM busybox\nARG WHO=nobody\nCOPY index.html /www/index.html\n"
               "RUN echo built for $WHO\nEXPOSE 8080\nCMD [\"httpd\", \"-f\", \"-p\", \"8080\"]\n")
    tag = f"ace-test/{h.install}:1"
    lines: list[str] = []
    image_id = h.engine.build(context_dir=str(ctx), containerfile=cf, tag=tag,
                              build_args={"WHO": "ace"}, labels=h.labels(**{LABEL_INPUTS: "in1"}),
                              on_log=lines.append)
    assert any(line.endswith("built for ace") for line in lines)  # either builder's format
    assert h.engine.image_exposed_ports(tag) == (8080,)
    built = [i for i in h.engine.list_images() if tag in i.tags]
    assert [(i.id, i.app, i.inputs, i.install) for i in built] == [
        (image_id, "/web", "in1", h.install)]
    c = h.engine.run_container(name=h.name("built"), image=tag, port=8080, command=[], env={},
                               mounts=[], labels=h.labels())
    assert c.state == "running", "empty command runs the image CMD"
    h.engine.stop_and_remove(c.id)
    h.engine.remove_image(tag)
    assert not [i for i in h.engine.list_images() if tag in i.tags]


def test_image_listing_filtered_by_reference(h: Harness, tmp_path: Path) -> None:
    """With references, one call lists only the images carrying one of those tags."""
    cf = write(tmp_path / "Containerfile", "FROM busybox\nCMD [\"sleep\", \"60\"]\n")
    tag = f"ace-test/{h.install}:ref"
    image_id = h.engine.build(context_dir=str(tmp_path), containerfile=cf, tag=tag,
                              build_args={}, labels=h.labels(**{LABEL_INPUTS: "r"}))
    with h.api_calls() as calls:
        found = h.engine.list_images([tag, f"ace-test/{h.install}:absent"])
    assert len(calls) == 1, calls
    assert [(i.id, tag in i.tags) for i in found] == [(image_id, True)]
    assert h.engine.list_images([f"ace-test/{h.install}:absent"]) == ()
    h.engine.remove_image(tag)


def test_image_listing_by_repository_and_removal_of_a_used_image(h: Harness,
                                                                  tmp_path: Path) -> None:
    """A repository name as reference lists every tag of it in one call; an image a container
    uses is not removed (ImageInUse) until the container is gone."""
    cf = write(tmp_path / "Containerfile", "FROM busybox\nCMD [\"sleep\", \"60\"]\n")
    repo = f"ace-test/{h.install}"
    ids = [h.engine.build(context_dir=str(tmp_path), containerfile=cf, tag=f"{repo}:{n}",
                          build_args={}, labels=h.labels(**{LABEL_INPUTS: n}))
           for n in ("a", "b")]
    with h.api_calls() as calls:
        found = h.engine.list_images([repo])
    assert len(calls) == 1, calls
    assert sorted(t for i in found for t in i.tags) == [f"{repo}:a", f"{repo}:b"]
    c = h.engine.run_container(name=h.name("user"), image=f"{repo}:b", port=8080, command=[],
                               env={}, mounts=[], labels=h.labels())
    with pytest.raises(ImageInUse):
        h.engine.remove_image(f"{repo}:b")
    assert [i.id for i in h.engine.list_images([f"{repo}:b"])] == [ids[1]]
    h.engine.stop_and_remove(c.id)
    for n in ("a", "b"):
        h.engine.remove_image(f"{repo}:{n}")
    assert h.engine.list_images([repo]) == ()


def test_listing_shows_the_image_name_only_while_it_resolves(h: Harness, tmp_path: Path) -> None:
    """A container's listed image is the name it was created from; once that name is removed
    outside ace (rmi -f while in use), the listing shows the image id instead. The planner
    trusts a running container's image name as proof that the image exists."""
    cf = write(tmp_path / "Containerfile", "FROM busybox\nCMD [\"sleep\", \"60\"]\n")
    tag = f"ace-test/{h.install}:named"
    image_id = h.engine.build(context_dir=str(tmp_path), containerfile=cf, tag=tag,
                              build_args={}, labels=h.labels(**{LABEL_INPUTS: "n"}))
    c = h.engine.run_container(name=h.name("named"), image=tag, port=8080, command=[], env={},
                               mounts=[], labels=h.labels())
    assert [x.image for x in h.engine.list_containers(h.install)] == [tag]
    h.rmi_outside(tag)
    assert [x.image for x in h.engine.list_containers(h.install)] == [image_id]
    h.engine.stop_and_remove(c.id)
    h.rmi_outside(image_id)


def test_build_with_buildkit_mount(h: Harness, tmp_path: Path) -> None:
    """`RUN --mount` (BuildKit only) builds too."""
    cf = write(tmp_path / "Containerfile",
               "FROM busybox\nRUN --mount=type=cache,target=/cache echo cached\n")
    tag = f"ace-test/{h.install}:bk"
    image_id = h.engine.build(context_dir=str(tmp_path), containerfile=cf, tag=tag,
                              build_args={}, labels=h.labels(**{LABEL_INPUTS: "bk"}))
    assert [i.id for i in h.engine.list_images() if tag in i.tags] == [image_id]
    h.engine.remove_image(tag)


def test_failing_build_reports_the_log(h: Harness, tmp_path: Path) -> None:
    """A failing step raises EngineError carrying the last build lines."""
    cf = write(tmp_path / "Containerfile", "FROM busybox\nRUN echo about to fail; exit 3\n")
    tag = f"ace-test/{h.install}:bad"
    with pytest.raises(EngineError) as err:
        h.engine.build(context_dir=str(tmp_path), containerfile=cf, tag=tag, build_args={},
                       labels=h.labels())
    text = str(err.value)
    assert "about to fail" in text
    # the classic builder, BuildKit, Podman's builder (buildah)
    assert any(m in text for m in ("returned a non-zero code: 3", "exit code: 3",
                                   "exit status 3")), text
    with pytest.raises(EngineError, match="cannot read container file"):
        h.engine.build(context_dir=str(tmp_path), containerfile="Missing", tag=tag,
                       build_args={}, labels=h.labels())


def test_images_not_built_by_ace_are_kept(h: Harness) -> None:
    """remove_image refuses an image without ace's label; pulling an unknown ref fails."""
    with pytest.raises(EngineError, match="not managed by ace"):
        h.engine.remove_image(BUSYBOX)
    assert any(BUSYBOX in i.tags for i in h.engine.list_images())
    with pytest.raises(EngineError):
        h.engine.pull("ace-test.invalid/none/such:1")
    with pytest.raises(EngineError):
        h.engine.image_exposed_ports(f"ace-test/{h.install}:missing")


# -- volumes --------------------------------------------------------------------------------


def test_volumes(h: Harness, tmp_path: Path) -> None:
    """ensure_volume is idempotent, volumes are listed per installation and can be mounted."""
    vol = h.name("data")
    h.engine.ensure_volume(vol, h.labels())
    h.engine.ensure_volume(vol, h.labels())
    assert h.engine.list_volumes(h.install) == (vol,)
    mounts = [VolumeMount("volume", vol, "/data"), VolumeMount("bind", str(tmp_path), "/h", True)]
    c = h.serve(mounts=mounts)
    with pytest.raises(EngineError):
        h.engine.remove_volume(vol)  # in use
    h.engine.stop_and_remove(c.id)
    h.engine.remove_volume(vol)
    h.engine.remove_volume(vol)
    assert h.engine.list_volumes(h.install) == ()


def test_refuses_volumes_it_did_not_create(h: Harness) -> None:
    """A volume without ace's label is neither adopted nor removed."""
    vol = h.name("foreign")
    h.foreign_volume(vol)
    with pytest.raises(EngineError, match="not managed by ace"):
        h.engine.ensure_volume(vol, h.labels())
    with pytest.raises(EngineError, match="not managed by ace"):
        h.engine.remove_volume(vol)


# -- real engine only -----------------------------------------------------------------------


@pytest.mark.engine
def test_published_port_answers_on_loopback(engine: DockerEngine, busybox: str,
                                            engine_install: str, docker_client: Any) -> None:
    """The engine-chosen host port really serves on 127.0.0.1."""
    h = DockerHarness(engine, engine_install, docker_client)
    c = h.serve()
    assert c.host_port is not None

    def answers() -> bool:
        try:
            socket.create_connection(("127.0.0.1", c.host_port), timeout=1).close()
            return True
        except OSError:
            return False

    h.wait_for(answers, "the published port")


@pytest.mark.engine
def test_volume_data_survives_commands(engine: DockerEngine, busybox: str,
                                       engine_install: str, docker_client: Any) -> None:
    """Data a command writes to a mounted volume is there for the next command."""
    h = DockerHarness(engine, engine_install, docker_client)
    vol = h.name("state")
    engine.ensure_volume(vol, h.labels())
    mount = [VolumeMount("volume", vol, "/data")]
    wrote = engine.run_command(image=busybox, command=["sh", "-c", "echo kept > /data/f"],
                               env={}, cwd="/", labels=h.labels(), mounts=mount)
    assert wrote.exit_code == 0, wrote
    read = engine.run_command(image=busybox, command=["cat", "/data/f"], env={}, cwd="/",
                              labels=h.labels(), mounts=[VolumeMount("volume", vol, "/data", True)])
    assert (read.exit_code, read.stdout) == (0, "kept\n")
    assert engine.list_volumes(h.install) == (vol,)


@pytest.mark.engine
@pytest.mark.parametrize("transport", ["http", "sdk"])
def test_log_lines_tell_stdout_from_stderr(transport: str, engine: DockerEngine, busybox: str,
                                           engine_install: str, docker_client: Any) -> None:
    """The real engine's log lines say which stream each came from, and keep a line without
    a final newline, over plain HTTP and through the SDK alike."""
    real = sdk_only() if transport == "sdk" else engine
    h = DockerHarness(real, engine_install, docker_client)
    try:
        c = h.serve(command=["sh", "-c", "echo out; echo err >&2; printf last"])
        h.wait_for(lambda: h.state(c.id) == "exited", "the container to exit")
        seen: list[LogLine] = []
        real.log_lines(c.id, on_line=seen.append)
        assert sorted((x.stream, x.text) for x in seen) == [
            ("stderr", "err"), ("stdout", "last"), ("stdout", "out")]
    finally:
        if real is not engine:
            real.close()


# -- dev mode: a build target, entrypoint and working directory, restart in place ------------


def test_build_stops_at_the_target_stage(h: Harness, tmp_path: Path) -> None:
    """With `target`, only that stage is built: its CMD and EXPOSE, not the final stage's; an
    unknown target is an EngineError naming it."""
    cf = write(tmp_path / "Containerfile",
               "FROM busybox AS dev\nEXPOSE 7000\nCMD [\"sleep\", \"61\"]\n"
               "FROM dev\nEXPOSE 8000\nCMD [\"sleep\", \"62\"]\n")
    tag = f"ace-test/{h.install}:dev"
    h.engine.build(context_dir=str(tmp_path), containerfile=cf, tag=tag, build_args={},
                   labels=h.labels(), target="dev")
    assert h.engine.image_exposed_ports(tag) == (7000,)
    with pytest.raises(EngineError, match="nosuch"):
        h.engine.build(context_dir=str(tmp_path), containerfile=cf, tag=f"{tag}x",
                       build_args={}, labels=h.labels(), target="nosuch")
    h.engine.remove_image(tag)


def test_entrypoint_and_workdir_replace_the_images(h: Harness, tmp_path: Path) -> None:
    """`entrypoint` replaces the image's (the command becomes its arguments) and `workdir`
    is where it runs, here the mounted source directory."""
    src = tmp_path / "src"
    write(src / "marker.txt", "here\n")
    c = h.engine.run_container(
        name=h.name("dev"), image=BUSYBOX, port=8080, entrypoint=["sh", "-c"],
        command=["pwd; sleep 60"], env={}, workdir="/app",
        mounts=[VolumeMount("bind", str(src), "/app")], labels=h.labels())
    assert c.state == "running"
    h.wait_for(lambda: "/app" in h.engine.logs(c.id, tail=5), "the command's output")
    h.engine.stop_and_remove(c.id)


def test_restart_keeps_the_container(h: Harness) -> None:
    """restart stops and starts the same container: same id, running, a published port."""
    c = h.serve()
    again = h.engine.restart(c.id, timeout=1.0)
    assert (again.id, again.state) == (c.id, "running")
    assert again.host_port is not None
