"""ace's HTTP proxy: one stable address serving every app's `ace.proxy` routes.

- `address`: `--listen` parsing, loopback check, public URLs, each running proxy's record
  (light: no asyncio)
- `routing`: public prefixes, strip rules, the per-app slot of the serving container
- `paths`: request path normalisation (no traversal into another app's prefix)
- `headers`: hop-by-hop, forwarding headers, Location rewriting, route response headers
- `http1`: HTTP/1.1 heads and streaming body framing
- `server`: the asyncio front and the relay (keep-alive, streaming, websocket pipes)
- `service`: the proxy as a thread of `ace watch` / `ace serve`; `switch` drains old containers
"""
