"""A live process explorer for notebooks (``pip install 'praas-kit[notebooks]'``)::

    from praas_kit.lab.widgets import ProcessExplorer
    ProcessExplorer(cp)            # the last expression of a cell shows it

A table of every application's processes (status, address, memory, invocations, running calls, last activity), refreshed
every ``interval`` seconds by a background thread while the kernel is idle or busy, and buttons acting on the
selected process: invoke a function with a payload, swap out, swap in, stop. Errors show in the widget, typed
as the SDK raised them; nothing is retried behind the user's back. :meth:`ProcessExplorer.close` (or the
``stop`` of the refresh thread when the kernel ends) leaves nothing running.
"""

from __future__ import annotations

import html
import logging
import threading
import time
from typing import TYPE_CHECKING, Any

from praas_kit.errors import PraasError
from praas_kit.lifecycle import Status

if TYPE_CHECKING:
    from praas_kit.sdk.client import ControlPlaneClient

log = logging.getLogger("praas_kit.lab.widgets")


def _ago(ts: float | None) -> str:
    if not ts:
        return "–"
    s = max(0.0, time.time() - ts)
    return f"{s:.0f} s ago" if s < 120 else f"{s / 60:.0f} min ago" if s < 7200 else f"{s / 3600:.0f} h ago"


def table_rows(cp: ControlPlaneClient) -> list[dict[str, str]]:
    """One dict per process: app, name, status, address, memory, invocations, last activity (strings)."""
    rows = []
    for p in cp.processes():
        m = p.metrics
        rows.append({"app": p.app, "process": p.name, "status": p.status.value, "address": p.address or "–",
                     "memory": f"{m.rss_bytes / 2**20:.0f} MiB" if m and m.rss_bytes else "–",
                     "invocations": str(m.invocations) if m else "–",
                     "running": str(m.inflight) if m else "–",
                     "last activity": _ago(m.last_activity if m else None)})
    return rows


def render_table(rows: list[dict[str, str]]) -> str:
    """The rows as an HTML table (the widget's body)."""
    if not rows:
        return "<i>no processes yet</i>"
    head = "".join(f"<th style='text-align:left;padding:2px 8px'>{html.escape(k)}</th>" for k in rows[0])
    colors = {Status.ALLOCATED.value: "#2a7", Status.SWAPPED_OUT.value: "#c80", Status.FAILED.value: "#c22",
              Status.CLOSED.value: "#888"}
    body = []
    for r in rows:
        cells = "".join(f"<td style='padding:2px 8px;color:{colors.get(v, 'inherit') if k == 'status' else 'inherit'}'>"
                        f"{html.escape(v)}</td>" for k, v in r.items())
        body.append(f"<tr>{cells}</tr>")
    return f"<table style='font-family:monospace;font-size:12px'><tr>{head}</tr>{''.join(body)}</table>"


class ProcessExplorer:
    """The widget; ``cp`` is a connected SDK client (``praas_kit.local()``, ``docker_deployment()``...)."""

    def __init__(self, cp: ControlPlaneClient, interval: float = 2.0) -> None:
        import ipywidgets as w

        self.cp, self.interval = cp, interval
        self.table = w.HTML()
        self.choice = w.Dropdown(description="process", options=[], layout=w.Layout(width="320px"))
        self.function = w.Text(value="echo", description="function", layout=w.Layout(width="220px"))
        self.payload = w.Text(value="hello", description="payload", layout=w.Layout(width="260px"))
        self.message = w.HTML()
        buttons = []
        for label, action in (("invoke", self._invoke), ("swap out", self._swap), ("swap in", self._swapin),
                              ("stop", self._stop), ("refresh", lambda p: None)):
            b = w.Button(description=label, layout=w.Layout(width="90px"))
            b.on_click(lambda _b, action=action: self._act(action))
            buttons.append(b)
        self.box = w.VBox([self.table, w.HBox([self.choice, self.function, self.payload]), w.HBox(buttons),
                           self.message])
        self._stop_event = threading.Event()
        self.refresh()
        self._thread = threading.Thread(target=self._loop, name="praas-explorer", daemon=True)
        self._thread.start()

    def _ipython_display_(self) -> None:
        from IPython.display import display

        display(self.box)  # type: ignore[no-untyped-call]

    def refresh(self) -> list[dict[str, str]]:
        """Read the processes now and redraw; the rows shown."""
        try:
            rows = table_rows(self.cp)
        except Exception as exc:  # noqa: BLE001 - a control plane that went away is shown, not raised
            self.table.value = f"<span style='color:#c22'>cannot list processes: {html.escape(str(exc))}</span>"
            return []
        self.table.value = render_table(rows)
        options = [f"{r['app']}/{r['process']}" for r in rows]
        if list(self.choice.options) != options:
            current = self.choice.value
            self.choice.options = options
            if current in options:
                self.choice.value = current
        return rows

    def _loop(self) -> None:
        while not self._stop_event.wait(self.interval):
            self.refresh()

    def _selected(self) -> Any:
        if not self.choice.value:
            raise PraasError("select a process first")
        app, name = str(self.choice.value).split("/", 1)
        return self.cp.application(app).process(name)

    def _act(self, action: Any) -> None:
        try:
            proc = self._selected() if self.choice.value else None
            out = action(proc) if proc is not None else None
            self.message.value = html.escape(out) if isinstance(out, str) else ""
        except PraasError as exc:
            self.message.value = f"<span style='color:#c22'>{type(exc).__name__}: {html.escape(str(exc))}</span>"
        self.refresh()

    def _invoke(self, proc: Any) -> str:
        t0 = time.perf_counter()
        result = proc.invoke(self.function.value, self.payload.value.encode())
        took = (time.perf_counter() - t0) * 1e3
        return f"{self.function.value} → {result.payload[:200]!r} ({took:.1f} ms)"

    def _swap(self, proc: Any) -> str:
        report = proc.swap()
        return f"swapped out {proc.name}: {report}"

    def _swapin(self, proc: Any) -> str:
        proc.swapin()
        return f"{proc.name} is {proc.status.value} at {proc.address}"

    def _stop(self, proc: Any) -> str:
        proc.stop()
        return f"{proc.name} is {proc.status.value}"

    def close(self) -> None:
        """Stop refreshing and close the widgets."""
        self._stop_event.set()
        self._thread.join(self.interval + 1)
        self.box.close()


__all__ = ["ProcessExplorer", "table_rows", "render_table"]
