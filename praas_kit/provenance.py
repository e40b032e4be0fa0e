"""What a computation read: the committed input files of the checkout, with the SHA-256 of their bytes.

The kit's readers of result and dataset files (:func:`praas_kit.bench.common.load_rows`, ``paper_csv``, the
metadata loaders of :mod:`praas_kit.bench.report` and :mod:`praas_kit.bench.validate`, ...) call
:func:`record` with each file they read. Only *committed* inputs count: files under the repository's
``results/`` and ``datasets/``, except the scratch folders in :data:`SCRATCH` (quick-mode runs, executed
notebooks, screenshots: what ``.gitignore`` leaves out). Anything outside the checkout (a temporary folder, an
installed copy without one) is ignored.

* :func:`stamp`: the commit, whether the tree was dirty, and ``{path relative to the checkout: sha256}`` of
  everything recorded in this process; :func:`show_stamp` displays it in a notebook as the mime type
  :data:`MIME` beside a short ``text/plain`` summary.
* :func:`stale`: the problems of an executed notebook's stamp against the working tree (a recorded file that
  changed or is gone, or no stamp at all); ``tests/test_notebook_freshness.py`` runs it on every numbered
  notebook.
* :func:`add_cells`: append the stamp's markdown and code cells to a notebook that has none
  (``python -m praas_kit.provenance add-cells notebooks/[0-9][0-9]_*.ipynb``; ``... check`` runs :func:`stale`).
"""

from __future__ import annotations

import functools
import hashlib
import json
import logging
import subprocess
import threading
from pathlib import Path, PurePosixPath
from typing import Any

from praas_kit.checkout import checkout_root

log = logging.getLogger("praas_kit.provenance")

MIME = "application/vnd.praas-kit.provenance+json"
#: the folders of the checkout whose files are committed inputs
COMMITTED = ("results", "datasets")
#: scratch output under ``results/`` (never committed: quick-mode runs, executed notebooks, CI artefacts)
SCRATCH = ("results/quick", "results/notebooks", "results/tmp", "results/browser")
#: what a stale notebook's problem tells the reader to do
RERUN = "re-execute the notebook: praas notebooks --only {prefix} --out notebooks (see notebooks/README.md)"
HEADING = "### Where these outputs came from"
MARKDOWN = (f"{HEADING}\n\nThe stamp below names every committed file under `results/` and `datasets/` this "
            "notebook read, with its SHA-256, and the commit it ran at; `tests/test_notebook_freshness.py` fails "
            "when one of them has changed since, so the outputs above never contradict the committed results.")
STAMP_CODE = "from praas_kit import provenance\nprovenance.show_stamp()"

_lock = threading.Lock()
_files: dict[str, str] = {}


@functools.cache
def repository() -> Path | None:
    """The source checkout this package lives in (the folder holding ``pyproject.toml`` next to ``praas_kit/``),
    or ``None`` for an installed copy outside a checkout."""
    return checkout_root()


def committed_name(path: Path | str, root: Path | None = None) -> str | None:
    """``path`` relative to the checkout ``root`` (default :func:`repository`) in POSIX form if it is a
    committed input (under ``results/`` or ``datasets/``, not under :data:`SCRATCH`), else ``None``."""
    root = repository() if root is None else root.resolve()
    if root is None:
        return None
    try:
        rel = PurePosixPath(Path(path).resolve().relative_to(root).as_posix())
    except ValueError:
        return None
    if not rel.parts or rel.parts[0] not in COMMITTED:
        return None
    if any(rel == PurePosixPath(s) or PurePosixPath(s) in rel.parents for s in SCRATCH):
        return None
    return rel.as_posix()


