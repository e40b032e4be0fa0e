# A real S3-compatible server: Debian's OpenStack Swift with the s3api middleware, run by
# praas_kit.tools.services.swift_s3 (tempauth user test:tester / testing, region us-east-1, path-style).
# Its data lives in the container and is gone with it.
ARG PROCESS_IMAGE=praas-process:latest
FROM ${PROCESS_IMAGE}
USER root
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      swift-proxy swift-account swift-container swift-object memcached \
 && apt-get clean \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /
EXPOSE 9000
ENTRYPOINT ["/opt/praas/bin/python", "-m", "praas_kit.tools.services.swift_s3"]
CMD ["--port", "9000", "--host", "0.0.0.0"]
