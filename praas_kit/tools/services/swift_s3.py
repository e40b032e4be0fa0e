"""A real S3-compatible server: OpenStack Swift with its ``s3api`` middleware, in a temporary directory.

::

    with SwiftS3Server() as s3:
        client = s3.client()          # boto3, path-style addressing
        client.create_bucket(Bucket="b")

Everything lives in a temporary directory that is removed on exit: ``swift.conf`` with a fresh hash
path prefix and suffix, account/container/object rings with one device each (a plain directory, no
mount checks), one config file per server and their logs. The servers run as child processes:
memcached, ``swift-account-server``, ``swift-container-server``, ``swift-object-server`` and
``swift-proxy-server`` (pipeline ``catch_errors gatekeeper healthcheck proxy-logging cache
listing_formats s3api tempauth copy slo dlo proxy-logging proxy-server``, tempauth user
``test:tester`` / ``testing`` with ``.admin``).

Swift's servers always read the hash path settings and storage policies from
``/etc/swift/swift.conf`` and offer no option or environment variable to change that, so each
server is started through a small launcher that calls Swift's own ``set_swift_dir()`` for the
temporary directory before it runs the server exactly as ``swift-*-server`` would. Nothing under
``/etc`` is read or written. The proxy's launcher also builds the three rings with
``swift-ring-builder`` (its ``main()``, run in the same interpreter to save a second of start-up per
call) before the proxy loads them.

Needs Debian's ``swift-proxy swift-account swift-container swift-object memcached`` packages.
``python -m praas_kit.tools.services.swift_s3 --port 9000 --host 0.0.0.0`` runs one in the foreground
until SIGTERM/SIGINT.
"""

from __future__ import annotations

import argparse
import http.client
import json
import logging
import os
import pwd
import secrets
import socket
import tempfile
import time
from pathlib import Path
from typing import Any

from praas_kit._net import connect_host, port_open
from praas_kit.errors import BackendError
from praas_kit.storage.s3_endpoint import DEFAULT_REGION, TEST_ACCESS_KEY, TEST_SECRET_KEY, S3Endpoint
from praas_kit.tools.services._util import (
    Child,
    LocalServer,
    find_executable,
    register_live,
    remove_tree,
    run_foreground,
    stop_children,
)

log = logging.getLogger("praas_kit.tools.services.swift_s3")

__all__ = ["SwiftS3Server", "main"]

SWIFT_PACKAGES = "swift-proxy swift-account swift-container swift-object memcached"

ACCESS_KEY, SECRET_KEY, REGION = TEST_ACCESS_KEY, TEST_SECRET_KEY, DEFAULT_REGION

PROXY_PIPELINE = (
    "catch_errors gatekeeper healthcheck proxy-logging cache listing_formats s3api tempauth "
    "copy slo dlo proxy-logging proxy-server"
)

#: Started by Swift's own interpreter (the one in the ``swift-proxy-server`` script's ``#!`` line).
#: argv: SWIFT_DIR CONF_FILE APP_SECTION [RINGS_JSON]
_LAUNCHER = '''\
"""Run one Swift server with swift.conf read from SWIFT_DIR (written by praas_kit.tools.services.swift_s3)."""
import json
import os
import sys

swift_dir, conf_path, section = sys.argv[1:4]
rings = json.loads(sys.argv[4]) if len(sys.argv) > 4 else []

# Swift's own monkey patching (swift.common.utils.eventlet_monkey_patch), done first. Eventlet then
# "greens" the RLocks that already exist and runs gc.collect() once per lock, about 0.8 s in all;
# the collections only tidy up and are skipped. run_wsgi's later call finds everything patched.
import gc
import eventlet.patcher

_collect = gc.collect
gc.collect = lambda *args, **kwargs: 0
try:
    eventlet.patcher.monkey_patch(all=False, socket=True, select=True, thread=True)
finally:
    gc.collect = _collect

from swift.common import utils

utils.set_swift_dir(swift_dir)  # hash path prefix/suffix from SWIFT_DIR/swift.conf, not /etc/swift
from swift.common import constraints, storage_policy

storage_policy.reload_storage_policies()
constraints.reload_constraints()

if rings:
    from swift.cli import ringbuilder

    for ring in rings:
        builder = os.path.join(swift_dir, ring["name"] + ".builder")
        for args in (
            ["create", str(ring["part_power"]), "1", "1"],
            ["add", "--region", "1", "--zone", "1", "--ip", ring["ip"], "--port", str(ring["port"]),
             "--device", ring["device"], "--weight", "100"],
            ["rebalance"],
        ):
            try:
                ringbuilder.main(["swift-ring-builder", builder, *args])
            except SystemExit as exc:
                if exc.code not in (None, 0, 1):  # 1 = warning
                    sys.exit("swift-ring-builder %s %s failed (exit %s)" % (builder, args[0], exc.code))
    sys.stdout.flush()

from swift.common.wsgi import run_wsgi

sys.exit(run_wsgi(conf_path, section, verbose=True))
'''

