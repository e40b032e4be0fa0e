"""The one timeout rule and the one payload message, on every side that checks them."""

from __future__ import annotations

import math

import pytest

import praas_kit
from praas_kit.errors import BadRequest, InvalidArgument, PayloadTooLarge
from praas_kit.limits import MAX_TIMEOUT, check_payload, check_timeout


@pytest.mark.parametrize("bad", [True, "1", math.nan, -1, 0, math.inf, MAX_TIMEOUT + 1])
def test_a_timeout_is_a_positive_number_or_none(bad: object) -> None:
    with pytest.raises(InvalidArgument, match="^invocation timeout must be a positive number of seconds up to 604800"):
        check_timeout(bad, "invocation")  # type: ignore[arg-type]


def test_zero_is_a_poll_where_allowed_and_long_waits_are_capped() -> None:
    assert check_timeout(0, "recv", zero_ok=True) == 0.0
    assert check_timeout(None, "recv") is None
    assert check_timeout(1e300, "recv", clamp=True) == check_timeout(math.inf, "recv", clamp=True) == MAX_TIMEOUT
    with pytest.raises(BadRequest, match="nothing was run"):
        check_timeout(-1, "invocation", error=BadRequest, detail="nothing was run")


def test_the_payload_message_is_one() -> None:
    check_payload(10, 10)
    with pytest.raises(PayloadTooLarge, match=r"^payload of 11 bytes exceeds the limit of 10 bytes$"):
        check_payload(11, 10)


def test_the_sdk_the_gateway_and_the_runtime_say_the_same(tmp_path) -> None:
    """A call over the limit is refused with the same words by the SDK's direct path and the control plane's
    gateway; a bad timeout too."""
    code = tmp_path / "echo.py"
    code.write_text("from praas_kit import function\n\n@function\ndef echo(ctx, data):\n    return data\n")
    with praas_kit.local(home=tmp_path / "home", max_payload=1024) as cp:
        app = cp.create_application("limits", code=str(code))
        p = app.create_process("p")
        messages = set()
        direct = lambda d, t=None: p.invoke("echo", d, timeout=t)  # noqa: E731
        gateway = lambda d, t=None: app.invoke("echo", d, timeout=t)  # noqa: E731
        for call in (direct, gateway):
            with pytest.raises(PayloadTooLarge) as exc:
                call(b"x" * 2048)
            messages.add(exc.value.message)
            with pytest.raises(praas_kit.PraasError, match="timeout must be a positive number of seconds"):
                call(b"x", -1)
        assert messages == {"payload of 2048 bytes exceeds the limit of 1024 bytes"}
