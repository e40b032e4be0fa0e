"""The inputs an image's content hash covers (an image whose hash is unchanged is not rebuilt)."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from pathlib import Path

from praas_kit.tools.images.spec import JUPYTER_PACKAGES, JUPYTER_WHEELS, RECIPE_VERSION, RUNTIME_EXTRAS, ImageSpec


def source_files(repo: Path) -> Iterator[Path]:
    """The files that go into the praas-kit wheel (package sources, pyproject, readme)."""
    for name in ("pyproject.toml", "README.md", "setup.cfg", "setup.py", "MANIFEST.in"):
        if (repo / name).is_file():
            yield repo / name
    package = repo / "praas_kit"
    for path in sorted(package.rglob("*")):
        rel = path.relative_to(package)
        if any(part == "__pycache__" or part.startswith(".") for part in rel.parts):
            continue
        if path.is_file() and path.suffix not in (".pyc", ".pyo"):
            yield path


def input_hash(spec: ImageSpec, repo: Path, build_args: dict[str, str], parent_id: str) -> str:
    digest = hashlib.sha256()

    def add(label: str, data: bytes) -> None:
        digest.update(f"{label}\0{len(data)}\0".encode())
        digest.update(data)

    add("recipe", RECIPE_VERSION.encode())
    add("spec", json.dumps([spec.name, spec.dockerfile, spec.parent, spec.context_dirs]).encode())
    add("dockerfile", (repo / "docker" / spec.dockerfile).read_bytes())
    add("args", json.dumps(build_args, sort_keys=True).encode())
    add("parent", parent_id.encode())
    if spec.has_venv:
        add("extras", ",".join(RUNTIME_EXTRAS).encode())
        for path in source_files(repo):
            add(str(path.relative_to(repo)), path.read_bytes())
    if JUPYTER_WHEELS in spec.context_dirs:
        add("jupyter", ",".join(JUPYTER_PACKAGES).encode())
    return digest.hexdigest()


__all__ = ["source_files", "input_hash"]