def record(path: Path | str, data: bytes | None = None) -> str | None:
    """Note that this process read ``path``: its bytes ``data`` (default: the file's current bytes). Recorded
    only for a committed input (:func:`committed_name`); a file that cannot be read is not recorded. The name
    recorded, or ``None``. A file read again is recorded with its latest bytes."""
    name = committed_name(path)
    if name is None:
        return None
    if data is None:
        try:
            data = Path(path).read_bytes()
        except OSError:
            return None
    digest = hashlib.sha256(data).hexdigest()
    with _lock:
        if _files.get(name, digest) != digest:
            log.info("%s changed since it was last read in this process", name)
        _files[name] = digest
    return name


def recorded() -> dict[str, str]:
    """``{name: sha256}`` of every committed input recorded so far, sorted by name."""
    with _lock:
        return dict(sorted(_files.items()))


def reset() -> None:
    """Forget everything recorded (tests)."""
    with _lock:
        _files.clear()


def git_commit() -> str:
    """The checkout's ``HEAD`` commit, or ``"unknown"`` (no git, no checkout)."""
    try:
        return subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5,
                              cwd=Path(__file__).parent).stdout.strip() or "unknown"
    except (OSError, subprocess.TimeoutExpired):
        return "unknown"


def git_dirty() -> bool | None:
    """Whether tracked files differ from the commit (``None`` outside a git checkout)."""
    try:
        done = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], capture_output=True,
                              text=True, timeout=5, cwd=Path(__file__).parent)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return bool(done.stdout.strip()) if done.returncode == 0 else None


def git_diff() -> str | None:
    """The tracked files' changes against ``HEAD`` (``git diff HEAD``; ``""`` for a clean tree, ``None`` outside a
    git checkout)."""
    try:
        done = subprocess.run(["git", "diff", "HEAD"], capture_output=True, text=True, timeout=30,
                              cwd=Path(__file__).parent)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return done.stdout if done.returncode == 0 else None


def stamp() -> dict[str, Any]:
    """``{"commit": HEAD or "unknown", "dirty": bool | None, "files": {name: sha256}}``: what this process read
    (:func:`recorded`) and the code it ran at."""
    return {"commit": git_commit(), "dirty": git_dirty(), "files": recorded()}


def summary(st: dict[str, Any]) -> str:
    """One line about a :func:`stamp`, free of machine paths (the ``text/plain`` of :func:`show_stamp`)."""
    n = len(st.get("files", {}))
    dirty = st.get("dirty")
    tree = "not a git checkout" if dirty is None else "uncommitted changes" if dirty else "clean tree"
    commit = str(st.get("commit", "unknown"))[:7]
    return f"computed from {n} committed file{'' if n == 1 else 's'} at commit {commit} ({tree})"


def show_stamp() -> None:
    """Display :func:`stamp` in a notebook: the mime type :data:`MIME` carries the stamp, ``text/plain`` its
    :func:`summary` (what :func:`stale` reads back from the executed notebook)."""
    from IPython.display import display

    st = stamp()
    display({MIME: st, "text/plain": summary(st)}, raw=True)  # type: ignore[no-untyped-call]  # IPython is untyped


def _stamp_of(nb: dict[str, Any]) -> tuple[dict[str, Any] | None, bool]:
    """(the last stamp in the notebook's outputs, whether it is an output of the last code cell)."""
    code = [c for c in nb.get("cells", []) if c.get("cell_type") == "code"]
    found: dict[str, Any] | None = None
    last = False
    for i, cell in enumerate(code):
        for output in cell.get("outputs", []):
            value = output.get("data", {}).get(MIME)
            if value is not None:
                found = json.loads(value) if isinstance(value, str) else value
                last = i == len(code) - 1
    return found, last


