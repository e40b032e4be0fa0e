"""The LaTeX microservice (paper §6.4), both variants, on both backends.

PraaS: the project is process state, the build directory lives in ``state_dir``. FaaS: four function pools
and an S3 bucket (a real Swift S3 server: a host server on the local backend, the deployment's container on
the docker backend). Each scenario runs on both variants and they must agree: the same statuses, the same
PDF text (``pdftotext``).
"""

from __future__ import annotations

import base64
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from helpers import BACKEND_NEEDS, backend_params, require, unique

from praas_kit.apps import latex
from praas_kit.errors import FunctionNotFound, InvalidArgument, NotFound, PayloadTooLarge

pytestmark = [pytest.mark.s3, pytest.mark.tex]

TEST_PROJECT = latex.DATASETS / "test"
MAX_PAYLOAD = 2 << 20  # small, so the payload-limit test sends little


def _tex_ready() -> None:
    require(shutil.which("latexmk") is not None, "no latexmk (apt-get install latexmk texlive-...)")
    require(shutil.which("pdftotext") is not None, "no pdftotext (apt-get install poppler-utils)")


@pytest.fixture(scope="module", params=backend_params(["local", "docker"]))
def deployment(request: pytest.FixtureRequest) -> Iterator[tuple[Any, Any]]:
    """(control plane, S3 settings) per backend."""
    import praas_kit

    _tex_ready()
    if request.param == "docker":
        BACKEND_NEEDS["docker"]()
        from helpers import docker_image_exists

        from praas_kit.engines import images as image_names

        require(docker_image_exists(image_names.LATEX), f"image {image_names.LATEX} not built")
        with praas_kit.docker_deployment(swap="s3", max_payload=MAX_PAYLOAD) as cp:
            yield cp, cp.storage
        return
    from praas_kit.tools.services import SwiftS3Server

    require(all(shutil.which(b) or Path("/usr/bin", b).exists() for b in ("swift-proxy-server", "memcached")),
            "no OpenStack Swift (apt-get install swift swift-proxy ... memcached)")
    with SwiftS3Server() as s3, praas_kit.local(max_payload=MAX_PAYLOAD) as cp:
        yield cp, s3


class Editor:
    """One deployed variant: ``call(function, request)`` -> the reply's JSON."""

    def __init__(self, cp: Any, s3: Any, variant: str) -> None:
        self.variant = variant
        self.app = latex.deploy(cp, unique(f"tex-{variant}"), variant=variant, s3=s3)
        self.invoke = (self.app.create_process("editor").invoke if variant == "praas" else self.app.invoke)

    def call(self, function: str, request: dict[str, Any]) -> Any:
        return self.invoke(function, request, timeout=300).json()

    def compile(self, **flags: bool) -> dict[str, Any]:
        reply: dict[str, Any] = self.call("compile", {"file": "main.tex", **flags})
        return reply

    def pdf_text(self) -> str:
        reply = self.call("get-pdf", {"file": "main"})
        assert reply["status"] == "success"
        return pdftotext(base64.b64decode(reply["data"]))

    def close(self) -> None:
        if not isinstance(self.app, latex.FunctionPools):
            for p in self.app.processes():
                self.app.delete_process(p.name)
        self.app.delete()


def pdftotext(pdf: bytes) -> str:
    done = subprocess.run(["pdftotext", "-", "-"], input=pdf, capture_output=True, check=True, timeout=60)
    return " ".join(done.stdout.decode().split())


@pytest.fixture(scope="module")
def editors(deployment: tuple[Any, Any]) -> Iterator[dict[str, Editor]]:
    cp, s3 = deployment
    made = {v: Editor(cp, s3, v) for v in latex.VARIANTS}
    for e in made.values():
        latex.upload(e.invoke, TEST_PROJECT)
    yield made
    for e in made.values():
        e.close()


