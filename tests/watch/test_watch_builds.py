"""`ace watch`'s loop on the in-memory engine: a failed build is `build-failed` (never
crash-looping), reported once with its step, exit code and output, while the running version
keeps serving; a save that fixes it (or goes back to what runs) clears it on that pass."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, cast

from reconciler.apply.pipeline import Settings
from reconciler.watch.loop import Watch, WatchOptions
from reconciler.watch.reporter import Reporter, Row
from state import Store
from tests.apply.kit import ServingFake
from tests.engine.appkit import WEB_APP_STAR, WEB_PARAMS

GOOD = 'FROM busybox:latest\nCOPY index.html /www/index.html\nEXPOSE 8080\n' \
       'CMD ["httpd", "-f", "-p", "8080", "-h", "/www"]\n'
BROKEN = GOOD.replace("EXPOSE", "RUN echo compiling && echo oops >&2 && exit 7\nEXPOSE")


class Recorder:
    """Every Reporter call, by name."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, tuple[Any, ...]]] = []

    def __getattr__(self, name: str) -> Any:
        return lambda *args: self.calls.append((name, args))

    def named(self, name: str) -> list[tuple[Any, ...]]:
        return [args for n, args in self.calls if n == name]

    def row(self, app: str) -> Row:
        rows: tuple[Row, ...] = self.named("rows")[-1][0]
        return next(r for r in rows if r.app == app)


def write(path: Path, text: str) -> None:
    path.write_text(text)
    st = path.stat()  # visible even within one mtime tick
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000))


def test_failed_build_is_build_failed_and_a_fix_clears_it(tmp_path: Path,
                                                          engine: ServingFake) -> None:
    """A broken container file: build-failed with the old URL still shown, reported once even
    when the retry fails again, never a crash loop; restoring what runs, or a fixing save,
    clears it on that very pass."""
    web = tmp_path / "web"
    web.mkdir()
    for name, text in (("Containerfile", GOOD), ("index.html", "v1\n"),
                       ("app.star", WEB_APP_STAR), ("params.star", WEB_PARAMS)):
        (web / name).write_text(text)
    (tmp_path / "apps.star").write_text('app("/web", "./web")\n')
    now = [100.0]
    rec = Recorder()
    loop = Watch(Settings(tmp_path / "apps.star", tmp_path / ".ace", health_timeout=5),
                 engine, cast(Reporter, rec), WatchOptions(watch_files=False),
                 clock=lambda: now[0])
    with Store.open(tmp_path / ".ace") as store:
        loop._one_pass(store, "files")
        first = rec.row("/web")
        assert first.state == "running"

        write(web / "Containerfile", BROKEN)
        loop._one_pass(store, "files")
        row = rec.row("/web")
        assert row.state == "build-failed" and row.url == first.url
        assert row.last_error.startswith(
            "build failed at step [3/5] RUN echo compiling && echo oops >&2 && exit 7 (")
        assert "Containerfile:3): exit code 7" in row.last_error
        (failed,) = rec.named("build_failed")
        assert (failed[0].exit_code, failed[0].logs.splitlines()[:2]) == ("7", ["compiling",
                                                                               "oops"])

        now[0] += 5.0  # past the backoff: the build is tried again and fails again
        loop._one_pass(store, "resync")
        assert [c for c in rec.calls if c[0] == "step"][-1][1][0].step.action == "build"
        assert rec.row("/web").state == "build-failed"
        assert len(rec.named("build_failed")) == 1 and not rec.named("crash_loop")

        write(web / "Containerfile", GOOD)  # back to what runs: nothing to do, all clear
        loop._one_pass(store, "files")
        row = rec.row("/web")
        assert (row.state, row.last_error, row.url) == ("running", "", first.url)
        assert loop.attempts == {}

        write(web / "Containerfile", BROKEN)
        loop._one_pass(store, "files")
        assert rec.row("/web").state == "build-failed"
        write(web / "index.html", "v2\n")
        write(web / "Containerfile", GOOD)  # a new version that builds: replaced, all clear
        loop._one_pass(store, "files")
        row = rec.row("/web")
        assert (row.state, row.last_error) == ("running", "") and row.url != first.url


def test_live_view_shows_the_failing_step_and_its_output() -> None:
    """The terminal's live view prints the failed build's step, file:line, exit code and last
    output lines, and says the running version keeps serving."""
    from rich.console import Console

    from reconciler.apply.executor import StepOutcome
    from reconciler.cli.watch_view import LiveReporter
    from reconciler.core.types import Step

    console = Console(record=True, width=160, force_terminal=False)
    view = LiveReporter(console)
    step = Step("build:/web", "build", "/web", "img:2", "build inputs changed: Containerfile")
    view.build_failed(StepOutcome(step, "failed", "build of img:2 failed ...", 0.5, "", "7",
                                  "compiling\noops", failed_step="[3/5] RUN make",
                                  where="/src/Containerfile:3"))
    view.stopped("signal", [])
    text = console.export_text()
    assert "build failed /web at step [3/5] RUN make (/src/Containerfile:3): exit code 7; " \
           "the running version keeps serving" in text
    assert "    compiling\n" in text and "    oops\n" in text


def test_failed_build_is_never_a_crash_whatever_it_printed() -> None:
    """A failed build whose output quotes a container's exit ("Exited (1)", "last log lines:")
    is a failed try that backs off, never a crash: two in a row are no crash loop."""
    from reconciler.apply.executor import StepOutcome
    from reconciler.core.types import Step
    from reconciler.watch.backoff import record_attempts

    step = Step("build:/web", "build", "/web", "img:2", "build inputs changed: Containerfile")
    o = StepOutcome(step, "failed", "build of img:2 failed at step [2/3] RUN ./check.sh: exit "
                    "code 1\nservice Exited (1)\nlast log lines:\nboom", 0.5, "", "1",
                    "service Exited (1)\nboom", failed_step="[2/3] RUN ./check.sh")
    attempts = record_attempts({}, [o], {"/web": "v2:img:2"}, 100.0)
    attempts = record_attempts(attempts, [o], {"/web": "v2:img:2"}, 110.0)
    a = attempts["/web"]
    assert (a.count, a.failed, a.crashed, a.crash_looping) == (2, True, False, False)
    assert a.until == 110.0 + 2.0
