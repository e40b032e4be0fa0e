"""The swap-store registry: store kinds by name.

Built-in kinds are ``dir`` (:mod:`praas_kit.storage.directory`), ``s3``
(:mod:`praas_kit.storage.s3`) and ``faulty`` (fault injection for tests). A package adds a kind with
:func:`register`, or with an entry point in the group ``praas_kit.stores`` whose value is a
:class:`~praas_kit.storage.base.SwapStore` subclass. Modules load when their kind is first used, so
boto3 is imported only by a deployment that swaps to S3.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from praas_kit._plugins import Plugins
from praas_kit.errors import StorageError
from praas_kit.storage.base import SwapStore

STORES: Plugins[SwapStore] = Plugins("swap store kind", SwapStore, "praas_kit.stores", {
    "dir": "praas_kit.storage.directory:DirectoryStore",
    "s3": "praas_kit.storage.s3:S3Store",
    "faulty": "praas_kit.storage.faulty:FaultyStore",
}, StorageError)

register = STORES.register
kinds = STORES.names
store_class = STORES.get


def open_store(spec: Mapping[str, Any]) -> SwapStore:
    """Open the store that ``spec`` describes (``{"kind": ..., ...}`` as made by :meth:`SwapStore.spec`)."""
    if not isinstance(spec, Mapping):
        raise StorageError(f"a swap store spec is a JSON object, not {type(spec).__name__}")
    return store_class(spec.get("kind")).from_spec(spec)


def spec_from_env(kind: str, env: Mapping[str, str]) -> dict[str, Any]:
    """The spec of a store of ``kind`` described by ``PRAAS_*`` variables (``PRAAS_SWAP_KIND`` shorthand)."""
    return store_class(kind).spec_from_env(env)


__all__ = ["STORES", "register", "kinds", "store_class", "open_store", "spec_from_env"]
