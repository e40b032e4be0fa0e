"""Entry point of a cloud process: ``python -m praas_kit.process`` configured by ``PRAAS_*`` variables."""

from __future__ import annotations

import logging
import os
import signal
import sys
import threading


def main() -> int:
    """Start the runtime; exit 0 after stop or swap-out, 2 on a configuration or restore error."""
    logging.basicConfig(level=os.environ.get("PRAAS_LOG_LEVEL", "INFO"),
                        format="%(asctime)s %(name)s %(levelname)s %(message)s")
    threading.stack_size(1 << 20)  # small stacks keep an idle process lean (and RLIMIT_AS honest)
    sys.setswitchinterval(0.0005)  # the I/O thread gets the GIL back quickly from a busy worker
    from praas_kit.errors import PraasError
    from praas_kit.process.config import ProcessConfig
    from praas_kit.process.runtime import ProcessRuntime

    try:
        runtime = ProcessRuntime(ProcessConfig.from_env())
    except (PraasError, KeyError, ValueError, ImportError, OSError) as exc:
        logging.getLogger("praas_kit.process").error("cannot start process: %s: %s", type(exc).__name__, exc)
        return 2
    signal.signal(signal.SIGTERM, lambda *_: runtime.stop())
    return runtime.run()


if __name__ == "__main__":
    code = main()
    sys.stdout.flush()
    os._exit(code)  # do not wait for worker threads still blocked in user code