def test_both_variants_compile_to_the_same_pdf_text(editors: dict[str, Editor]) -> None:
    replies = {v: e.compile(clean=True) for v, e in editors.items()}
    for v, reply in replies.items():
        assert reply["status"] == "success", (v, reply["output"][-2000:])
        assert reply["time_compile"] > 0 and reply["time_data"] >= 0
    texts = {v: e.pdf_text() for v, e in editors.items()}
    assert "praas-kit test document" in texts["praas"].lower() or len(texts["praas"]) > 50
    assert texts["praas"] == texts["faas"]


def test_no_change_means_no_updated_files_and_an_edit_shows_in_the_pdf(editors: dict[str, Editor]) -> None:
    for v, e in editors.items():
        first = e.compile()
        assert first["status"] == "success", (v, first["output"][-2000:])
        again = e.compile()
        assert again["status"] == "success" and again["updated_files"] == [], (v, again["updated_files"])
        body = (TEST_PROJECT / "secs" / "body.tex").read_text()
        e.call("update-file", {"path": "secs", "file": "body.tex", "data": body + "\nZebraMarker42 added.\n"})
        edited = e.compile()
        assert edited["status"] == "success" and edited["updated_files"] == ["secs/body.tex"], (v, edited)
        assert "ZebraMarker42" in e.pdf_text()
        e.call("update-file", {"path": "secs", "file": "body.tex", "data": body})
        restored = e.compile()
        assert restored["updated_files"] == ["secs/body.tex"], (v, restored["updated_files"], e.app.processes())
        assert "ZebraMarker42" not in e.pdf_text()


def test_get_file_round_trips_text_and_binary(editors: dict[str, Editor]) -> None:
    png = (TEST_PROJECT / "figures" / "dot.png").read_bytes()
    for v, e in editors.items():
        got = e.call("get-file", {"path": "figures", "file": "dot.png", "data": ""})
        assert base64.b64decode(got["data"]) == png, v
        text = e.call("get-file", {"path": "secs", "file": "intro.tex", "data": ""})
        assert text["data"] == (TEST_PROJECT / "secs" / "intro.tex").read_text()
        assert (text["path"], text["file"]) == ("secs", "intro.tex")


@pytest.mark.parametrize("path,file", [("..", "x.tex"), ("", "../x.tex"), ("/etc", "passwd"), ("secs/../..", "a"),
                                       ("secs", ".."), ("a\\..", "b"), ("", "")])
def test_paths_leaving_the_project_are_refused_and_nothing_is_written(editors: dict[str, Editor], path: str,
                                                                      file: str) -> None:
    for e in editors.values():
        with pytest.raises(InvalidArgument, match="leaves the project|invalid file name"):
            e.call("update-file", {"path": path, "file": file, "data": "\\bad"})
        with pytest.raises(InvalidArgument):
            e.call("get-file", {"path": path, "file": file, "data": ""})
    # nothing was written: the next compile copies no new file into the build directory
    for v, e in editors.items():
        assert e.compile()["updated_files"] == [], v


def test_bad_requests_get_clear_errors(editors: dict[str, Editor]) -> None:
    for v, e in editors.items():
        with pytest.raises(InvalidArgument, match="'data' must be a string"):
            e.call("update-file", {"path": "secs", "file": "a.tex", "data": 5})
        with pytest.raises(InvalidArgument, match="JSON object"):
            e.call("compile", ["main.tex"])  # type: ignore[arg-type]
        with pytest.raises(InvalidArgument, match="not valid base64"):
            e.call("update-file", {"path": "figures", "file": "x.png", "data": "%%%"})
        with pytest.raises(NotFound, match="no file 'secs/none.tex'"):
            e.call("get-file", {"path": "secs", "file": "none.tex", "data": ""})
        assert e.call("get-pdf", {"file": "never-compiled"}) == {"status": "failure"}, v
    with pytest.raises(FunctionNotFound):
        editors["faas"].app.invoke("no-such-function", {})
    with pytest.raises(InvalidArgument):
        editors["faas"].app.invoke("get-pdf", {"file": "main"}, process="pool-0")


