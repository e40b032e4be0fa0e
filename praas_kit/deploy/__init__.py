"""Deployments: a control plane started from Python and owned by the client that started it.

* :func:`local` (:mod:`praas_kit.deploy.local`): embedded control plane, ``local`` backend.
* :func:`docker_deployment` (:mod:`praas_kit.deploy.docker`): ``docker`` backend plus S3 and Redis
  containers.
* :func:`swarm_deployment` (:mod:`praas_kit.deploy.swarm`): ``swarm`` backend plus S3 and Redis Swarm
  services (a single-node Swarm initialised and left again if the engine is in none).

All return an :class:`~praas_kit.deploy.local.EmbeddedClient`: an SDK client whose ``close()`` (or
the end of its ``with`` block) stops everything the deployment started. The SDK never imports this
package; :mod:`praas_kit` loads it lazily when ``praas_kit.local`` or ``praas_kit.docker_deployment``
(or ``praas_kit.swarm_deployment``) is first used.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from praas_kit._lazy import lazy_exports

if TYPE_CHECKING:
    from praas_kit.deploy.docker import DockerDeployment, docker_deployment
    from praas_kit.deploy.local import EmbeddedClient, local
    from praas_kit.deploy.swarm import SwarmDeployment, swarm_deployment

__all__ = ["local", "EmbeddedClient", "docker_deployment", "DockerDeployment", "swarm_deployment", "SwarmDeployment"]

__getattr__ = lazy_exports(__name__, {
    "local": "praas_kit.deploy.local", "EmbeddedClient": "praas_kit.deploy.local",
    "docker_deployment": "praas_kit.deploy.docker", "DockerDeployment": "praas_kit.deploy.docker",
    "swarm_deployment": "praas_kit.deploy.swarm", "SwarmDeployment": "praas_kit.deploy.swarm",
})
