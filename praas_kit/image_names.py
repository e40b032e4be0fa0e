"""The container images of praas-kit, named once (built by ``praas images build``)."""

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

__all__ = ["TAG", "OFFLINE_BASE", "PROCESS", "LATEX", "CONTROLPLANE", "S3", "REDIS", "JUPYTER", "ALL", "BUILD_HINT"]
