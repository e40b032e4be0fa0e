"""The LaTeX microservice benchmark (``praas bench latex``, paper §6.4): PraaS against its FaaS+S3 baseline.

Per container size (0.25, 0.5, 1 and 2 vCPU, with 0.5/1/2/4 GB, the paper's Fargate sizes), three systems:

* ``praas``: one process holding the project, invoked directly over the data plane (as the paper's
  benchmarker did);
* ``praas-cp``: the same process, invoked sticky through the control plane (REST);
* ``faas``: the four stateless functions, each its own pool, the project in an S3 bucket, invoked FaaS-style
  through the control plane (as Lambda function URLs were).

The *editing* benchmark runs ``update-file`` then ``get-file`` on four inputs, "Input 1".."Input 4": three
section files and a PDF figure, chosen by :func:`pick_inputs` as the files closest in size to the paper's
(694 B, 1.1 KB, 11.6 KB and a 439 KB PDF). The *compiling* benchmark runs a full
recompilation (``clean``, latexmk ``-gg``), ``get-pdf``, a compile of the unchanged project ("No Update"), and
a compile after an empty class file was uploaded ("Failure", ``full_clean``). Every measurement is
``1 + reps`` calls, the first discarded (warm-up); the systems take turns call by call, so drift hits all
alike. On the docker backend sizes are Docker CPU/memory limits; on the local backend they are recorded,
not enforced (the metadata says so).

Output: ``<out>/latex.csv`` (tidy: one line per call) and ``latex.meta.json``; then
:mod:`praas_kit.bench.latex_report` draws ``latex.png``/``latex.pdf`` and writes ``latex_ratios.csv``/``.md``
(FaaS/PraaS beside the paper's ratios).
"""

from __future__ import annotations

import csv
import json
import logging
import math
import shutil
import subprocess
import time
import uuid
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tqdm.auto import tqdm

from praas_kit import provenance
from praas_kit.apps import latex
from praas_kit.apps.latex.project import documentclass, encode, project_files
from praas_kit.bench import LATEX_COLUMNS, check_choice, common, latex_report
from praas_kit.bench.common import BenchRun, Figure, Row, metadata
from praas_kit.bench.harness import deployment, finish, start, storage
from praas_kit.errors import InvalidArgument

if TYPE_CHECKING:
    from praas_kit.sdk.client import Application, ControlPlaneClient
    from praas_kit.storage.s3_endpoint import S3Endpoint

log = logging.getLogger("praas_kit.bench.latex")

PAPER_BYTES = tuple(size for _, _, size in latex_report.PAPER_INPUTS)  #: the sizes of the paper's Input 1..4

#: vCPUs -> (memory MB, the paper's size tier)
SIZES: dict[float, tuple[int, str]] = {0.25: (512, "small"), 0.5: (1024, "medium"), 1.0: (2048, "large"),
                                       2.0: (4096, "largest")}
SYSTEMS = ("praas", "praas-cp", "faas")
COLUMNS = list(LATEX_COLUMNS)  #: the tidy CSV's header (the registry's record states it)
#: PraaS (direct) wins every editing operation and the no-update compile: FaaS / PraaS of the medians
TARGETS = {"win": common.Target(">", 1)}
EDIT_OPS = ("update-file", "get-file")
SCENARIOS = (("full", "Recompilation"), ("no-update", "No Update"), ("failure", "Failure"))


@dataclass(frozen=True)
class Input:
    """One editing input: a project file and its label in the paper's figure."""

    path: str
    file: str
    label: str

    @property
    def key(self) -> str:
        return f"{self.path}/{self.file}" if self.path else self.file


