"""Benchmark static apps: requests/s and p99 of small GETs of a static app's files through ace's
proxy, with the file lookup on the thread pool (what ace does) against the same lookup run on
the event loop, alternating in one run; then the throughput of one large file streamed.

Run: python tests/bench/bench_static.py [--seconds 5] [--rounds 2] [--connections 32] [--runs 3]
                                        [--json FILE]
Needs `wrk` (Debian package `wrk`); no engine. The best round of each is reported. A run on a
loaded machine is refused unless --allow-load (tests/bench/README.md).
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from apps.model import App, AppEntry  # noqa: E402
from reconciler.core.types import DesiredState, ObservedState  # noqa: E402
from reconciler.proxy import static  # noqa: E402
from reconciler.proxy.service import ProxyService  # noqa: E402
from tests.bench import quiet  # noqa: E402

FILES = {"small.css": b"body{}\n", "page.bin": os.urandom(20_000)}
LARGE = 100_000_000


async def _on_loop(fn: static.Lookup, site: static.StaticSite, ask: static.Ask
                   ) -> static.Reply:
    return fn(site, ask)


def _wrk(port: int, path: str, seconds: int, connections: int) -> tuple[float, str]:
    out = subprocess.run(["wrk", "-t2", f"-c{connections}", f"-d{seconds}s", "--latency",
                          f"http://127.0.0.1:{port}{path}"],
                         capture_output=True, text=True, check=True).stdout
    rps = re.search(r"Requests/sec:\s+([\d.]+)", out)
    p99 = re.search(r"99%\s+(\S+)", out)
    assert rps and p99, out
    return float(rps.group(1)), p99.group(1)


def _ms(p99: str) -> float:
    """wrk's latency ("850.00us", "1.20ms", "2.00s") in milliseconds."""
    m = re.fullmatch(r"([\d.]+)(us|ms|s|m)", p99)
    assert m, p99
    return float(m.group(1)) * {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0}[m.group(2)]


def measure(args: argparse.Namespace) -> quiet.Figures:
    modes = {"thread pool (ace)": static._off_loop, "on the loop": _on_loop}
    best: dict[tuple[str, str], tuple[float, str]] = {}
    with tempfile.TemporaryDirectory() as root, ProxyService("127.0.0.1:0") as proxy:
        for name, data in FILES.items():
            Path(root, name).write_bytes(data)
        Path(root, "large.bin").write_bytes(os.urandom(LARGE))
        app = App(entry=AppEntry("/site", root), name="site", params=(), static_only=True)
        proxy.update([app], DesiredState(()), ObservedState((), ()), {})
        for _ in range(args.rounds):
            for mode, fn in modes.items():
                static._off_loop = fn  # type: ignore[assignment]
                for name in FILES:
                    got = _wrk(proxy.port, f"/site/{name}", args.seconds, args.connections)
                    if got[0] > best.get((mode, name), (0.0, ""))[0]:
                        best[mode, name] = got
        static._off_loop = modes["thread pool (ace)"]  # type: ignore[assignment]
        t = time.perf_counter()
        with urllib.request.urlopen(f"{proxy.base_url}/site/large.bin") as resp:
            size = len(resp.read())
        seconds = time.perf_counter() - t
    print(f"{'file':<12} {'mode':<18} {'req/s':>9} {'p99':>9}")
    for (mode, name), (rps, p99) in sorted(best.items(), key=lambda kv: (kv[0][1], kv[0][0])):
        print(f"{name:<12} {mode:<18} {rps:>9.0f} {p99:>9}")
    print(f"large file: {size / 1e6:.0f} MB in {seconds:.3f} s ({size / seconds / 1e6:.0f} MB/s)")
    figures: quiet.Figures = {"large_file_mb_per_s": round(size / seconds / 1e6, 1)}
    for (mode, name), (rps, p99) in best.items():
        key = f"{name}_{'pool' if mode == 'thread pool (ace)' else 'loop'}"
        figures.update({f"{key}_rps": round(rps), f"{key}_p99_ms": _ms(p99)})
    return figures


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=int, default=5)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--connections", type=int, default=32)
    quiet.add_arguments(ap)
    args = ap.parse_args()
    quiet.report("bench_static", args, lambda: measure(args), quiet.wrk_version())


if __name__ == "__main__":
    main()