_SERVERS = ("account", "container", "object")


def _swift_python() -> str:
    """The interpreter Debian's Swift scripts run with (from ``swift-proxy-server``'s ``#!`` line)."""
    script = find_executable("swift-proxy-server", SWIFT_PACKAGES)
    for name in ("swift-account-server", "swift-container-server", "swift-object-server"):
        find_executable(name, SWIFT_PACKAGES)
    try:
        with open(script, "rb") as fh:
            first = fh.readline().decode("utf-8", "replace").strip()
    except OSError as exc:
        raise BackendError(f"cannot read {script}: {exc}") from exc
    if first.startswith("#!"):
        parts = first[2:].split()
        if parts and parts[0].endswith("/env") and len(parts) > 1:
            parts = parts[1:]
        if parts:
            interp = parts[0]
            if os.path.isabs(interp):
                return interp
            return find_executable(interp, SWIFT_PACKAGES)
    return find_executable("python3", SWIFT_PACKAGES)


def _free_ports(count: int, host: str) -> list[int]:
    """``count`` distinct free ports (all bound at once so that none repeats)."""
    socks: list[socket.socket] = []
    try:
        for _ in range(count):
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            socks.append(sock)
            sock.bind(("0.0.0.0" if host in ("", "0.0.0.0") else host, 0))
        return [int(s.getsockname()[1]) for s in socks]
    finally:
        for sock in socks:
            sock.close()


