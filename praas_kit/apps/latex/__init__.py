"""The LaTeX editor microservice of the paper (§6.4), in two variants, and its deployment.

* ``praas`` (:mod:`~praas_kit.apps.latex.latex_praas`): the project is state of one cloud process; compile
  builds it in ``state_dir`` (the PDF survives a swap).
* ``faas`` (:mod:`~praas_kit.apps.latex.latex_faas`): four stateless functions, each its own pool of pooled
  processes, the project in a bucket of the S3 server, as the paper's Lambda baseline.

Both take the paper's JSON requests (``update-file``, ``get-file``, ``compile``, ``get-pdf``), so::

    app = praas_kit.apps.latex.deploy(cp, "editor")
    editor = app.create_process("editor")
    upload(editor.invoke, praas_kit.apps.latex.DATASETS / "paper")
    editor.invoke("compile", {"file": "main.tex"}).json()["status"]   # 'success'

On the docker backend processes run in the ``praas-latex`` image (TeX Live inside); on the local backend
they use the host's TeX (a clear :class:`~praas_kit.apps.latex.project.TexMissing` when it is missing).
"""

from __future__ import annotations

from praas_kit.apps.latex.deploy import (
    APP_CODE,
    FUNCTIONS,
    VARIANTS,
    FunctionPools,
    bucket_name,
    deploy,
    s3_settings,
    upload,
)
from praas_kit.apps.latex.project import TexMissing
from praas_kit.checkout import checkout_path

DATASETS = checkout_path("datasets", "latex")  #: the shipped projects (in the source checkout)

__all__ = ["deploy", "upload", "s3_settings", "bucket_name", "FunctionPools", "VARIANTS", "FUNCTIONS", "APP_CODE",
           "DATASETS", "TexMissing"]
