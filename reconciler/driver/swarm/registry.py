"""The registry a cluster pulls ace's images from: where built images are pushed, and how a
pushed tag resolves to the digest services are pinned to (plain HTTP(S), the Registry v2 API)."""

from __future__ import annotations

from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from apps.errors import EngineError

if TYPE_CHECKING:
    import http.client

__all__ = ["Registry"]

_ACCEPT = ", ".join([
    "application/vnd.docker.distribution.manifest.v2+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
    "application/vnd.oci.image.manifest.v1+json",
    "application/vnd.oci.image.index.v1+json",
])


class Registry:
    """`HOST[:PORT]` (plain HTTP, as an insecure registry the nodes are configured for) or
    `https://HOST[:PORT]`."""

    def __init__(self, address: str, timeout: float = 5.0) -> None:
        parts = urlsplit(address if "://" in address else f"http://{address}")
        if not parts.netloc or parts.path.strip("/"):
            raise EngineError(f"--registry {address!r} is not HOST[:PORT]")
        self.host = parts.netloc
        self.tls = parts.scheme == "https"
        self.timeout = timeout

    def ref(self, tag: str) -> str:
        """Where `tag` (e.g. ace-1234/web:abcd) lives in this registry."""
        return f"{self.host}/{tag}"

    def digest(self, tag: str) -> str | None:
        """The manifest digest of `tag` in the registry; None when it is not there. Raises a
        retryable EngineError when the registry does not answer."""
        import http.client  # only on a push: a no-op pass never asks the registry

        repo, _, version = tag.rpartition(":")
        conn: http.client.HTTPConnection = (
            http.client.HTTPSConnection(self.host, timeout=self.timeout) if self.tls
            else http.client.HTTPConnection(self.host, timeout=self.timeout))
        try:
            conn.request("HEAD", f"/v2/{repo}/manifests/{version}", headers={"Accept": _ACCEPT})
            resp = conn.getresponse()
            resp.read()
        except OSError as exc:
            raise EngineError(f"registry {self.host} is not answering ({exc}): is it running? "
                              "(--registry / ACE_REGISTRY names it)", retryable=True) from exc
        finally:
            conn.close()
        if resp.status == 404:
            return None
        if resp.status >= 400:
            raise EngineError(f"registry {self.host}: {tag}: HTTP {resp.status} {resp.reason}",
                              retryable=resp.status >= 500)
        return resp.getheader("Docker-Content-Digest") or None
