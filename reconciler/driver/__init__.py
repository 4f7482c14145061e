"""The driver: the only code that talks to an engine (Docker, Podman's Docker-compatible
service, or a Swarm cluster). The rest of ace sees the `ports.Engine` protocol and frozen
values, never an SDK object, and never learns which engine answers.

- `ports`: the Engine protocol the executor, observe and actions use; `values`: its small
  values (mounts, command results, log lines), loaded on first use
- `engine`: `DockerEngine` — a pass's calls over plain HTTP (stdlib only): the reads on
  `plainhttp`, the changes through `lifecycle`; builds, pulls and commands handed to the SDK
  engine, imported on first use
- `plainhttp`: the reads' HTTP/1.1 GETs on a kept-alive socket (no http.client)
- `wire`: the changes' HTTP requests on `plainhttp` connections, a keep-alive pool threads share
- `lifecycle`: containers created, started, stopped and removed, the app network made, joined,
  left and removed, volumes made and old images removed, with the safety rules, written once
  over a transport: `wire`, or the SDK's `SdkWire` (loaded on the first change)
- `sdk`: `SdkEngine`, the docker SDK behind builds, pulls, commands, logs (and the reads where
  plain HTTP cannot reach the engine: TLS, ssh); `SdkWire`, lifecycle's transport there
- `commands`: `container.run` one-off containers and their live output
- `buildkit`: builds through a BuildKit-capable docker CLI when one is present
- `buildctx`: the build context for Podman when the container file is outside it
- `podman`: Podman's answers made to read like Docker's (names, listings, init failures)
- `hostnet`: which container addresses the host reaches directly (not a rootless engine's)
- `attrs`: engine listings -> ObservedContainer / ObservedImage
- `policy`: the safety rules (what ace may touch: its managed and installation labels)
- `sdkerrors`: SDK and HTTP errors translated to EngineError (and "gone"), in one place
- `choose`: the engine a backend name selects (`docker`, `swarm`), not yet contacted
- `swarm/`: `SwarmEngine`, the Engine protocol on a Docker Swarm cluster (`--backend swarm`)
"""
