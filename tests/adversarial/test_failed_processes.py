"""A FAILED process is never resumed silently: a sticky call to it raises ProcessFailed, naming the failure and
what a swap-in would restore (its last snapshot, without what it acknowledged after it, or nothing), and changes
nothing; the swap-in is explicit. A control plane started with ``resume_failed`` swaps it in by itself, as
before. Before the fix the call after ``put v2`` (acknowledged) and a SIGKILL returned ``v1``, with success."""

from __future__ import annotations

import pytest
from helpers import APP_CODE, make_plane, unique, wait_for

import praas_kit
from praas_kit.errors import ProcessFailed


def _fail(app, name: str) -> None:
    app.process(name).kill()
    assert wait_for(lambda: app.process(name).status == "FAILED", timeout=30.0)


def test_a_call_to_a_failed_process_names_what_a_swapin_would_restore(app) -> None:
    name = unique("p")
    p = app.create_process(name)
    p.invoke("put-state", {"key": "k", "value": "v1"})
    snapshot = p.swap().snapshot
    p = app.swapin(name)
    p.invoke("put-state", {"key": "k", "value": "v2"})  # acknowledged, then lost with the runtime
    _fail(app, name)
    with pytest.raises(ProcessFailed) as failed:
        app.invoke("get-state", "k", process=name)
    assert snapshot in str(failed.value) and "FAILED" in str(failed.value)
    assert app.process(name).status == "FAILED"  # the call changed nothing
    p = app.swapin(name)  # explicit: the caller knows v2 is gone
    assert p.invoke("get-state", "k").payload == b"v1"


def test_a_call_to_a_failed_process_without_a_snapshot_says_it_would_start_empty(app) -> None:
    name = unique("p")
    app.create_process(name).invoke("put-state", {"key": "k", "value": "v1"})
    _fail(app, name)
    with pytest.raises(ProcessFailed, match="start it empty"):
        app.invoke("get-state", "k", process=name)
    assert app.process(name).status == "FAILED"


def _resumes_by_itself(app) -> None:
    p = app.create_process("p")
    p.invoke("put-state", {"key": "k", "value": "v1"})
    p.swap()
    app.swapin("p")
    _fail(app, "p")
    assert app.invoke("get-state", "k", process="p").payload == b"v1"  # resumed from its snapshot
    assert app.process("p").status == "ALLOCATED"


def test_resume_failed_opts_into_the_old_behaviour(tmp_path) -> None:
    with make_plane("local", tmp_path, resume_failed=True) as cp:
        _resumes_by_itself(cp.create_application(unique("app"), code=APP_CODE))


def test_an_application_opts_into_resuming_its_failed_processes(plane) -> None:
    from helpers import delete_app

    app = plane.create_application(unique("resumes"), code=APP_CODE, resume_failed=True)
    try:
        assert [a for a in plane.applications() if a.name == app.name][0].resume_failed
        _resumes_by_itself(app)
    finally:
        delete_app(app)


def test_an_unsolicited_swap_report_then_exit_is_a_failure(plane) -> None:
    # before the fix the control plane took the report as a confirmed swap: the process stayed ALLOCATED, dead
    from pathlib import Path

    from helpers import delete_app

    app = plane.create_application(unique("fake"), code=Path(__file__).parent.parent / "apps" / "attacker")
    try:
        p = app.create_process("p")
        with pytest.raises(praas_kit.PraasError):
            p.invoke("fake_swapped", timeout=10)
        assert wait_for(lambda: app.process("p").status == "FAILED", timeout=30.0), app.process("p").status
    finally:
        delete_app(app)
