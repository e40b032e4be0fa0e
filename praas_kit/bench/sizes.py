"""The payload and message sizes of the invocation and channel benchmarks (the paper's), their labels, and
repetitions by size."""

from __future__ import annotations

#: bytes: 10 B, 1 KiB, 100 KiB, 1 MiB, 5 MiB
SIZES = [10, 1024, 100 * 1024, 1 << 20, 5 << 20]


def size_label(n: int) -> str:
    """``10 B``, ``100 KiB``, ``5 MiB``."""
    return f"{n >> 20} MiB" if n >= 1 << 20 else f"{n >> 10} KiB" if n >= 1024 else f"{n} B"


def by_size(size: int, counts: tuple[int, int, int]) -> int:
    """``counts[0]`` up to 1 KiB, ``counts[1]`` up to 100 KiB, else ``counts[2]`` (repetitions per size)."""
    return counts[0] if size <= 1024 else counts[1] if size <= 100 * 1024 else counts[2]


__all__ = ["SIZES", "size_label", "by_size"]
