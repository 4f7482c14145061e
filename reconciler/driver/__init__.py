"""The driver: the only code that talks to an engine (Docker, Podman's Docker-compatible
service, or a Swarm cluster). The rest of ace sees the `ports.Engine` protocol and frozen
values, never an SDK object, and never learns which engine answers.

- `ports`: the Engine protocol the executor, observe and actions use; `values`: its small
  values (mounts, command results, log lines), loaded on first use
- `engine`: `DockerEngine` — the read-only calls of a pass over plain HTTP (stdlib only), all
  else handed to the SDK engine, imported on first use
- `plainhttp`: those reads' HTTP/1.1 GETs on a kept-alive socket (no http.client)
- `sdk`: `SdkEngine`, the docker SDK behind builds, pulls, containers, volumes, logs
- `networks`: the app network on the SDK (ensure, connect in place, disconnect, remove)
- `commands`: `container.run` one-off containers and their live output
- `buildkit`: builds through a BuildKit-capable docker CLI when one is present
- `buildctx`: the build context for Podman when the container file is outside it
- `podman`: Podman's answers made to read like Docker's (names, listings, init failures)
- `hostnet`: which container addresses the host reaches directly (not a rootless engine's)
- `attrs`: engine listings -> ObservedContainer / ObservedImage
- `policy`: the safety rules (what ace may touch: its managed and installation labels)
- `sdkerrors`: SDK and HTTP errors translated to EngineError (and "gone"), in one place
- `swarm/`: `SwarmEngine`, the Engine protocol on a Docker Swarm cluster (`--backend swarm`)
"""
