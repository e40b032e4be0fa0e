"""Building the images: base-image choice, Docker builds with progress, pruning. See
:mod:`praas_kit.tools.images`."""

from __future__ import annotations

import collections
import logging
import os
import subprocess
import tarfile
import tempfile
import time
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import IO, Any

from praas_kit.engines import docker as docker_engine
from praas_kit.errors import BackendError
from praas_kit.tools.images.build_inputs import input_hash
from praas_kit.tools.images.spec import (
    BY_NAME,
    DEFAULT_BASE,
    HASH_LABEL,
    IMAGES,
    OFFLINE_BASE,
    STAGE_LABEL,
    TAG,
    ImageResult,
    ImageSpec,
    Plan,
    context_dir,
    image_attrs,
    repo_root,
    status,
)
from praas_kit.tools.images.wheels import prepare_wheels

log = logging.getLogger("praas_kit.images")

# -- base image -------------------------------------------------------------------------------


def choose_base(client: Any, base: str | None = None,
                repo: Path | None = None) -> tuple[str, ImageResult | None]:
    """The base image to build on, and an :class:`ImageResult` if the offline base was built now.

    Order: ``base`` (or ``$PRAAS_BASE_IMAGE``), else ``praas-base:local`` if present, else
    ``python:3.11-slim-bookworm`` if present or pullable, else ``praas-base:local`` built by
    ``docker/build-offline-base.sh``.
    """
    wanted = base or os.environ.get("PRAAS_BASE_IMAGE") or None
    if wanted:
        if wanted == OFFLINE_BASE and image_attrs(client, wanted) is None:
            return wanted, _build_offline_base(client, repo or repo_root())
        if image_attrs(client, wanted) is None and not _pull(client, wanted):
            raise BackendError(f"base image {wanted} is not present and cannot be pulled")
        return wanted, None
    if image_attrs(client, OFFLINE_BASE) is not None:
        return OFFLINE_BASE, None
    if image_attrs(client, DEFAULT_BASE) is not None or _pull(client, DEFAULT_BASE):
        return DEFAULT_BASE, None
    log.info("no registry reachable: building %s from Debian packages", OFFLINE_BASE)
    return OFFLINE_BASE, _build_offline_base(client, repo or repo_root())


def _pull(client: Any, ref: str) -> bool:
    repository, _, tag = ref.rpartition(":") if ":" in ref.rsplit("/", 1)[-1] else (ref, "", "latest")
    log.info("pulling %s", ref)
    try:
        client.images.pull(repository, tag=tag)
    except Exception as exc:  # no registry, no network, unknown image: all mean "not available"
        log.info("cannot pull %s: %s", ref, str(exc).splitlines()[0] if str(exc) else type(exc).__name__)
        return False
    return True


def _build_offline_base(client: Any, repo: Path) -> ImageResult:
    script = repo / "docker" / "build-offline-base.sh"
    t0 = time.monotonic()
    output: collections.deque[str] = collections.deque(maxlen=30)
    with subprocess.Popen(["bash", str(script), "--tag", OFFLINE_BASE], stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, text=True) as proc:
        assert proc.stdout is not None
        for line in proc.stdout:
            output.append(line.rstrip())
            log.info("%s", line.rstrip())
    if proc.returncode != 0:
        tail = "\n".join(output)
        raise BackendError(f"building {OFFLINE_BASE} failed (exit {proc.returncode}):\n{tail}")
    attrs = image_attrs(client, OFFLINE_BASE)
    if attrs is None:
        raise BackendError(f"{script.name} finished but {OFFLINE_BASE} does not exist")
    name, _, tag = OFFLINE_BASE.partition(":")
    return ImageResult(name, tag, True, time.monotonic() - t0, int(attrs.get("Size", 0)), str(attrs["Id"]))


# -- building ---------------------------------------------------------------------------------


def _context_tar(plan: Plan, spec: ImageSpec) -> IO[bytes]:
    """A tar build context: the Dockerfile (as ``Dockerfile``) and the spec's context directories."""
    fileobj = tempfile.TemporaryFile()

    def reset(info: tarfile.TarInfo) -> tarfile.TarInfo:
        info.uid = info.gid = 0
        info.uname = info.gname = ""
        info.mtime = 0  # content alone decides Docker's layer cache
        return info

    with tarfile.open(fileobj=fileobj, mode="w") as tar:
        tar.add(plan.repo / "docker" / spec.dockerfile, arcname="Dockerfile", filter=reset)
        for directory in spec.context_dirs:
            tar.add(plan.context / directory, arcname=directory, filter=reset)
    fileobj.seek(0)
    return fileobj


