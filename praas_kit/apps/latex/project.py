"""A LaTeX project on disk, shared by both variants of the LaTeX service: file names, encodings, compiling.

* :func:`project_key` turns a request's ``path`` + ``file`` into the project-relative key of the file; a name
  that escapes the project (absolute, ``..`` anywhere, empty, NUL) raises :class:`InvalidArgument`.
* :func:`encode` / :func:`decode`: text files travel as UTF-8, ``.pdf``/``.png``/``.jpg``/``.jpeg`` as base64
  (the paper's JSON shapes).
* :class:`Workdir` is a build directory with a sync manifest: it records which version of each file it holds
  (a state object's modification time, an S3 object's ETag), so ``sync`` writes exactly the files whose
  source changed since the copy was written, whatever the filesystem's own timestamps say (they change when
  a swap restores the directory; S3's have a resolution of one second).
* :func:`compile_project` runs ``latexmk -pdf`` (bibtex included) and returns the paper's reply shape.
* :func:`preview` (a page as PNG) and :func:`pdf_text` (the text of pages) look at a compiled PDF, with
  poppler-utils.
"""

from __future__ import annotations

import base64
import json
import os
import re
import shutil
import subprocess
import time
from collections.abc import Callable, Iterable
from pathlib import Path, PurePosixPath
from typing import Any

from praas_kit.errors import InvalidArgument, NotFound, TexMissing

BINARY_SUFFIXES = frozenset({".pdf", ".png", ".jpg", ".jpeg"})
COMPILE_TIMEOUT = 300.0  #: seconds a compilation may take before it is stopped and reported as a failure
LOG_LIMIT = 256 << 10  #: characters of latexmk's output kept in a reply (the end, where the errors are)
MANIFEST = ".praas-sync.json"
TEX_PACKAGES = ("latexmk", "texlive-latex-base", "texlive-latex-recommended", "texlive-latex-extra",
                "texlive-publishers", "texlive-fonts-recommended", "cm-super")


def project_key(path: str, file: str) -> str:
    """The project-relative key of ``path/file``; :class:`InvalidArgument` if it leaves the project."""
    if not isinstance(path, str) or not isinstance(file, str):
        raise InvalidArgument("'path' and 'file' must be strings")
    raw = f"{path}/{file}" if path else file
    if not file or "\x00" in raw or "\\" in raw:
        raise InvalidArgument(f"invalid file name {raw!r}: empty, or with a NUL or a backslash")
    parts = raw.split("/")
    if raw.startswith("/") or ".." in parts:
        raise InvalidArgument(f"file name {raw!r} leaves the project (an absolute path or '..')")
    key = "/".join(part for part in parts if part not in ("", "."))
    if not key:
        raise InvalidArgument(f"invalid file name {raw!r}")
    if key == MANIFEST or key.startswith("."):
        raise InvalidArgument(f"file name {raw!r} is reserved")
    return key


def is_binary(key: str) -> bool:
    return PurePosixPath(key).suffix.lower() in BINARY_SUFFIXES


def decode(key: str, data: str) -> bytes:
    """The bytes of a request's ``data`` for ``key`` (base64 for binary files, UTF-8 otherwise)."""
    if not isinstance(data, str):
        raise InvalidArgument("'data' must be a string")
    if is_binary(key):
        try:
            return base64.b64decode(data, validate=True)
        except ValueError:
            raise InvalidArgument(f"'data' of {key!r} is not valid base64") from None
    return data.encode()


def encode(key: str, content: bytes) -> str:
    """``content`` of ``key`` as a reply's ``data``."""
    return base64.b64encode(content).decode() if is_binary(key) else content.decode(errors="replace")


def get_file(payload: Any, fetch: Callable[[str], bytes | None]) -> dict[str, str]:
    """The ``get-file`` reply for a request: the file's content from ``fetch(key)`` in ``data``;
    :class:`NotFound` when there is no such file."""
    req = parse(payload, {"path": str, "file": str})
    key = project_key(req["path"], req["file"])
    content = fetch(key)
    if content is None:
        raise NotFound(f"no file {key!r} in the project")
    return {"path": req["path"], "file": req["file"], "data": encode(key, content)}


_KINDS = {str: "string", bool: "boolean", int: "integer"}


def parse(payload: Any, fields: dict[str, type]) -> dict[str, Any]:
    """Check a request's JSON object for ``fields`` (name -> type; missing optional booleans default false)."""
    if not isinstance(payload, dict):
        raise InvalidArgument(f"the request must be a JSON object with {', '.join(fields)}")
    out = {}
    for name, kind in fields.items():
        value = payload.get(name, False if kind is bool else None)
        if not isinstance(value, kind):
            raise InvalidArgument(f"'{name}' must be a {_KINDS.get(kind, kind.__name__)}")
        out[name] = value
    return out


