"""Every ``PRAAS_*`` environment variable in one table, generated from the config dataclasses.

The control plane's variables come from :class:`~praas_kit.control.config.ControlPlaneConfig` (its fields'
``env`` metadata, types, defaults and the comment beside each field); the process runtime's, which the
control plane sets for every process it starts, from :class:`~praas_kit.process.config.ProcessConfig`; the
few that are read elsewhere (clients, stores, the notebooks, the image builder) are listed in
:data:`OTHERS`. ``python -m praas_kit.envdoc`` prints the Markdown table; the README carries it between two
markers and a test keeps the copy equal to what this module generates, and every ``PRAAS_*`` name the
package's code uses in the table.
"""

from __future__ import annotations

import dataclasses
import inspect
import re
from typing import Any

from praas_kit.control.config import ControlPlaneConfig
from praas_kit.process.config import ProcessConfig

START, END = "<!-- env-table:start -->", "<!-- env-table:end -->"

#: variables read outside the two config dataclasses: name -> (who reads it, what it means)
OTHERS: dict[str, tuple[str, str]] = {
    "PRAAS_URL": ("clients", "the control plane's URL (default: what `praas serve` recorded in the home)"),
    "PRAAS_SWAP_KIND": ("control plane", "shorthand for the swap store: `dir` or `s3` (with the variables below)"),
    "PRAAS_SWAP_DIR": ("control plane", "the directory of a `dir` swap store"),
    "PRAAS_SWAP_STORE": ("control plane", "old name of PRAAS_SWAP_KIND: refused with a message"),
    "PRAAS_S3_ENDPOINT": ("control plane", "S3 swap store: the endpoint URL"),
    "PRAAS_S3_BUCKET": ("control plane", "S3 swap store: the bucket (`praas-swaps`)"),
    "PRAAS_S3_ACCESS_KEY": ("control plane", "S3 swap store: the access key"),
    "PRAAS_S3_SECRET_KEY": ("control plane", "S3 swap store: the secret key"),
    "PRAAS_S3_SECRET_KEY_FILE": ("control plane, S3 server", "a file holding the S3 secret key (a Swarm secret)"),
    "PRAAS_S3_REGION": ("control plane", "S3 swap store: the region (`us-east-1`)"),
    "PRAAS_S3_PREFIX": ("control plane", "S3 swap store: a key prefix"),
    "PRAAS_DOCKER_": ("control plane", "`PRAAS_DOCKER_<OPTION>`: an option of the docker backend (e.g. "
                                       "PRAAS_DOCKER_NETWORK, PRAAS_DOCKER_IMAGE, PRAAS_DOCKER_CONTROL_HOST)"),
    "PRAAS_SWARM_": ("control plane", "`PRAAS_SWARM_<OPTION>`: an option of the swarm backend (e.g. "
                                      "PRAAS_SWARM_NETWORK, PRAAS_SWARM_IMAGE, PRAAS_SWARM_RESERVE)"),
    "PRAAS_SWARM_SECRET": ("swarm task", "where the launcher finds the process's secret (set by the backend)"),
    "PRAAS_SWARM_USER": ("swarm task", "the user the launcher drops to (set by the backend)"),
    "PRAAS_LOG_LEVEL": ("process runtime", "its logging level (`INFO`)"),
    "PRAAS_QUICK": ("notebooks", "quick mode unless `0`/`false`/`no`"),
    "PRAAS_EXAMPLES": ("notebooks", "the shipped example applications (the Docker lab sets it)"),
    "PRAAS_REPO": ("the kit", "the source checkout (datasets/, results/, examples/, docker/; default: found)"),
    "PRAAS_IMAGE_CONTEXT": ("`praas images build`", "where wheels and build logs go (`docker/context`)"),
    "PRAAS_BASE_IMAGE": ("`praas images build`", "the base image of the images"),
}

#: ``env`` names that stand for a family (a prefix), not one variable
PREFIXES = ("PRAAS_DOCKER_", "PRAAS_SWARM_")


def _comments(cls: type) -> dict[str, str]:
    """The comment of each field in ``cls``'s source: beside it (``name: type = ...  # comment``) or on the
    line above (``#: comment``)."""
    out, above = {}, None
    for line in inspect.getsource(cls).splitlines():
        if m := re.match(r"\s+#:\s*(.+)$", line):
            above = m.group(1).strip()
            continue
        if m := re.match(r"\s+(\w+):[^#]*#\s*(.+)$", line):
            out[m.group(1)] = m.group(2).strip()
        elif above and (m := re.match(r"\s+(\w+):", line)):
            out[m.group(1)] = above
        above = None
    return out


def _default(f: dataclasses.Field[Any]) -> str:
    if f.default is not dataclasses.MISSING:
        return "" if f.default is None else f"`{f.default}`"
    return ""


def rows() -> list[tuple[str, str, str, str]]:
    """``(variable, read by, default, meaning)`` for every variable, sorted by name."""
    out = []
    for cls, who in ((ControlPlaneConfig, "control plane"), (ProcessConfig, "process runtime (set per process)")):
        notes = _comments(cls)
        for f in dataclasses.fields(cls):
            if "env" in f.metadata:
                meaning = notes.get(f.name, f.name.replace("_", " "))
                out.append((f.metadata["env"], who, _default(f), meaning))
    seen = {r[0] for r in out}
    out += [(name, who, "", meaning) for name, (who, meaning) in OTHERS.items() if name not in seen]
    merged: dict[str, tuple[str, str, str, str]] = {}
    for name, who, default, meaning in out:  # a variable both sides read (the same meaning): one row
        if name in merged:
            merged[name] = (name, f"{merged[name][1]}; {who}", merged[name][2], merged[name][3])
        else:
            merged[name] = (name, who, default, meaning)
    return sorted(merged.values())


def markdown() -> str:
    """The table, between the README's markers."""
    lines = [START, "", "| variable | read by | default | meaning |", "|---|---|---|---|"]
    lines += [f"| `{name}` | {who} | {default} | {meaning.replace('|', '/')} |"
              for name, who, default, meaning in rows()]
    return "\n".join([*lines, "", END])


if __name__ == "__main__":
    import sys

    sys.stdout.write(markdown() + "\n")