class SwiftS3Server(LocalServer):
    """OpenStack Swift + ``s3api`` as child processes, configured in a temporary directory.

    Args:
        port: the proxy's (S3 endpoint's) TCP port; a free one when ``None``.
        host: address the proxy binds (the backend servers and memcached always use 127.0.0.1).
        startup_timeout: seconds to wait until a boto3 ``list_buckets`` succeeds.
        log_level: Swift's log level (its logs are in the temporary directory's ``log/``);
            ``INFO`` also logs every request.
        part_power: partition power of the rings (2**part_power partitions).
    """

    access_key = ACCESS_KEY
    secret_key = SECRET_KEY
    region = REGION

    def __init__(self, port: int | None = None, host: str = "127.0.0.1", *, startup_timeout: float = 60.0,
                 log_level: str = "WARNING", part_power: int = 6, secret_key: str | None = None) -> None:
        if secret_key is not None:
            if not secret_key or any(c.isspace() for c in secret_key):
                raise ValueError("the S3 secret key must be a non-empty word without spaces")
            self.secret_key = secret_key
        self._requested_port = port
        self.bind_host = host
        self.startup_timeout = startup_timeout
        self.log_level = log_level.upper()
        self.part_power = part_power
        self.port: int = port or 0
        self.tmpdir: Path | None = None
        self.backend_ports: dict[str, int] = {}
        self.memcached_port: int = 0
        self._children: list[Child] = []

    # -- public properties -------------------------------------------------------------------
    @property
    def host(self) -> str:
        """The address clients on this machine use (127.0.0.1 when bound to all interfaces)."""
        return connect_host(self.bind_host)

    @property
    def endpoint(self) -> str:
        """The S3 endpoint URL, ``http://HOST:PORT``."""
        return f"http://{self.host}:{self.port}"

    @property
    def s3(self) -> S3Endpoint:
        """The endpoint with this server's credentials."""
        return S3Endpoint(self.endpoint, self.access_key, self.secret_key, self.region)

    @property
    def pids(self) -> list[int]:
        """Process ids of the running children (memcached and the four Swift servers)."""
        return [c.pid for c in self._children]

    def running(self) -> bool:
        """Whether all child processes are alive."""
        return bool(self._children) and all(c.alive() for c in self._children)

    def client(self, **config: Any) -> Any:
        """A boto3 S3 client for this server (path-style addressing, signature v4).

        Keyword arguments are passed to :class:`botocore.config.Config`.
        """
        return self.s3.client(**config)

    # -- lifecycle ---------------------------------------------------------------------------
    def start(self) -> SwiftS3Server:
        """Write the configuration, start all servers and wait until S3 answers; cleans up on failure."""
        if self._children:
            raise BackendError("this SwiftS3Server is already started")
        python = _swift_python()
        memcached = find_executable("memcached", "memcached")
        register_live(self)
        try:
            attempts = 1 if self._requested_port else 2
            for attempt in range(1, attempts + 1):
                t0 = time.monotonic()
                try:
                    self._start_once(python, memcached)
                except _PortTaken as exc:
                    self._stop_children()
                    if attempt == attempts:
                        raise BackendError(f"Swift S3 server could not start: {exc}") from None
                    log.info("a port was taken (%s), retrying with other ports", exc)
                    continue
                log.info("Swift S3 server ready at %s in %.2f s", self.endpoint, time.monotonic() - t0)
                return self
            raise BackendError("Swift S3 server did not start")  # pragma: no cover
        except BaseException:
            self.stop()
            raise

    def _start_once(self, python: str, memcached: str) -> None:
        remove_tree(self.tmpdir)
        self.tmpdir = Path(tempfile.mkdtemp(prefix="praas-swift-"))
        ports = _free_ports(4, "127.0.0.1")  # memcached, account, container, object
        if self._requested_port:
            self.port = self._requested_port
            if port_open(self.host, self.port):
                raise BackendError(f"port {self.port} on {self.host} is already in use")
        else:
            self.port = _free_ports(1, self.bind_host)[0]
            while self.port in ports:  # pragma: no cover - the OS does not hand out a bound port twice
                self.port = _free_ports(1, self.bind_host)[0]
        self.memcached_port = ports[0]
        self.backend_ports = dict(zip(_SERVERS, ports[1:4], strict=True))
        self._write_config()
        assert self.tmpdir is not None
        logdir = self.tmpdir / "log"
        etc = self.tmpdir / "etc"
        launcher = str(etc / "launch.py")

        mc_argv = [memcached, "-l", "127.0.0.1", "-p", str(self.memcached_port), "-U", "0", "-m", "64",
                   "-t", "1"]
        if os.geteuid() == 0:
            mc_argv += ["-u", "root"]
        env = dict(os.environ)
        env.pop("PYTHONPATH", None)  # Swift runs with Debian's interpreter and its own modules
        env.pop("PYTHONHOME", None)
        env["PYTHONDONTWRITEBYTECODE"] = "1"
        env.setdefault("EVENTLET_NO_GREENDNS", "yes")  # dnspython (+httpx) costs ~0.6 s per server
        self._children.append(Child("memcached", mc_argv, logdir / "memcached.log", cwd=self.tmpdir))
        for server in _SERVERS:
            argv = [python, launcher, str(etc), str(etc / f"{server}-server.conf"), f"{server}-server"]
            self._children.append(Child(f"swift-{server}-server", argv, logdir / f"{server}-server.log",
                                        env=env, cwd=self.tmpdir))
        rings = [
            {"name": server, "part_power": self.part_power, "ip": "127.0.0.1", "port": port, "device": "d1"}
            for server, port in self.backend_ports.items()
        ]
        argv = [python, launcher, str(etc), str(etc / "proxy-server.conf"), "proxy-server", json.dumps(rings)]
        self._children.append(Child("swift-proxy-server", argv, logdir / "proxy-server.log", env=env,
                                    cwd=self.tmpdir))
        self._wait_ready()

    def _check_children(self) -> None:
        for child in self._children:
            if not child.alive():
                tail = child.log_tail(30)
                if "Address already in use" in tail and not (
                    child.name == "swift-proxy-server" and self._requested_port
                ):
                    raise _PortTaken(f"{child.name}: address already in use")
                raise BackendError(
                    f"{child.name} exited during startup (code {child.popen.returncode}); its log:\n{tail}"
                )

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + self.startup_timeout
        probe_client = self._probe_client()  # importing boto3 overlaps with the servers' start-up
        waiting = [("memcached", self.memcached_port)] + [
            (f"swift-{name}-server", port) for name, port in self.backend_ports.items()
        ] + [("swift-proxy-server", self.port)]
        while waiting:
            self._check_children()
            waiting = [(name, port) for name, port in waiting
                       if not port_open(self.host if name == "swift-proxy-server" else "127.0.0.1", port)]
            if not waiting:
                break
            if time.monotonic() > deadline:
                raise BackendError(self._timeout_message(f"{', '.join(n for n, _ in waiting)} not listening"))
            time.sleep(0.05)
        last_error: Exception | None = None
        while True:
            self._check_children()
            try:
                self._probe(probe_client)
                return
            except Exception as exc:  # any failure means "not ready yet"
                last_error = exc
            if time.monotonic() > deadline:
                raise BackendError(self._timeout_message(f"S3 did not answer: {last_error!r}"))
            time.sleep(0.05)

    def _probe_client(self) -> Any | None:
        """A boto3 client for readiness checks, or None without boto3."""
        try:
            return self.client(retries={"max_attempts": 1}, connect_timeout=2, read_timeout=5)
        except BackendError:
            return None

    def _probe(self, probe_client: Any | None) -> None:
        """One readiness check: boto3 ``list_buckets`` (without boto3: healthcheck and tempauth login)."""
        if probe_client is not None:
            probe_client.list_buckets()
            return
        conn = http.client.HTTPConnection(self.host, self.port, timeout=5)
        try:
            conn.request("GET", "/healthcheck")
            resp = conn.getresponse()
            resp.read()
            if resp.status != 200:
                raise BackendError(f"healthcheck answered {resp.status}")
            conn.request("GET", "/auth/v1.0", headers={"X-Auth-User": self.access_key,
                                                      "X-Auth-Key": self.secret_key})
            resp = conn.getresponse()
            resp.read()
            if resp.status // 100 != 2:
                raise BackendError(f"tempauth answered {resp.status}")
        finally:
            conn.close()

    def _timeout_message(self, what: str) -> str:
        logs = "\n".join(f"--- {c.name} ---\n{c.log_tail(10)}" for c in self._children)
        return f"Swift S3 server not ready within {self.startup_timeout} s: {what}\n{logs}"

    def _write_config(self) -> None:
        assert self.tmpdir is not None
        tmp = self.tmpdir
        etc, devices, logdir, cache = tmp / "etc", tmp / "srv", tmp / "log", tmp / "cache"
        for directory in (etc, devices / "d1", logdir, cache):
            directory.mkdir(parents=True, exist_ok=True)
        user = pwd.getpwuid(os.geteuid()).pw_name
        (etc / "launch.py").write_text(_LAUNCHER)
        (etc / "swift.conf").write_text(
            "[swift-hash]\n"
            f"swift_hash_path_prefix = {secrets.token_hex(8)}\n"
            f"swift_hash_path_suffix = {secrets.token_hex(8)}\n\n"
            "[storage-policy:0]\nname = Policy-0\ndefault = yes\n\n"
            "[swift-constraints]\n"
        )
        common = (
            "[DEFAULT]\n"
            f"swift_dir = {etc}\n"
            f"devices = {devices}\n"
            "mount_check = false\n"
            "disable_fallocate = true\n"
            "workers = 0\n"
            f"user = {user}\n"
            f"log_level = {self.log_level}\n"
            f"recon_cache_path = {cache}\n"
            "eventlet_debug = false\n"
        )
        for server in _SERVERS:
            (etc / f"{server}-server.conf").write_text(
                common
                + "bind_ip = 127.0.0.1\n"
                f"bind_port = {self.backend_ports[server]}\n"
                f"log_name = {server}-server\n\n"
                f"[pipeline:main]\npipeline = {server}-server\n\n"
                f"[app:{server}-server]\nuse = egg:swift#{server}\n"
            )
        filters = {
            "catch_errors": "catch_errors",
            "gatekeeper": "gatekeeper",
            "healthcheck": "healthcheck",
            "proxy-logging": "proxy_logging",
            "listing_formats": "listing_formats",
            "copy": "copy",
            "slo": "slo",
            "dlo": "dlo",
        }
        sections = [f"[filter:{name}]\nuse = egg:swift#{egg}\n" for name, egg in filters.items()]
        sections.append(
            f"[filter:cache]\nuse = egg:swift#memcache\nmemcache_servers = 127.0.0.1:{self.memcached_port}\n"
        )
        sections.append(
            "[filter:tempauth]\nuse = egg:swift#tempauth\n"
            f"user_{self.access_key.replace(':', '_')} = {self.secret_key} .admin\n"
        )
        sections.append(f"[filter:s3api]\nuse = egg:swift#s3api\nlocation = {self.region}\n")
        (etc / "proxy-server.conf").write_text(
            common
            + f"bind_ip = {self.bind_host}\n"
            f"bind_port = {self.port}\n"
            "log_name = proxy-server\n\n"
            f"[pipeline:main]\npipeline = {PROXY_PIPELINE}\n\n"
            "[app:proxy-server]\nuse = egg:swift#proxy\naccount_autocreate = true\n"
            "allow_account_management = true\n\n"
            + "\n".join(sections)
        )

    def _stop_children(self) -> None:
        if self._children:
            # The proxy first, so that no request reaches a backend that is going away.
            stop_children(list(reversed(self._children)))
            self._children = []

    def __repr__(self) -> str:
        state = "running" if self.running() else "stopped"
        return f"SwiftS3Server({self.endpoint}, {state})"