def pick_inputs(files: dict[str, bytes], like: tuple[int, ...] = PAPER_BYTES) -> list[Input]:
    """The paper's four editing inputs for any project, matched by size to the paper's (``like``: the bytes of
    its Input 1..4, :data:`~praas_kit.bench.latex_report.PAPER_INPUTS`).

    Inputs 1-3 are three distinct text files other than the main file: section files (``.tex`` in a folder)
    when there are three, else any ``.tex``/``.bib``; chosen in ascending size, as the paper's are, so that
    their sizes are closest to ``like[:3]`` (least total log-ratio). Input 4 is the figure closest in size to
    ``like[3]``: a PDF if there is one, else an image. :class:`InvalidArgument` if the project lacks them."""
    mains = {k for k, c in files.items() if k.endswith(".tex") and "/" not in k and b"\\documentclass" in c}
    text = sorted((len(c), k) for k, c in files.items() if k.endswith(".tex") and "/" in k)
    if len(text) < 3:
        text = sorted((len(c), k) for k, c in files.items() if k.endswith((".tex", ".bib")) and k not in mains)
    figures = [k for k in files if k.endswith(".pdf")] or [k for k in files if k.endswith((".png", ".jpg", ".jpeg"))]
    if len(text) < 3 or not figures:
        raise InvalidArgument("the project needs three text files (.tex, .bib) besides its main file and a figure "
                              "(.pdf, .png or .jpg) to benchmark")
    chosen = [text[i][1] for i in _closest_in_order([size for size, _ in text], like[:3])]
    chosen.append(min(sorted(figures), key=lambda k: abs(math.log(max(1, len(files[k])) / like[3]))))
    out = []
    for i, key in enumerate(chosen, 1):
        folder, _, file = key.rpartition("/")
        out.append(Input(folder, file, f"Input {i}"))
    return out


def _closest_in_order(sizes: list[int], targets: tuple[int, ...]) -> list[int]:
    """Indices ``i1 < i2 < ...`` into the ascending ``sizes``, one per target, minimising the summed
    ``|log(size / target)|`` (dynamic programming over the sorted candidates; ties go to the earlier one)."""
    def cost(i: int, t: int) -> float:
        return abs(math.log(max(1, sizes[i]) / targets[t]))

    n = len(sizes)
    best: list[list[float]] = [[math.inf] * n for _ in targets]
    back: list[list[int]] = [[-1] * n for _ in targets]
    for i in range(n):
        best[0][i] = cost(i, 0)
    for t in range(1, len(targets)):
        prefix, arg = math.inf, -1
        for i in range(n):
            if i and best[t - 1][i - 1] < prefix:
                prefix, arg = best[t - 1][i - 1], i - 1
            if arg >= 0:
                best[t][i], back[t][i] = prefix + cost(i, t), arg
    last = min(range(n), key=lambda i: best[-1][i])
    picked = [last]
    for t in range(len(targets) - 1, 0, -1):
        picked.append(back[t][picked[-1]])
    return picked[::-1]


def _main_file(files: dict[str, bytes]) -> str:
    mains = [k for k, c in files.items() if k.endswith(".tex") and "/" not in k and b"\\documentclass" in c]
    if not mains:
        raise InvalidArgument("the project has no main .tex file (a top-level file with \\documentclass)")
    return "main.tex" if "main.tex" in mains else sorted(mains)[0]


class Target:
    """One system at one size: ``call(function, request)`` -> (seconds, reply JSON, reply bytes)."""

    def __init__(self, system: str, invoke: Callable[..., Any]) -> None:
        self.system = system
        self._invoke = invoke

    def call(self, function: str, request: dict[str, Any]) -> tuple[float, Any, int, int]:
        body = json.dumps(request).encode()
        t0 = time.perf_counter()
        result = self._invoke(function, body)
        elapsed = time.perf_counter() - t0
        return elapsed, result.json(), len(body), len(result.payload)


def _targets(cp: ControlPlaneClient, s3: S3Endpoint | None, vcpus: float, systems: tuple[str, ...], tag: str
             ) -> tuple[list[Target], list[Application]]:
    memory, tier = SIZES[vcpus]
    apps: list[Application] = []
    targets = []
    if {"praas", "praas-cp"} & set(systems):
        app = latex.deploy(cp, f"latex-{tier}-{tag}", "praas", vcpus=vcpus, memory_mb=memory)
        apps.append(app)
        proc = app.create_process("editor", vcpus=vcpus, memory_mb=memory)
        if "praas" in systems:
            targets.append(Target("praas", lambda fn, body: proc.invoke(fn, body, timeout=600)))
        if "praas-cp" in systems:
            targets.append(Target("praas-cp", lambda fn, body: app.invoke(fn, body, process="editor", timeout=600)))
    if "faas" in systems:
        pools = latex.deploy(cp, f"latex-faas-{tier}-{tag}", "faas", s3=s3, vcpus=vcpus, memory_mb=memory)
        apps.append(pools)
        targets.append(Target("faas", lambda fn, body: pools.invoke(fn, body, timeout=600)))
    return targets, apps