def stale(notebook: Path | str, root: Path | None = None) -> list[str]:
    """The problems of an executed ``notebook``'s provenance stamp (``[]``: its outputs are fresh): no stamp,
    a stamp that is not the output of the last code cell (what later cells read is not covered), a recorded
    file that no longer exists under ``root`` (default :func:`repository`, else the notebook's folder's
    parent) or whose SHA-256 differs from the working tree's. Each problem names the notebook and the file
    and says how to re-execute it."""
    notebook = Path(notebook)
    root = root if root is not None else repository() or notebook.resolve().parent.parent
    rerun = RERUN.format(prefix=notebook.name[:2])
    try:
        nb = json.loads(notebook.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        return [f"{notebook.name}: not a readable notebook ({exc})"]
    st, last = _stamp_of(nb)
    if st is None:
        return [f"{notebook.name}: no provenance stamp (a last cell calling provenance.show_stamp(), "
                f"executed); {rerun}"]
    problems = [] if last else [f"{notebook.name}: the provenance stamp is not in the last code cell; {rerun}"]
    for name, digest in sorted(st.get("files", {}).items()):
        path = root / name
        try:
            now = hashlib.sha256(path.read_bytes()).hexdigest()
        except OSError:
            problems.append(f"{notebook.name}: {name} no longer exists; {rerun}")
            continue
        if now != digest:
            problems.append(f"{notebook.name}: {name} changed since the notebook ran; {rerun}")
    return problems


def _write_notebook(path: Path, nb: dict[str, Any]) -> None:
    # nbformat's own layout (sort_keys, indent 1, unescaped), so that nothing else in the file changes
    path.write_text(json.dumps(nb, sort_keys=True, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")


def add_cells(notebook: Path | str) -> bool:
    """Append to ``notebook``, if missing, a markdown cell (:data:`HEADING`, what the stamp is) and a last code
    cell calling :func:`show_stamp` with no outputs; every other cell and output stays as it is. Whether the
    file changed."""
    path = Path(notebook)
    nb = json.loads(path.read_text(encoding="utf-8"))
    cells: list[dict[str, Any]] = nb.setdefault("cells", [])
    has_text = any(c.get("cell_type") == "markdown" and HEADING in "".join(c.get("source", [])) for c in cells)
    has_code = any(c.get("cell_type") == "code" and "show_stamp(" in "".join(c.get("source", [])) for c in cells)
    if has_text and has_code:
        return False
    ids = (nb.get("nbformat", 4), nb.get("nbformat_minor", 0)) >= (4, 5)
    new: list[dict[str, Any]] = []
    if not has_text:
        new.append({"cell_type": "markdown", "metadata": {}, "source": MARKDOWN.splitlines(keepends=True)}
                   | ({"id": "provenance-text"} if ids else {}))
    if not has_code:
        new.append({"cell_type": "code", "execution_count": None, "metadata": {}, "outputs": [],
                    "source": STAMP_CODE.splitlines(keepends=True)} | ({"id": "provenance-stamp"} if ids else {}))
    cells.extend(new)
    _write_notebook(path, nb)
    return True


def main(argv: list[str] | None = None) -> int:
    """``python -m praas_kit.provenance add-cells|check NOTEBOOK...``: add the stamp's cells, or list the
    problems of the notebooks' stamps (exit status 1 if any)."""
    import argparse

    parser = argparse.ArgumentParser(prog="python -m praas_kit.provenance", description=__doc__.split("\n")[0])
    parser.add_argument("command", choices=("add-cells", "check"))
    parser.add_argument("notebooks", nargs="+", type=Path)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    if args.command == "add-cells":
        for nb in args.notebooks:
            log.info("%s: %s", nb, "stamp cells added" if add_cells(nb) else "has its stamp cells already")
        return 0
    problems = [p for nb in args.notebooks for p in stale(nb)]
    for p in problems:
        log.warning("%s", p)
    if not problems:
        log.info("%d notebook(s): every stamp matches the working tree", len(args.notebooks))
    return 1 if problems else 0


__all__ = ["MIME", "SCRATCH", "COMMITTED", "repository", "committed_name", "record", "recorded", "reset",
           "git_commit", "git_dirty", "stamp", "summary", "show_stamp", "stale", "add_cells", "main"]


if __name__ == "__main__":
    raise SystemExit(main())
