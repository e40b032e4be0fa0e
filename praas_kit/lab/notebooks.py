"""Running the notebook series (the README's main job, ``praas notebooks``): parameters injected the papermill
way, executed with nbclient so that a cell tagged ``raises-exception`` may fail as the lesson intends
(papermill itself reports such a cell as an error at the end of the run).

:func:`run` executes one notebook into a folder; :func:`run_series` runs every ``NN_name.ipynb`` in order
with a progress bar and reports the seconds each took. An executed notebook names no path of the machine it
ran on (:func:`scrub`): tracebacks and papermill's metadata show paths relative to the checkout, so executed
notebooks can be committed.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from praas_kit.errors import InvalidArgument, NotebookFailed

log = logging.getLogger("praas_kit.lab.notebooks")

SERIES = re.compile(r"^\d\d_[a-z0-9_]+\.ipynb$")
CELL_TIMEOUT = 1800  #: seconds one cell may run (a full-mode benchmark cell is long)


@dataclass(frozen=True)
class NotebookRun:
    """One executed notebook: where it was written and how long it took."""

    source: Path
    output: Path
    seconds: float


def series(folder: Path) -> list[Path]:
    """The numbered notebooks of ``folder`` in order."""
    found = sorted(p for p in Path(folder).iterdir() if SERIES.match(p.name))
    if not found:
        raise InvalidArgument(f"no numbered notebooks (NN_name.ipynb) in {folder}")
    return found


def scrub(nb: Any, root: Path) -> int:
    """Replace ``root`` (and the home directory) in every output and in papermill's metadata with relative
    paths; how many strings changed."""
    prefixes = [f"{Path(root).resolve()}/", f"{Path.home()}/"]
    changed = 0

    def fix(text: str) -> str:
        nonlocal changed
        for prefix in prefixes:
            if prefix in text:
                text = text.replace(prefix, "")
                changed += 1
        return text

    def walk(value: Any) -> Any:
        if isinstance(value, str):
            return fix(value)
        if isinstance(value, list):
            return [walk(v) for v in value]
        if isinstance(value, dict):
            for k in list(value):
                value[k] = walk(value[k])
        return value

    for cell in nb.cells:
        for output in cell.get("outputs", []):
            walk(output)
    walk(nb.metadata.get("papermill", {}))
    return changed


def _sections(nb: Any) -> list[str]:
    """For each cell, the heading of the section it is in (the last Markdown heading above it)."""
    out, current = [], ""
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            heading = next((line.lstrip("#").strip() for line in cell.source.splitlines() if line.startswith("#")),
                           None)
            current = heading or current
        out.append(current)
    return out


def run(notebook: Path, out_dir: Path, parameters: dict[str, Any] | None = None,
        progress: Callable[[int, int, str], None] | None = None) -> NotebookRun:
    """Execute ``notebook`` (in its own folder, as Jupyter would) with ``parameters`` injected after its
    ``parameters`` cell; write it to ``out_dir``. Raises :class:`NotebookFailed` naming the cell that failed
    (the partly executed notebook is written all the same, for reading). ``progress(done, total, section)``
    is called after each code cell (``section``: the heading it is under)."""
    import nbformat
    import papermill
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError

    notebook = Path(notebook).resolve()
    out_dir.mkdir(parents=True, exist_ok=True)
    target = out_dir.resolve() / notebook.name
    papermill.execute_notebook(str(notebook), str(target), parameters=parameters or {}, prepare_only=True,
                               progress_bar=False, log_output=False, kernel_name="python3")
    nb = nbformat.read(target, as_version=4)
    sections = _sections(nb)
    code = [i for i, c in enumerate(nb.cells) if c.cell_type == "code"]

    def done(cell: Any = None, cell_index: int = 0, **_: Any) -> None:
        if progress is not None and cell_index in code:
            progress(code.index(cell_index) + 1, len(code), sections[cell_index])

    client = NotebookClient(nb, timeout=CELL_TIMEOUT, kernel_name="python3", on_cell_complete=done,
                            resources={"metadata": {"path": str(notebook.parent)}})
    t0 = time.monotonic()
    try:
        client.execute()
    except CellExecutionError as exc:
        scrub(nb, notebook.parent.parent)
        nbformat.write(nb, target)
        raise NotebookFailed(f"{notebook.name}: a cell failed (see {target}):\n{str(exc)[-3000:]}") from None
    seconds = time.monotonic() - t0
    scrub(nb, notebook.parent.parent)
    nbformat.write(nb, target)
    return NotebookRun(notebook, target, seconds)


def run_series(folder: Path, out_dir: Path, parameters: dict[str, Any] | None = None,
               only: list[str] | None = None) -> list[NotebookRun]:
    """Run the series in order (``only``: the notebooks whose name starts with one of these prefixes); stop
    at the first failure."""
    from tqdm.auto import tqdm

    books = [p for p in series(folder) if not only or any(p.name.startswith(o) for o in only)]
    runs = []
    with tqdm(books, desc="notebooks", unit="notebook") as bar:
        for nb in bar:
            bar.set_postfix_str(nb.stem)
            with tqdm(desc=nb.stem, unit="cell", leave=False) as cells:  # the step running: its section

                def step(done: int, total: int, section: str, cells: Any = cells) -> None:
                    cells.total = total
                    cells.n = done
                    cells.set_postfix_str(section[:40], refresh=True)

                runs.append(run(nb, out_dir, parameters, progress=step))
            log.info("%s ran in %.0f s", nb.name, runs[-1].seconds)
    return runs


__all__ = ["run", "run_series", "series", "scrub", "NotebookRun", "NotebookFailed"]
