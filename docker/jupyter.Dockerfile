# JupyterLab on top of the praas-kit process venv, for the notebooks (mounted at
# /home/praas/notebooks). The token comes from the JUPYTER_TOKEN environment variable; without it
# Jupyter makes a random one and prints it in the container log.
#
# Build context: docker/context/ with jupyter-wheels/ (jupyterlab, matplotlib, ipywidgets and all
# their dependencies, resolved together with praas-kit's; filled by `praas images build`).
ARG PROCESS_IMAGE=praas-process:latest
FROM ${PROCESS_IMAGE}
USER root
COPY jupyter-wheels /tmp/jupyter-wheels
RUN /opt/praas/bin/pip install --no-index --no-cache-dir --disable-pip-version-check \
      --find-links /tmp/jupyter-wheels jupyterlab matplotlib ipywidgets \
 && rm -rf /tmp/jupyter-wheels \
 && mkdir -p /home/praas/notebooks \
 && chown praas:praas /home/praas/notebooks
# Starts as root only to give the lab user the uid of whoever owns the mounted notebooks folder (so that
# notebooks can be saved whatever the host's uid), then runs Jupyter as that user: see
# praas_kit/tools/lab_entrypoint.py.
USER root
WORKDIR /home/praas
EXPOSE 8888
ENTRYPOINT ["/opt/praas/bin/python", "-m", "praas_kit.tools.lab_entrypoint", \
            "/opt/praas/bin/jupyter", "lab", "--ip=0.0.0.0", "--port=8888", "--no-browser", \
            "--ServerApp.root_dir=/home/praas/notebooks"]