def _log_line(plan: Plan, spec: ImageSpec, line: str) -> None:
    log.debug("%s: %s", spec.name, line)
    if line.startswith("Step "):
        status(plan, line)
        if plan.progress_bar is not None and not plan.progress_bar.disable:
            plan.progress_bar.write(f"{spec.name}: {line[:150]}")
        else:
            log.info("%s: %s", spec.name, line)


def _docker_build(plan: Plan, spec: ImageSpec, build_args: dict[str, str], labels: dict[str, str],
                  no_cache: bool) -> str:
    """Run one build; the new image id. :class:`BackendError` with the log tail if it fails."""
    tail: collections.deque[str] = collections.deque(maxlen=40)
    log_dir = plan.context / "logs"
    log_dir.mkdir(parents=True, exist_ok=True)
    image_id = ""
    with _context_tar(plan, spec) as context, open(log_dir / f"{spec.name}.log", "w") as build_log:
        try:
            stream = plan.client.api.build(
                fileobj=context, custom_context=True, tag=spec.ref, buildargs=build_args, labels=labels,
                rm=True, forcerm=True, pull=False, nocache=no_cache, decode=True,
            )
            for chunk in stream:
                if "error" in chunk or "errorDetail" in chunk:
                    message = chunk.get("error") or chunk.get("errorDetail", {}).get("message", "")
                    build_log.write(f"ERROR: {message}\n")
                    tail.append(f"ERROR: {message}")
                    raise BackendError(f"building {spec.ref} failed: {message}\n--- build log tail ---\n"
                                       + "\n".join(tail))
                if "aux" in chunk and isinstance(chunk["aux"], dict) and "ID" in chunk["aux"]:
                    image_id = str(chunk["aux"]["ID"])
                text = chunk.get("stream") or chunk.get("status") or ""
                for line in str(text).splitlines():
                    if line.strip():
                        build_log.write(line + "\n")
                        tail.append(line)
                        _log_line(plan, spec, line)
        except BackendError:
            raise
        except Exception as exc:
            raise BackendError(f"building {spec.ref} failed: {exc}\n--- build log tail ---\n"
                               + "\n".join(tail)) from exc
    attrs = image_attrs(plan.client, spec.ref)
    if attrs is None:
        raise BackendError(f"building {spec.ref} reported no error but the image does not exist:\n"
                           + "\n".join(tail))
    return str(attrs["Id"]) or image_id


def _resolve_names(names: Iterable[str] | None) -> list[ImageSpec]:
    """The specs named (``process``, ``praas-process`` or ``praas-process:latest``) plus the
    images they are built on, in build order."""
    if not names:
        return list(IMAGES)
    wanted: set[str] = set()
    for raw in names:
        name = raw.split(":", 1)[0]
        if not name.startswith("praas-"):
            name = f"praas-{name}"
        if name not in BY_NAME:
            known = ", ".join(s.name.removeprefix("praas-") for s in IMAGES)
            raise BackendError(f"unknown image {raw!r}; known: {known}")
        current: str | None = name
        while current is not None:
            wanted.add(current)
            current = BY_NAME[current].parent
    return [spec for spec in IMAGES if spec.name in wanted]


