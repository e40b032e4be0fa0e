# praas-kit control plane (REST API on port 8080). It starts processes through the Docker engine
# whose socket is mounted at /var/run/docker.sock, so it runs as root.
ARG PROCESS_IMAGE=praas-process:latest
FROM ${PROCESS_IMAGE}
USER root
WORKDIR /var/lib/praas
EXPOSE 8080
ENTRYPOINT ["/opt/praas/bin/praas", "serve"]
CMD ["--host", "0.0.0.0", "--port", "8080"]
