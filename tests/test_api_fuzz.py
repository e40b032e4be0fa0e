"""Schemathesis against the control plane's OpenAPI document: no request makes it answer 5xx
or break its own schema, except invocation errors the document declares."""

from __future__ import annotations

import pytest
from helpers import APP_CODE

import praas_kit

# the test extras (pip install 'praas-kit[test]'): without them the module is skipped (a failure in CI, where a skip
# fails the run: conftest.py's pytest_sessionfinish)
_EXTRAS = "(pip install 'praas-kit[test]')"
schemathesis = pytest.importorskip("schemathesis", reason=f"schemathesis is not installed {_EXTRAS}")
hypothesis = pytest.importorskip("hypothesis", reason=f"hypothesis is not installed {_EXTRAS}")
HealthCheck, settings = hypothesis.HealthCheck, hypothesis.settings

CP_OPTIONS = {"create_timeout": 10}  # of the ``cp`` fixture (conftest.py): this module's local control plane


@pytest.fixture(scope="module")
def fuzz_plane(cp):
    cp.create_application("fuzz", code=APP_CODE)
    return cp


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
