"""Building the Docker images of praas-kit, in dependency order, skipping those that are up to date.

Images (all tagged ``latest``):

========================  ==========================================================  ============
image                     what                                                        built on
========================  ==========================================================  ============
``praas-process``         the process runtime (venv /opt/praas, user ``praas``)        base image
``praas-latex``           process runtime + TeX Live (pdflatex, latexmk, acmart)       praas-process
``praas-controlplane``    ``praas serve`` on port 8080                                 praas-process
``praas-s3``              Swift + s3api on port 9000 (:mod:`~praas_kit.tools.services`)  praas-process
``praas-redis``           redis-server on port 6379, no persistence                    base image
``praas-jupyter``         JupyterLab with matplotlib and ipywidgets on port 8888       praas-process
========================  ==========================================================  ============

The base image is chosen automatically: ``praas-base:local`` if it exists, else
``python:3.11-slim-bookworm`` if it exists or can be pulled, else ``praas-base:local`` is built
from Debian packages with ``docker/build-offline-base.sh`` (no registry needed).

Python packages are never fetched inside a build: the wheels of praas-kit and its dependencies are
built on the host into ``docker/context/`` (``praas-kit/`` with ``pip wheel``, ``wheels/`` and
``jupyter-wheels/`` with ``pip download`` for the image's Python version and platform), and each
image's build context holds only its Dockerfile and the wheels it needs.

An image is skipped when its label ``praas-kit.hash`` equals the hash of its inputs: the
Dockerfile, the build arguments, the id of the image it is built on, and for images with the
praas-kit venv the package sources, ``pyproject.toml`` and the extra requirements.

Use :func:`build_images` from Python or ``praas images build`` from a shell.
"""

from praas_kit.tools.images.build import build_images, choose_base, format_results
from praas_kit.tools.images.spec import IMAGES, ImageResult, ImageSpec

__all__ = ["IMAGES", "ImageResult", "ImageSpec", "build_images", "choose_base", "format_results"]
