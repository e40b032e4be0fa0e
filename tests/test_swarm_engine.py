"""Leaving a Swarm praas-kit made (:func:`praas_kit.engines.swarm.leave`), against a fake engine: the tasks'
containers go first, and a ``docker_gwbridge`` that cannot be removed is reported by what holds it."""

from __future__ import annotations

import logging
from typing import Any

import pytest

import docker
from praas_kit.engines import swarm as swarm_engine


class _Network:
    def __init__(self, engine: _Engine) -> None:
        self.engine, self.name, self.attrs = engine, swarm_engine.GWBRIDGE, {"Containers": {}}

    def reload(self) -> None:
        self.attrs = {"Containers": dict(self.engine.attached)}

    def remove(self) -> None:
        if self.engine.stale_endpoint:
            raise docker.errors.APIError("network docker_gwbridge has active endpoints")
        self.engine.gwbridge = False


class _Engine:
    """What leave() uses of a Docker SDK client, with a log of calls."""

    def __init__(self, tasks_for: int = 0, stale_endpoint: bool = False, attached: dict[str, Any] | None = None):
        self.tasks_for, self.stale_endpoint, self.attached = tasks_for, stale_endpoint, attached or {}
        self.gwbridge, self.calls = True, []
        engine = self

        class Containers:
            def list(self, all: bool, filters: dict[str, str]) -> list[str]:
                engine.calls.append("list tasks")
                engine.tasks_for -= 1
                return ["task"] if engine.tasks_for >= 0 else []

        class Swarm:
            def leave(self, force: bool) -> None:
                engine.calls.append("leave")

        class Networks:
            def get(self, name: str) -> _Network:
                if not engine.gwbridge:
                    raise docker.errors.NotFound(name)
                return _Network(engine)

        class Api:
            def inspect_network(self, name: str) -> dict[str, Any]:
                return {"Containers": dict(engine.attached)}

        self.containers, self.swarm, self.networks, self.api = Containers(), Swarm(), Networks(), Api()


@pytest.fixture(autouse=True)
def _fast(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(swarm_engine.time, "sleep", lambda s: None)


def test_the_tasks_containers_go_before_the_node_leaves_and_the_bridge_is_removed() -> None:
    engine = _Engine(tasks_for=3)
    swarm_engine.leave(engine)
    assert engine.calls == ["list tasks"] * 4 + ["leave"]
    assert engine.gwbridge is False


def test_a_stale_endpoint_on_the_bridge_is_reported_at_info(caplog: pytest.LogCaptureFixture) -> None:
    engine = _Engine(stale_endpoint=True)
    with caplog.at_level(logging.INFO, logger="praas_kit.swarm"):
        swarm_engine.leave(engine)
    assert engine.gwbridge is True
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert any("endpoint of no container" in r.getMessage() for r in caplog.records)


def test_a_bridge_with_containers_attached_is_a_warning_naming_them(caplog: pytest.LogCaptureFixture) -> None:
    engine = _Engine(attached={"abc": {"Name": "straggler"}})
    with caplog.at_level(logging.INFO, logger="praas_kit.swarm"):
        swarm_engine.leave(engine)
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert warnings and "straggler" in warnings[0]