class _SizeRun:
    """The editing and compiling benchmarks at one size; appends a line per measured call to ``lines``."""

    def __init__(self, vcpus: float, targets: list[Target], bar: Any, lines: list[dict[str, Any]]) -> None:
        self.vcpus, self.targets, self.bar, self.lines = vcpus, targets, bar, lines
        self.memory, self.tier = SIZES[vcpus]
        self.stateful = [t for t in targets if t.system != "praas-cp"]  # one per project copy

    def record(self, op: str, inp: str, label: str, t: Target, rep: int, took: tuple[float, Any, int, int],
               **extra: Any) -> None:
        self.lines.append({"operation": op, "input": inp, "plot_label": label, "system": t.system,
                           "path": "direct" if t.system == "praas" else "control-plane", "vcpus": self.vcpus,
                           "memory_mb": self.memory, "tier": self.tier, "repetition": rep, "time_s": took[0],
                           "request_bytes": took[2], "reply_bytes": took[3], **extra})

    def step(self, what: str) -> None:
        self.bar.set_postfix_str(f"{self.vcpus:g} vCPU: {what}")

    def run(self, project: Path, files: dict[str, bytes], inputs: list[Input], main: str, cls: str, reps: int,
            compile_reps: int) -> None:
        self.step("upload")
        for t in self.stateful:
            latex.upload(lambda fn, data, t=t: t.call(fn, data), project)
        self.bar.update(1)
        for inp in inputs:
            data = encode(inp.key, files[inp.key])
            for op in EDIT_OPS:
                self.step(f"{op} {inp.key}")
                request = {"path": inp.path, "file": inp.file, "data": data if op == "update-file" else ""}
                for rep in range(reps + 1):  # rep 0 is the discarded warm-up
                    for t in self.targets:
                        took = t.call(op, request)
                        if rep:
                            self.record(op, inp.key, inp.label, t, rep, took)
                    self.bar.update(1)
        self.compile("full", "Recompilation", main, {"clean": True}, compile_reps)
        self.step("get-pdf")
        for rep in range(compile_reps + 1):
            for t in self.targets:
                took = t.call("get-pdf", {"file": main})
                if rep:
                    self.record("get-pdf", main.replace(".tex", ".pdf"), "get-pdf", t, rep, took,
                                status=took[1].get("status"))
            self.bar.update(1)
        self.compile("no-update", "No Update", main, {}, compile_reps)
        for t in self.stateful:  # the paper's failure: an empty class file shadows the real one
            t.call("update-file", {"path": "", "file": f"{cls}.cls", "data": ""})
        self.compile("failure", "Failure", main, {"full_clean": True}, compile_reps)

    def compile(self, name: str, label: str, main: str, flags: dict[str, bool], compile_reps: int) -> None:
        self.step(f"compile {name}")
        for rep in range(compile_reps + 1):
            for t in self.stateful:
                took = t.call("compile", {"file": main, **flags})
                reply = took[1]
                if rep:
                    self.record("compile", name, label, t, rep, took, status=reply.get("status"),
                                time_data_s=reply.get("time_data"), time_compile_s=reply.get("time_compile"),
                                updated_files=len(reply.get("updated_files", [])))
            self.bar.update(1)


def _cleanup(apps: list[Application]) -> None:
    for app in apps:
        try:
            if isinstance(app, latex.FunctionPools):
                app.delete()
            else:
                for p in app.processes():
                    app.delete_process(p.name)
                app.delete()
        except Exception as exc:  # noqa: BLE001 - the deployment is torn down anyway
            log.warning("cleanup of %s failed: %s", app, exc)


