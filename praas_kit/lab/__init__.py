"""What the notebooks share, on the public SDK, deploy and bench API only.

* :mod:`~praas_kit.lab.parameters`: a notebook's parameters (quick mode, the backend) from the environment,
  the shipped examples, where results go;
* :mod:`~praas_kit.lab.deployments`: a control plane per backend, the control plane as a container, the
  containers praas-kit started;
* :mod:`~praas_kit.lab.environment`: what this machine offers the series;
* :mod:`~praas_kit.lab.scaleout`: notebook 08 (Docker Swarm, or the local backend where Swarm cannot be used);
* :mod:`~praas_kit.lab.widgets`: the ipywidgets process explorer; :mod:`~praas_kit.lab.notebooks`: the series
  runner (``praas notebooks``).

``from praas_kit import lab`` gives the names of the first four (``lab.deployment``, ``lab.EXAMPLES`` ...).
"""

from __future__ import annotations

from praas_kit.lab.deployments import containers, control_plane_container, deployment
from praas_kit.lab.environment import Component, environment, environment_table
from praas_kit.lab.parameters import BACKENDS, EXAMPLES, default_backend, default_quick, docker_ready, results_dir
from praas_kit.lab.scaleout import (
    leftovers,
    save_kmeans_runs,
    scale_out_backend,
    scale_out_storage,
    swarm_ready,
    swarm_services,
)

__all__ = ["default_quick", "default_backend", "docker_ready", "containers", "EXAMPLES", "deployment", "results_dir",
           "environment", "environment_table", "Component", "BACKENDS", "swarm_ready", "scale_out_backend",
           "scale_out_storage", "swarm_services", "leftovers", "save_kmeans_runs", "control_plane_container"]
