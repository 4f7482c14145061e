"""ace's engine: evaluate (apps/) -> observe -> plan (pure) -> apply, once or in a loop.

- `core`: the pure part — value types, hashing, .dockerignore, desired state, the planner,
  status rows and drift items (no engine, no database, no clock)
- `driver`: the only code that talks to an engine (the Engine protocol and Docker behind it)
- `apply`: one pass — observe, `run_pass`, the executor, health probing, mounts, teardown
- `watch`: `ace watch`'s loop — file events, backoff and health bookkeeping, the Reporter protocol
- `actions`: `ace run` — calling an app's action and serving its `container.run` calls
- `proxy`: one address serving every app's routes, switching on zero-downtime replaces
- `dashboard`: the dashboard on the proxy — every app live, a page per app, actions from a form
- `applogs`: apps' logs as timed lines (containers across replaces, builds) for `ace logs`
  and the dashboard
- `cli`: the `ace` command line — options, one module per command group, output for people
  and machines
- `logs`: structlog set-up and the lazy logger every room uses
- `version`: ace's version as installed
"""
