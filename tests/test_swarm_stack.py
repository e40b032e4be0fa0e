"""``docker/stack.yaml``: it parses (``docker stack config``), and deployed on the test session's single-node
Swarm (published ports moved to free ones, a network and stack name of the test's own) its control plane runs the
swarm backend from a container: a process it creates is ALLOCATED at a node address and answers on its data
plane. Everything the stack and its control plane started is removed afterwards, also when the test fails."""

from __future__ import annotations

import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from helpers import BACKEND_NEEDS, docker_image_exists, require

STACK = Path(__file__).resolve().parents[1] / "docker" / "stack.yaml"

pytestmark = pytest.mark.docker  # `docker stack` on the session's Swarm


def _docker(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["docker", *args], capture_output=True, text=True, timeout=timeout)


def test_stack_file_parses() -> None:
    BACKEND_NEEDS["swarm"]()
    done = _docker("stack", "config", "-c", str(STACK))
    require(done.returncode == 0 or "unknown command" not in done.stderr, "this docker CLI has no `stack config`")
    assert done.returncode == 0, done.stderr
    import yaml

    config = yaml.safe_load(done.stdout)
    services = config["services"]
    assert set(services) == {"s3", "redis", "controlplane"}
    assert config["networks"]["praas"]["attachable"] is True
    for service in services.values():
        assert service["deploy"]["endpoint_mode"] == "dnsrr"
    assert not services["s3"].get("ports") and not services["redis"].get("ports")  # the overlay network only
    assert all(p["mode"] == "host" for p in services["controlplane"]["ports"])
    assert services["controlplane"]["environment"]["PRAAS_BACKEND"] == "swarm"
    env = {k: str(v) for s in services.values() for k, v in s.get("environment", {}).items()}
    assert "PRAAS_S3_SECRET_KEY" not in env and "testing" not in env.values()  # no well-known credential
    assert all(s.get("external") for s in config["secrets"].values())


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[dict[str, Any]]:
    """The stack deployed under a name, network and ports of its own; removed with everything it started."""
    import yaml

    from praas_kit._net import free_port
    from praas_kit.deploy.swarm import remove_services
    from praas_kit.engines import docker as docker_engine
    from praas_kit.engines import images as image_names

    BACKEND_NEEDS["swarm"]()
    for image in (image_names.S3, image_names.REDIS, image_names.CONTROLPLANE):
        require(docker_image_exists(image), f"image {image} not built (praas images build)")
    tag = uuid.uuid4().hex[:6]
    name, network = f"praas-test-{tag}", f"praas-swarm-{tag}"
    config = yaml.safe_load(STACK.read_text())
    config["networks"]["praas"]["name"] = network
    config["services"]["controlplane"]["environment"]["PRAAS_SWARM_NETWORK"] = network
    config["services"]["controlplane"]["environment"]["PRAAS_SWARM_RESERVE"] = "0.05"
    ports = {}
    for service, spec in config["services"].items():
        for port in spec.get("ports", []):  # every published port its own (the control plane's REST and gateway)
            port["published"] = free_port()
            ports.setdefault(service, port["published"])
    client = docker_engine.connect()
    secrets = {}
    for secret in config["secrets"]:  # the operator's generated credentials, under names of the test's own
        secrets[secret] = {"name": f"{secret}-{tag}", "value": uuid.uuid4().hex}
        client.secrets.create(name=secrets[secret]["name"], data=secrets[secret]["value"].encode())
        config["secrets"][secret] = {"external": True, "name": secrets[secret]["name"]}
    path = tmp_path / "stack.yaml"
    path.write_text(yaml.safe_dump(config))
    try:
        done = _docker("stack", "deploy", "--resolve-image", "never", "-c", str(path), name, timeout=120)
        assert done.returncode == 0, done.stderr
        yield {"name": name, "ports": ports, "client": client, "secrets": secrets}
    finally:
        _docker("stack", "rm", name)
        left = [s["ID"] for s in client.api.services(filters={"label": "praas-kit.app"})
                if s["Spec"]["Labels"].get("praas-kit.app", "").startswith(f"stack-{tag}")]
        stack_services = [s["ID"] for s in client.api.services(filters={"label": f"com.docker.stack.namespace={name}"})]
        remove_services(client, left + stack_services)
        from praas_kit.deploy.swarm import remove_overlay

        for net in client.networks.list(names=[network]):
            remove_overlay(net)
        _remove_when_unused(lambda: client.volumes.get(f"{name}_praas-home"))
        for secret in secrets.values():
            _remove_when_unused(lambda n=secret["name"]: client.secrets.get(n))
        client.close()


