"""A function cannot touch another application's snapshots: it cannot make a process restore a snapshot it
planted or objects it replaced (snapshots are signed with the process's own key and every object's digest is
checked), and on the docker backend it cannot even see them (a container mounts its own process's part of the
directory store only). Before the fix a function of one application made another's process swap in its data.

What is not promised (README, security): on the S3 store (Swarm) a function can still read and delete other
applications' snapshot objects, which hold bucket-wide credentials; on the local backend processes are not
isolated from each other at all."""

from __future__ import annotations

from pathlib import Path

import pytest
from helpers import APP_CODE, delete_app, unique

from praas_kit.errors import PraasError

ATTACKER = Path(__file__).parent.parent / "apps" / "attacker"


@pytest.fixture
def victim_and_attacker(plane):
    victim = plane.create_application(unique("victim"), code=APP_CODE)
    attacker = plane.create_application(unique("attacker"), code=ATTACKER)
    try:
        yield victim, attacker.create_process("m")
    finally:
        delete_app(victim)
        delete_app(attacker)


def test_a_planted_snapshot_is_not_restored(victim_and_attacker, backend) -> None:
    victim, m = victim_and_attacker
    victim.create_process("p").invoke("put-state", {"key": "k", "value": "genuine"})
    victim.process("p").swap()
    where = {"app": victim.name, "proc": "p"}
    seen = m.invoke("peek_snapshots", where).json()
    if backend == "docker":  # its container holds its own process's part of the directory store only
        assert seen.get("snapshots") == [] or "refused" in seen, seen
    else:  # the directory store of the local backend, the S3 store of Swarm: readable (not promised)
        assert len(seen["snapshots"]) == 1, seen
    planted = m.invoke("plant_snapshot", {**where, "key": "k", "value": "INJECTED"}).json()
    assert planted.get("planted") or (backend == "docker" and "refused" in planted), planted
    p = victim.swapin("p")  # the planted snapshot is newer, but not signed with p's key: it is skipped
    assert p.invoke("get-state", "k").payload == b"genuine"


def test_replaced_snapshot_objects_are_not_restored(victim_and_attacker, backend) -> None:
    victim, m = victim_and_attacker
    victim.create_process("p").invoke("put-state", {"key": "k", "value": "genuine"})
    victim.process("p").swap()
    replaced = m.invoke("replace_state", {"app": victim.name, "proc": "p", "value": "INJECTD"}).json()
    if backend == "docker":
        assert replaced.get("replaced") == 0 or "refused" in replaced, replaced
    else:
        assert replaced == {"replaced": 1}, replaced  # it could write there: what matters is what a swap-in does
    try:
        p = victim.swapin("p")
    except PraasError as exc:  # the digest gave the replaced object away: nothing was restored
        assert backend != "docker", exc
        assert "not what the process wrote" in str(exc) or victim.process("p").status == "FAILED", exc
        return
    assert backend == "docker"
    assert p.invoke("get-state", "k").payload == b"genuine"
