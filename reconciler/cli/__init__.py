"""The `ace` command line.

- `app`: the typer app; every command is registered here; `main`
- `options`: options every command shares, error translation, settings, the state session
- `converge`: `plan`, `reconcile`, `down`
- `stopstart`: `stop`, `start` (apps kept stopped by the user)
- `inspect`: `config`, `status`, `drift`
- `logs`: `ace logs`, one app's or all apps' logs (containers and builds), merged or followed
- `run`: `run`, `actions`
- `watch`, `serve`: the two loop commands; `loop`: what they share (proxy, signals, runner)
- `render`, `results`, `watch_view`: output for people (rich) and machines (JSON)
"""
