"""The ``praas`` command line: serve a control plane, manage applications and processes, invoke, swap.

Client commands find the control plane through ``--url``/``--token``, ``PRAAS_URL``/``PRAAS_TOKEN``,
or what ``praas serve`` recorded in ``~/.praas`` (``PRAAS_HOME``).

Exit codes (:data:`EXIT_CODES`): 0 success, 1 any other error, 2 a usage error, 3 unauthorized, 4 not found
(application, process, function), 5 the control plane unreachable, 6 a function that failed, 7 a benchmark
whose targets were missed (``praas bench --check``).
"""

from __future__ import annotations

import json
import logging
import sys
from dataclasses import asdict
from pathlib import Path
from typing import Any

import typer

from praas_kit.cli_output import new_lines_start, show
from praas_kit.errors import (
    ControlPlaneUnreachable,
    InvalidArgument,
    InvocationError,
    NotFound,
    PraasError,
    Unauthorized,
)

app = typer.Typer(help="praas-kit: Process-as-a-Service. Serve a control plane and drive it.",
                  no_args_is_help=True, pretty_exceptions_enable=False)
_state: dict[str, Any] = {"verbose": False, "output": "auto"}
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
    """Print a command's answer as ``-o`` says (:func:`praas_kit.cli_output.show`)."""
    show(obj, _state["output"])


#: the exit code of a command that ends with one of these errors (the first that matches; else 1)
EXIT_CODES: tuple[tuple[type[PraasError], int], ...] = ((Unauthorized, 3), (NotFound, 4), (ControlPlaneUnreachable, 5),
                                                      (InvocationError, 6))
EXIT_MISSED = 7  #: ``praas bench --check``: a target was missed


def _run(fn: Any) -> None:
    """Run a command body; a :class:`PraasError` becomes one red line (the remote traceback with --verbose) and
    the exit code of its kind (:data:`EXIT_CODES`)."""
    try:
        fn()
    except PraasError as exc:
        remote = getattr(exc, "remote_type", None)
        name = f"InvocationError ({remote})" if remote else type(exc).__name__
        typer.secho(f"error: {name}: {exc.message}", fg="red", err=True)
        if exc.traceback:
            if _state["verbose"]:
                typer.echo(f"--- remote traceback ---\n{exc.traceback}", err=True)
            else:
                typer.echo("(the remote traceback is shown with: praas --verbose ...)", err=True)
        raise typer.Exit(next((code for kind, code in EXIT_CODES if isinstance(exc, kind)), 1)) from None
    except OSError as exc:  # a file or folder the command needs: one line, not a traceback
        typer.secho(f"error: {type(exc).__name__}: {exc}", fg="red", err=True)
        raise typer.Exit(1) from None


def _version(show: bool) -> None:
    if show:
        from praas_kit import __version__

        typer.echo(f"praas-kit {__version__}")
        raise typer.Exit()


@app.callback()
def _main(verbose: bool = typer.Option(False, "--verbose", "-v", help="show remote tracebacks of errors (also "
                                       "accepted after the command)"),
          version: bool = typer.Option(False, "--version", callback=_version, is_eager=True,
                                       help="print the version and exit"),
          output: str = typer.Option("auto", "--output", "-o", help="answers as a table or json (auto: a table "
                                     "on a terminal, JSON when piped)")) -> None:
    if output not in ("auto", "table", "json"):
        raise typer.BadParameter(f"--output must be auto, table or json, not {output!r}")
    _state["verbose"], _state["output"] = verbose, output


