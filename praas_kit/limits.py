"""The two limits every layer checks, each with one rule and one message: a timeout (:func:`check_timeout`) and a
payload's size (:func:`check_payload`). The SDK checks them before sending, the control plane before routing,
the runtime before running, so whichever refuses, the caller reads the same words.
"""

from __future__ import annotations

import math
import threading

from praas_kit.errors import InvalidArgument, PayloadTooLarge, PraasError

#: the longest a wait is given (seconds, a week): a caller's longer timeout is refused, a function's ``recv`` waits
#: this long at most
MAX_TIMEOUT = min(7 * 86400.0, threading.TIMEOUT_MAX)


def check_timeout(timeout: float | None, what: str, *, zero_ok: bool = False, clamp: bool = False,
                  error: type[PraasError] = InvalidArgument, detail: str = "") -> float | None:
    """``timeout`` as seconds. ``None`` stays ``None`` (the caller's default applies: forever, or a configured
    timeout). A number must be > 0 (>= 0 with ``zero_ok``: a poll) and at most :data:`MAX_TIMEOUT`; with
    ``clamp`` a longer one, infinity included, becomes :data:`MAX_TIMEOUT` (a wait inside a function). Anything
    else (bools, strings, NaN, negative) raises ``error`` naming ``what``, with ``detail`` added to its
    message (e.g. "nothing was run")."""
    if timeout is None:
        return None
    bad = isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or math.isnan(timeout) \
        or timeout < 0 or (timeout == 0 and not zero_ok) or (timeout > MAX_TIMEOUT and not clamp)
    if bad:
        rule = "a non-negative" if zero_ok else "a positive"
        raise error(f"{what} timeout must be {rule} number of seconds up to {MAX_TIMEOUT:.0f} or None, not "
                    f"{timeout!r}" + (f"; {detail}" if detail else ""))
    return min(float(timeout), MAX_TIMEOUT)


def check_payload(size: int, limit: int, what: str = "payload") -> None:
    """:class:`PayloadTooLarge` if ``size`` bytes exceed ``limit``: "<what> of N bytes exceeds the limit of L
    bytes"."""
    if size > limit:
        raise too_large(size, limit, what)


def too_large(size: int, limit: int, what: str = "payload") -> PayloadTooLarge:
    """The error :func:`check_payload` raises (for callers that reply with it instead of raising)."""
    return PayloadTooLarge(f"{what} of {size} bytes exceeds the limit of {limit} bytes")


__all__ = ["MAX_TIMEOUT", "check_timeout", "check_payload", "too_large"]
