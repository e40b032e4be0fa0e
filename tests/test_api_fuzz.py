"""Schemathesis against the control plane's OpenAPI document: no request makes it answer 5xx
or break its own schema, except invocation errors the document declares."""

from __future__ import annotations

import pytest
import schemathesis
from conftest import APP_CODE
from hypothesis import HealthCheck, settings

import praas_kit


@pytest.fixture(scope="module")
def fuzz_plane(tmp_path_factory):
    with praas_kit.local(home=tmp_path_factory.mktemp("fuzz"), create_timeout=10) as cp:
        cp.create_application("fuzz", code=APP_CODE)
        yield cp


def test_rest_api_fuzz(fuzz_plane):
    headers = {"Authorization": f"Bearer {fuzz_plane.token}"}
    schema = schemathesis.openapi.from_url(fuzz_plane.url + "/openapi.json", headers=headers)
    failures = []
    count = 0
    for op in schema.get_all_operations():
        operation = op.ok() if hasattr(op, "ok") else op
        if operation.method.upper() == "POST" and operation.path.endswith("/kill"):
            continue
        strategy = operation.as_strategy()

        @settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck), database=None)
        @__import__("hypothesis").given(case=strategy)
        def run(case):
            nonlocal count
            count += 1
            resp = case.call(headers=headers, timeout=30)
            if resp.status_code >= 500 and resp.status_code not in (502, 503, 504):
                failures.append((case.method, case.formatted_path, resp.status_code, resp.text[:300]))
            if resp.status_code >= 400:
                body = resp.json()
                assert "error" in body and "type" in body["error"], (case.method, case.formatted_path, body)

        run()
    assert count > 50
    assert not failures, failures[:5]
    # the application created for fuzzing is still there and works
    assert praas_kit.connect(fuzz_plane.url, fuzz_plane.token).application("fuzz").describe().name == "fuzz"
