"""The README's quickstart and CLI work as documented."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).parent.parent


def test_quickstart_runs():
    out = subprocess.run([sys.executable, str(ROOT / "examples" / "quickstart.py")], capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert lines[0] == "{'total': 5}" and lines[1] == "5"
    assert lines[3] == "{'total': 6} alice" and lines[4] == "pool-0"
    assert lines[5].startswith("FunctionNotFound")


def test_cli_round_trip(tmp_path):
    from praas_kit._net import free_port

    env = dict(os.environ, PRAAS_HOME=str(tmp_path))
    port = free_port()
    server = subprocess.Popen([sys.executable, "-m", "praas_kit.cli", "serve", "--port", str(port)], env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def praas(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "praas_kit.cli", *args], env=env, capture_output=True,
                              text=True, timeout=60)

    try:
        deadline = time.monotonic() + 30
        while praas("info").returncode != 0:
            assert time.monotonic() < deadline, "praas serve did not come up"
            time.sleep(0.3)
        shown = praas("info").stdout
        assert json.loads(shown)["openapi"].endswith("/openapi.json")
        token = (tmp_path / "token").read_text().strip()
        assert token not in shown and json.loads(shown)["docs"].endswith("?token=<token>")  # terminals keep output
        assert json.loads(praas("info", "--show-token").stdout)["docs"].endswith(f"?token={token}")
        assert praas("apps", "create", "demo", "--code", str(ROOT / "examples" / "counter.py")).returncode == 0
        assert praas("processes", "create", "demo", "alice").returncode == 0
        r = praas("invoke", "demo", "add", '{"n": 2}', "-p", "bob")
        assert r.returncode == 4 and "ProcessNotFound" in r.stderr  # typed error, exit code 4: not found
        r = praas("invoke", "demo", "add", '{"n": 2, "notify": "bob"}', "-p", "alice")
        assert r.returncode == 4 and "ProcessNotFound" in r.stderr  # raised inside the function (after its
        # state write: a function is not a transaction), still typed
        assert json.loads(praas("invoke", "demo", "add", '{"n": 2}', "-p", "alice").stdout) == {"total": 4}
        assert json.loads(praas("invoke", "demo", "add", '{"n": 3}', "-p", "alice", "--direct").stdout) == {"total": 7}
        assert json.loads(praas("processes", "swap", "demo", "alice").stdout)["bytes"] > 0
        assert praas("processes", "swapin", "demo", "alice").returncode == 0
        listing = json.loads(praas("processes", "list", "demo").stdout)  # piped: JSON
        assert [p["name"] for p in listing["active"]] == ["alice"]
        table = praas("processes", "list", "demo", "-o", "table").stdout  # a person's view
        assert "alice" in table and "status" in table and "ALLOCATED" in table and not table.lstrip().startswith("{")
        assert "─" in table or "━" in table
        assert json.loads(praas("-o", "json", "apps", "list").stdout)[0]["name"] == "demo"
        bad = praas("apps", "create", "../x")
        assert bad.returncode == 1 and "InvalidName" in bad.stderr
        # JSON that does not parse is caught on the client, in one line; nothing is sent
        bad = praas("invoke", "demo", "add", '{"n":1', "-p", "alice")
        assert bad.returncode == 1 and bad.stderr.count("\n") == 1 and "not valid JSON" in bad.stderr
        assert json.loads(praas("invoke", "demo", "add", '{"n": 0}', "-p", "alice").stdout) == {"total": 7}
        # a function's error: one line, the remote traceback only with --verbose
        err = praas("invoke", "demo", "add", '{"n": "x"}', "-p", "alice")
        assert err.returncode == 6 and "InvocationError (TypeError)" in err.stderr and "Traceback" not in err.stderr
        assert "--verbose" in err.stderr
        err = praas("--verbose", "invoke", "demo", "add", '{"n": "x"}', "-p", "alice")
        assert err.returncode == 6 and "Traceback" in err.stderr
        err = praas("invoke", "demo", "add", '{"n": "x"}', "-p", "alice", "--verbose")  # after the command too
        assert err.returncode == 6 and "Traceback" in err.stderr
        assert praas("info", "--token", "wrong").returncode == 3  # unauthorized: the token is checked
        assert praas("info", "--url", f"http://127.0.0.1:{free_port()}").returncode == 5  # unreachable
        # a process's log, and --follow printing what a function prints after it started
        assert praas("apps", "create", "talk", "--code", str(ROOT / "tests" / "apps" / "testapp.py")).returncode == 0
        assert praas("processes", "create", "talk", "t").returncode == 0
        assert praas("logs", "talk", "t", "--tail", "5").returncode == 0
        follow = subprocess.Popen([sys.executable, "-m", "praas_kit.cli", "logs", "talk", "t", "--follow"], env=env,
                                  stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        try:
            time.sleep(1.5)
            assert praas("invoke", "talk", "say", "hello-follow", "-p", "t", "--direct").returncode == 0
            import selectors

            sel, seen, deadline = selectors.DefaultSelector(), "", time.monotonic() + 15
            sel.register(follow.stdout, selectors.EVENT_READ)
            while "hello-follow" not in seen and time.monotonic() < deadline:
                if sel.select(timeout=1):
                    seen += follow.stdout.readline()
            assert "hello-follow" in seen, seen
        finally:
            follow.terminate()
            follow.wait(10)
            follow.stdout.close()
        # a stopped process: the message says what to do
        assert praas("processes", "stop", "demo", "alice").returncode == 0
        stopped = praas("invoke", "demo", "add", '{"n": 1}', "-p", "alice")
        assert stopped.returncode == 1 and "is stopped" in stopped.stderr and "create it again" in stopped.stderr
    finally:
        server.terminate()
        server.wait(20)
    # the server recorded in endpoint.json is gone: said as such, in one line, exit code 5
    gone = praas("apps", "list")
    assert gone.returncode == 5 and "is not running" in gone.stderr and str(server.pid) in gone.stderr, gone.stderr
    assert gone.stderr.count("\n") == 1
    for cmd in ([sys.executable, "-m", "praas_kit.cli", "--version"], [sys.executable, "-m", "praas_kit", "--version"]):
        shown = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
        assert shown.returncode == 0 and shown.stdout.startswith("praas-kit "), shown


def test_commands_outside_the_checkout_fail_in_one_line(tmp_path):
    done = subprocess.run([sys.executable, "-m", "praas_kit.cli", "notebooks", "--only", "00"], cwd=tmp_path,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 1 and "Traceback" not in done.stderr and done.stderr.count("\n") == 1, done.stderr
    assert "no notebooks folder" in done.stderr and "--folder" in done.stderr