def test_a_payload_over_the_limit_is_refused(editors: dict[str, Editor]) -> None:
    big = "%" * (MAX_PAYLOAD + 1024)
    for v, e in editors.items():
        with pytest.raises(PayloadTooLarge):
            e.call("update-file", {"path": "secs", "file": "big.tex", "data": big})
        assert e.compile()["updated_files"] == [], v


def test_pdf_and_files_survive_a_swap(editors: dict[str, Editor]) -> None:
    e = editors["praas"]
    assert e.compile()["status"] == "success"
    before_file = e.call("get-file", {"path": "secs", "file": "body.tex", "data": ""})
    before_pdf = e.call("get-pdf", {"file": "main"})
    proc = e.app.process("editor")
    proc.swap()
    proc.swapin()
    assert e.call("get-file", {"path": "secs", "file": "body.tex", "data": ""}) == before_file
    assert e.call("get-pdf", {"file": "main"}) == before_pdf
    assert e.compile()["updated_files"] == []  # the build directory's manifest came back too


def test_a_broken_document_fails_with_the_error_in_the_log_and_the_process_serves_on(
        editors: dict[str, Editor]) -> None:
    main = (TEST_PROJECT / "main.tex").read_text()
    statuses = {}
    for v, e in editors.items():
        e.call("update-file", {"path": "", "file": "main.tex", "data": main.replace("\\end{document}",
                                                                                  "\\undefinedcommandxyz\n\\end{document}")})
        broken = e.compile()
        assert broken["status"] == "failure", v
        assert "Undefined control sequence" in broken["output"], broken["output"][-1500:]
        # the paper's failure scenario: an empty class file in the project shadows the real one
        e.call("update-file", {"path": "", "file": "main.tex", "data": main})
        e.call("update-file", {"path": "", "file": "article.cls", "data": ""})
        emptied = e.compile(full_clean=True)
        statuses[v] = (broken["status"], emptied["status"])
        assert emptied["status"] == "failure", (v, emptied["output"][-1500:])
        assert e.call("get-file", {"path": "secs", "file": "intro.tex", "data": ""})["data"]  # serves on
    assert statuses["praas"] == statuses["faas"]


def test_deploy_refuses_bad_arguments_before_creating_anything(deployment: tuple[Any, Any]) -> None:
    cp, _ = deployment
    before = {a.name for a in cp.applications()}
    with pytest.raises(InvalidArgument, match="unknown LaTeX variant 'lambda'"):
        latex.deploy(cp, unique("x"), variant="lambda")
    if getattr(getattr(cp, "storage", None), "s3_endpoint", None) is None:
        with pytest.raises(InvalidArgument, match="keeps the project in S3"):
            latex.deploy(cp, unique("x"), variant="faas")
    with pytest.raises(InvalidArgument, match="S3 endpoint"):
        latex.deploy(cp, unique("x"), variant="faas", s3=object())
    assert {a.name for a in cp.applications()} == before


def test_the_shipped_paper_compiles(deployment: tuple[Any, Any], tmp_path: Path) -> None:
    """The benchmark's acmart paper (every section, bibliography, PNG and PDF figures) compiles in a process."""
    cp, s3 = deployment
    e = Editor(cp, s3, "praas")
    try:
        keys = latex.upload(e.invoke, latex.DATASETS / "paper")
        assert len([k for k in keys if k.startswith("secs/")]) >= 8
        reply = e.compile()
        assert reply["status"] == "success", reply["output"][-2000:]
        text = e.pdf_text()
        assert "Ember" in text and "References" in text.title()
    finally:
        e.close()


