"""Shared reporting for the benchmarks: provenance, the load guard, `--runs`, `--json` and
`--allow-load`, so that every figure can be quoted with the machine state it was measured in.

A bench calls `add_arguments(parser)`, then `report(name, args, measure, baseline)`: `measure`
performs one run, prints its figure lines and returns its figures (a dict). `report` prints the
provenance (date, commit, Python, Docker engine, the baseline tool's version), reads the load
before each run, captures the run's output (echoed to stderr meanwhile as progress), reads the
load again once the run's processes stopped, and only then prints the run's figure lines:

- quiet (no reading above the core count): the lines as they are;
- loaded, without `--allow-load`: nothing of the run; exit status REFUSED with the readings;
- loaded, with `--allow-load`: every figure line ends with FLAG, and the JSON says flagged.

Readings judged: the kernel's 1-minute load average before the run, and an own 1-second sample
(tasks running or in uninterruptible sleep, as the load average counts them) before the run and
again after it. The 1-minute load at the end is printed and written but not judged: it holds
the bench's own last minute (wrk alone keeps two cores busy), which the sample after the run no
longer does.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import io
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Literal, NoReturn, TextIO

ROOT = Path(__file__).resolve().parents[2]
FLAG = "  [FLAGGED: loaded machine]"
REFUSED = 3  # exit status of a refused run
Figure = float | int | str | list[float]
Figures = dict[str, Figure]
Outcome = Literal["pass", "flag", "refuse"]


@dataclass(frozen=True)
class Load:
    """One reading of the machine's load."""

    load1: float  # the kernel's 1-minute load average
    runnable: float  # own sample: running + uninterruptible tasks, mean over ~1 s, sampler excluded
    busy: float  # fraction of all CPU time that was busy during that sample, 0..1

    def text(self, own: bool = False) -> str:
        mine = ", the run's own work included" if own else ""
        return (f"load average {self.load1:.2f} (1 min{mine}), {self.runnable:.1f} runnable "
                f"tasks over 1 s (CPU {self.busy:.0%} busy)")


def _cpu_jiffies(stat: str) -> tuple[int, int]:
    """(busy, total) jiffies of the aggregate `cpu` line of /proc/stat (idle and iowait idle)."""
    fields = [int(x) for x in stat.split("\n", 1)[0].split()[1:9]]
    return sum(fields) - fields[3] - fields[4], sum(fields)


def _tasks(stat: str) -> int:
    """Tasks running or blocked in uninterruptible sleep: what the load average counts."""
    n = 0
    for line in stat.splitlines():
        key, _, value = line.partition(" ")
        if key in ("procs_running", "procs_blocked"):
            n += int(value)
    return n


def sample(seconds: float = 1.0, reads: int = 10,
           read_stat: Callable[[], str] = lambda: Path("/proc/stat").read_text(),
           loadavg: Callable[[], tuple[float, float, float]] = os.getloadavg,
           sleep: Callable[[float], None] = time.sleep) -> Load:
    """Read the 1-minute load average and sample the runnable tasks `reads` times over
    `seconds` (the reading task itself, always running, is not counted)."""
    first = read_stat()
    counts, last = [_tasks(first)], first
    for _ in range(reads):
        sleep(seconds / reads)
        last = read_stat()
        counts.append(_tasks(last))
    (busy0, total0), (busy1, total1) = _cpu_jiffies(first), _cpu_jiffies(last)
    busy = (busy1 - busy0) / (total1 - total0) if total1 > total0 else 0.0
    return Load(loadavg()[0], max(0.0, statistics.fmean(counts) - 1), busy)


def settle(cores: int, *, limit: float = 240.0, step: float = 5.0,
           loadavg: Callable[[], tuple[float, float, float]] = os.getloadavg,
           sleep: Callable[[float], None] = time.sleep) -> float:
    """Before a run that follows another: wait (at most `limit` seconds) until the 1-minute load
    average falls to the core count, since it still holds the previous run's own work (a cold
    start of 100 containers lifts it to ~10); returns the seconds waited. A machine loaded by
    something else stays loaded, and the run's own guard then refuses or flags it."""
    waited = 0.0
    while loadavg()[0] > cores and waited < limit:
        sleep(step)
        waited += step
    return waited


