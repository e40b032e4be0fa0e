"""Functions the notebooks use to show what a cloud process is (see notebooks/01_cloud_processes.ipynb)."""

import os
import threading
import time

from praas_kit import function


@function
def whoami(invocation, context):
    """Which OS process and which thread ran this call."""
    return {"pid": os.getpid(), "thread": threading.current_thread().name, "process": context.process_id}


@function
def slow(invocation, context):
    """Sleep ``seconds`` (default 1), then say when it started and ended: concurrent calls overlap."""
    seconds = float((invocation.json() or {}).get("seconds", 1.0))
    start = time.time()
    time.sleep(seconds)
    return {"start": start, "end": time.time(), "thread": threading.current_thread().name}


@function
def remember(invocation, context):
    """Append a word to a list kept in process state; return the whole list."""
    words = (context.state("words") or b"").decode().split()
    words.append(invocation.json()["word"])
    context.state("words", " ".join(words))
    return words


@function
def keep_file(invocation, context):
    """Write ``text`` to the file ``name`` in the process's state_dir; list the files there."""
    a = invocation.json()
    (context.state_dir / a["name"]).write_text(a["text"])
    return sorted(p.name for p in context.state_dir.iterdir() if p.is_file())


@function
def read_file(invocation, context):
    """The text of the file ``name`` in the process's state_dir."""
    return (context.state_dir / invocation.json()["name"]).read_text()