def _image_ids(backend: str) -> dict[str, str]:
    if backend != "docker":
        return {}
    from praas_kit.engines import docker as docker_engine
    from praas_kit.engines import images as image_names

    client = docker_engine.connect()
    out = {}
    for ref in (image_names.LATEX, image_names.PROCESS, image_names.S3):
        try:
            out[ref] = str(client.images.get(ref).id)
        except Exception:  # noqa: BLE001 - recorded as missing
            out[ref] = "missing"
    return out


def _tex_version() -> str:
    exe = shutil.which("pdflatex")
    if exe is None:
        return "none on the host"
    done = subprocess.run([exe, "--version"], capture_output=True, text=True, timeout=30)
    return done.stdout.splitlines()[0] if done.stdout else "unknown"


def run_latex_benchmark(out: Path, quick: bool = True, backend: str = "local", sizes: list[float] | None = None,
                        reps: int | None = None, compile_reps: int | None = None, project: Path | None = None,
                        systems: tuple[str, ...] = SYSTEMS) -> BenchRun:
    """Run the editing and compiling benchmarks; save ``latex.csv`` + ``latex.meta.json`` under ``out``.

    Both modes benchmark the acmart paper (``datasets/latex/paper``; ``project`` chooses another), so that the
    editing inputs are distinct files whose sizes approach the paper's. Quick mode: one size (1 vCPU), 5
    editing and 2 compile repetitions (under a minute on the local backend). Full mode: all four sizes, 50
    editing and 10 compile repetitions.
    """
    started = start("latex", backend)
    check_choice("systems", systems, SYSTEMS)
    sizes = sizes or ([1.0] if quick else list(SIZES))
    bad = [s for s in sizes if s not in SIZES]
    if bad:
        raise InvalidArgument(f"sizes must be among {list(SIZES)} vCPUs, not {bad}")
    reps = reps if reps is not None else (5 if quick else 50)
    compile_reps = compile_reps if compile_reps is not None else (2 if quick else 10)
    project = Path(project) if project is not None else latex.DATASETS / "paper"
    files = dict(project_files(project))
    inputs, main = pick_inputs(files), _main_file(files)
    cls = documentclass(files[main].decode(errors="replace")) or "article"
    params = {"quick": quick, "backend": backend, "sizes": sizes, "reps": reps, "compile_reps": compile_reps,
              "warmup": 1, "project": project.name, "project_bytes": sum(len(c) for c in files.values()),
              "inputs": {i.label: [i.key, len(files[i.key])] for i in inputs}, "main": main, "class": cls,
              "systems": list(systems),
              "limits": "docker CPU and memory limits" if backend == "docker"
              else "recorded, not enforced (local backend: processes share the host's CPUs)"}
    steps = len(sizes) * (len(inputs) * 2 * (reps + 1) + 4 * (compile_reps + 1) + 1)
    lines: list[dict[str, Any]] = []
    tag = uuid.uuid4().hex[:6]
    with ExitStack() as stack:
        cp = stack.enter_context(deployment(backend, swap="s3"))
        s3 = storage(cp, stack, redis=False).s3  # the FaaS variant's
        bar = stack.enter_context(tqdm(total=steps, desc="latex", unit="step"))
        for vcpus in sizes:
            targets, apps = _targets(cp, s3, vcpus, systems, tag)
            try:
                _SizeRun(vcpus, targets, bar, lines).run(project, files, inputs, main, cls, reps, compile_reps)
            finally:
                _cleanup(apps)
    params["tex"] = _tex_version() if backend == "local" else "TeX Live of the praas-latex image"
    params["images"] = _image_ids(backend)
    return finish(to_rows(lines), out, "latex", params, plot, started=started,
                  write=lambda rows, folder, name, p: save_tidy(lines, folder, p))


def expected(params: dict[str, Any]) -> set[tuple[str, str, str, float]]:
    """The cells (operation, label, system, vCPUs) a run with ``params`` must have measured."""
    systems, cells = params["systems"], set()
    for vcpus in params["sizes"]:
        for system in systems:
            cells |= {(op, f"Input {i}", system, float(vcpus)) for op in EDIT_OPS for i in range(1, 5)}
            cells.add(("get-pdf", "get-pdf", system, float(vcpus)))
            if system != "praas-cp":
                cells |= {("compile", label, system, float(vcpus)) for _, label in SCENARIOS}
    return cells