def build_images(names: list[str] | None = None, base: str | None = None, force: bool = False,
                 progress: bool = True, *, no_cache: bool = False) -> list[ImageResult]:
    """Build the praas-kit images that are missing or out of date; one result per image.

    Args:
        names: images to build (``process``, ``latex``, ``controlplane``, ``s3``, ``redis``,
            ``jupyter``, with or without the ``praas-`` prefix); the images they are built on are
            included. All images when ``None``.
        base: base image; chosen automatically when ``None`` (see :func:`choose_base`).
        force: rebuild even the images whose inputs did not change (Docker's layer cache still
            applies; see ``no_cache``).
        progress: show a tqdm bar over the images and the build steps.
        no_cache: build without Docker's layer cache.

    Returns:
        The base image's result first when this call built it, then one :class:`ImageResult` per
        image in build order (``built`` is False for an image that was up to date).

    Raises:
        BackendError: no Docker engine, a failed build (with the tail of its log), unknown name.
    """
    from tqdm.auto import tqdm

    specs = _resolve_names(names)
    repo = repo_root()
    client = docker_engine.connect(timeout=3600)
    results: list[ImageResult] = []
    # the base image counts as a step of its own; disable=None hides the bar where output is no terminal
    bar = tqdm(total=len(specs) + 1, unit="image", desc="base image", disable=None if progress else True,
               dynamic_ncols=True)
    base_ref, base_result = choose_base(client, base, repo)
    if base_result is not None:
        results.append(base_result)
    if not bar.disable:
        bar.write(f"base image: {base_ref}" + (f" (built in {base_result.seconds:.1f} s)" if base_result else ""))
    bar.update(1)
    base_attrs = image_attrs(client, base_ref)
    if base_attrs is None:  # pragma: no cover - choose_base made sure it exists
        raise BackendError(f"base image {base_ref} does not exist")
    ids: dict[str, str] = {}
    plan = Plan(repo=repo, context=context_dir(repo), base=base_ref, client=client, progress_bar=bar)
    try:
        for spec in specs:
            t0 = time.monotonic()
            bar.set_description(spec.name)
            if spec.parent is None:
                build_args = {"BASE_IMAGE": base_ref}
                parent_id = str(base_attrs["Id"])
            else:
                build_args = {"PROCESS_IMAGE": f"{spec.parent}:{TAG}"}
                parent_id = ids[spec.parent]
            digest = input_hash(spec, repo, build_args, parent_id)
            existing = image_attrs(client, spec.ref)
            current = ((existing or {}).get("Config") or {}).get("Labels") or {}
            if existing is not None and current.get(HASH_LABEL) == digest and not force:
                ids[spec.name] = str(existing["Id"])
                results.append(ImageResult(spec.name, TAG, False, time.monotonic() - t0,
                                           int(existing.get("Size", 0)), str(existing["Id"])))
                log.info("%s is up to date", spec.ref)
                if not bar.disable:
                    bar.write(f"{spec.name}: up to date")
                bar.update(1)
                continue
            for directory in spec.context_dirs:
                prepare_wheels(plan, directory)
            status(plan, "building")
            log.info("building %s on %s", spec.ref, build_args)
            labels = {HASH_LABEL: digest, "praas-kit.image": spec.name, "praas-kit.base": base_ref}
            image_id = _docker_build(plan, spec, build_args, labels, no_cache)
            if existing is not None and existing["Id"] != image_id:
                plan.replaced.append(str(existing["Id"]))
            attrs = image_attrs(client, spec.ref) or {}
            ids[spec.name] = image_id
            seconds = time.monotonic() - t0
            size = int(attrs.get("Size", 0))
            results.append(ImageResult(spec.name, TAG, True, seconds, size, image_id))
            log.info("built %s in %.1f s (%.0f MB)", spec.ref, seconds, size / 1e6)
            if not bar.disable:
                bar.write(f"{spec.name}: built in {seconds:.1f} s, {size / 1e6:.0f} MB")
            bar.update(1)
    finally:
        bar.close()
        _remove_replaced(client, plan.replaced)
        _prune_stale_stages(client)
    return results


def _prune_stale_stages(client: Any) -> None:
    """Remove all but the newest untagged build-stage image of ``praas-process`` (its venv stage)."""
    try:
        stages = client.api.images(filters={"dangling": True, "label": f"{STAGE_LABEL}=venv"})
    except Exception as exc:  # pruning is housekeeping only
        log.debug("cannot list build-stage images: %s", exc)
        return
    stages.sort(key=lambda image: image.get("Created", 0), reverse=True)
    for image in stages[1:]:
        try:
            client.api.remove_image(image["Id"])
            log.debug("removed the stale build stage %s", image["Id"][:19])
        except Exception as exc:
            log.debug("kept the build stage %s: %s", image["Id"][:19], exc)


def _remove_replaced(client: Any, image_ids: list[str]) -> None:
    """Remove images that a rebuild left without a tag (children first); keep any still in use."""
    for image_id in reversed(image_ids):
        attrs = image_attrs(client, image_id)
        if attrs is None or attrs.get("RepoTags"):
            continue
        try:
            client.api.remove_image(image_id)
            log.debug("removed the replaced image %s", image_id[:19])
        except Exception as exc:  # in use by a container, or the parent of another image
            log.debug("kept the replaced image %s: %s", image_id[:19], exc)


def format_results(results: Sequence[ImageResult]) -> str:
    """A small text table of build results."""
    rows = [("image", "status", "seconds", "size MB", "id")]
    for r in results:
        status = "built" if r.built else "up to date"
        rows.append((r.ref, status, f"{r.seconds:.1f}", f"{r.size_bytes / 1e6:.0f}",
                     r.image_id.removeprefix("sha256:")[:12]))
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return "\n".join("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip()
                     for row in rows)


__all__ = ["build_images", "choose_base", "format_results"]