def pdf_name(file: str) -> str:
    """``main`` or ``main.tex`` -> ``main.pdf``, checked like a project file."""
    stem = file[:-4] if file.endswith((".tex", ".pdf")) else file
    return project_key("", stem + ".pdf")


class Workdir:
    """A build directory plus the manifest of which version of each file it holds."""

    def __init__(self, root: Path) -> None:
        self.root = root
        root.mkdir(parents=True, exist_ok=True)
        try:
            self.versions: dict[str, float | str] = json.loads((root / MANIFEST).read_text())
        except (OSError, ValueError):
            self.versions = {}

    def sync(self, sources: Iterable[tuple[str, float | str]], fetch: Callable[[str], bytes | None]) -> list[str]:
        """Write every source ``(key, version)`` whose version differs from the copy's here (``fetch(key)`` gives
        its bytes); the keys written, in order. The manifest is saved after the files, so a crash in between
        makes the next sync write them again."""
        written = []
        for key, version in sources:
            if self.versions.get(key) == version:
                continue
            content = fetch(key)
            if content is None:
                continue
            target = self.root / key
            target.parent.mkdir(parents=True, exist_ok=True)
            tmp = target.with_name(f".{target.name}.tmp")
            tmp.write_bytes(content)
            os.replace(tmp, target)
            self.versions[key] = version
            written.append(key)
        if written:
            tmp = self.root / f"{MANIFEST}.tmp"
            tmp.write_text(json.dumps(self.versions))
            os.replace(tmp, self.root / MANIFEST)
        return written

    def pdf(self, file: str) -> bytes | None:
        path = self.root / pdf_name(file)
        return path.read_bytes() if path.is_file() else None


def latexmk() -> str:
    """The path of ``latexmk``; :class:`TexMissing` naming the packages to install."""
    found = shutil.which("latexmk")
    if found is None:
        raise TexMissing("latexmk is not installed where this function runs; on Debian: apt-get install "
                         + " ".join(TEX_PACKAGES))
    return found


def compile_project(work: Workdir, file: str, clean: bool = False, full_clean: bool = False) -> dict[str, Any]:
    """Run ``latexmk -pdf`` on ``file`` in ``work``; ``{"status", "output", "command", "time_compile"}``."""
    main = project_key("", file)
    exe = latexmk()
    outputs = []
    if full_clean:
        done = subprocess.run([exe, "-C", main], cwd=work.root, capture_output=True, text=True,
                              timeout=COMPILE_TIMEOUT, stdin=subprocess.DEVNULL)
        outputs.append(done.stdout + done.stderr)
    cmd = [exe, "-pdf", "-interaction=nonstopmode", "-halt-on-error", "-file-line-error"]
    cmd += ["-gg"] if clean else []
    cmd.append(main)
    t0 = time.monotonic()
    try:
        done = subprocess.run(cmd, cwd=work.root, capture_output=True, text=True, errors="replace",
                              timeout=COMPILE_TIMEOUT, stdin=subprocess.DEVNULL)
        ok, out = done.returncode == 0, done.stdout + done.stderr
    except subprocess.TimeoutExpired as exc:
        partial = exc.stdout.decode(errors="replace") if isinstance(exc.stdout, bytes) else exc.stdout or ""
        ok, out = False, f"{partial}\nlatexmk did not finish within {COMPILE_TIMEOUT:.0f} s"
    log = "".join(outputs) + str(out)
    if not ok:
        log += _tex_errors(work.root / (PurePosixPath(main).stem + ".log"))
    return {"status": "success" if ok else "failure", "output": log[-LOG_LIMIT:],
            "command": " ".join(["latexmk", *cmd[1:]]), "full_clean": full_clean,
            "time_compile": time.monotonic() - t0}


def _tex_errors(log: Path) -> str:
    """The error lines of TeX's log (latexmk's own output does not always show them)."""
    try:
        text = log.read_text(errors="replace")
    except OSError:
        return ""
    lines = [m.group(0) for m in re.finditer(r"^(?:!|\S+:\d+:) .*$", text, re.MULTILINE)]
    return ("\n--- errors in " + log.name + " ---\n" + "\n".join(lines[:20])) if lines else ""


def documentclass(source: str) -> str | None:
    """The class a LaTeX main file uses (``acmart``, ``article``...), or None."""
    m = re.search(r"\\documentclass\s*(?:\[[^\]]*\])?\s*\{([^}]+)\}", source)
    return m.group(1).strip() if m else None


