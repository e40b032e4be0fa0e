# praas-kit process runtime: one PraaS process per container.
#
# Build context (docker/context/, filled by `praas images build`): wheels/ holds the wheels of
# praas-kit's dependencies and their requirements.txt, praas-kit/ the praas-kit wheel. They are
# built on the host because pip inside a build cannot verify PyPI's certificate on some machines.
# Application code is mounted at /code at run time; /state is the process's state directory.
ARG BASE_IMAGE=python:3.11-slim-bookworm

# The venv is built in a stage of its own so that no wheel stays in a layer of the image. The
# dependencies come first: a change of praas-kit's code alone reuses their cached layer.
FROM ${BASE_IMAGE} AS venv
# Marks this stage's untagged image (the layer cache of the venv), which the builder prunes when a
# newer one replaces it.
LABEL praas-kit.stage=venv
COPY wheels /tmp/wheels
RUN python3 -m venv --system-site-packages /opt/praas \
 && /opt/praas/bin/pip install --no-index --no-cache-dir --disable-pip-version-check \
      --find-links /tmp/wheels --requirement /tmp/wheels/requirements.txt
COPY praas-kit /tmp/praas-kit
RUN /opt/praas/bin/pip install --no-index --no-cache-dir --disable-pip-version-check --no-deps \
      /tmp/praas-kit/*.whl \
 && /opt/praas/bin/python -c "import praas_kit, zmq; print('praas-kit', praas_kit.__version__, 'pyzmq', zmq.__version__)"

FROM ${BASE_IMAGE}
COPY --from=venv /opt/praas /opt/praas
RUN useradd --uid 10001 --user-group --create-home --home-dir /home/praas --shell /bin/sh praas \
 && mkdir -p /state /code \
 && chown praas:praas /state
ENV PATH=/opt/praas/bin:$PATH \
    PYTHONUNBUFFERED=1
USER praas
WORKDIR /home/praas
EXPOSE 8000
ENTRYPOINT ["/opt/praas/bin/python", "-m", "praas_kit.process"]
