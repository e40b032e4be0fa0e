"""The state store of a process: named objects in memory with modification times."""

from __future__ import annotations

import threading
import time


class StateStore:
    """Thread-safe map ``key -> bytes`` that records when each key was last written.

    Keys may be any string; they never become paths (swap snapshots store them in the
    manifest). ``get`` of a missing key returns ``None``. Writes overwrite.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._data: dict[str, tuple[bytes, float]] = {}

    def put(self, key: str, value: bytes | bytearray | memoryview, mtime: float | None = None) -> None:
        """Store ``value`` under ``key`` (overwriting), stamped with ``mtime`` or now."""
        if not isinstance(key, str):
            raise TypeError(f"state keys are strings, got {type(key).__name__}")
        with self._lock:
            self._data.pop(key, None)  # re-insert: keys() lists in order of last write
            self._data[key] = (bytes(value), time.time() if mtime is None else mtime)

    def get(self, key: str) -> bytes | None:
        """The value of ``key``, or ``None``."""
        with self._lock:
            item = self._data.get(key)
        return None if item is None else item[0]

    def delete(self, key: str) -> bool:
        """Remove ``key``; whether it existed."""
        with self._lock:
            return self._data.pop(key, None) is not None

    def keys(self) -> list[tuple[str, float]]:
        """``[(key, modified_unix_seconds)]`` in order of last write."""
        with self._lock:
            return [(k, v[1]) for k, v in self._data.items()]

    def items(self) -> list[tuple[str, bytes, float]]:
        """A consistent copy of every ``(key, value, mtime)``."""
        with self._lock:
            return [(k, v[0], v[1]) for k, v in self._data.items()]

    def nbytes(self) -> int:
        """Total size of the values."""
        with self._lock:
            return sum(len(v[0]) for v in self._data.values())