def project_files(root: Path) -> list[tuple[str, bytes]]:
    """Every file of a project directory on disk as ``(key, bytes)``, sources only (no build outputs)."""
    skip = {".aux", ".log", ".fls", ".fdb_latexmk", ".bbl", ".blg", ".out", ".toc", ".synctex.gz", ".py"}
    out = []
    for p in sorted(root.rglob("*")):
        rel = p.relative_to(root).as_posix()
        if p.is_file() and p.suffix not in skip and not rel.startswith(".") and "/." not in rel \
                and "__pycache__" not in rel and p.name not in ("README.md", "LICENSE") \
                and not (p.suffix == ".pdf" and p.parent == root):
            out.append((rel, p.read_bytes()))
    return out


__all__ = ["project_key", "get_file", "encode", "decode", "is_binary", "parse", "pdf_name", "Workdir",
           "compile_project", "latexmk", "TexMissing", "documentclass", "project_files", "TEX_PACKAGES",
           "BINARY_SUFFIXES", "preview", "pdf_text"]


def preview(pdf: bytes, page: int = 1, dpi: int = 60,
            crop: tuple[float, float, float, float] | None = None) -> bytes:
    """Page ``page`` of a PDF as PNG bytes (``pdftoppm`` from poppler-utils); :class:`TexMissing` without it.
    ``crop`` = (left, top, width, height) as fractions of the page keeps only that region (a zoomed detail)."""
    exe = shutil.which("pdftoppm")
    if exe is None:
        raise TexMissing("pdftoppm is not installed (on Debian: apt-get install poppler-utils)")
    import tempfile

    with tempfile.TemporaryDirectory(prefix="praas-preview-") as tmp:
        (Path(tmp) / "in.pdf").write_bytes(pdf)
        region = _pixels(Path(tmp) / "in.pdf", page, dpi, crop) if crop is not None else []
        done = subprocess.run([exe, "-png", "-r", str(dpi), "-f", str(page), "-l", str(page), *region,
                               "-singlefile", "in.pdf", "page"], cwd=tmp, capture_output=True, timeout=60,
                              stdin=subprocess.DEVNULL)
        out = Path(tmp, "page.png")
        png = out.read_bytes() if out.is_file() else b""
    if done.returncode != 0 or not png:
        raise InvalidArgument(f"cannot render page {page} of the PDF: {done.stderr.decode(errors='replace')[:300]}")
    return png


def _pixels(pdf: Path, page: int, dpi: int, crop: tuple[float, float, float, float]) -> list[str]:
    """pdftoppm's ``-x -y -W -H`` for ``crop`` (fractions of the page, whose size ``pdfinfo`` reports)."""
    if not all(0 <= f <= 1 for f in crop) or crop[2] <= 0 or crop[3] <= 0:
        raise InvalidArgument(f"crop {crop} must be (left, top, width, height) fractions of the page in [0, 1]")
    exe = shutil.which("pdfinfo")
    if exe is None:
        raise TexMissing("pdfinfo is not installed (on Debian: apt-get install poppler-utils)")
    done = subprocess.run([exe, "-f", str(page), "-l", str(page), pdf.name], cwd=pdf.parent, capture_output=True,
                          text=True, errors="replace", timeout=60, stdin=subprocess.DEVNULL)
    m = re.search(r"^Page\s+\d+\s+size:\s*([\d.]+) x ([\d.]+) pts", done.stdout, re.MULTILINE) or \
        re.search(r"^Page size:\s*([\d.]+) x ([\d.]+) pts", done.stdout, re.MULTILINE)
    if m is None:
        raise InvalidArgument(f"cannot read the size of page {page} of the PDF: {done.stderr[:300]}")
    width, height = (float(v) * dpi / 72 for v in m.groups())
    left, top, w, h = crop
    return ["-x", str(round(left * width)), "-y", str(round(top * height)), "-W", str(round(w * width)),
            "-H", str(round(h * height))]


def pdf_text(pdf: bytes, first: int = 1, last: int | None = None) -> str:
    """The text of pages ``first``..``last`` (default: to the end) of a PDF, whitespace runs and the hyphens
    of words broken across lines joined (``pdftotext`` from poppler-utils); :class:`TexMissing` without it."""
    exe = shutil.which("pdftotext")
    if exe is None:
        raise TexMissing("pdftotext is not installed (on Debian: apt-get install poppler-utils)")
    pages = ["-f", str(first)] + (["-l", str(last)] if last is not None else [])
    done = subprocess.run([exe, *pages, "-", "-"], input=pdf, capture_output=True, timeout=60)
    if done.returncode != 0:
        raise InvalidArgument(f"cannot read the text of the PDF: {done.stderr.decode(errors='replace')[:300]}")
    text = re.sub(r"(\w)-\n(\w)", r"\1\2", done.stdout.decode(errors="replace"))
    return " ".join(text.split())
