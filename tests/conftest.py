"""Fixtures and hooks only: embedded control planes per backend, the test application, the module's own control
plane (``cp``), the Docker mark of Docker backends, and the CI guard against skipped tests.

What the tests share otherwise (the test application, the backends and what they need, :func:`helpers.require`
and the other helpers) lives in ``helpers.py``. A test that needs Docker, Redis, S3 or TeX skips with a reason on a
developer machine that lacks it, but **fails** when ``PRAAS_REQUIRE_ALL=1`` (set by ``.ci/run``), so CI never
skips silently.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
from helpers import APP_CODE, BACKEND_MARKS, SWARM, backend_params, delete_app, make_plane, unique


@pytest.fixture(scope="session", params=backend_params())
def backend(request) -> str:
    return request.param


@pytest.fixture(scope="session")
def plane(backend, tmp_path_factory) -> Iterator:
    """One control plane per backend for the whole session (tests use their own applications)."""
    home = tmp_path_factory.mktemp(f"cp-{backend}")
    with make_plane(backend, home) as cp:
        yield cp


@pytest.fixture
def app(plane) -> Iterator:
    """A fresh application with the test code; its processes are deleted afterwards."""
    a = plane.create_application(unique("app"), code=APP_CODE)
    yield a
    delete_app(a)


#: the options of every ``cp`` control plane (as ``praas_kit.local()``: the token in memory, no token file)
CP_DEFAULTS = {"token_file": False}


@pytest.fixture(scope="module")
def cp(request, tmp_path_factory) -> Iterator:
    """A control plane of the test module's own (a client that owns it), for tests that name their applications
    freely or need options the shared ``plane`` does not have; it stops after the module.

    On the ``local`` backend, unless the module sets ``CP_BACKENDS`` (e.g. ``CP_BACKENDS = BACKENDS``: the tests
    then run once per backend, see :func:`pytest_generate_tests`); with :data:`CP_DEFAULTS` and the module's
    ``CP_OPTIONS`` (a dict of control-plane options)."""
    backend = getattr(request, "param", "local")
    options = {**CP_DEFAULTS, **getattr(request.module, "CP_OPTIONS", {})}
    with make_plane(backend, tmp_path_factory.mktemp(f"cp-{backend}"), **options) as client:
        yield client


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """``cp`` once per backend of the module's ``CP_BACKENDS`` (the Docker ones marked ``docker``)."""
    backends = getattr(metafunc.module, "CP_BACKENDS", None)
    if backends is not None and "cp" in metafunc.fixturenames:
        metafunc.parametrize("cp", backend_params(list(backends)), indirect=True, scope="module")


@pytest.hookimpl(tryfirst=True)  # before ``-m`` deselects by mark
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """A test parametrised with ``backend`` gets that backend's marks (``docker`` for docker and swarm) also where
    the parametrisation names it as a plain string, so that ``-m "not docker"`` never needs a Docker engine."""
    for item in items:
        callspec = getattr(item, "callspec", None)
        name = callspec.params.get("backend") if callspec is not None else None
        for mark in BACKEND_MARKS.get(name, ()) if isinstance(name, str) else ():
            if item.get_closest_marker(mark.name) is None:
                item.add_marker(mark)


def pytest_sessionfinish(session, exitstatus):
    """Leave a Swarm this session created. In CI (``PRAAS_REQUIRE_ALL=1``) any skipped test fails the run:
    nothing is skipped silently."""
    SWARM.release()
    if os.environ.get("PRAAS_REQUIRE_ALL") != "1":
        return
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    skipped = reporter.stats.get("skipped", []) if reporter else []
    if skipped:
        reporter.write_line(f"PRAAS_REQUIRE_ALL=1: {len(skipped)} test(s) skipped; failing the run", red=True)
        session.exitstatus = 1
