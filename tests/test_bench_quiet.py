"""The benchmarks' load guard and reporting (tests/bench/quiet.py), with injected load readings:
a quiet run is reported as is, a loaded one refused, or flagged on every figure line and in the
JSON when --allow-load is given."""

from __future__ import annotations

import argparse
import io
import json
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.bench import quiet

QUIET = quiet.Load(load1=0.4, runnable=0.2, busy=0.05)
LOADED = quiet.Load(load1=8.6, runnable=17.0, busy=1.0)
ORIGIN = quiet.Provenance("2026-12-01T10:00:00+00:00", "abc1234 dirty", "3.11.7 (CPython)",
                          "28.2.2", "wrk debian/4.1.0")


def _args(*argv: str) -> argparse.Namespace:
    ap = argparse.ArgumentParser()
    quiet.add_arguments(ap)
    return ap.parse_args(list(argv))


def _sampler(*readings: quiet.Load) -> Callable[[], quiet.Load]:
    it: Iterator[quiet.Load] = iter(readings)
    return lambda: next(it)


class Measure:
    """A fake bench run: prints two figure lines and returns figures; counts its calls."""

    def __init__(self) -> None:
        self.calls = 0

    def __call__(self) -> quiet.Figures:
        self.calls += 1
        print(f"no-op ace 0.{self.calls}00 s")
        print("")
        print("ratio ace/compose 1.10x")
        return {"ace_noop": self.calls / 10, "ratio": 1.1, "saves": [0.1, 0.2], "tool": "x",
                "db_changed": 0}


def _report(args: argparse.Namespace, sampler: Callable[[], quiet.Load], measure: Measure,
            settler: Callable[[int], float] = lambda cores: 0.0) -> tuple[str, str]:
    out, err = io.StringIO(), io.StringIO()
    quiet.report("bench_x", args, measure, "wrk", sampler=sampler, cores=2, origin=ORIGIN,
                 out=out, err=err, settler=settler)
    return out.getvalue(), err.getvalue()


def test_sample_counts_running_and_blocked_tasks_but_not_itself() -> None:
    """The own sample averages procs_running + procs_blocked minus the sampler, and CPU busy."""
    stats = iter([
        "cpu  100 0 100 800 0 0 0 0 0 0\ncpu0 1 2 3 4\nprocs_running 3\nprocs_blocked 1\n",
        "cpu  120 0 120 860 0 0 0 0 0 0\nprocs_running 5\nprocs_blocked 0\n",
        "cpu  150 0 150 900 0 0 0 0 0 0\nprocs_running 4\nprocs_blocked 2\n",
    ])
    got = quiet.sample(seconds=0.0, reads=2, read_stat=lambda: next(stats),
                       loadavg=lambda: (2.5, 1.0, 0.5), sleep=lambda s: None)
    assert got == quiet.Load(load1=2.5, runnable=4.0, busy=0.5)


def test_quiet_readings_pass_and_the_end_load_average_is_not_judged() -> None:
    """Readings at or under the core count pass; the 1-minute load after the run (its own
    work included) does not count."""
    before = quiet.Load(load1=2.0, runnable=2.0, busy=0.9)
    after = quiet.Load(load1=3.5, runnable=1.0, busy=0.2)
    reasons = quiet.judge(before, after, cores=2)
    assert reasons == ()
    assert quiet.decide(reasons, allow_load=False) == "pass"


def test_each_loaded_reading_is_a_reason_that_refuses_or_flags() -> None:
    """Load average or sample before, and sample after, above the cores: refuse, or flag when
    allowed."""
    reasons = quiet.judge(quiet.Load(2.5, 2.1, 1.0), quiet.Load(0.1, 3.0, 1.0), cores=2)
    assert reasons == ("1-minute load average 2.50 before the run exceeds 2 cores",
                       "2.1 runnable tasks sampled before the run exceeds 2 cores",
                       "3.0 runnable tasks sampled after the run exceeds 2 cores")
    assert quiet.decide(reasons, allow_load=False) == "refuse"
    assert quiet.decide(reasons, allow_load=True) == "flag"


def test_loaded_before_the_run_refuses_without_running() -> None:
    """A machine loaded before the run: exit REFUSED, the bench never runs, no figures."""
    measure = Measure()
    out, err = io.StringIO(), io.StringIO()
    with pytest.raises(SystemExit) as exc:
        quiet.report("bench_x", _args(), measure, "wrk", sampler=_sampler(LOADED), cores=2,
                     origin=ORIGIN, out=out, err=err)
    assert exc.value.code == quiet.REFUSED
    assert measure.calls == 0
    assert "refusing to report run 1 of 1: 1-minute load average 8.60" in err.getvalue()
    assert "--allow-load" in err.getvalue()
    assert "run 1 of 1, before: load average 8.60" in out.getvalue()


def test_loaded_after_the_run_refuses_its_figures(tmp_path: Path) -> None:
    """Load that appeared during the run: the figures it printed are not reported, no JSON."""
    measure = Measure()
    out, err = io.StringIO(), io.StringIO()
    with pytest.raises(SystemExit) as exc:
        quiet.report("bench_x", _args("--json", str(tmp_path / "f.json")), measure, "wrk",
                     sampler=_sampler(QUIET, LOADED), cores=2, origin=ORIGIN, out=out, err=err)
    assert exc.value.code == quiet.REFUSED
    assert measure.calls == 1
    assert "ratio" not in out.getvalue()
    assert "17.0 runnable tasks sampled after the run exceeds 2 cores" in err.getvalue()
    assert not (tmp_path / "f.json").exists()


