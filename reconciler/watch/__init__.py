"""`ace watch`: the ordinary pass, run again whenever something may have changed.

- `loop`: the loop (`Watch`): triggers, the state lock, engine outages, health marks
- `files`: which file events matter (build contexts, .dockerignore, app and apps files)
- `backoff`: per-app retry backoff, crash-loop bookkeeping and health-probe counts (pure)
- `idle`: idle shutdown and lazy start rules on the proxy's traffic counters (pure)
- `sleeper`: the loop's sleeping apps: kept asleep, woken on request, recorded in the store
- `reporter`: the Reporter protocol the loop talks to, and the table rows it builds
"""
