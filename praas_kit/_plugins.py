"""A registry of plug-ins by name: built-ins as lazy ``"module:Class"`` paths, others added with
``register`` or an entry-point group. Used by the compute backends and the swap stores."""

from __future__ import annotations

import importlib
from importlib.metadata import entry_points
from typing import Generic, TypeVar, cast

from praas_kit.errors import InvalidArgument, PraasError

T = TypeVar("T")


class Plugins(Generic[T]):
    """Plug-ins that subclass ``base``, by name; an unknown name raises ``error`` listing the known ones."""

    def __init__(self, what: str, base: type, group: str, builtins: dict[str, str],
                 error: type[PraasError]) -> None:
        self.what, self.base, self.group, self.error = what, base, group, error
        self._entries: dict[str, str | type[T]] = dict(builtins)
        self._entry_points_loaded = False

    def register(self, name: str, plugin: str | type[T]) -> None:
        """Register a plug-in class, or its ``"module:Class"`` path (loaded when first used)."""
        if not isinstance(name, str) or not name:
            raise InvalidArgument(f"invalid {self.what} name {name!r}")
        self._entries[name] = plugin

    def unregister(self, name: str) -> None:
        self._entries.pop(name, None)

    def names(self) -> list[str]:
        """The registered names."""
        self._load_entry_points()
        return sorted(self._entries)

    def get(self, name: object) -> type[T]:
        """The class registered as ``name``."""
        self._load_entry_points()
        target = self._entries.get(name) if isinstance(name, str) else None
        if target is None:
            raise self.error(f"unknown {self.what} {name!r}; known: {', '.join(sorted(self._entries))}")
        if isinstance(target, str):
            module, _, cls = target.partition(":")
            loaded = getattr(importlib.import_module(module), cls)
            if not (isinstance(loaded, type) and issubclass(loaded, self.base)):
                raise self.error(f"{self.what} {name!r} ({target}) is not a {self.base.__name__}")
            plugin = cast("type[T]", loaded)  # checked just above against the base class
            self._entries[str(name)] = plugin
            return plugin
        return target

    def _load_entry_points(self) -> None:
        if not self._entry_points_loaded:
            self._entry_points_loaded = True
            for ep in entry_points(group=self.group):
                self._entries.setdefault(ep.name, ep.value)


__all__ = ["Plugins"]
