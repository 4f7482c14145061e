"""Apps' logs as timed lines, for `ace logs` and the dashboard: what the containers printed
(across replaces and restarts) and what the builds printed.

- `lines`: the `AppLine` value, its JSON, and `--since` parsing
- `buildlogs`: the build output files a pass writes (one per app, the last build) and reading them
- `follow`: an app's history and live lines across its containers; several apps merged
"""