@app.command()
def serve(
    host: str = typer.Option("127.0.0.1", help="HTTP interface to listen on"),
    port: int = typer.Option(8080, help="HTTP port"),
    home: Path | None = typer.Option(None, envvar="PRAAS_HOME", help="registry, token and swaps (~/.praas)"),
    backend: str = typer.Option("local", envvar="PRAAS_BACKEND", help="compute backend: local, docker or swarm"),
    idle_seconds: float | None = typer.Option(None, help="swap processes idle this long (downscaler)"),
    function_workers: int = typer.Option(2, help="worker threads per process"),
    log_level: str = typer.Option("INFO", help="logging level"),
    fast_stop: bool = typer.Option(False, "--fast-stop",
                                   help="on Ctrl-C/SIGTERM stop the processes at once (their state is discarded) "
                                        "instead of swapping them out"),
) -> None:
    """Run a control plane in the foreground. Ctrl-C or SIGTERM swaps out every running process, then stops
    (a restart brings them back with their state); --fast-stop stops them at once."""
    logging.basicConfig(level=log_level, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    from praas_kit.control.config import ControlPlaneConfig
    from praas_kit.control.server import ControlPlane

    def go() -> None:
        cfg = ControlPlaneConfig.from_env(host=host, port=port, home=home, backend=backend,
                                          idle_seconds=idle_seconds, function_workers=function_workers)
        plane = ControlPlane(cfg, console=True)
        typer.echo(f"praas control plane at {plane.url}\n  OpenAPI: {plane.url}/docs ({plane.url}/openapi.json)\n"
                   f"  token:   {cfg.home / 'token'}\n  Ctrl-C: "
                   + ("stops every process (state discarded)" if fast_stop else
                      "swaps out every running process, then stops"))
        plane.serve_forever(swap_out=not fast_stop, report=lambda line: typer.echo(line, err=True))

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
    from praas_kit.deploy.docker import docker_deployment

    def go() -> None:
        with docker_deployment(swap=swap, redis=redis, home=home, idle_seconds=idle_seconds) as cp:
            typer.echo(json.dumps({"url": cp.url, "token": cp.token, "docs": f"{cp.url}/docs", "network": cp.network,
                                   "s3": cp.storage.s3_endpoint, "redis": cp.storage.redis_url}, indent=2))
            typer.echo("connect with: PRAAS_URL=<url> PRAAS_TOKEN=<token> praas apps list   (Ctrl-C stops all)")
            done = threading.Event()
            signal.signal(signal.SIGTERM, lambda *_: done.set())
            try:
                done.wait()
            except KeyboardInterrupt:
                pass

    _run(go)


@app.command()
def info(url: str | None = Url, token: str | None = Token,
         show_token: bool = typer.Option(False, "--show-token",
                                         help="put the token into the docs link (terminals and logs keep it)")) -> None:
    """Show the control plane's URL, health, OpenAPI document and where the token lives (not the token); the
    token is checked (exit code 3 when it is wrong)."""
    from praas_kit.home import TOKEN_FILE, default_home

    def go() -> None:
        with _client(url, token) as cp:
            shown = cp.token if show_token else "<token>"
            health = cp.healthz()
            applications = len(cp.applications())  # an authenticated request: the token works
            _out({"url": cp.url, "health": health, "applications": applications, "openapi": cp.openapi_url(),
                  "docs": f"{cp.url}/docs?token={shown}", "token_file": str(default_home() / TOKEN_FILE)})

    _run(go)


@apps_cli.command("create")
def app_create(name: str, code: Path | None = typer.Option(None, help="module (.py) or package directory"),
               image: str | None = typer.Option(None, help="container image (docker backend)"),
               vcpus: float | None = None, memory_mb: int | None = None,
               workers: int | None = typer.Option(None, help="function workers per process"),
               resume_failed: bool = typer.Option(False, help="calls swap a FAILED process in from its last snapshot"),
               url: str | None = Url, token: str | None = Token) -> None:
    """Create an application."""
    _run(lambda: _out(asdict(_client(url, token).create_application(
        name, code=code, image=image, vcpus=vcpus, memory_mb=memory_mb, function_workers=workers,
        resume_failed=resume_failed).describe())))


@apps_cli.command("list")
def app_list(url: str | None = Url, token: str | None = Token) -> None:
    """List applications."""
    _run(lambda: _out([asdict(a) for a in _client(url, token).applications()]))


@apps_cli.command("show")
def app_show(name: str, url: str | None = Url, token: str | None = Token) -> None:
    """Describe an application."""
    _run(lambda: _out(asdict(_client(url, token).application(name).describe())))


@apps_cli.command("delete")
def app_delete(name: str, url: str | None = Url, token: str | None = Token) -> None:
    """Delete an application (it must have no processes)."""
    _run(lambda: _client(url, token).application(name).delete())


@procs_cli.command("create")
def proc_create(app_name: str, name: str, vcpus: float | None = None, memory_mb: int | None = None,
                url: str | None = Url, token: str | None = Token) -> None:
    """Create a process (waits until it is ALLOCATED)."""
    _run(lambda: _out(asdict(_client(url, token).application(app_name).create_process(name, vcpus, memory_mb).info)))


@procs_cli.command("list")
def proc_list(app_name: str, url: str | None = Url, token: str | None = Token) -> None:
    """List an application's processes, grouped as active, swapped and inactive."""

    def go() -> None:
        listing: dict[str, list[Any]] = {"active": [], "swapped": [], "inactive": []}
        for p in _client(url, token).application(app_name).processes():
            listing[p.view].append(asdict(p))
        _out(listing)

    _run(go)


@procs_cli.command("show")
def proc_show(app_name: str, name: str, url: str | None = Url, token: str | None = Token) -> None:
    """Describe a process (status, address, metrics, snapshots)."""
    _run(lambda: _out(asdict(_client(url, token).application(app_name).process(name).info)))


@procs_cli.command("swap")
def proc_swap(app_name: str, name: str, url: str | None = Url, token: str | None = Token) -> None:
    """Swap a process out to the swap store."""
    _run(lambda: _out(asdict(_client(url, token).application(app_name).process(name).swap())))


@procs_cli.command("swapin")
def proc_swapin(app_name: str, name: str, url: str | None = Url, token: str | None = Token) -> None:
    """Swap a process in from its newest snapshot."""
    _run(lambda: _out(asdict(_client(url, token).application(app_name).swapin(name).info)))


@procs_cli.command("stop")
def proc_stop(app_name: str, name: str, url: str | None = Url, token: str | None = Token) -> None:
    """Stop a process (state discarded)."""
    _run(lambda: _client(url, token).application(app_name).process(name).stop())


@procs_cli.command("delete")
def proc_delete(app_name: str, name: str, url: str | None = Url, token: str | None = Token) -> None:
    """Delete a process and its snapshots."""
    _run(lambda: _client(url, token).application(app_name).delete_process(name))


def check_json_payload(data: bytes) -> None:
    """Refuse a payload that looks like JSON (starts with ``{`` or ``[``) but does not parse."""
    head = data.lstrip()[:1]
    if head in (b"{", b"["):
        try:
            json.loads(data)
        except ValueError as exc:
            raise InvalidArgument(f"the payload looks like JSON but is not valid JSON ({exc}); fix it, or pass "
                                  "--raw to send it as it is") from None


@app.command()
def invoke(app_name: str, function: str,
           data: str = typer.Argument("", help="payload; '-' reads standard input, '@file' reads a file"),
           process: str | None = typer.Option(None, "--process", "-p", help="sticky: run in this process"),
           direct: bool = typer.Option(False, help="invoke the process directly over the data plane"),
           raw: bool = typer.Option(False, help="send the payload as it is, without checking JSON-looking text"),
           url: str | None = Url, token: str | None = Token) -> None:
    """Invoke a function and print its result."""

    def go() -> None:
        try:
            payload = sys.stdin.buffer.read() if data == "-" else Path(data[1:]).read_bytes() \
                if data.startswith("@") else data.encode()
        except OSError as exc:
            raise InvalidArgument(f"cannot read the payload: {exc}") from None
        if not raw:
            check_json_payload(payload)
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
def images_build(only: list[str] | None = typer.Option(None, "--only", help="build just these images (and their "
                                                                              "parents); repeat the option"),
                 force: bool = typer.Option(False, help="rebuild even if up to date"),
                 no_cache: bool = typer.Option(False, help="do not use Docker's layer cache"),
                 base: str | None = typer.Option(None, help="base image (default: praas-base:local, a public "
                                                            "python image, else one built offline)"),
                 progress: bool = typer.Option(True, help="show a progress bar")) -> None:
    """Build the container images (skips those up to date)."""
    logging.basicConfig(level="WARNING")
    from praas_kit.tools.images import build_images, format_results

    _run(lambda: typer.echo(format_results(build_images(only or None, base=base, force=force, progress=progress,
                                                        no_cache=no_cache))))


@images_cli.command("list")
def images_list() -> None:
    """List the images and what each is built on."""
    from praas_kit.tools.images import IMAGES

    for spec in IMAGES:
        typer.echo(f"{spec.ref:28} {spec.dockerfile:26} on {spec.parent or 'the base image'}")


@app.command()
def logs(app_name: str = typer.Argument(..., metavar="APP"), process: str = typer.Argument(...),
         tail: int = typer.Option(200, help="lines to show"),
         follow: bool = typer.Option(False, "--follow", "-f", help="keep printing new lines (Ctrl-C stops)"),
         url: str | None = Url, token: str | None = Token) -> None:
    """Print a process's log (what its functions and runtime printed); --follow keeps printing."""
    import time

    def go() -> None:
        with _client(url, token) as cp:
            proc = cp.application(app_name).process(process)
            seen = proc.logs(tail).splitlines()
            for line in seen:
                typer.echo(line)
            while follow:
                time.sleep(1.0)
                now = proc.logs(max(tail, 1000)).splitlines()
                new = now[new_lines_start(seen, now):]
                for line in new:
                    typer.echo(line)
                seen = now

    try:
        _run(go)
    except KeyboardInterrupt:
        raise typer.Exit(0) from None


@app.command()
def bench(name: str = typer.Argument("core", help="which benchmark: core, docker, load, profile, invocations, "
                                                   "channels, state, swap, allocation, latex, kmeans or scaling"),
          quick: bool = typer.Option(True, "--quick/--full", help="quick mode (fewer repetitions)"),
          out: Path | None = typer.Option(None, help="directory for CSV + metadata (default: results/quick for "
                                                     "--quick, results for --full)"),
          backend: str | None = typer.Option(None, help="local or docker (allocation: also swarm), for the "
                                                        "benchmarks that take it ('docker' with NAME=core runs the "
                                                        "docker benchmark)"),
          auth: str | None = typer.Option(None, help="data-plane security for the benchmarks that take it: "
                                                     "curve (default) or none"),
          s3: bool | None = typer.Option(None, "--s3/--no-s3", help="scaling: with or without its S3 part (which "
                                                                    "needs the Swift S3 server; default: with)"),
          check: bool = typer.Option(False, "--check",
                                     help=f"exit with {EXIT_MISSED} when a target is missed")) -> None:
    """Run a benchmark, save CSV + metadata, and print each headline figure with its target."""
    import inspect

    from praas_kit.bench import BENCHMARKS, benchmark
    from praas_kit.bench.common import format_figures

    logging.basicConfig(level="ERROR")  # a benchmark kills and restarts processes on purpose: no warnings
    target = out or (Path("results") / "quick" if quick else Path("results"))

    def go() -> None:
        named = benchmark(name)
        instead = dict(named.instead).get(backend or "")  # e.g. core on docker: the docker benchmark
        chosen = BENCHMARKS[instead] if instead else named
        fn = chosen.code(chosen.run)
        takes = inspect.signature(fn).parameters
        options: dict[str, Any] = {"dataplane_auth": auth, "backend": backend, "s3": s3}
        for option, value in options.items():
            if value is not None and option not in takes and not (option == "backend" and instead):
                raise InvalidArgument(f"benchmark {chosen.name!r} has no option {option.split('_')[-1]!r}")
        if backend is not None and "backend" in takes:
            chosen.check_backend(backend)
        run = fn(target, quick=quick, **{k: v for k, v in options.items() if v is not None and k in takes})
        figures = chosen.code(chosen.summarise)(run.rows)
        typer.echo(format_figures(figures))
        typer.echo(f"\nresults: {run.csv} (one line per sample) and {run.meta} (provenance and medians)")
        missed = [f.name for f in figures if f.met is False]
        if check and missed:
            typer.secho(f"missed: {', '.join(missed)}", fg="red", err=True)
            raise typer.Exit(EXIT_MISSED)

    _run(go)


@app.command()
def report(results: Path = typer.Option(Path("results"), help="the results folder (<bench>/<backend>/<name>.csv)"),
           readme: Path = typer.Option(Path("README.md"), help="README whose results block is regenerated"),
           check: bool = typer.Option(True, help="validate each result folder first (files, columns, cells)")
           ) -> None:
    """Write results/paper_vs_machine.md (our ratios beside the paper's), the README's results block, and every
    figure again into results/figures."""

    def go() -> None:
        from praas_kit.bench import report as reporting
        from praas_kit.bench.validate import check as validate

        if check:
            for bench, csv_path in reporting.result_files(results):
                validate(csv_path.parent, bench.name)
        figures = reporting.regenerate_figures(results)
        typer.echo(f"wrote {reporting.write(results, readme)} and {len(figures)} figures in {results / 'figures'}")

    _run(go)


@app.command()
def notebooks(folder: Path = typer.Option(Path("notebooks"), help="the folder of the numbered notebooks"),
              out: Path = typer.Option(Path("results/notebooks"), help="where the executed notebooks go"),
              backend: str = typer.Option("local", help="local (no Docker) or docker"),
              quick: bool = typer.Option(True, "--quick/--full", help="quick mode (each notebook a minute or two)"),
              only: list[str] | None = typer.Option(None, "--only", help="run just the notebooks starting with "
                                                                         "this prefix (e.g. 03); repeat")) -> None:
    """Run the notebook series in order (the README's main job); then draw every figure into results/figures
    and write results/paper_vs_machine.md."""

    def go() -> None:
        import os

        from praas_kit.bench import report as reporting
        from praas_kit.lab import BACKENDS
        from praas_kit.lab import notebooks as nb

        if backend not in BACKENDS:
            raise InvalidArgument(f"unknown backend {backend!r}: local or docker")
        if not folder.is_dir():
            raise InvalidArgument(f"no notebooks folder {str(folder)!r} here ({Path.cwd()}): run this from the "
                                  "praas-kit checkout, or pass --folder")
        os.environ["PRAAS_BACKEND"], os.environ["PRAAS_QUICK"] = backend, "1" if quick else "0"
        runs = nb.run_series(folder, out, only=only)
        for r in runs:
            typer.echo(f"{r.source.name:32} {r.seconds:6.0f} s  -> {r.output}")
        results = Path("results")
        figures = reporting.regenerate_figures(results)
        table = reporting.write(results, readme=None)
        typer.echo(f"\nfigures: {results / 'figures'} ({len(figures)} files)\ntable:   {table}")

    _run(go)


def main(argv: list[str] | None = None) -> None:
    """The ``praas`` command; ``--verbose`` may also come after the command's name."""
    args = list(sys.argv[1:] if argv is None else argv)
    if "--verbose" in args[1:]:
        args.remove("--verbose")
        args.insert(0, "--verbose")
    for flag in ("-o", "--output"):  # also after the command, with its value
        if flag in args[1:-1]:
            i = args.index(flag, 1)
            value = args[i + 1]
            del args[i:i + 2]
            args[:0] = [flag, value]
    app(args=args, prog_name="praas")


if __name__ == "__main__":
    main()
