"""What the ``swarm`` backend promises beyond the backend contract: the shape of a process's service (limits
and reservations, restart policy ``none``, ``dnsrr``, the overlay network), the address clients get (node
address : published port), a secret the runtime's user cannot read, and a task that dies reported as FAILED
instead of being restarted."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from helpers import APP_CODE, BACKEND_NEEDS, SWARM_TEST_OPTIONS, make_plane, unique

import praas_kit

pytestmark = pytest.mark.docker  # a Swarm of the Docker engine


def test_a_process_is_a_one_replica_service_with_limits_reservations_and_a_private_secret(tmp_path: Path) -> None:
    from praas_kit.backends.swarm import SECRET_TARGET

    BACKEND_NEEDS["swarm"]()
    with make_plane("swarm", tmp_path / "home") as cp:
        app = cp.create_application(unique("sw"), code=APP_CODE)
        p = app.create_process("p", vcpus=0.5, memory_mb=128)
        backend = cp.controller.backend
        rec = cp.controller.registry.get_process(app.name, "p")
        handle = rec.handle
        info = backend.inspect(handle)
        reserve = SWARM_TEST_OPTIONS["reserve"]
        assert (info["nano_cpus"], info["memory"]) == (500_000_000, 128 << 20)
        assert info["reserved_nano_cpus"] == int(500_000_000 * reserve)
        assert info["reserved_memory"] == max(4 << 20, int((128 << 20) * reserve))
        assert (info["restart"], info["endpoint_mode"]) == ("none", "dnsrr")
        assert backend.network.id in info["networks"]
        (task,) = info["tasks"]
        published = [port["PublishedPort"] for port in task["ports"] if port["TargetPort"] == 8000]
        assert task["state"] == "running" and p.address == f"tcp://{backend.node_address(task['node'])}:{published[0]}"
        assert p.invoke("echo", b"from the host").payload == b"from the host"

        # a process no node has room for is refused at once (before: the start waited 30 s for a hello)
        backend.reserve = 1.0
        t0 = time.monotonic()
        with pytest.raises(praas_kit.PraasError, match=r"reserves 16\.00 vCPU .* unreserved"):
            app.create_process("big", vcpus=16, memory_mb=128)
        assert time.monotonic() - t0 < 15
        backend.reserve = reserve
        assert app.process("big").status == "FAILED"
        assert not [s for s in backend.services() if "-big-" in s["Spec"]["Name"]]
        app.delete_process("big")

        (container,) = backend.client.containers.list(filters={"label": f"praas-kit.incarnation={rec.incarnation}"})
        as_runtime = container.exec_run(["cat", SECRET_TARGET], user=backend.run_as)
        assert as_runtime.exit_code != 0 and b"Permission denied" in as_runtime.output
        assert container.exec_run(["test", "-e", "/run/praas/secrets.json"]).exit_code != 0  # read and removed

        container.kill()  # the task dies: FAILED (the control plane removes its service), not restarted
        deadline = time.monotonic() + 15
        while app.process("p").status != "FAILED" and time.monotonic() < deadline:
            time.sleep(0.1)
        assert app.process("p").status == "FAILED"
        time.sleep(1)  # a restarted task would be running by now
        assert not backend.alive(handle)
        assert not backend.client.containers.list(filters={"label": f"praas-kit.incarnation={rec.incarnation}"})
        app.delete_process("p")
        app.delete()
