"""The Swarm backend (`--backend swarm`): the Engine protocol on a Docker Swarm cluster.

- `engine`: `SwarmEngine` — a service per app version, its tasks the replicas; reads are one
  service, one task and one node listing per pass
- `spec`: pure — service and job specs, names, the fingerprint of what ace set
- `attrs`: pure — service, task and node listings -> ObservedContainer values
- `mounts`: named volumes, secret files as Swarm secrets, bind mounts (one node only)
- `registry`: where built images are pushed, and the digests services are pinned to
- `images`: which references are ace's builds, which services run an image, and removing
  one (the manager's local tags only, never the registry's copy)
- `jobs`: `container.run` calls as one-off replicated jobs
- `rollout`: a service changed in place: forced updates (start, restart and its rollout), scaling
- `servicelogs`: a service's logs, as text or as timed lines
"""

from reconciler.driver.swarm.engine import SwarmEngine

__all__ = ["SwarmEngine"]