def save_tidy(lines: list[dict[str, Any]], out: Path, params: dict[str, Any]) -> tuple[Path, Path]:
    """Write ``latex.csv`` (one line per call, :data:`COLUMNS`) and ``latex.meta.json`` (provenance, medians)."""
    out.mkdir(parents=True, exist_ok=True)
    csv_path, meta_path = out / "latex.csv", out / "latex.meta.json"
    with open(csv_path, "w", newline="") as f:
        w = csv.DictWriter(f, COLUMNS, extrasaction="ignore")
        w.writeheader()
        for line in lines:
            w.writerow({k: (f"{v:.6g}" if isinstance(v, float) else "" if v is None else v)
                        for k, v in line.items()})
    summary = [{**{k: v for k, v in vars(r).items() if k != "values"}, "n": len(r.values), "median": r.median}
               for r in to_rows(lines)]
    meta_path.write_text(json.dumps(metadata(params) | {"summary": summary}, indent=2))
    return csv_path, meta_path


def plot(csv_path: Path) -> list[Path]:
    """The figure (``latex.png``/``.pdf``) and the ratio table (``latex_ratios.csv``/``.md``) next to a
    ``latex.csv`` (:func:`praas_kit.bench.latex_report.report`, which reads the file: recorded as an input)."""
    provenance.record(csv_path)
    figures: list[Path] = latex_report.report(csv_path)["figures"]
    return figures


def comparison(lines: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The FaaS/PraaS ratios of the medians per operation, input and size beside the paper's (:func:`load`'s
    lines; :func:`praas_kit.bench.latex_report.ratio_table`)."""
    return [{"benchmark": "latex", "what": f"FaaS/PraaS {r['operation']} {r['label']}",
             "condition": f"{r['vcpus']:g} vCPU", "ours": r["ratio_direct"], "paper": r["paper_ratio"]}
            for r in latex_report.ratio_table(lines)]


def load(csv_path: Path) -> list[dict[str, Any]]:
    """The lines of a ``latex.csv``, numbers parsed (:func:`praas_kit.bench.latex_report.load`); a committed file
    is recorded as an input (:func:`praas_kit.provenance.record`)."""
    provenance.record(csv_path)
    return latex_report.load(csv_path)


def to_rows(lines: list[dict[str, Any]]) -> list[Row]:
    """The lines grouped into :class:`Row` series, one per (operation, input, system, vCPUs)."""
    groups: dict[tuple[str, str, str, float], Row] = {}
    for line in lines:
        key = (line["operation"], line["plot_label"], line["system"], line["vcpus"])
        if key not in groups:
            groups[key] = Row(f"latex:{line['operation']}", line["system"], int(line["request_bytes"] or 0), "s",
                              extra={"input": line["input"], "plot_label": line["plot_label"],
                                     "vcpus": line["vcpus"]})
        groups[key].values.append(float(line["time_s"]))
    return list(groups.values())


def summarise(rows: list[Row]) -> list[Figure]:
    """FaaS/PraaS (direct) median ratios per operation and size; PraaS must win every editing operation and
    the no-update compile."""
    medians = {(r.experiment, r.extra["plot_label"], r.variant, r.extra["vcpus"]): r.median for r in rows}
    out = []
    for (exp, label, system, vcpus), faas in sorted(medians.items()):
        if system != "faas":
            continue
        praas = medians.get((exp, label, "praas", vcpus))
        if not praas:
            continue
        op = exp.split(":", 1)[1]
        ratio, name = faas / praas, f"FaaS/PraaS {op} {label} @ {vcpus:g} vCPU"
        measured, meaning = f"{faas * 1e3:.1f} ms / {praas * 1e3:.1f} ms = {ratio:.2f}x", \
            "median end-to-end at the client"
        out.append(TARGETS["win"].figure(name, measured, ratio, meaning) if op != "compile" or label == "No Update"
                   else Figure(name, measured, "", None, meaning))
    return out


__all__ = ["run_latex_benchmark", "summarise", "expected", "comparison", "plot", "load", "to_rows", "pick_inputs",
           "SIZES", "SYSTEMS", "COLUMNS", "TARGETS"]
