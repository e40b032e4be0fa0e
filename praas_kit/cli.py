"""The ``praas`` command line: serve a control plane, manage applications and processes, invoke, swap.

Client commands find the control plane through ``--url``/``--token``, ``PRAAS_URL``/``PRAAS_TOKEN``,
or what ``praas serve`` recorded in ``~/.praas`` (``PRAAS_HOME``).
"""

from __future__ import annotations

import json
import logging
import sys
from pathlib import Path
from typing import Any

import typer

from praas_kit.errors import PraasError

app = typer.Typer(help="praas-kit: Process-as-a-Service. Serve a control plane and drive it.",
                  no_args_is_help=True, pretty_exceptions_enable=False)
apps_cli = typer.Typer(help="Applications: create, list, show, delete.", no_args_is_help=True)
procs_cli = typer.Typer(help="Processes: create, list, show, swap, swapin, stop, delete.", no_args_is_help=True)
images_cli = typer.Typer(help="Container images: build them (from scratch, offline base).", no_args_is_help=True)
app.add_typer(apps_cli, name="apps")
app.add_typer(procs_cli, name="processes")
app.add_typer(images_cli, name="images")

Url = typer.Option(None, "--url", envvar="PRAAS_URL", help="control-plane URL (default: recorded by `praas serve`)")
Token = typer.Option(None, "--token", envvar="PRAAS_TOKEN", help="bearer token (default: ~/.praas/token)")


def _client(url: str | None, token: str | None) -> Any:
    from praas_kit.sdk.client import connect

    return connect(url, token)


def _out(obj: Any) -> None:
    typer.echo(json.dumps(obj, indent=2, default=str))


def _run(fn: Any) -> None:
    try:
        fn()
    except PraasError as exc:
        typer.secho(f"error: {type(exc).__name__}: {exc}", fg="red", err=True)
        raise typer.Exit(1) from None


