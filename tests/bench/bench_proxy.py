"""Benchmark ace's proxy: requests/s and p99 latency of a small GET through the proxy versus
straight to the container, in one run, at 32 concurrent clients (wrk on loopback).

Run: python tests/bench/bench_proxy.py [--seconds 10] [--rounds 2] [--connections 32]
Needs a Docker engine, a local busybox:latest and `wrk` (Debian package `wrk`).

The upstream is a busybox httpd container (ace's usual sample app) published on a loopback port;
the proxy runs in its own process (as under `ace serve`) with one app at /app, and connects to the
container's network address as it does under `ace watch`. Baselines: "direct" is the published
port (what a user reaches without ace: through the engine's port forwarder), "direct-ip" the
container's own address (no forwarder: the floor). Runs alternate so all see the same machine,
each starting once TIME_WAIT sockets from the previous run drained (busybox httpd closes every
connection; a full ephemeral port range would throttle whichever run came later). The best round
of each is reported, with ratios. Goal: proxy throughput >= 0.5x direct, p99 < 2x direct.
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

SERVE = "mkdir -p /w && echo hello > /w/index.html && exec httpd -f -p 8080 -h /w"
LABEL = "dev.ace.bench=proxy"


def serve_proxy(upstream_port: int, address: str) -> None:
    """Child mode: the proxy with one app at /app; prints its port, runs until stdin closes."""
    from apps.model import App, AppEntry, Route
    from reconciler.core.types import (
        ContainerSpec,
        DesiredApp,
        DesiredState,
        ObservedContainer,
        ObservedState,
    )
    from reconciler.proxy.service import ProxyService

    app = App(entry=AppEntry(path="/app", source="-"), name="bench", params=(),
              routes=(Route("/", "<CONTAINER_URL>"),))
    desired = DesiredState((DesiredApp("/app", True, "busybox", None,
                                       ContainerSpec("busybox", 8080), "v1"),))
    observed = ObservedState((ObservedContainer("c", "bench", "/app", "v1", "running",
                                                host_port=upstream_port, address=address),), ())
    with ProxyService("127.0.0.1:0") as proxy:
        proxy.update([app], desired, observed)
        print(proxy.port, flush=True)
        sys.stdin.read()


def _wrk(url: str, seconds: int, connections: int) -> tuple[float, float, int, int]:
    """(requests/s, p99 ms, socket errors, non-2xx answers) of one wrk run."""
    out = subprocess.run(["wrk", "-t2", f"-c{connections}", f"-d{seconds}s", "--latency", url],
                         capture_output=True, text=True, timeout=seconds + 30, check=True).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    m = re.search(r"99%\s+([\d.]+)(us|ms|s)\b", out)
    assert m, out
    p99 = float(m.group(1)) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[m.group(2)]
    errs = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    return (rps, p99, sum(int(x) for x in errs.groups()) if errs else 0,
            int(non2xx.group(1)) if non2xx else 0)


def _timewait() -> int:
    out = subprocess.run(["ss", "-s"], capture_output=True, text=True).stdout
    m = re.search(r"timewait (\d+)", out)
    return int(m.group(1)) if m else 0


def _settle(limit: int = 3000, timeout: float = 90.0) -> None:
    """Wait until TIME_WAIT sockets from the previous run are few again."""
    end = time.monotonic() + timeout
    while _timewait() > limit and time.monotonic() < end:
        time.sleep(1.0)


def _wait_ok(url: str, timeout: float = 20.0) -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        try:
            with urllib.request.urlopen(url, timeout=1.0) as r:
                if r.read() == b"hello\n":
                    return
        except OSError:
            pass
        time.sleep(0.1)
    raise SystemExit(f"{url} did not answer")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=int, default=10)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--connections", type=int, default=32)
    ap.add_argument("--serve-proxy", type=int, help=argparse.SUPPRESS)
    ap.add_argument("--address", default="", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.serve_proxy:
        serve_proxy(args.serve_proxy, args.address)
        return
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is not installed (Debian: apt-get install -y wrk)")
    cid = subprocess.run(["docker", "run", "-d", "--rm", "--label", LABEL, "-p",
                          "127.0.0.1::8080", "busybox:latest", "sh", "-c", SERVE],
                         capture_output=True, text=True, check=True).stdout.strip()
    proxy = None
    try:
        port_line = subprocess.run(["docker", "port", cid, "8080/tcp"], capture_output=True,
                                   text=True, check=True).stdout.splitlines()[0]
        up_port = int(port_line.rsplit(":", 1)[1])
        ip = subprocess.run(["docker", "inspect", "-f", "{{.NetworkSettings.IPAddress}}", cid],
                            capture_output=True, text=True, check=True).stdout.strip()
        proxy = subprocess.Popen([sys.executable, __file__, "--serve-proxy", str(up_port),
                                  "--address", f"{ip}:8080" if ip else ""],
                                 stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        assert proxy.stdout is not None
        proxy_port = int(proxy.stdout.readline())
        urls = {"direct": f"http://127.0.0.1:{up_port}/index.html",
                "proxy": f"http://127.0.0.1:{proxy_port}/app/index.html"}
        if ip:
            urls["direct-ip"] = f"http://{ip}:8080/index.html"
        for url in urls.values():
            _wait_ok(url)
        _wrk(urls["proxy"], 2, args.connections)  # warm-up
        results: dict[str, list[tuple[float, float, int, int]]] = {n: [] for n in urls}
        for r in range(args.rounds):
            for name, url in urls.items():
                _settle()
                res = _wrk(url, args.seconds, args.connections)
                results[name].append(res)
                print(f"round {r + 1} {name:9}: {res[0]:9.0f} req/s  p99 {res[1]:7.2f} ms  "
                      f"socket errors {res[2]}  non-2xx {res[3]}", flush=True)
        best = {n: max(v, key=lambda x: x[0]) for n, v in results.items()}
        print(f"\n{args.connections} connections, {args.seconds} s per run, best of "
              f"{args.rounds}:")
        for name, (rps, p99, _, _) in best.items():
            print(f"{name:9}: {rps:9.0f} req/s  p99 {p99:7.2f} ms")
        p, d = best["proxy"], best["direct"]
        print(f"proxy vs direct   : throughput {p[0] / d[0]:.2f}x (goal >= 0.5x), "
              f"p99 {p[1] / d[1]:.2f}x (goal < 2x)")
        if "direct-ip" in best:
            f = best["direct-ip"]
            print(f"proxy vs direct-ip: throughput {p[0] / f[0]:.2f}x, p99 {p[1] / f[1]:.2f}x")
    finally:
        if proxy is not None and proxy.stdin is not None:
            proxy.stdin.close()
            proxy.wait(timeout=10)
        subprocess.run(["docker", "rm", "-f", cid], capture_output=True)


if __name__ == "__main__":
    main()