def judge(before: Load, after: Load | None, cores: int) -> tuple[str, ...]:
    """Why a run's readings show a loaded machine (none when quiet): a reading above the core
    count. `after` is None before the run has happened."""
    reasons = []
    if before.load1 > cores:
        reasons.append(f"1-minute load average {before.load1:.2f} before the run")
    if before.runnable > cores:
        reasons.append(f"{before.runnable:.1f} runnable tasks sampled before the run")
    if after is not None and after.runnable > cores:
        reasons.append(f"{after.runnable:.1f} runnable tasks sampled after the run")
    return tuple(f"{r} exceeds {cores} cores" for r in reasons)


def decide(reasons: Sequence[str], allow_load: bool) -> Outcome:
    """Report a quiet run as is; a loaded one only when allowed, flagged."""
    if not reasons:
        return "pass"
    return "flag" if allow_load else "refuse"


@dataclass(frozen=True)
class Provenance:
    """Where a figure comes from."""

    date: str
    commit: str
    python: str
    engine: str
    baseline: str
    server: str = ""  # whether ace's commands fork from its command server (cli.server)

    def text(self) -> str:
        return (f"{self.date}, commit {self.commit}, Python {self.python}, Docker engine "
                f"{self.engine}, baseline {self.baseline}"
                + (f", ace command server {self.server}" if self.server else ""))


def _output(cmd: Sequence[str], env: Mapping[str, str] | None = None, any_status: bool = False
            ) -> str | None:
    try:
        p = subprocess.run(list(cmd), capture_output=True, text=True, timeout=30,
                           env=None if env is None else dict(env))
    except (OSError, subprocess.TimeoutExpired):
        return None
    out = (p.stdout or p.stderr).strip()
    return out if (p.returncode == 0 or any_status) and out else None


def git_commit(root: Path = ROOT) -> str:
    """The short hash of HEAD, with " dirty" when the tree has changes (untracked files too)."""
    head = _output(["git", "-C", str(root), "rev-parse", "--short", "HEAD"]) or "unknown"
    status = _output(["git", "-C", str(root), "status", "--porcelain"])
    return head + (" dirty" if status else "")


def engine_version(env: Mapping[str, str] | None = None) -> str:
    return _output(["docker", "version", "--format", "{{.Server.Version}}"], env) or \
        "none answered"


def docker_cli_version(cli: str = "docker") -> str:
    return _output([cli, "--version"]) or f"{cli} not found"


def compose_version(compose: str) -> str:
    got = _output([compose, "version"])
    return got.splitlines()[0] if got else f"{compose} not found"


def wrk_version() -> str:
    got = _output(["wrk", "-v"], any_status=True)  # wrk -v prints its version, then exits 1
    return " ".join(got.splitlines()[0].split()[:2]) if got else "wrk not found"


def provenance(baseline: str, env: Mapping[str, str] | None = None) -> Provenance:
    now = datetime.datetime.now().astimezone().isoformat(timespec="seconds")
    python = f"{platform.python_version()} ({platform.python_implementation()})"
    from reconciler.cli.client import enabled

    server = "on" if enabled() else "off (ACE_SERVER=0 or CI set)"
    return Provenance(now, git_commit(), python, engine_version(env), baseline, server)


def compile_ace(root: Path = ROOT) -> None:
    """Write ace's bytecode, as installing it does: where PYTHONDONTWRITEBYTECODE is set and a
    tree has no (or stale) __pycache__, every ace process the bench times would compile each
    module it imports again (a no-op reconcile then takes ~1.3x the CPU)."""
    import compileall

    for package in ("apps", "state", "reconciler"):
        compileall.compile_dir(root / package, quiet=1)