def test_the_benchmark_writes_tidy_csv_metadata_figure_and_ratio_table(tmp_path: Path) -> None:
    """``praas bench latex`` end to end on the local backend, with one repetition of everything."""
    import csv
    import json

    from praas_kit.bench import latex as bench
    from praas_kit.bench.latex_report import paper_ratios

    _tex_ready()
    run = bench.run_latex_benchmark(tmp_path, quick=True, reps=1, compile_reps=1)
    with open(run.csv, newline="") as f:
        lines = list(csv.DictReader(f))
    assert list(lines[0]) == bench.COLUMNS
    seen = {(r["operation"], r["plot_label"], r["system"]) for r in lines}
    for system in ("praas", "praas-cp", "faas"):
        for i in range(1, 5):
            assert ("get-file", f"Input {i}", system) in seen and ("update-file", f"Input {i}", system) in seen
        assert ("get-pdf", "get-pdf", system) in seen
    compiles = {(r["plot_label"], r["system"]): r["status"] for r in lines if r["operation"] == "compile"}
    assert compiles == {("Recompilation", "praas"): "success", ("Recompilation", "faas"): "success",
                        ("No Update", "praas"): "success", ("No Update", "faas"): "success",
                        ("Failure", "praas"): "failure", ("Failure", "faas"): "failure"}
    assert all(r["updated_files"] == "0" for r in lines if r["plot_label"] == "No Update")
    meta = json.loads(run.meta.read_text())
    assert meta["params"]["limits"].startswith("recorded, not enforced") and meta["git_commit"]
    for name in ("latex.png", "latex.pdf", "latex_ratios.csv", "latex_ratios.md"):
        assert (tmp_path / name).stat().st_size > 0, name
    assert paper_ratios()[("get-file", "Input 1", 1.0)] == 27.52  # the paper's numbers are read, by size tier
    table = (tmp_path / "latex_ratios.md").read_text()
    assert "| get-file | Input 1 | 1 |" in table and "27.52×" in table


def test_benchmark_inputs_are_picked_from_any_project() -> None:
    from praas_kit.bench.latex import pick_inputs

    files = {"main.tex": b"x" * 50, "secs/a.tex": b"a" * 10, "secs/b.tex": b"b" * 30, "secs/c.tex": b"c" * 900,
             "img/f.pdf": b"%PDF", "img/g.png": b"png"}
    assert [(i.key, i.label) for i in pick_inputs(files)] == [
        ("secs/a.tex", "Input 1"), ("secs/b.tex", "Input 2"), ("secs/c.tex", "Input 3"), ("img/f.pdf", "Input 4")]
    with pytest.raises(InvalidArgument, match="a figure"):
        pick_inputs({"main.tex": b"x"})


def test_benchmark_inputs_are_distinct_and_closest_in_size_to_the_papers() -> None:
    from praas_kit.apps.latex.project import project_files
    from praas_kit.bench.latex import pick_inputs
    from praas_kit.bench.latex_report import PAPER_INPUTS, format_inputs, input_sizes

    files = dict(project_files(latex.DATASETS / "paper"))
    picked = pick_inputs(files)
    assert [i.key for i in picked] == ["secs/conclusion.tex", "secs/abstract.tex", "secs/design.tex",
                                       "figures/architecture.pdf"]  # 619, 1170, 14034 B; the only PDF
    assert len({i.key for i in picked}) == 4 and [i.label for i in picked] == [f"Input {n}" for n in range(1, 5)]
    sizes = input_sizes({i.label: [i.key, len(files[i.key])] for i in picked})
    assert [round(r["ratio"], 2) for r in sizes] == [0.89, 1.04, 1.21, 0.06]
    assert [r["paper_bytes"] for r in sizes] == [size for _, _, size in PAPER_INPUTS]
    assert "| Input 4 | `figures/architecture.pdf` | 25,212 | `sampleteaser.pdf` | 439,021 | 0.06× |" in \
        format_inputs(sizes)
    # the small test project has two section files: the other text files fill in, no file twice
    small = pick_inputs(dict(project_files(TEST_PROJECT)))
    assert [i.key for i in small] == ["secs/body.tex", "secs/intro.tex", "references.bib", "figures/dot.png"]
    # sizes are matched in ascending order, the least total log-ratio: not greedily
    many = {"main.tex": b"\\documentclass{article}", **{f"s/{n}.tex": b"x" * n for n in (100, 700, 1000, 1200, 9000)},
            "f.pdf": b"%" * 10, "g.pdf": b"%" * 400_000}
    assert [i.key for i in pick_inputs(many)] == ["s/700.tex", "s/1200.tex", "s/9000.tex", "g.pdf"]


