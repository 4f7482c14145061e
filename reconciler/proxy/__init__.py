"""ace's HTTP proxy: one stable address serving every app's `ace.proxy` routes and static apps'
files.

- `address`: `--listen` parsing, loopback check, public URLs, each running proxy's record
  (light: no asyncio)
- `routing`: public prefixes, strip rules, the per-app slot of the serving container
- `paths`: request path normalisation (no traversal into another app's prefix)
- `static`: static apps' files, served from their source directories (no container)
- `headers`: hop-by-hop, forwarding headers, Location rewriting, route response headers
- `request`: request heads read and parsed strictly (llhttp, or the hand-written parser)
- `http1`: header fields, response heads, streaming body framing (chunk sizes checked)
- `pages`: the short HTML pages (app down, no app here, refused paths) and JSON responses the
  proxy answers itself
- `relay`: client connections on protocol callbacks; the common proxied request relayed between
  transports with flow control, everything else handed to `server`'s stream path
- `exchange`: one proxied request on the relay (body out, response back, retries, timeouts)
- `upstream_head`: the upstream's response head on the relay: split as bytes arrive, re-framed
  for the client
- `bodies`: body framing fed as bytes arrive (the relay's `http1.copy_body`)
- `pool`: upstream connections opened with a connect timeout, kept alive and reused per
  address (container network first, published port where the host cannot reach it)
- `server`: the stream path (pages, dashboard, static, wake, holds, websocket pipes), the
  response-head timeout, and `hold` / `switch`
- `service`: the proxy as a thread of `ace watch` / `ace serve`; `switch` drains old containers
- `wake`: waking a sleeping app for the requests that wait for it; per-app traffic counters
"""