def _count(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not a count of runs (1 or more)")
    return int(text)


def add_arguments(ap: argparse.ArgumentParser) -> None:
    """The options every bench shares."""
    ap.add_argument("--runs", type=_count, default=1,
                    help="consecutive runs, each guarded; with more than one, medians too")
    ap.add_argument("--json", type=Path, metavar="FILE",
                    help="also write provenance, load readings and figures to FILE")
    ap.add_argument("--allow-load", action="store_true",
                    help="report runs on a loaded machine, every figure line marked FLAGGED")


@dataclass(frozen=True)
class Run:
    """One guarded run: its figures, its printed lines and the readings around it."""

    figures: Figures
    lines: tuple[str, ...]
    before: Load
    after: Load  # its load1 holds the run's own last minute: printed, not judged
    reasons: tuple[str, ...]

    @property
    def flagged(self) -> bool:
        return bool(self.reasons)


class _Tee(io.StringIO):
    """Keeps what a run prints, echoing it to `echo` meanwhile (progress)."""

    def __init__(self, echo: TextIO) -> None:
        super().__init__()
        self.echo = echo

    def write(self, s: str) -> int:
        self.echo.write(s)
        return super().write(s)

    def flush(self) -> None:
        self.echo.flush()


def medians(runs: Sequence[Figures]) -> dict[str, float]:
    """The median of every figure that is a number in all runs."""
    out = {}
    for key in runs[0]:
        numbers = [float(v) for v in (r.get(key) for r in runs)
                   if isinstance(v, int | float) and not isinstance(v, bool)]
        if len(numbers) == len(runs):
            out[key] = round(statistics.median(numbers), 4)
    return out


def _number(v: float) -> str:
    return f"{v:.0f}" if abs(v) >= 100 else f"{v:.3f}"


def _refuse(which: str, reasons: Sequence[str], err: TextIO) -> NoReturn:
    err.write(f"refusing to report {which}: {'; '.join(reasons)}. Run it again on a quiet "
              "machine (tests/bench/README.md), or pass --allow-load to report the figures "
              "marked FLAGGED.\n")
    raise SystemExit(REFUSED)


def report(name: str, args: argparse.Namespace, measure: Callable[[], Figures], baseline: str,
           *, env: Mapping[str, str] | None = None, sampler: Callable[[], Load] = sample,
           cores: int | None = None, origin: Provenance | None = None,
           out: TextIO | None = None, err: TextIO | None = None,
           settler: Callable[[int], float] = settle) -> list[Run]:
    """Run `measure` `args.runs` times, each guarded by load readings; print each run's lines
    once its readings are judged, then the medians, and write `args.json` if given."""
    out, err = out or sys.stdout, err or sys.stderr
    cores = cores or os.cpu_count() or 1
    compile_ace()
    origin = origin or provenance(baseline, env)
    print(f"{name}: {origin.text()}; {cores} cores", file=out, flush=True)
    runs: list[Run] = []
    for i in range(args.runs):
        which = f"run {i + 1} of {args.runs}"
        if i:
            waited = settler(cores)
            if waited:
                print(f"{which}: waited {waited:.0f} s for the previous run's load to decay",
                      file=out, flush=True)
        before = sampler()
        print(f"{which}, before: {before.text()}", file=out, flush=True)
        early = judge(before, None, cores)
        if decide(early, args.allow_load) == "refuse":
            _refuse(which, early, err)
        tee = _Tee(err)
        with contextlib.redirect_stdout(tee):
            figures = measure()
        after = sampler()
        print(f"{which}, after:  {after.text(own=True)}", file=out, flush=True)
        reasons = judge(before, after, cores)
        if decide(reasons, args.allow_load) == "refuse":
            _refuse(which, reasons, err)
        run = Run(figures, tuple(tee.getvalue().splitlines()), before, after, reasons)
        runs.append(run)
        if run.flagged:
            print(f"{which} FLAGGED: {'; '.join(reasons)}", file=out)
        for line in run.lines:
            print(line + (FLAG if run.flagged and line.strip() else ""), file=out)
        out.flush()
    flagged = any(r.flagged for r in runs)
    mid = medians([r.figures for r in runs])
    if args.runs > 1:
        print(f"median of {args.runs} runs:", file=out)
        for key, value in mid.items():
            print(f"  {key:<36} {_number(value):>10}" + (FLAG if flagged else ""), file=out)
    if args.json is not None:
        doc = {"bench": name, "argv": sys.argv[1:], "cores": cores,
               "provenance": asdict(origin), "flagged": flagged, "median": mid,
               "runs": [{"flagged": r.flagged, "reasons": list(r.reasons),
                         "before": asdict(r.before), "after": asdict(r.after),
                         "figures": r.figures} for r in runs]}
        args.json.write_text(json.dumps(doc, indent=2) + "\n")
        print(f"wrote {args.json}", file=out)
    return runs