def _remove_when_unused(get: Any, timeout: float = 60) -> None:
    """Remove the object ``get()`` returns (a secret, a volume) once no service or container of the stack uses
    it any more; nothing if it is gone."""
    import docker

    deadline = time.monotonic() + timeout
    while True:
        try:
            get().remove()
            return
        except docker.errors.NotFound:
            return
        except docker.errors.APIError:  # still in use by a task that is stopping
            if time.monotonic() > deadline:
                raise
            time.sleep(1)


def test_stack_redis_wants_the_generated_password(stack: dict[str, Any]) -> None:
    client, deadline = stack["client"], time.monotonic() + 90
    service = f"com.docker.swarm.service.name={stack['name']}_redis"
    while not (found := client.containers.list(filters={"label": service})):
        assert time.monotonic() < deadline, "the redis task did not start"
        time.sleep(0.5)
    password = stack["secrets"]["praas-redis-password"]["value"]
    while (pong := found[0].exec_run(["redis-cli", "-a", password, "--no-auth-warning", "ping"])).exit_code != 0 \
            or b"PONG" not in pong.output:
        assert time.monotonic() < deadline, pong.output
        time.sleep(0.5)
    assert b"NOAUTH" in found[0].exec_run(["redis-cli", "ping"]).output
    assert b"WRONGPASS" in found[0].exec_run(["redis-cli", "-a", "guess", "--no-auth-warning", "ping"]).output


def test_stack_deploys_a_control_plane_that_runs_processes(stack: dict[str, Any]) -> None:
    import httpx

    import praas_kit

    client, port = stack["client"], stack["ports"]["controlplane"]
    deadline = time.monotonic() + 90
    # a stack has no depends_on: wait for the control plane (S3 is waited for below, through a swap)
    while True:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=2).status_code == 200:
                break
        except httpx.HTTPError:
            pass
        assert time.monotonic() < deadline, _docker("service", "logs", f"{stack['name']}_controlplane").stdout[-3000:]
        time.sleep(0.5)
    for service in ("s3", "redis"):  # reachable on the overlay network only
        (spec,) = client.api.services(filters={"name": f"{stack['name']}_{service}"})
        assert not spec.get("Endpoint", {}).get("Ports"), spec["Endpoint"]
    service = f"com.docker.swarm.service.name={stack['name']}_controlplane"
    (container,) = client.containers.list(filters={"label": service})
    token = container.exec_run(["cat", "/var/lib/praas/token"]).output.decode().strip()
    with praas_kit.connect(f"http://127.0.0.1:{port}", token=token) as cp:
        app = cp.create_application(f"stack-{stack['name'].rsplit('-', 1)[1]}", code=None)
        p = app.create_process("p", vcpus=0.5, memory_mb=128)
        try:
            assert p.status == "ALLOCATED" and p.address.startswith("tcp://")
            assert praas_kit.Status.ALLOCATED.value == app.process("p").status
            with pytest.raises(praas_kit.FunctionNotFound):  # the host reaches it over the data plane
                p.invoke("no-such-function")
            while True:  # a swap to S3 over the overlay network, with the generated secret key
                try:
                    p.swap()
                    break
                except praas_kit.PraasError as exc:
                    assert time.monotonic() < deadline + 60, exc
                    time.sleep(1)
            assert app.swapin("p").status == "ALLOCATED"
        finally:
            app.delete_process("p")
            app.delete()
