"""Running a pass against the engine.

- `pipeline`: `prepare` (evaluate, hash, observe, plan) and `run_pass`, the one pass body
- `observe`: the one read of a pass (a container listing, images only where needed)
- `executor`: applies a Plan (apps in parallel, an app's steps in order); failures are values
- `outcome`: what an apply is given and gives back: ApplyOptions, hooks, StepOutcome, ApplyResult
- `context`: what one apply's step runners share (engine, recorder, options), StepFailed
- `steps`: runs one step (builds, pulls, images, networks, stops)
- `containers`: container steps: launch behind a health gate, zero-downtime replace, restart
- `health`: all probing — the health wait of a new container, probes of running ones
- `replicas`: the health gate of a cluster service (every task answers before it serves)
- `mounts`: an app's secret files and named volumes, made ready for any container of it
- `network`: aliases, joining a container to the app network in place, retiring a replaced one
- `teardown`: `ace down` and `--down-on-exit`
"""
