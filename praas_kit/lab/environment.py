"""What this machine offers the series (Docker engine, images, TeX, Redis, Swift S3), as rows of (component,
available, detail, needed for)."""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Component:
    """One thing the series may use."""

    name: str
    available: bool
    detail: str
    needed_for: str


def _which(*names: str) -> str | None:
    for n in names:
        found = shutil.which(n) or next((str(Path(d, n)) for d in ("/usr/bin", "/usr/sbin") if Path(d, n).exists()),
                                        None)
        if found:
            return found
    return None


def environment() -> list[Component]:
    """What this machine offers: Docker engine and images, TeX, redis-server, Swift (the S3 server)."""
    from praas_kit.engines import images as image_names

    out = []
    engine, images = False, "no engine"
    try:
        from praas_kit.engines import docker as docker_engine

        client = docker_engine.connect()
        version = client.version().get("Version", "?")
        engine = True
        have = {t for i in client.images.list() for t in i.tags}
        missing = [ref for ref in (image_names.PROCESS, image_names.LATEX, image_names.S3, image_names.REDIS)
                   if ref not in have]
        images = "all built" if not missing else "missing: " + ", ".join(missing) + " (praas images build)"
        client.close()
        out.append(Component("Docker engine", True, f"version {version}", "the docker backend"))
    except Exception as exc:  # noqa: BLE001 - reported as unavailable
        out.append(Component("Docker engine", False, str(exc).splitlines()[0][:120], "the docker backend"))
    out.append(Component("praas images", engine and images == "all built", images, "the docker backend"))
    tex = _which("latexmk")
    detail = "not installed (apt-get install latexmk texlive-latex-extra texlive-publishers ...)"
    if tex:
        done = subprocess.run([tex, "-v"], capture_output=True, text=True, timeout=30)
        detail = (done.stdout.strip().splitlines() or ["latexmk"])[-1]
    out.append(Component("TeX (latexmk)", tex is not None, detail, "the LaTeX service on the local backend"))
    redis = _which("redis-server")
    out.append(Component("redis-server", redis is not None, redis or "not installed (apt-get install redis-server)",
                         "Redis baselines on the local backend"))
    swift = _which("swift-proxy-server")
    out.append(Component("Swift S3 server", swift is not None,
                         swift or "not installed (apt-get install swift swift-proxy swift-account ...)",
                         "S3 baselines and the FaaS LaTeX variant on the local backend"))
    return out


def environment_table(components: list[Component] | None = None) -> str:
    """:func:`environment` as Markdown (for ``IPython.display.Markdown``)."""
    rows = components if components is not None else environment()
    lines = ["| component | available | detail | needed for |", "|---|---|---|---|"]
    lines += [f"| {c.name} | {'yes' if c.available else '**no**'} | {c.detail} | {c.needed_for} |" for c in rows]
    return "\n".join(lines)


__all__ = ["Component", "environment", "environment_table"]
