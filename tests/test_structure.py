"""The structure rules of the package (CONTRIBUTING.md), checked on the code itself.

* the process runtime never imports the control plane; the SDK stands on the protocol only;
* no import circles; no module over ~500 lines;
* one process contract: only ``process/config.py`` names the ``PRAAS_*`` launch variables;
* lifecycle knowledge stays in ``lifecycle.py`` (no status strings elsewhere);
* the public surface (``praas_kit.__all__``) is what it says, and the SDK's typed models follow the
  REST API's response models.
"""

from __future__ import annotations

import ast
import dataclasses
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

import praas_kit

PKG = Path(praas_kit.__file__).parent
MAX_LINES = 500


def _modules() -> dict[str, Path]:
    out = {}
    for path in sorted(PKG.rglob("*.py")):
        rel = path.relative_to(PKG.parent).with_suffix("")
        parts = list(rel.parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out[".".join(parts)] = path
    return out


def _loaded_after_import(module: str) -> list[str]:
    code = f"import sys, json, {module}; print(json.dumps(sorted(m for m in sys.modules)))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    return json.loads(out.stdout)


@pytest.mark.parametrize("module, forbidden", [
    ("praas_kit.sdk.client", ("praas_kit.control", "praas_kit.deploy", "praas_kit.backends", "praas_kit.tools",
                              "praas_kit.process", "praas_kit.storage", "fastapi", "uvicorn", "docker")),
    ("praas_kit.process.runtime", ("praas_kit.control", "praas_kit.sdk", "praas_kit.deploy", "praas_kit.tools",
                                   "praas_kit.backends", "fastapi", "uvicorn", "httpx", "docker")),
    ("praas_kit", ("praas_kit.control", "praas_kit.sdk", "praas_kit.deploy", "praas_kit.tools", "zmq", "httpx",
                   "fastapi", "docker", "boto3")),
    ("praas_kit.control.server", ("praas_kit.sdk", "praas_kit.deploy", "praas_kit.tools", "docker", "boto3")),
])
def test_import_rules(module: str, forbidden: tuple[str, ...]) -> None:
    loaded = _loaded_after_import(module)
    bad = [m for m in loaded if any(m == f or m.startswith(f + ".") for f in forbidden)]
    assert bad == [], f"importing {module} loads {bad}"


def _imports(path: Path, name: str) -> set[str]:
    """praas_kit modules ``path`` imports at run time (not under ``if TYPE_CHECKING``)."""
    tree = ast.parse(path.read_text())
    found: set[str] = set()

    def visit(node: ast.AST) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and "TYPE_CHECKING" in ast.unparse(child.test):
                continue
            if isinstance(child, ast.Import):
                found.update(a.name for a in child.names if a.name.startswith("praas_kit"))
            elif isinstance(child, ast.ImportFrom):
                base = child.module or ""
                if child.level:
                    pkg = name.rsplit(".", child.level if path.name != "__init__.py" else child.level - 1)[0]
                    base = f"{pkg}.{base}".rstrip(".")
                if base.startswith("praas_kit"):
                    found.add(base)
                    found.update(f"{base}.{a.name}" for a in child.names)
            visit(child)

    visit(tree)
    return found


def test_no_import_circles() -> None:
    mods = _modules()
    graph = {name: {m for m in _imports(path, name) if m in mods and m != name} for name, path in mods.items()}
    # a package's __init__ that only re-exports its own submodules is not a circle with them
    for name in graph:
        graph[name] = {m for m in graph[name] if not (m != "praas_kit" and name.startswith(m + "."))}
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    circles: list[list[str]] = []
    counter = [0]

    def strong(v: str) -> None:
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in graph[v]:
            if w not in index:
                strong(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                circles.append(sorted(comp))

    for v in graph:
        if v not in index:
            strong(v)
    assert circles == []


#: the package's layers, lowest first: a module imports only from its own group or from a lower layer (no upward
#: arrow, and none sideways between groups of one layer, e.g. control <-> sdk); "kernel" is every top-level module
#: that is not listed (the protocol: errors, lifecycle, names, wire, payload, keys, home, function, limits ...)
LAYERS: tuple[frozenset[str], ...] = tuple(frozenset(g) for g in (
    {"kernel"}, {"storage", "engines"}, {"process", "tools"}, {"backends"}, {"control", "sdk"}, {"deploy"},
    {"apps"}, {"bench"}, {"lab"}, {"cli_output", "diagrams", "envdoc"}, {"cli"}, {"__main__"}))


def _group(module: str) -> str:
    """The layer group of a praas_kit module: its subpackage, a listed top-level module, or ``kernel``."""
    parts = module.split(".")
    top = parts[1] if len(parts) > 1 else ""
    return top if any(top in layer for layer in LAYERS) else "kernel"


def _layer(group: str) -> int:
    return next(i for i, layer in enumerate(LAYERS) if group in layer)


def test_no_import_goes_up_or_sideways() -> None:
    mods = _modules()
    bad = []
    for name, path in mods.items():
        for target in _imports(path, name):
            if target not in mods or target == name:
                continue
            g, h = _group(name), _group(target)
            if g != h and _layer(h) >= _layer(g):
                bad.append(f"{name} -> {target} ({g} -> {h})")
    assert bad == []


def _private_reach(path: Path, name: str) -> list[str]:
    """Uses of another group's private names in ``path``: ``from praas_kit.x import _y``, ``module._y`` on an
    imported praas_kit module, and (from bench, lab and apps) anything reached through a ``.controller``."""
    tree = ast.parse(path.read_text())
    group = _group(name)
    aliases: dict[str, str] = {}  # local name -> praas_kit module
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("praas_kit"):
            for a in node.names:
                full = f"{node.module}.{a.name}"
                aliases[a.asname or a.name] = full
                if a.name.startswith("_") and not a.name.startswith("__") and _group(node.module or "") != group:
                    found.append(f"{path.relative_to(PKG)}:{node.lineno} imports {full}")
        elif isinstance(node, ast.Import):
            for a in node.names:
                if a.name.startswith("praas_kit") and a.asname:
                    aliases[a.asname] = a.name
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.attr.startswith("_") \
                and not node.attr.startswith("__") and node.value.id in aliases \
                and _group(aliases[node.value.id]) != group:
            found.append(f"{path.relative_to(PKG)}:{node.lineno} uses {node.value.id}.{node.attr}")
        if group in ("bench", "lab", "apps") and isinstance(node, ast.Attribute) \
                and isinstance(node.value, ast.Attribute) and node.value.attr == "controller":
            found.append(f"{path.relative_to(PKG)}:{node.lineno} reaches into a controller "
                         f"({ast.unparse(node)})")
    return found


def test_no_reach_into_another_groups_privates() -> None:
    """Packages meet at their public names: no cross-package ``_private`` import or attribute, and bench, lab
    and apps work through the SDK and deployments, not a deployment's ``.controller``."""
    found = [f for name, path in _modules().items() for f in _private_reach(path, name)]
    assert found == []


def test_no_module_is_long() -> None:
    long = {str(p.relative_to(PKG.parent)): n for p in PKG.rglob("*.py") if (n := len(p.read_text().splitlines()))
            > MAX_LINES}
    assert long == {}


def _launch_vars() -> re.Pattern[str]:
    """The variables only a process runtime reads, taken from :class:`ProcessConfig` itself (those it shares with
    the control plane, like PRAAS_MAX_PAYLOAD, mean the same on both sides and are read by each side's config)."""
    from praas_kit.control.config import ControlPlaneConfig
    from praas_kit.process.config import ProcessConfig

    def names(cls: type) -> set[str]:
        return {f.metadata["env"] for f in dataclasses.fields(cls) if "env" in f.metadata}

    only = sorted(names(ProcessConfig) - names(ControlPlaneConfig))
    assert "PRAAS_SECRETS_FILE" in only and "PRAAS_APP" in only
    return re.compile(r"\b(" + "|".join(only) + r")\b")


def test_only_the_process_config_names_the_launch_environment() -> None:
    launch = _launch_vars()
    writers = sorted(str(p.relative_to(PKG)) for p in PKG.rglob("*.py") if launch.search(p.read_text()))
    assert writers == ["process/config.py"]


def test_status_strings_live_in_the_lifecycle_only() -> None:
    states = "ALLOCATING|ALLOCATED|SWAPPING_OUT|SWAPPED_OUT|SWAPPING_IN|CLOSING|CLOSED|FAILED"
    pattern = re.compile(rf"""["']({states})["']""")
    users = sorted(str(p.relative_to(PKG)) for p in PKG.rglob("*.py") if pattern.search(p.read_text()))
    assert users == ["lifecycle.py"]


def test_public_names() -> None:
    assert sorted(praas_kit.__all__) == sorted([
        "function", "SELF", "ANY", "Invocation", "Result", "Status", "connect", "local", "docker_deployment",
        "swarm_deployment",
        "PraasError", "ApplicationNotFound", "ApplicationExists", "ProcessNotFound", "ProcessExists",
        "InvalidName", "InvalidArgument", "InvalidState", "InvocationError", "ProcessDied", "FunctionNotFound",
        "RecvTimeout", "Timeout", "PayloadTooLarge", "MailboxFull", "Overloaded", "ProtocolError", "BackendError",
        "StorageError",
        "SnapshotNotFound", "Unauthorized", "ControlPlaneUnreachable", "BadRequest", "Unreachable", "TexMissing",
        "NotebookFailed", "CheckoutMissing",
    ])
    for name in praas_kit.__all__:
        assert getattr(praas_kit, name) is not None
    errors = [getattr(praas_kit, n) for n in praas_kit.__all__ if n.endswith(("Error", "Found", "Exists", "Name",
                                                                              "Argument", "State", "Died", "Timeout",
                                                                              "Large", "Full", "Unauthorized",
                                                                              "Request", "Unreachable",
                                                                              "Missing", "Failed"))]
    assert all(issubclass(e, praas_kit.PraasError) for e in errors)
    with pytest.raises(AttributeError):
        praas_kit.no_such_name  # noqa: B018


def test_every_error_is_in_the_error_module() -> None:
    """One error tree: a class deriving from a praas-kit error is defined in ``errors.py`` (so it round-trips by
    name between processes, control plane and clients), nowhere else."""
    from praas_kit import errors

    names = {n for n, v in vars(errors).items() if isinstance(v, type) and issubclass(v, errors.PraasError)}
    outside = []
    for path in PKG.rglob("*.py"):
        if path.name == "errors.py" and path.parent == PKG:
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ClassDef) and {ast.unparse(b).rsplit(".", 1)[-1] for b in node.bases} & names:
                outside.append(f"{path.relative_to(PKG)}:{node.lineno} {node.name}")
    assert outside == []


def test_sdk_models_follow_the_response_models() -> None:
    from praas_kit.control import schemas
    from praas_kit.sdk import models

    pairs = [(models.ProcessInfo, schemas.ProcessModel), (models.ApplicationInfo, schemas.ApplicationModel),
             (models.SnapshotInfo, schemas.SnapshotModel), (models.MetricsInfo, schemas.MetricsModel),
             (models.SwapReport, schemas.SwapReportModel)]
    for dc, model in pairs:
        assert [f.name for f in dataclasses.fields(dc)] == list(model.model_fields), dc.__name__


def test_py_typed_marker_ships() -> None:
    assert (PKG / "py.typed").exists()


def test_every_direct_import_is_declared() -> None:
    """Each third-party module the package imports belongs to a distribution pyproject.toml names, in its
    dependencies or an extra (a transitive dependency may disappear with its parent's next release)."""
    import ast
    import importlib.metadata
    import sys

    import tomllib

    project = tomllib.loads((PKG.parent / "pyproject.toml").read_text())["project"]
    declared = {re.split(r"[<>=\[; ]", d, maxsplit=1)[0].lower().replace("_", "-")
                for d in [*project["dependencies"], *sum(project["optional-dependencies"].values(), [])]}
    modules = set()
    for path in PKG.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                modules |= {a.name.split(".")[0] for a in node.names}
            elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                modules.add(node.module.split(".")[0])
    third_party = modules - set(sys.stdlib_module_names) - {"praas_kit", "__future__"}
    owners = importlib.metadata.packages_distributions()
    undeclared = {m: owners.get(m) for m in third_party
                  if not {d.lower().replace("_", "-") for d in owners.get(m, [m])} & declared}
    assert undeclared == {}


def test_the_readme_lists_every_environment_variable() -> None:
    """The README's table is what ``praas_kit.envdoc`` generates, and every ``PRAAS_*`` name the code uses is
    in it (a family like ``PRAAS_DOCKER_<OPTION>`` by its prefix)."""
    from praas_kit import envdoc

    readme = (PKG.parent / "README.md").read_text()
    start, end = readme.index(envdoc.START), readme.index(envdoc.END) + len(envdoc.END)
    assert readme[start:end] == envdoc.markdown(), "README's table is stale: paste `python -m praas_kit.envdoc`"
    listed = {row[0] for row in envdoc.rows()}
    quoted = r"""["'`]\{?(PRAAS_[A-Z0-9_]*[A-Z0-9]_?)"""  # in strings and docs (PRAAS_WHEEL is a constant)
    used = {m for p in PKG.rglob("*.py") for m in re.findall(quoted, p.read_text())}
    missing = {v for v in used if v not in listed and not v.startswith(envdoc.PREFIXES)}
    assert missing == set()


def _norm(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def test_the_environment_is_installed_from_the_lock() -> None:
    """constraints.txt pins every distribution pyproject.toml names, and this environment has the pinned
    versions (scripts/venv.sh installs with ``-c constraints.txt``; scripts/lock.sh re-pins)."""
    import importlib.metadata

    import tomllib

    lock = PKG.parent / "constraints.txt"
    pins = {_norm(n): v for n, v in (line.split("==", 1) for line in lock.read_text().splitlines() if "==" in line)}
    project = tomllib.loads((PKG.parent / "pyproject.toml").read_text())["project"]
    declared = {_norm(re.split(r"[<>=\[; ]", d, maxsplit=1)[0])
                for d in [*project["dependencies"], *sum(project["optional-dependencies"].values(), [])]}
    assert declared - set(pins) == set(), "run scripts/lock.sh"
    installed = {_norm(d.metadata["Name"]): d.version for d in importlib.metadata.distributions()
                 if d.metadata["Name"]}
    assert {n: (v, installed[n]) for n, v in pins.items() if n in installed and installed[n] != v} == {}
