"""What the tests share that is not a fixture: the test application, the backends and what each needs, the
skip policy, and small helpers (unique names, polling, cleanup, child processes, the browser).

Test modules import from here (``from helpers import ...``; ``tests/`` is on ``sys.path`` through the
``pythonpath`` setting in ``pyproject.toml``); ``conftest.py`` holds the fixtures and hooks only.

A test that needs Docker, Redis, S3 or TeX skips with a reason on a developer machine that lacks
it (:func:`require`), but **fails** when ``PRAAS_REQUIRE_ALL=1`` (set by ``.ci/run``), so CI never skips silently.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
import uuid
from pathlib import Path

import pytest

APP_CODE = Path(__file__).parent / "apps" / "testapp.py"
BACKENDS = ["local", "docker", "swarm"]  # the backends the integration suite and the contract suite run on


def require(ok: bool, reason: str) -> None:
    """Skip (developer machine) or fail (CI, ``PRAAS_REQUIRE_ALL=1``) when ``ok`` is false."""
    if ok:
        return
    if os.environ.get("PRAAS_REQUIRE_ALL") == "1":
        pytest.fail(f"required in CI but unavailable: {reason}")
    pytest.skip(reason)


SWIFT_BINARIES = ("swift-proxy-server", "swift-account-server", "swift-container-server", "swift-object-server",
                  "memcached")


def have(*names: str) -> bool:
    """Whether every executable in ``names`` is installed (on PATH, or in /usr/bin or /usr/sbin)."""
    return all(shutil.which(n) or any(Path(d, n).exists() for d in ("/usr/bin", "/usr/sbin")) for n in names)


def children_of(pid: int) -> set[int]:
    """Pids of the live (non-zombie) processes whose parent is ``pid``."""
    found = set()
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == pid and fields[0] != "Z":
                found.add(int(entry.name))
    return found


def servers_ready(redis: bool = False, s3: bool = False) -> None:
    """Require the real Redis and/or Swift S3 servers and their Python clients (skip, or fail in CI)."""
    if redis:
        require(have("redis-server"), "redis-server is not installed")
    if s3:
        require(have(*SWIFT_BINARIES), "Swift or memcached is not installed")
    for module, needed in (("redis", redis), ("boto3", s3)):
        if needed:
            try:
                __import__(module)
            except ImportError:
                require(False, f"{module} is not installed")


def chromium() -> object:
    """A headless Debian Chromium driven by Selenium (skip, or fail in CI, when either is missing)."""
    require(have("chromium", "chromedriver"), "Debian's chromium and chromium-driver are not installed")
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service
    except ImportError:
        require(False, "selenium is not installed")
    options = webdriver.ChromeOptions()
    options.binary_location = shutil.which("chromium") or "/usr/bin/chromium"
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--window-size=1400,1000", "--disable-dev-shm-usage"):
        options.add_argument(flag)
    return webdriver.Chrome(service=Service(shutil.which("chromedriver") or "/usr/bin/chromedriver"), options=options)


def open_and_run_all(driver: object, url: str, timeout: float = 120) -> None:
    """In JupyterLab at ``url``: wait for the notebook to open and its kernel to start, then Run > Run All Cells."""
    from selenium.webdriver.common.by import By

    deadline = time.monotonic() + timeout
    driver.get(url)  # type: ignore[attr-defined]
    while not driver.find_elements(By.CSS_SELECTOR, ".jp-Notebook .jp-Cell"):  # type: ignore[attr-defined]
        assert time.monotonic() < deadline, f"the notebook at {url} did not open"
        time.sleep(0.5)
    time.sleep(3)  # the kernel starts
    menus = driver.find_elements(By.CSS_SELECTOR, ".lm-MenuBar-itemLabel")  # type: ignore[attr-defined]
    next(m for m in menus if m.text == "Run").click()
    items = driver.find_elements(By.CSS_SELECTOR, ".lm-Menu-itemLabel")  # type: ignore[attr-defined]
    next(i for i in items if i.text == "Run All Cells").click()


def docker_available() -> bool:
    if shutil.which("docker") is None:
        return False
    try:
        return subprocess.run(["docker", "info"], capture_output=True, timeout=20).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


def docker_image_exists(name: str) -> bool:
    return subprocess.run(["docker", "image", "inspect", name], capture_output=True).returncode == 0


def unique(prefix: str = "t") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def _docker_ready() -> None:
    from praas_kit.engines import images as image_names

    require(docker_available(), "no Docker engine")
    require(docker_image_exists(image_names.PROCESS), f"image {image_names.PROCESS} not built (praas images build)")


class _SwarmForTests:
    """A Swarm held for the test session (:func:`praas_kit.engines.swarm.swarm_lease`): initialised on first
    use if the engine has none, left again at the end of the session (``pytest_sessionfinish``, also when
    tests fail) if this session created it."""

    def __init__(self) -> None:
        self._lease = None
        self.error: str | None = None

    def ensure(self) -> None:
        if self._lease is not None or self.error is not None:
            return
        from praas_kit.engines import docker as docker_engine
        from praas_kit.engines import swarm as swarm_engine
        from praas_kit.errors import BackendError

        try:
            lease = swarm_engine.swarm_lease(docker_engine.connect())
            lease.__enter__()
            self._lease = lease
        except BackendError as exc:
            self.error = exc.message

    def release(self) -> None:
        if self._lease is not None:
            lease, self._lease = self._lease, None
            lease.__exit__(None, None, None)


SWARM = _SwarmForTests()


def _swarm_ready() -> None:
    _docker_ready()
    SWARM.ensure()
    require(SWARM.error is None, f"no Docker Swarm: {SWARM.error}")


#: what each backend needs on the machine (a check that skips, or fails in CI, when it is missing)
BACKEND_NEEDS = {"local": lambda: None, "docker": _docker_ready, "swarm": _swarm_ready}
#: the marks a test on each backend carries (``pytest -m "not docker"`` leaves out every test that needs Docker)
BACKEND_MARKS = {"local": (), "docker": (pytest.mark.docker,), "swarm": (pytest.mark.docker,)}
#: backend options for tests: on a 2-vCPU machine a Swarm node reserves a fraction of each process's vCPUs
SWARM_TEST_OPTIONS = {"reserve": 0.05}


def backend_params(names: list[str] | None = None) -> list:
    """``names`` (default: every backend of :data:`BACKENDS`) as pytest parameters with their backend's marks, for
    ``params=`` of a fixture or ``@pytest.mark.parametrize``."""
    return [pytest.param(n, id=n, marks=BACKEND_MARKS[n]) for n in (BACKENDS if names is None else names)]


def make_plane(backend: str, home: Path, **options):
    """An embedded control plane on ``backend`` (a client that owns it). On ``swarm``: a
    :func:`praas_kit.swarm_deployment` (the S3 server as a Swarm service, swaps to S3)."""
    from praas_kit.control.config import ControlPlaneConfig
    from praas_kit.deploy.local import start_embedded

    BACKEND_NEEDS[backend]()
    if backend == "swarm":
        from praas_kit.deploy.swarm import swarm_deployment

        options["backend_options"] = {**SWARM_TEST_OPTIONS, **options.get("backend_options", {})}
        return swarm_deployment(home=home, **options)
    return start_embedded(ControlPlaneConfig(home=home, port=0, backend=backend).with_options(**options))


def delete_app(a) -> None:
    """Delete an application and its processes, best effort (test cleanup)."""
    for p in a.processes():
        try:
            a.delete_process(p.name)
        except Exception:  # noqa: BLE001 - best-effort cleanup
            pass
    try:
        a.delete()
    except Exception:  # noqa: BLE001
        pass


def wait_for(pred, timeout: float = 15.0, interval: float = 0.05) -> bool:
    """Poll ``pred`` until it is true (True) or ``timeout`` seconds pass (False)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():
            return True
        time.sleep(interval)
    return False
