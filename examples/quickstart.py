"""The README's quickstart, runnable: ``python examples/quickstart.py``."""

from pathlib import Path

import praas_kit

CODE = Path(__file__).parent / "counter.py"

with praas_kit.local() as cp:  # embedded control plane + local backend
    app = cp.create_application("demo", code=CODE)
    alice, bob = app.create_process("alice"), app.create_process("bob", vcpus=0.5, memory_mb=256)
    print(alice.invoke("add", {"n": 5, "notify": "bob"}).json())  # direct data plane: {'total': 5}
    print(bob.invoke("take", {"src": "alice"}).text)  # the message alice sent: '5'
    report = alice.swap()  # state -> swap store; the process exits
    print(report.bytes, "bytes in", round(report.seconds, 4), "s")
    r = app.invoke("add", {"n": 1}, process="alice")  # via the control plane: swaps alice back in
    print(r.json(), r.process)  # {'total': 6} alice
    print(app.invoke("add", {"n": 1}).process)  # FaaS style: an idle pooled process ("pool-0")
    try:
        alice.invoke("no-such-function")
    except praas_kit.FunctionNotFound as err:  # one error hierarchy: praas_kit.PraasError
        print(type(err).__name__, err)