def test_allow_load_flags_every_figure_line_and_the_json(tmp_path: Path) -> None:
    """With --allow-load a loaded run is reported with FLAG on each figure line, medians
    included, and flagged in the JSON with its reasons."""
    path = tmp_path / "f.json"
    out, _ = _report(_args("--allow-load", "--runs", "2", "--json", str(path)),
                     _sampler(QUIET, QUIET, LOADED, QUIET), Measure())
    lines = out.splitlines()
    assert "no-op ace 0.100 s" in lines  # run 1 was quiet
    assert "no-op ace 0.200 s" + quiet.FLAG in lines
    assert lines.count("ratio ace/compose 1.10x") == 1
    assert lines.count("ratio ace/compose 1.10x" + quiet.FLAG) == 1
    assert "" in lines[lines.index("no-op ace 0.200 s" + quiet.FLAG):]  # blank lines stay blank
    median = [ln for ln in lines if ln.startswith("  ace_noop")]
    assert len(median) == 1 and median[0].endswith(" 0.150" + quiet.FLAG)
    assert ("run 2 of 2 FLAGGED: 1-minute load average 8.60 before the run exceeds 2 cores; "
            "17.0 runnable tasks sampled before the run exceeds 2 cores") in lines
    doc = json.loads(path.read_text())
    assert doc["flagged"] is True
    assert [r["flagged"] for r in doc["runs"]] == [False, True]
    assert doc["runs"][1]["reasons"][0].startswith("1-minute load average 8.60")
    assert doc["runs"][1]["before"] == {"load1": 8.6, "runnable": 17.0, "busy": 1.0}


def test_quiet_runs_are_reported_with_provenance_and_medians(tmp_path: Path) -> None:
    """Three quiet runs: provenance first, figure lines unmarked, medians of the numbers."""
    path = tmp_path / "f.json"
    measure = Measure()
    out, err = _report(_args("--runs", "3", "--json", str(path)), _sampler(*[QUIET] * 6),
                       measure)
    assert measure.calls == 3
    assert out.splitlines()[0] == (
        "bench_x: 2026-12-01T10:00:00+00:00, commit abc1234 dirty, Python 3.11.7 (CPython), "
        "Docker engine 28.2.2, baseline wrk debian/4.1.0; 2 cores")
    assert "FLAG" not in out
    assert "ratio ace/compose 1.10x" in err  # echoed as progress while the run went
    doc = json.loads(path.read_text())
    assert doc["flagged"] is False
    assert doc["median"] == {"ace_noop": 0.2, "ratio": 1.1, "db_changed": 0.0}
    assert doc["provenance"]["commit"] == "abc1234 dirty"
    assert doc["runs"][2]["figures"]["saves"] == [0.1, 0.2]


def test_a_later_run_waits_for_the_previous_runs_load_to_decay() -> None:
    """The 1-minute load after a run holds that run's own work: the next run waits until it
    falls to the core count (at most the limit), and says how long it waited."""
    loads = iter([10.5, 6.0, 3.1, 1.9])
    slept: list[float] = []
    waited = quiet.settle(2, loadavg=lambda: (next(loads), 0.0, 0.0), sleep=slept.append)
    assert (waited, slept) == (15.0, [5.0, 5.0, 5.0])
    assert quiet.settle(2, limit=10, loadavg=lambda: (9.0, 0.0, 0.0), sleep=slept.append) == 10
    calls: list[int] = []

    def settler(cores: int) -> float:
        calls.append(cores)
        return 20.0

    out, _ = _report(_args("--runs", "2"), _sampler(*[QUIET] * 4), Measure(), settler=settler)
    assert calls == [2]  # before run 2 only
    assert "run 2 of 2: waited 20 s for the previous run's load to decay" in out


def test_medians_take_only_numbers_present_in_every_run() -> None:
    """Lists, strings, booleans and keys missing from a run have no median."""
    got = quiet.medians([{"a": 1, "b": "x", "c": [1.0], "d": True, "e": 3.0},
                         {"a": 5, "b": "y", "c": [2.0], "d": False},
                         {"a": 2, "b": "z", "c": [3.0], "d": True, "e": 1.0}])
    assert got == {"a": 2.0}


def test_git_commit_says_dirty_only_for_a_changed_tree(tmp_path: Path) -> None:
    """The commit is HEAD's short hash, with "dirty" once a file changed."""
    def git(*argv: str) -> str:
        return subprocess.run(["git", "-C", str(tmp_path), *argv], check=True,
                              capture_output=True, text=True).stdout.strip()

    git("init", "-q")
    (tmp_path / "f").write_text("1\n")
    git("add", "f")
    git("-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "one")
    head = git("rev-parse", "--short", "HEAD")
    assert quiet.git_commit(tmp_path) == head
    (tmp_path / "f").write_text("2\n")
    assert quiet.git_commit(tmp_path) == f"{head} dirty"


def test_runs_must_be_at_least_one() -> None:
    """--runs 0 is an argument error, not a run with no figures."""
    with pytest.raises(SystemExit) as exc:
        _args("--runs", "0")
    assert exc.value.code == 2


def test_ace_bytecode_is_written_before_timing(tmp_path: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    """The bench writes ace's bytecode first, even where the process may not write any
    (PYTHONDONTWRITEBYTECODE), so that timed runs do not compile ace's modules each time."""
    for package in ("apps", "state", "reconciler"):
        (tmp_path / package).mkdir()
        (tmp_path / package / "mod.py").write_text("X = 1\n")
    monkeypatch.setattr("sys.dont_write_bytecode", True)
    quiet.compile_ace(tmp_path)
    for package in ("apps", "state", "reconciler"):
        assert list((tmp_path / package / "__pycache__").glob("mod.*.pyc")), package
