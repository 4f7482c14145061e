"""The `ace` command line.

- `client`: the entry point; runs `reconcile`, `plan`, `status`, `drift` in a worker forked
  from the command server when one serves them (built-in modules only: it runs first)
- `server`: the command server, a per-user process with ace imported that forks a worker per
  command
- `app`: `main`, and the typer app (built on first use); every command is registered here
- `fast`: `reconcile`, `plan`, `status`, `drift` run without typer (a table a test keeps equal
  to the typer declarations); help and anything unusual go to typer
- `flags`: the typer declarations of the options commands share
- `options`: error translation, settings, the state session, the engine (no typer)
- `converge`: `plan`, `reconcile`, `down`
- `stopstart`: `stop`, `start` (apps kept stopped by the user)
- `inspect`: `config`, `status`, `drift`
- `logs`: `ace logs`, one app's or all apps' logs (containers and builds), merged or followed
- `run`: `run`, `actions`
- `watch`, `serve`: the two loop commands; `loop`: what they share (proxy, signals, runner)
- `render`, `results`, `watch_view`: output for people (rich) and machines (JSON)
"""
