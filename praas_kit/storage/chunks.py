"""A file-like reader over an iterable of byte chunks, for uploads that want a file object."""

from __future__ import annotations

import io
from collections.abc import Iterator
from typing import Any

from praas_kit.storage.base import Chunks


class ChunkStream(io.RawIOBase):
    """A read-only, non-seekable file over an iterable of ``bytes``/``memoryview`` chunks.

    Each ``read(n)`` copies at most ``n`` bytes once (no re-concatenation of what was read before),
    so a stream of any size is consumed in linear time. An exception raised by the iterable is
    kept in :attr:`error` (and re-raised), so the writer can report the caller's failure as such
    instead of as an S3 failure.
    """

    def __init__(self, chunks: Chunks) -> None:
        super().__init__()
        self._it: Iterator[bytes | memoryview] = iter(chunks)
        self._cur: memoryview = memoryview(b"")
        self._pos = 0
        self.total = 0
        self.error: BaseException | None = None

    def readable(self) -> bool:
        return True

    def _next(self) -> bool:
        """Load the next non-empty chunk; ``False`` at the end."""
        while True:
            try:
                chunk = next(self._it)
            except StopIteration:
                return False
            except BaseException as exc:
                self.error = exc
                raise
            mv = memoryview(chunk).cast("B")
            if len(mv):
                self._cur, self._pos = mv, 0
                return True

    def read(self, size: int | None = -1) -> bytes:
        pieces: list[bytes | memoryview] = []
        want = -1 if size is None or size < 0 else size
        got = 0
        while want < 0 or got < want:
            if self._pos >= len(self._cur) and not self._next():
                break
            take = len(self._cur) - self._pos if want < 0 else min(want - got, len(self._cur) - self._pos)
            pieces.append(self._cur[self._pos: self._pos + take])
            self._pos += take
            got += take
        self.total += got
        if len(pieces) == 1:
            return bytes(pieces[0])
        return b"".join(pieces)

    def readinto(self, buf: Any) -> int:
        data = self.read(len(buf))
        n = len(data)
        memoryview(buf).cast("B")[:n] = data
        return n

    def readall(self) -> bytes:
        return self.read(-1)


__all__ = ["ChunkStream"]
