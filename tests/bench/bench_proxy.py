"""Benchmark ace's proxy: requests/s and p99 latency of a small GET through the proxy versus
straight to the container, in one run, at 32 concurrent clients (wrk on loopback).

Run: python tests/bench/bench_proxy.py [--seconds 10] [--rounds 2] [--connections 32]
                                       [--browser-headers] [--runs 3] [--json FILE]
Needs a Docker engine, a local busybox:latest and `wrk` (Debian package `wrk`). A run on a
loaded machine is refused unless --allow-load (tests/bench/README.md).

The upstream is a busybox httpd container (ace's usual sample app) published on a loopback port;
the proxy runs in its own process (as under `ace serve`) with one app at /app, and connects to the
container's network address as it does under `ace watch`. Baselines: "direct" is the published
port (what a user reaches without ace: through the engine's port forwarder), "direct-ip" the
container's own address (no forwarder: the floor). Runs alternate so all see the same machine,
each starting once TIME_WAIT sockets from the previous run drained (busybox httpd closes every
connection; a full ephemeral port range would throttle whichever run came later). The best round
of each is reported, with ratios. Goals: proxy throughput >= 0.7x direct-ip, p99 no higher than
direct's. Each proxy round also prints the proxy process's CPU time per request (user + system,
from /proc: a figure that a loaded machine disturbs far less than requests/s).

Request parsers: "proxy" parses request heads with llhttp (httptools), "proxy-builtin" is the
same proxy with the hand-written parser, both in the same rounds; before them, the parse cost
alone (microseconds per head, wrk's two-line head and a browser's 15-line one) is timed in
process. `--browser-headers` makes wrk send the browser's headers too.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import time
import timeit
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from tests.bench import quiet  # noqa: E402

BROWSER = {  # what a browser sends for a script on the page (Chromium 124)
    "Connection": "keep-alive",
    "sec-ch-ua": '"Chromium";v="124", "Not-A.Brand";v="99"',
    "sec-ch-ua-mobile": "?0",
    "User-Agent": "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
                  "Chrome/124.0.0.0 Safari/537.36",
    "sec-ch-ua-platform": '"Linux"',
    "Accept": "*/*",
    "Sec-Fetch-Site": "same-origin",
    "Sec-Fetch-Mode": "no-cors",
    "Sec-Fetch-Dest": "script",
    "Referer": "http://127.0.0.1:8000/app/",
    "Accept-Encoding": "gzip, deflate, br, zstd",
    "Accept-Language": "en-US,en;q=0.9",
    "Cookie": "session=abcdef0123456789abcdef0123456789; theme=dark",
}
SERVE = "mkdir -p /w && echo hello > /w/index.html && exec httpd -f -p 8080 -h /w"
LABEL = "dev.ace.bench=proxy"


def serve_proxy(upstream_port: int, address: str, parser: str) -> None:
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
    with ProxyService("127.0.0.1:0", parser=parser) as proxy:
        proxy.update([app], desired, observed)
        print(proxy.port, flush=True)
        sys.stdin.read()


def parse_costs() -> None:
    """Print the microseconds per request head of both parsers (with the framing rules)."""
    from reconciler.proxy.request import PARSERS, request_framing

    wrk = b"GET /app/index.html HTTP/1.1\r\nHost: 127.0.0.1:8000\r\n\r\n"
    browser = ("GET /app/index.html HTTP/1.1\r\nHost: 127.0.0.1:8000\r\n" + "".join(
        f"{k}: {v}\r\n" for k, v in BROWSER.items()) + "\r\n").encode()
    for name, raw in (("wrk head", wrk), ("browser head", browser)):
        cost = {}
        for parser in ("builtin", "llhttp"):
            parse = PARSERS[parser]
            runs = timeit.repeat("request_framing(parse(raw))", number=20_000, repeat=5,
                                 globals={"request_framing": request_framing, "parse": parse,
                                          "raw": raw})
            cost[parser] = min(runs) / 20_000 * 1e6
        print(f"parse {name:12} ({len(raw)} bytes): builtin {cost['builtin']:5.2f} us, "
              f"llhttp {cost['llhttp']:5.2f} us (llhttp {cost['builtin'] / cost['llhttp']:.2f}x "
              f"as fast)", flush=True)


def _wrk(url: str, seconds: int, connections: int, headers: bool = False
         ) -> tuple[float, float, int, int]:
    """(requests/s, p99 ms, socket errors, non-2xx answers) of one wrk run."""
    extra = [a for k, v in BROWSER.items() for a in ("-H", f"{k}: {v}")] if headers else []
    out = subprocess.run(["wrk", "-t2", f"-c{connections}", f"-d{seconds}s", "--latency", *extra,
                          url],
                         capture_output=True, text=True, timeout=seconds + 30, check=True).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    m = re.search(r"99%\s+([\d.]+)(us|ms|s)\b", out)
    assert m, out
    p99 = float(m.group(1)) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[m.group(2)]
    errs = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    return (rps, p99, sum(int(x) for x in errs.groups()) if errs else 0,
            int(non2xx.group(1)) if non2xx else 0)


def _cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a process so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


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
    ap.add_argument("--browser-headers", action="store_true",
                    help="wrk sends a browser's request headers (15 lines) instead of two")
    ap.add_argument("--serve-proxy", type=int, help=argparse.SUPPRESS)
    ap.add_argument("--address", default="", help=argparse.SUPPRESS)
    ap.add_argument("--parser", default="llhttp", help=argparse.SUPPRESS)
    quiet.add_arguments(ap)
    args = ap.parse_args()
    if args.serve_proxy:
        serve_proxy(args.serve_proxy, args.address, args.parser)
        return
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is not installed (Debian: apt-get install -y wrk)")
    quiet.report("bench_proxy", args, lambda: measure(args), quiet.wrk_version())


def measure(args: argparse.Namespace) -> quiet.Figures:
    """One run: every target in alternating wrk rounds; the best round of each."""
    cid = subprocess.run(["docker", "run", "-d", "--rm", "--label", LABEL, "-p",
                          "127.0.0.1::8080", "busybox:latest", "sh", "-c", SERVE],
                         capture_output=True, text=True, check=True).stdout.strip()
    proxies: list[subprocess.Popen[str]] = []
    try:
        port_line = subprocess.run(["docker", "port", cid, "8080/tcp"], capture_output=True,
                                   text=True, check=True).stdout.splitlines()[0]
        up_port = int(port_line.rsplit(":", 1)[1])
        ip = subprocess.run(["docker", "inspect", "-f", "{{.NetworkSettings.IPAddress}}", cid],
                            capture_output=True, text=True, check=True).stdout.strip()
        parse_costs()
        ports, pids = {}, {}
        for parser in ("llhttp", "builtin"):
            proxy = subprocess.Popen([sys.executable, __file__, "--serve-proxy", str(up_port),
                                      "--address", f"{ip}:8080" if ip else "",
                                      "--parser", parser],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
            proxies.append(proxy)
            assert proxy.stdout is not None
            ports[parser] = int(proxy.stdout.readline())
            pids["proxy" if parser == "llhttp" else "proxy-builtin"] = proxy.pid
        urls = {"direct": f"http://127.0.0.1:{up_port}/index.html",
                "proxy": f"http://127.0.0.1:{ports['llhttp']}/app/index.html",
                "proxy-builtin": f"http://127.0.0.1:{ports['builtin']}/app/index.html"}
        if ip:
            urls["direct-ip"] = f"http://{ip}:8080/index.html"
        for url in urls.values():
            _wait_ok(url)
        for name in ("proxy", "proxy-builtin"):
            _wrk(urls[name], 2, args.connections, args.browser_headers)  # warm-up
        results: dict[str, list[tuple[float, float, int, int]]] = {n: [] for n in urls}
        cpu: dict[str, list[float]] = {n: [] for n in pids}  # proxy CPU us per request
        for r in range(args.rounds):
            for name, url in urls.items():
                _settle()
                cpu0 = _cpu_seconds(pids[name]) if name in pids else 0.0
                res = _wrk(url, args.seconds, args.connections, args.browser_headers)
                results[name].append(res)
                used = ""
                if name in pids:
                    cpu[name].append((_cpu_seconds(pids[name]) - cpu0) * 1e6
                                     / max(1.0, res[0] * args.seconds))
                    used = f"  proxy CPU {cpu[name][-1]:4.0f} us/request"
                print(f"round {r + 1} {name:13}: {res[0]:9.0f} req/s  p99 {res[1]:7.2f} ms  "
                      f"socket errors {res[2]}  non-2xx {res[3]}{used}", flush=True)
        best = {n: max(v, key=lambda x: x[0]) for n, v in results.items()}
        print(f"\n{args.connections} connections, {args.seconds} s per run, best of "
              f"{args.rounds}:")
        for name, (rps, p99, _, _) in best.items():
            print(f"{name:13}: {rps:9.0f} req/s  p99 {p99:7.2f} ms")
        p, d = best["proxy"], best["direct"]
        print(f"proxy vs direct   : throughput {p[0] / d[0]:.2f}x, p99 {p[1] / d[1]:.2f}x "
              f"(goal <= 1x)")
        if "direct-ip" in best:
            f = best["direct-ip"]
            print(f"proxy vs direct-ip: throughput {p[0] / f[0]:.2f}x (goal >= 0.7x), "
                  f"p99 {p[1] / f[1]:.2f}x")
        for name, costs in cpu.items():
            print(f"{name:13}: proxy CPU {min(costs):.0f} us/request (least of {len(costs)})")
        b = best["proxy-builtin"]
        print(f"llhttp vs builtin : throughput {p[0] / b[0]:.2f}x, p99 {p[1] / b[1]:.2f}x")
        figures: quiet.Figures = {}
        for name, (rps, p99, _, _) in best.items():
            figures.update({f"{name}_rps": round(rps), f"{name}_p99_ms": round(p99, 3)})
        for name, costs in cpu.items():
            figures[f"{name}_cpu_us"] = round(min(costs))
        return figures
    finally:
        for proxy in proxies:
            if proxy.stdin is not None:
                proxy.stdin.close()
            proxy.wait(timeout=10)
        subprocess.run(["docker", "rm", "-f", cid], capture_output=True)


if __name__ == "__main__":
    main()