class _PortTaken(Exception):
    """A server lost the race for its port; the start is retried with other ports."""


def main(argv: list[str] | None = None) -> int:
    """Run the Swift S3 server in the foreground until SIGTERM/SIGINT."""
    parser = argparse.ArgumentParser(prog="python -m praas_kit.tools.services.swift_s3", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--port", type=int, default=9000,
                        help="S3 endpoint port (default 9000; 0 = any free port)")
    parser.add_argument("--host", default="127.0.0.1",
                        help="address the S3 endpoint binds (default 127.0.0.1)")
    parser.add_argument("--secret-key-file", default=os.environ.get("PRAAS_S3_SECRET_KEY_FILE"),
                        help="file holding the secret key of test:tester (e.g. a Swarm secret; default: "
                             "$PRAAS_S3_SECRET_KEY_FILE, else Swift's well-known test key)")
    parser.add_argument("--swift-log-level", default="WARNING", help="Swift's log level (default WARNING)")
    parser.add_argument("--log-level", default="INFO", help="logging level of this wrapper (default INFO)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=args.log_level.upper(), format="%(asctime)s %(name)s %(levelname)s %(message)s")
    secret = Path(args.secret_key_file).read_text().strip() if args.secret_key_file else None
    server = SwiftS3Server(port=args.port or None, host=args.host, log_level=args.swift_log_level, secret_key=secret)
    shown = "from " + args.secret_key_file if secret else repr(server.secret_key)
    return run_foreground(
        server.start, server.running, server.stop,
        lambda: f"S3 {server.endpoint} bound to {server.bind_host} "
                f"(access key {server.access_key!r}, secret {shown}, region {server.region})",
    )


if __name__ == "__main__":
    raise SystemExit(main())