def test_the_ratio_helpers_summarise_a_ratio_table() -> None:
    from praas_kit.bench.latex_report import paper_ratios, ratio_table, speedup, update_over_get

    def line(op: str, label: str, system: str, seconds: float) -> dict[str, Any]:
        return {"operation": op, "plot_label": label, "system": system, "vcpus": 1.0, "time_s": seconds}

    lines = [line(op, f"Input {i}", system, t) for op in ("update-file", "get-file") for i in range(1, 5)
             for system, t in (("praas", 0.001 * i), ("faas", 0.02))]
    rows = ratio_table(lines, paper=paper_ratios())
    up = speedup(rows, "update-file")
    assert up is not None and up["n"] == 4 and up["min"] == pytest.approx(5) and up["max"] == pytest.approx(20)
    assert up["geomean"] == pytest.approx((20 * 10 * 20 / 3 * 5) ** 0.25)
    assert speedup(rows, "compile") is None
    (cost,) = update_over_get(rows)
    assert cost["vcpus"] == 1.0 and cost["ours_update_ms"] == cost["ours_get_ms"] == 2.0  # Inputs 1-3 only
    assert cost["paper_update_ms"] == 32.69 and cost["paper_get_ms"] == 1.26  # datasets/paper, 1 vCPU tier


def test_the_figure_has_the_papers_ratios_beside_ours(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("matplotlib")
    from matplotlib.figure import Figure

    from praas_kit.bench import latex_report

    lines = [{"operation": op, "plot_label": label, "system": system, "vcpus": 1.0, "time_s": t}
             for op, label in latex_report.EDIT_GROUPS + latex_report.COMPILE_GROUPS
             for system, t in (("praas", 0.001), ("faas", 0.01))]
    saved: list[Figure] = []
    real = latex_report.save_figure

    def keep(fig: Figure, stem: Path) -> list[Path]:
        saved.append(fig)
        return real(fig, stem)

    paper = {("get-file", "Input 1", 1.0): 27.5, ("compile", "Failure", 1.0): 1.1}
    monkeypatch.setattr(latex_report, "save_figure", keep)  # to look at the figure before it is closed
    paths = latex_report.plot(lines, tmp_path / "latex", paper=paper)
    assert [p.suffix for p in paths] == [".png", ".pdf"] and all(p.stat().st_size for p in paths)
    ratios = saved[0].axes[2]
    markers = [ln for ln in ratios.get_lines() if ln.get_marker() == "D"]
    assert len(markers) == 1 and sorted(markers[0].get_ydata()) == [1.1, 27.5]
    assert [round(b.get_height(), 6) for b in ratios.patches] == [10.0] * 12
    assert any("paper" in t.get_text() for t in ratios.get_legend().get_texts())


def test_a_preview_can_zoom_and_the_text_of_a_page_is_read(tmp_path: Path) -> None:
    require(all(shutil.which(b) for b in ("latexmk", "pdftoppm", "pdftotext", "pdfinfo")),
            "no latexmk or poppler-utils")
    from praas_kit.apps.latex.project import pdf_text, preview

    shutil.copytree(TEST_PROJECT, tmp_path / "p")
    subprocess.run(["latexmk", "-pdf", "-interaction=nonstopmode", "main.tex"], cwd=tmp_path / "p",
                   capture_output=True, timeout=120, check=True)
    pdf = (tmp_path / "p" / "main.pdf").read_bytes()
    full, detail = preview(pdf, dpi=40), preview(pdf, dpi=40, crop=(0.0, 0.0, 0.5, 0.25))
    width, height = (int.from_bytes(full[16:20]), int.from_bytes(full[20:24]))  # the PNG's IHDR
    assert (int.from_bytes(detail[16:20]), int.from_bytes(detail[20:24])) == (round(width / 2), round(height / 4))
    text = pdf_text(pdf, 1, 1)
    assert text and "  " not in text and "\n" not in text
    with pytest.raises(InvalidArgument, match="fractions"):
        preview(pdf, crop=(0.5, 0.5, 0.0, 1.0))
