"""The pure core: values in, values out. No engine, no database, no clock, no logging.

- `types`: frozen desired/observed state, steps, plans, labels; the current-container rule
- `hashing`: content hashes of build inputs and container specs (file digests cached by stat;
  FIFOs, sockets and devices never opened)
- `dockerignore`: the .dockerignore matcher hashing and watching share
- `desired`: evaluated apps -> DesiredState (image tags, container versions, names)
- `changes`: what differs between an applied and a declared container spec, as values
- `planner`: desired x observed x recorded -> Plan, with a cause per step and a reason per no-op
- `gc`: the plan's `remove_image` steps: an app's images beyond its last N versions
- `report`: `ace status` rows (held apps from what runs) and `ace drift` items from one observation
- `cluster`: their cluster part (replicas, tasks, drift of services changed by hand)
"""
