"""The driver: the only code that talks to an engine (Docker today). The rest of ace sees the
`ports.Engine` protocol and frozen values, never an SDK object.

- `ports`: the Engine protocol the executor, observe and actions use, and its small values
- `engine`: `DockerEngine` — the read-only calls of a pass over plain HTTP (stdlib only), all
  else handed to the SDK engine, imported on first use
- `sdk`: `SdkEngine`, the docker SDK behind builds, pulls, containers, volumes, logs
- `networks`: the app network on the SDK (ensure, connect in place, disconnect, remove)
- `commands`: `container.run` one-off containers and their live output
- `buildkit`: builds through a BuildKit-capable docker CLI when one is present
- `attrs`: engine listings -> ObservedContainer / ObservedImage
- `policy`: the safety rules (what ace may touch: its managed and installation labels)
- `sdkerrors`: SDK and HTTP errors translated to EngineError, in one place
"""