@app.command()
def serve(
    host: str = typer.Option("127.0.0.1", help="HTTP interface to listen on"),
    port: int = typer.Option(8080, help="HTTP port"),
    home: Path | None = typer.Option(None, envvar="PRAAS_HOME", help="registry, token and swaps (~/.praas)"),
    backend: str = typer.Option("local", envvar="PRAAS_BACKEND", help="compute backend: local or docker"),
    idle_seconds: float | None = typer.Option(None, help="swap processes idle this long (downscaler)"),
    function_workers: int = typer.Option(2, help="worker threads per process"),
    log_level: str = typer.Option("INFO", help="logging level"),
) -> None:
    """Run a control plane in the foreground (Ctrl-C stops it and its processes)."""
    logging.basicConfig(level=log_level, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    from praas_kit.control.config import ControlPlaneConfig
    from praas_kit.control.server import ControlPlane

    cfg = ControlPlaneConfig.from_env(host=host, port=port, home=home, backend=backend, idle_seconds=idle_seconds,
                                      function_workers=function_workers)

    def go() -> None:
        plane = ControlPlane(cfg)
        typer.echo(f"praas control plane at {plane.url}\n  OpenAPI: {plane.url}/docs ({plane.url}/openapi.json)\n"
                   f"  token:   {cfg.home / 'token'}")
        plane.serve_forever()

    _run(go)


@app.command()
def deploy(swap: str = typer.Option("s3", help="swap store: s3 (a Swift container) or dir"),
           redis: bool = typer.Option(False, help="also start a Redis container"),
           home: Path | None = typer.Option(None, help="registry, token and swaps (a temporary directory)"),
           idle_seconds: float | None = typer.Option(None, help="swap processes idle this long")) -> None:
    """Deploy in Docker (control plane with the docker backend + storage containers) until Ctrl-C."""
    import signal
    import threading

    logging.basicConfig(level="WARNING")
    from praas_kit.deploy import docker_deployment

    def go() -> None:
        with docker_deployment(swap=swap, redis=redis, home=home, idle_seconds=idle_seconds) as cp:
            typer.echo(json.dumps({"url": cp.url, "token": cp.token, "docs": f"{cp.url}/docs",
                                   "s3": cp.storage.s3_endpoint, "redis": cp.storage.redis_host}, indent=2))
            typer.echo("connect with: PRAAS_URL=<url> PRAAS_TOKEN=<token> praas apps list   (Ctrl-C stops all)")
            done = threading.Event()
            signal.signal(signal.SIGTERM, lambda *_: done.set())
            try:
                done.wait()
            except KeyboardInterrupt:
                pass

    _run(go)


@app.command()
def info(url: str | None = Url, token: str | None = Token) -> None:
    """Show the control plane's URL, health, OpenAPI document and where the token lives."""
    from praas_kit.control.config import default_home

    def go() -> None:
        with _client(url, token) as cp:
            _out({"url": cp.url, "health": cp.healthz(), "openapi": cp.openapi_url(), "docs": f"{cp.url}/docs",
                  "token_file": str(default_home() / "token")})

    _run(go)


@apps_cli.command("create")
def app_create(name: str, code: Path | None = typer.Option(None, help="module (.py) or package directory"),
               image: str | None = typer.Option(None, help="container image (docker backend)"),
               vcpus: float | None = None, memory_mb: int | None = None,
               workers: int | None = typer.Option(None, help="function workers per process"),
               url: str | None = Url, token: str | None = Token) -> None:
    """Create an application."""
    _run(lambda: _out(_client(url, token).create_application(
        name, code=code, image=image, vcpus=vcpus, memory_mb=memory_mb, function_workers=workers).describe()))


@apps_cli.command("list")
def app_list(url: str | None = Url, token: str | None = Token) -> None:
    """List applications."""
    _run(lambda: _out(_client(url, token).applications()))


@apps_cli.command("show")
def app_show(name: str, url: str | None = Url, token: str | None = Token) -> None:
    """Describe an application."""
    _run(lambda: _out(_client(url, token).application(name).describe()))


@apps_cli.command("delete")
def app_delete(name: str, url: str | None = Url, token: str | None = Token) -> None:
    """Delete an application (it must have no processes)."""
    _run(lambda: _client(url, token).application(name).delete())


@procs_cli.command("create")
def proc_create(app_name: str, name: str, vcpus: float | None = None, memory_mb: int | None = None,
                url: str | None = Url, token: str | None = Token) -> None:
    """Create a process (waits until it is ALLOCATED)."""
    _run(lambda: _out(_client(url, token).application(app_name).create_process(name, vcpus, memory_mb).info))


@procs_cli.command("list")
def proc_list(app_name: str, url: str | None = Url, token: str | None = Token) -> None:
    """List an application's processes."""
    _run(lambda: _out(_client(url, token).application(app_name).processes()))


@procs_cli.command("show")
def proc_show(app_name: str, name: str, url: str | None = Url, token: str | None = Token) -> None:
    """Describe a process (status, address, metrics, snapshots)."""
    _run(lambda: _out(_client(url, token).application(app_name).process(name).info))


@procs_cli.command("swap")
def proc_swap(app_name: str, name: str, url: str | None = Url, token: str | None = Token) -> None:
    """Swap a process out to the swap store."""
    _run(lambda: _out(_client(url, token).application(app_name).process(name).swap()))


@procs_cli.command("swapin")
def proc_swapin(app_name: str, name: str, url: str | None = Url, token: str | None = Token) -> None:
    """Swap a process in from its newest snapshot."""
    _run(lambda: _out(_client(url, token).application(app_name).swapin(name).info))


@procs_cli.command("stop")
def proc_stop(app_name: str, name: str, url: str | None = Url, token: str | None = Token) -> None:
    """Stop a process (state discarded)."""
    _run(lambda: _client(url, token).application(app_name).process(name).stop())


@procs_cli.command("delete")
def proc_delete(app_name: str, name: str, url: str | None = Url, token: str | None = Token) -> None:
    """Delete a process and its snapshots."""
    _run(lambda: _client(url, token).application(app_name).delete_process(name))


@app.command()
def invoke(app_name: str, function: str,
           data: str = typer.Argument("", help="payload; '-' reads standard input, '@file' reads a file"),
           process: str | None = typer.Option(None, "--process", "-p", help="sticky: run in this process"),
           direct: bool = typer.Option(False, help="invoke the process directly over the data plane"),
           url: str | None = Url, token: str | None = Token) -> None:
    """Invoke a function and print its result."""
    payload = sys.stdin.buffer.read() if data == "-" else Path(data[1:]).read_bytes() if data.startswith("@") \
        else data.encode()

    def go() -> None:
        a = _client(url, token).application(app_name)
        if direct:
            if not process:
                raise typer.BadParameter("--direct needs --process")
            res = a.process(process).invoke(function, payload)
        else:
            res = a.invoke(function, payload, process=process)
        sys.stdout.buffer.write(res.payload)
        if res.payload and not res.payload.endswith(b"\n"):
            sys.stdout.buffer.write(b"\n")

    _run(go)


@images_cli.command("build")
def images_build(only: list[str] | None = typer.Option(None, "--only", help="build just these images"),
                 force: bool = typer.Option(False, help="rebuild even if up to date"),
                 base: str | None = typer.Option(None, help="base image (default: public, else offline)")) -> None:
    """Build the container images (skips those up to date)."""
    from praas_kit import images

    def go() -> None:
        for r in images.build_images(only or None, base=base, force=force):
            typer.echo(f"{r.name:22s} {'built' if r.built else 'up to date':10s} {r.seconds:7.1f} s "
                       f"{r.size_bytes / 1e6:8.1f} MB")

    _run(go)


@app.command()
def bench(quick: bool = typer.Option(True, "--quick/--full", help="quick mode (fewer repetitions)"),
          out: Path = typer.Option(Path("results"), help="directory for CSV + metadata"),
          backend: str = typer.Option("local", help="local or docker")) -> None:
    """Run the runtime micro-benchmarks and save CSV + metadata (the kit's main job)."""
    logging.basicConfig(level="WARNING")
    if backend == "docker":
        from praas_kit.bench.docker import run_docker_benchmarks

        _run(lambda: run_docker_benchmarks(out, quick=quick))
    else:
        from praas_kit.bench.core import run_core_benchmarks

        _run(lambda: run_core_benchmarks(out, quick=quick, backend=backend))


def main() -> None:
    app()


if __name__ == "__main__":
    main()
