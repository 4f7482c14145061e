"""Build proxy tables from plain app descriptions, and a small HTTP client for the tests."""

from __future__ import annotations

import http.client
import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from apps.model import App, AppEntry, Route
from reconciler.core.types import (
    ContainerSpec,
    DesiredApp,
    DesiredState,
    ObservedContainer,
    ObservedState,
)
from reconciler.proxy.request import DEFAULT_PARSER
from reconciler.proxy.service import ProxyService

CONTAINER = "<CONTAINER_URL>"


def app(path: str, *routes: Route, name: str = "", redirect_bare_path: bool = False) -> App:
    return App(entry=AppEntry(path=path, source="-"), name=name or path.strip("/") or "root",
               params=(), routes=routes or (Route("/", CONTAINER),),
               redirect_bare_path=redirect_bare_path)


def state(ports: dict[str, int | None]) -> tuple[DesiredState, ObservedState]:
    """Desired service apps and, for ports that are not None, a running container each."""
    desired = DesiredState(tuple(DesiredApp(p, True, "img", None, ContainerSpec("img", 80), "v1")
                                 for p in ports))
    observed = ObservedState(tuple(
        ObservedContainer(f"c{i}", f"n{i}", p, "v1", "running", host_port=port, created=i)
        for i, (p, port) in enumerate(ports.items()) if port is not None), ())
    return desired, observed


def configure(proxy: ProxyService, apps: list[App], ports: dict[str, int | None],
              errors: dict[str, str] | None = None) -> None:
    desired, observed = state(ports)
    proxy.update(apps, desired, observed, errors or {})


@contextmanager
def running(drain: float = 5.0, connect_timeout: float = 1.0, upstream_timeout: float = 30.0,
            parser: str = DEFAULT_PARSER) -> Iterator[ProxyService]:
    with ProxyService("127.0.0.1:0", drain=drain, connect_timeout=connect_timeout,
                      upstream_timeout=upstream_timeout, parser=parser) as p:
        yield p


def request(proxy: ProxyService, method: str, path: str, body: Any = None,
            headers: dict[str, str] | None = None, timeout: float = 5.0
            ) -> tuple[int, dict[str, str], bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", proxy.port, timeout=timeout)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        resp = conn.getresponse()
        return resp.status, {k.lower(): v for k, v in resp.getheaders()}, resp.read()
    finally:
        conn.close()


def get_json(proxy: ProxyService, path: str, headers: dict[str, str] | None = None
             ) -> dict[str, Any]:
    status, _, body = request(proxy, "GET", path, headers=headers)
    assert status == 200, (status, body[:300])
    return dict(json.loads(body))
