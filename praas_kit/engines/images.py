"""The container images of praas-kit (built by ``praas images build``) and what a container of them looks like,
named once: the backends, deployments, benchmarks and the lab read these."""

from __future__ import annotations

TAG = "latest"
OFFLINE_BASE = "praas-base:local"  #: Debian base built without a registry (docker/build-offline-base.sh)
PROCESS = f"praas-process:{TAG}"  #: the process runtime
LATEX = f"praas-latex:{TAG}"  #: the process runtime plus TeX Live (the LaTeX application)
CONTROLPLANE = f"praas-controlplane:{TAG}"  #: ``praas serve``
S3 = f"praas-s3:{TAG}"  #: OpenStack Swift with s3api on port 9000
REDIS = f"praas-redis:{TAG}"  #: redis-server on port 6379
JUPYTER = f"praas-jupyter:{TAG}"  #: JupyterLab for the lab
ALL = (OFFLINE_BASE, PROCESS, LATEX, CONTROLPLANE, S3, REDIS, JUPYTER)
BUILD_HINT = "build it with `praas images build`"

# what a container of the process image looks like
RUNTIME_PYTHON = "/opt/praas/bin/python"  #: the interpreter of the process image
USER_ID = 10001  #: the image user's uid and gid
RUN_AS = f"{USER_ID}:{USER_ID}"  #: the user a process container runs as by default
DATA_PORT = 8000  #: the runtime's data-plane port inside its container
STATE_DIR = "/state"  #: the process's state directory inside its container
SECRETS_FILE = "/run/praas/secrets.json"  #: where a container finds its secrets (swarm: a Swarm secret)
LABEL = "praas-kit"  #: every container, network and service praas-kit creates carries this label

__all__ = ["TAG", "OFFLINE_BASE", "PROCESS", "LATEX", "CONTROLPLANE", "S3", "REDIS", "JUPYTER", "ALL", "BUILD_HINT",
           "RUNTIME_PYTHON", "USER_ID", "RUN_AS", "DATA_PORT", "STATE_DIR", "SECRETS_FILE", "LABEL"]
