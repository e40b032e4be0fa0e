"""Pictures of the kit's own structures for the lessons: the process lifecycle, concurrent calls, a deployment.

* :func:`lifecycle_diagram`: the state machine of :mod:`praas_kit.lifecycle`, drawn from its table
  (:func:`~praas_kit.lifecycle.transitions`), so the picture cannot drift from the code.
* :func:`call_timeline`: calls that ran at the same time, one lane per thread (e.g. the ``span`` test
  function invoked N times at once).
* :func:`deployment_diagram` and :func:`deployment_parts`: what a deployment started (client, control plane,
  processes grouped by application, stores) and on which network, with the REST, data-plane, control and
  swap connections.

Each function returns a :class:`Diagram` (a matplotlib ``Figure``) built without ``pyplot``: nothing is shown
or kept globally, it works on the Agg backend, and a notebook displays it once when a cell ends with it (or
with ``display(fig)``); ``fig.savefig(path)`` writes it to a file.
"""

from __future__ import annotations

import io
import logging
import os
import textwrap
from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import FancyBboxPatch, Patch

from praas_kit import lifecycle
from praas_kit.errors import InvalidArgument
from praas_kit.lifecycle import Event, Status

log = logging.getLogger("praas_kit.diagrams")

Point = tuple[float, float]


class Diagram(Figure):
    """A matplotlib ``Figure`` that IPython shows as a PNG (also when no ``pyplot`` backend was set up)."""

    def _repr_png_(self) -> bytes:
        buf = io.BytesIO()
        self.savefig(buf, format="png", dpi=100, bbox_inches="tight")
        return buf.getvalue()


def _box(ax: Axes, center: Point, size: Point, text: str, face: str, *, gid: str, fontsize: float = 9,
         edge: str = "#333333", weight: str = "normal", style: str = "round,pad=0.02,rounding_size=0.08") -> None:
    """A rounded box of ``size`` (data units) around ``center`` with ``text`` in its middle."""
    (x, y), (w, h) = center, size
    ax.add_patch(FancyBboxPatch((x - w / 2, y - h / 2), w, h, boxstyle=style, facecolor=face, edgecolor=edge,
                                linewidth=1.2, gid=gid, zorder=2))
    ax.text(x, y, text, ha="center", va="center", fontsize=fontsize, fontweight=weight, zorder=3, gid=f"{gid}:text")


def _arrow(ax: Axes, route: Sequence[Point], *, gid: str, color: str = "#222222", width: float = 1.3,
           style: str = "-|>", rad: float = 0.0, dashed: bool = False) -> None:
    """An arrow along ``route``: a polyline through all but the last point, then an annotation (the arrow head,
    whose gid is ``gid``) from the last but one point to the last; ``rad`` bends a two-point route."""
    line: Literal["--", "-"] = "--" if dashed else "-"
    if len(route) > 2:
        xs, ys = zip(*route[:-1], strict=True)
        ax.add_line(Line2D(xs, ys, color=color, linewidth=width, linestyle=line, zorder=1, gid=f"{gid}:route"))
    ax.annotate("", xy=route[-1], xytext=route[-2], zorder=1, gid=gid, annotation_clip=False,
                arrowprops={"arrowstyle": style, "color": color, "linewidth": width, "linestyle": line,
                            "shrinkA": 0, "shrinkB": 0, "mutation_scale": 14,
                            "connectionstyle": f"arc3,rad={rad}"})


def edge_id(state: Status, event: Event, nxt: Status) -> str:
    """The gid of a transition's arrow in :func:`lifecycle_diagram`: ``"ALLOCATED --swap--> SWAPPING_OUT"``."""
    return f"{Status(state).value} --{Event(event).value}--> {Status(nxt).value}"


# ---------------------------------------------------------------------------------------------- the lifecycle
_COL, _ROW, _FAIL_Y = 2.6, 1.5, -1.65  # column spacing, branch-row spacing, the failure row's height
_BW, _BH = 1.62, 0.56  # a state's box
_LIVE, _RESTING, _FAILURE = "#cfe2f3", "#e7e7e7", "#f4cccc"
_DIED = "#c0392b"


def _layout(edges: list[tuple[Status, Event, Status]]) -> tuple[Status, dict[Status, Point], set[Status]]:
    """The initial state, the states' centres and the failure states. The column is the breadth-first depth
    from the initial state over every edge but ``died``; a state's first new successor stays on its row, later
    ones open branch rows above; states only ``died`` reaches (the failure states) go on a row below, under the
    column of their first successor."""
    normal = [(s, t) for s, e, t in edges if e != Event.DIED]
    start = next((s for s in Status if s not in {t for _, t in normal}), next(iter(Status)))
    column, row, rows, queue = {start: 0}, {start: 0}, 1, deque([start])
    while queue:
        s = queue.popleft()
        for k, t in enumerate(dict.fromkeys(t for a, t in normal if a == s and t not in column)):
            column[t] = column[s] + 1
            if k == 0:
                row[t] = row[s]
            else:
                row[t], rows = rows, rows + 1
            queue.append(t)
    failures = [s for s in Status if s not in column]
    pos = {s: (column[s] * _COL, row[s] * _ROW) for s in column}
    for k, s in enumerate(failures):
        col = next((column[t] for a, t in normal if a == s and t in column), max(column.values()))
        pos[s] = ((col - k) * _COL, _FAIL_Y)
    return start, pos, set(failures)


def _route(s: Point, t: Point, died: bool, from_failure: bool, into_failure: bool, second: bool, bar: float
           ) -> tuple[list[Point], float, Point, str, str]:
    """How an edge from the box at ``s`` to the box at ``t`` runs: its points, its bend, where its label goes
    and the label's alignment (horizontal, vertical)."""
    (xs, ys), (xt, yt), hw, hh = s, t, _BW / 2, _BH / 2
    k, up = (1 if xt > xs else -1), (1 if yt > ys else -1)
    if (died and into_failure or from_failure) and abs(xs - xt) < 1e-9:  # straight down into, or up out of, it
        dx = 0.3 if from_failure else -0.3
        return [(xs + dx, ys + up * hh), (xt + dx, yt - up * hh)], 0, (xs + dx * 1.2, (ys + yt) / 2), \
            "left" if from_failure else "right", "center"
    if died and into_failure:  # down, then along the failure row: one line for all of them
        return [(xs, ys - hh), (xs, yt), (xt - k * hw, yt)], 0, (xt - k * (hw + 0.9), yt + 0.04), \
            "right" if k > 0 else "left", "bottom"
    if abs(ys - yt) < 1e-9 and abs(abs(xt - xs) - _COL) < 1e-9:  # neighbours on one row
        if second:  # the second edge between the two: an arc below
            return [(xs + k * hw * 0.55, ys - hh), (xt - k * hw * 0.55, yt - hh)], 0.45 * k, \
                ((xs + xt) / 2, ys - hh - 0.3), "center", "top"
        return [(xs + k * hw, ys), (xt - k * hw, yt)], 0, ((xs + xt) / 2, ys + 0.05), "center", "bottom"
    if abs(ys - yt) < 1e-9:  # far apart on one row: over the top of everything
        return [(xs, ys + hh), (xs, bar), (xt - 0.45, bar), (xt - 0.45, yt + hh)], 0, ((xs + xt) / 2, bar + 0.03), \
            "center", "bottom"
    if k > 0:  # onto another row, further right: up (or down), then right
        return [(xs + 0.45, ys + up * hh), (xs + 0.45, yt), (xt - hw, yt)], 0, (xs + 0.5, (ys + yt) / 2), \
            "left", "center"
    return [(xs, ys - hh), (xt, yt + hh)], 0.2, ((xs + xt) / 2, (ys + yt) / 2), "center", "center"


def lifecycle_diagram() -> Diagram:
    """The process state machine of :mod:`praas_kit.lifecycle`: one box per :class:`Status` (its text is the
    status's value; coloured by :data:`~praas_kit.lifecycle.LIVE`, no runtime, failure), one arrow per
    transition of :func:`~praas_kit.lifecycle.transitions` (an annotation whose gid is :func:`edge_id`),
    labelled with its event; the ``died`` arrows into the failure row are thin red lines joined into one,
    labelled once."""
    edges = lifecycle.transitions()
    start, pos, failures = _layout(edges)
    fig = Diagram(figsize=(11.5, 4.8))
    ax = fig.add_axes((0.01, 0.13, 0.98, 0.78))
    ax.set_axis_off()
    for s, c in pos.items():
        face = _FAILURE if s in failures else _LIVE if s in lifecycle.LIVE else _RESTING
        _box(ax, c, (_BW, _BH), s.value, face, gid=f"state:{s.value}", weight="bold")
    bar = max(y for _, y in pos.values()) + _BH / 2 + 0.5
    pairs, drawn, labelled = {(s, t) for s, _, t in edges}, set(), set()

    def label(text: str, at: Point, ha: str = "center", va: str = "bottom", color: str = "#222222") -> None:
        ax.text(*at, text, ha=ha, va=va, fontsize=8.5, color=color, fontstyle="italic", zorder=4,
                bbox={"boxstyle": "round,pad=0.1", "facecolor": "white", "edgecolor": "none", "alpha": 0.8})

    for s, e, t in edges:
        died, bus = e == Event.DIED, e == Event.DIED and t in failures and pos[s][0] != pos[t][0]
        second = (s, t) in drawn or ((t, s) in pairs and pos[t][0] < pos[s][0])
        route, rad, at, ha, va = _route(pos[s], pos[t], died, s in failures, t in failures, second, bar)
        color = _DIED if died else "#222222"
        _arrow(ax, route, gid=edge_id(s, e, t), color=color, width=1.0 if died else 1.3, rad=rad)
        if not (bus and (e, t) in labelled):  # the joined line is labelled once
            label(f"{e.value} (any live state)" if bus else e.value, at, ha, va, color)
        labelled.add((e, t) if bus else (s, t))
        drawn.add((s, t))
    x0, y0 = pos[start][0] - _BW / 2, pos[start][1]
    ax.plot([x0 - 0.75], [y0], "o", color="#222222", markersize=7)
    _arrow(ax, [(x0 - 0.7, y0), (x0, y0)], gid="start")
    label("create", (x0 - 0.38, y0 + 0.05))
    ax.set_xlim(min(x for x, _ in pos.values()) - _BW / 2 - 1.0, max(x for x, _ in pos.values()) + _BW / 2 + 0.4)
    ax.set_ylim(min(y for _, y in pos.values()) - _BH / 2 - 0.2, bar + 0.35)
    ax.set_title("The life of a cloud process (praas_kit.lifecycle)", fontsize=12, fontweight="bold")
    fig.legend(handles=[Patch(facecolor=_LIVE, edgecolor="#333333", label="live: a runtime exists"),
                        Patch(facecolor=_RESTING, edgecolor="#333333", label="no runtime"),
                        Patch(facecolor=_FAILURE, edgecolor="#333333", label="failed"),
                        Line2D([], [], color="#222222", label="event (asked for, or reported by the runtime)"),
                        Line2D([], [], color=_DIED, linewidth=1.0, label="died: the runtime ended unexpectedly")],
               loc="lower center", ncol=5, fontsize=8.5, frameon=False)
    return fig


# ---------------------------------------------------------------------------------------------- call timeline
def _lane_name(k: int, thread: Any) -> str:
    text = str(thread)
    return f"thread {k + 1} ({text if len(text) <= 12 else '…' + text[-6:]})"


def call_timeline(spans: Sequence[Mapping[str, Any]], *, title: str = "Concurrent calls, one lane per thread"
                  ) -> Diagram:
    """Calls as bars on one lane per thread. ``spans``: mappings with ``start`` and ``end`` (seconds on one
    clock, e.g. ``time.time()`` inside the function), ``thread`` (a name or id) and optionally ``label`` (the
    bar's text; default its duration). Lanes are sorted by their first start, top to bottom (the y tick labels
    name the threads); the x axis is seconds since the earliest start. Bar ``i`` (a patch with gid ``call:i``)
    spans ``[start - t0, end - t0]``. Raises :class:`InvalidArgument` for no spans, a span without those keys,
    or one that ends before it starts."""
    if not spans:
        raise InvalidArgument("a timeline needs at least one call")
    calls = []
    for i, span in enumerate(spans):
        try:
            start, end, thread = float(span["start"]), float(span["end"]), span["thread"]
        except (KeyError, TypeError, ValueError):
            raise InvalidArgument(f"call {i}: a span needs numeric 'start' and 'end' and a 'thread': {span!r}")\
                from None
        if end < start:
            raise InvalidArgument(f"call {i} ends ({end}) before it starts ({start})")
        calls.append((start, end, thread, span.get("label")))
    t0 = min(c[0] for c in calls)
    first: dict[Any, float] = {}
    for start, _, thread, _ in calls:
        first[thread] = min(first.get(thread, start), start)
    lanes = sorted(first, key=lambda t: (first[t], str(t)))
    lane = {t: i for i, t in enumerate(lanes)}
    fig = Diagram(figsize=(9, min(8.0, 1.6 + 0.5 * len(lanes))), layout="constrained")
    ax = fig.add_subplot()
    colors = ["#4a86c5", "#e69138", "#6aa84f", "#8e7cc3", "#c27ba0", "#45818e"]
    wall = max(c[1] for c in calls) - t0
    for i, (start, end, thread, text) in enumerate(calls):
        y, words = lane[thread], str(text) if text is not None else f"{end - start:.2f} s"
        ax.barh(y, end - start, left=start - t0, height=0.62, color=colors[i % len(colors)], alpha=0.85,
                edgecolor="#222222", linewidth=0.8, gid=f"call:{i}")
        if end - start >= 0.08 * wall:  # the text inside the bar
            ax.text((start + end) / 2 - t0, y, words, ha="center", va="center", fontsize=8, color="white",
                    fontweight="bold", gid=f"call:{i}:text")
        else:  # a short bar: beside it
            ax.text(end - t0 + 0.005 * wall, y, words, ha="left", va="center", fontsize=8, color="#222222",
                    gid=f"call:{i}:text")
    busy = sum(c[1] - c[0] for c in calls)
    ax.set_yticks(range(len(lanes)), [_lane_name(k, t) for k, t in enumerate(lanes)])
    ax.set_ylim(len(lanes) - 0.4, -0.6)
    ax.set_xlim(0, wall * 1.03 if wall > 0 else 1.0)
    ax.set_xlabel("seconds since the first call started")
    fig.suptitle(title, fontsize=12, fontweight="bold")
    ax.set_title(f"{len(calls)} calls on {len(lanes)} thread{'s' if len(lanes) != 1 else ''}: "
                 f"{busy:.2f} s of calls in {wall:.2f} s", fontsize=9, color="#444444")
    ax.grid(axis="x", linestyle=":", alpha=0.6)
    return fig


# ---------------------------------------------------------------------------------------------- deployments
PartKind = Literal["client", "control-plane", "process", "store"]
KINDS: tuple[PartKind, ...] = ("client", "control-plane", "process", "store")


@dataclass(frozen=True)
class Part:
    """One thing a deployment runs, as :func:`deployment_diagram` draws it.

    ``name`` is what it is called (a container's name, a process's name), ``kind`` one of :data:`KINDS`,
    ``network`` the Docker network it is attached to (``None``: the host itself, over loopback), ``detail`` a
    further line (an address, an image, a URL). Processes have their ``app`` (they are grouped by it) and
    ``status`` (the box is coloured by :func:`~praas_kit.lifecycle.view`); a store with ``swap`` is where
    processes swap to; ``inside`` names the part whose operating-system process runs this one (a control plane
    embedded in the notebook's kernel). Raises :class:`InvalidArgument` for an unknown kind."""

    name: str
    kind: PartKind
    network: str | None = None
    detail: str = ""
    app: str | None = None
    status: Status | None = None
    swap: bool = False
    inside: str | None = None

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise InvalidArgument(f"part {self.name!r}: kind must be one of {', '.join(KINDS)}, not {self.kind!r}")


_VIEW_FACE = {"active": "#d9ead3", "swapped": "#fff2cc", "inactive": "#e7e7e7"}
_LINKS = {"rest": ("#1f5fa8", False, "REST (HTTP): applications, processes, swaps"),
          "data": ("#2e7d32", False, "data plane (ZeroMQ, client to process directly)"),
          "control": ("#888888", True, "control (ZeroMQ): processes report to the control plane"),
          "swap": ("#b45f06", False, "swap: snapshots written and read back")}
_SHOWN = 6  # processes drawn per application; the rest are counted
_Box = tuple[float, float, float, float]  # x0, y0, x1, y1


def _region(ax: Axes, boxes: list[_Box], label: str, *, face: str, edge: str, pad: float, gid: str,
            dashed: bool = False, top: float = 0.3) -> _Box:
    """A shaded rectangle around ``boxes`` with ``label`` at its top left; its extent."""
    x0, y0 = min(b[0] for b in boxes) - pad, min(b[1] for b in boxes) - pad
    x1, y1 = max(b[2] for b in boxes) + pad, max(b[3] for b in boxes) + pad + top
    x1 = max(x1, x0 + 0.3 + 0.09 * len(label))  # wide enough for its label (8.5 pt, bold)
    ax.add_patch(FancyBboxPatch((x0, y0), x1 - x0, y1 - y0, boxstyle="round,pad=0,rounding_size=0.12",
                                facecolor=face, edgecolor=edge, linewidth=1.1, linestyle="--" if dashed else "-",
                                zorder=0, gid=gid))
    ax.text(x0 + 0.12, y1 - 0.08, label, ha="left", va="top", fontsize=8.5, color=edge, fontweight="bold",
            zorder=0.5, gid=f"{gid}:label")
    return x0, y0, x1, y1


def deployment_diagram(parts: Sequence[Part], *, title: str = "What the deployment started") -> Diagram:
    """A picture of ``parts`` (see :class:`Part`): the client and the control plane on the left (in one dashed
    frame when the control plane runs ``inside`` the client's process), the processes grouped by application
    (at most six shown per application, the rest counted), the stores on the right; a shaded region per
    Docker network around the parts on it, and a frame for the host around everything when some part is on no
    network. Lines: REST (client to control plane), the data plane (client to each application's processes),
    control (control plane to processes), swap (processes to every ``swap`` store). Every part's name is a text
    of the figure (in the box with gid ``part:<name>``). Raises :class:`InvalidArgument` for no parts."""
    if not parts:
        raise InvalidArgument("a deployment diagram needs at least one part")
    kinds: dict[PartKind, list[Part]] = {k: [p for p in parts if p.kind == k] for k in KINDS}
    apps: dict[str, list[Part]] = {}
    for p in kinds["process"]:
        apps.setdefault(p.app or "(no application)", []).append(p)
    fig = Diagram(figsize=(10.5, 4.5))
    ax = fig.add_axes((0.01, 0.12, 0.98, 0.8))
    ax.set_axis_off()
    extent: dict[str, _Box] = {}  # a part's name (or "app:<name>") -> its box
    on_network: dict[str | None, list[_Box]] = {}

    def place(p: Part, x: float, top: float, width: float, face: str) -> float:
        lines = [t for t in (p.name, p.status.value if p.status is not None else "", *p.detail.splitlines()) if t]
        text = "\n".join(w for t in lines for w in textwrap.wrap(t, int(width / 0.075)))  # about 0.075 a letter
        h = 0.4 + 0.2 * text.count("\n")
        _box(ax, (x, top - h / 2), (width, h), text, face, gid=f"part:{p.name}", fontsize=8.5)
        extent[p.name] = (x - width / 2, top - h, x + width / 2, top)
        on_network.setdefault(p.network, []).append(extent[p.name])
        return top - h

    y = 0.0
    for app, procs in apps.items():  # processes, grouped by application (the third column)
        top, y = y, y - 0.42
        for p in procs[:_SHOWN]:
            y = place(p, 6.4, y, 2.0, _VIEW_FACE[lifecycle.view(p.status)] if p.status else "white") - 0.12
        if len(procs) > _SHOWN:
            ax.text(6.4, y - 0.1, f"+ {len(procs) - _SHOWN} more", ha="center", va="center", fontsize=8.5)
            y -= 0.3
        extent[f"app:{app}"] = (5.2, y - 0.04, 7.6, top)
        ax.add_patch(FancyBboxPatch((5.2, y - 0.04), 2.4, top - y + 0.04, boxstyle="round,pad=0,rounding_size=0.1",
                                    facecolor="white", edgecolor="#555555", zorder=1, gid=f"app:{app}"))
        ax.text(6.4, top - 0.2, f"application {app}", ha="center", va="center", fontsize=8.5, fontweight="bold")
        y -= 0.35
    y = 0.0
    for p in sorted(kinds["store"], key=lambda p: (p.network is None, not p.swap, p.name)):  # the fourth column
        if p.network is None and any(n is not None for n in on_network):  # below the networks' regions
            y = min([y] + [b[1] - 0.75 for n, bs in on_network.items() if n is not None for b in bs])
        y = place(p, 9.5, y, 2.3, "#fce5cd" if p.swap else "#f3f3f3") - 0.3
    bottom = min([e[1] for e in extent.values()] + [-2.4])
    y = 0.0
    for p in kinds["control-plane"]:  # the control plane at the top of the second column
        y = place(p, 2.7, y, 2.3, "#cfe2f3") - 0.3
    y = min(y - 0.35, bottom / 2 + 0.4)
    for p in kinds["client"]:  # the client lower down in the first
        y = place(p, 0.0, y, 2.2, "#d0e0e3") - 0.3
    frames = [_region(ax, [extent[p.inside], extent[p.name]], "one Python process runs both",
                      face="none", edge="#555555", pad=0.18, gid=f"process:{p.inside}", dashed=True)
              for p in kinds["control-plane"] if p.inside in extent]
    frames += [_region(ax, boxes, f"Docker network {net}", face="#e8f0fb", edge="#3d6fb4", pad=0.3,
                       gid=f"network:{net}") for net, boxes in on_network.items() if net is not None]
    if None in on_network:
        label = "this machine (the host)" if len(on_network) > 1 else \
            "this machine: everything on the host, over loopback (127.0.0.1)"
        frames.append(_region(ax, [*extent.values(), *frames], label, face="none", edge="#777777", pad=0.2,
                              gid="network:host", top=0.35))
    _links(ax, kinds, apps, extent)
    xs, ys = [x for e in [*extent.values(), *frames] for x in (e[0], e[2])], \
        [y for e in [*extent.values(), *frames] for y in (e[1], e[3])]
    ax.set_xlim(min(xs) - 0.1, max(xs) + 0.1)
    ax.set_ylim(min(ys) - 0.1, max(ys) + 0.1)
    fig.set_figheight(max(3.6, 1.3 + 0.85 * (max(ys) - min(ys) + 1.5)))
    ax.set_title(title, fontsize=12, fontweight="bold")
    handles: list[Any] = [Line2D([], [], color=c, linestyle="--" if d else "-", label=t) for c, d, t in _LINKS.values()]
    handles += [Patch(facecolor=f, edgecolor="#333333", label=f"process {v}") for v, f in _VIEW_FACE.items()]
    fig.legend(handles=handles, loc="lower center", ncol=4, fontsize=8, frameon=False)
    return fig


def _links(ax: Axes, kinds: dict[PartKind, list[Part]], apps: dict[str, list[Part]], extent: dict[str, _Box]
           ) -> None:
    """The REST, data-plane, control and swap lines between the placed parts (each kind labelled once)."""
    def link(kind: str, route: list[Point], text: str) -> None:
        color, dashed, _ = _LINKS[kind]
        _arrow(ax, route, gid=f"link:{kind}", color=color, width=1.4, dashed=dashed)
        if text:
            ax.text(route[0][0] + 0.1, route[1][1] + 0.03, text, ha="left", va="bottom", fontsize=8, color=color,
                    fontstyle="italic", zorder=4)

    c = extent[kinds["client"][0].name] if kinds["client"] else None
    p = extent[kinds["control-plane"][0].name] if kinds["control-plane"] else None
    if c and p:
        link("rest", [(c[0] + 0.4, c[3]), (c[0] + 0.4, (p[1] + p[3]) / 2), (p[0], (p[1] + p[3]) / 2)], "REST")
    for i, app in enumerate(apps):
        g = extent[f"app:{app}"]
        if p:
            y0, y1 = (p[1] + p[3]) / 2, g[3] - 0.25
            x = g[0] - 0.15
            link("control", [(p[2], y0), (x, y0), (x, y1), (g[0], y1)], "control" if i == 0 else "")
        if c:
            y0, y1 = (c[1] + c[3]) / 2, g[1] + (g[3] - g[1]) * 0.35
            x = g[0] - 0.55
            link("data", [(c[2], y0), (x, y0), (x, y1), (g[0], y1)], "data plane" if i == 0 else "")
        for j, store in enumerate(s for s in kinds["store"] if s.swap):
            e = extent[store.name]
            y0, y1, x = (g[1] + g[3]) / 2, (e[1] + e[3]) / 2, (g[2] + e[0]) / 2
            link("swap", [(g[2], y0), (x, y0), (x, y1), (e[0], y1)], "swap" if i == j == 0 else "")


def deployment_parts(cp: Any) -> list[Part]:
    """The parts of the deployment behind ``cp``, a connected client (a :class:`~praas_kit.sdk.client.
    ControlPlaneClient`): the client (this Python process), the control plane (its URL and backend; ``inside``
    the client when ``cp`` embeds it, as :func:`praas_kit.local` and :func:`praas_kit.docker_deployment` do),
    every process (``cp.processes()``: its status, and its container's name on the docker backend, else its
    address) and, for an embedded control plane, its swap store plus the storage servers the deployment started
    (S3, Redis). Processes and storage servers a docker or swarm deployment started are on its network; on the
    local backend everything is on the host. Asks the control plane (REST) and, on the docker backend, the
    Docker engine; a remote control plane's stores are not known and not shown."""
    backend = str(cp.healthz().get("backend", "?"))
    plane = getattr(cp, "plane", None)  # an EmbeddedClient: the control plane runs in this Python process
    controller = getattr(plane, "controller", None)
    engine = getattr(controller, "backend", None)
    network = getattr(cp, "network", None) or getattr(engine, "network_name", None) or "(not known to this client)"
    network = network if backend != "local" else None
    where = ", in a container" if getattr(engine, "in_container", False) else ""
    client = Part("notebook (SDK client)", "client", None, f"pid {os.getpid()}{where}")
    parts = [client, Part("control plane", "control-plane", None, f"{cp.url}\nbackend: {backend}",
                          inside=client.name if plane is not None else None)]
    names = _container_names(engine)
    for p in cp.processes():
        detail = f"container {names[p.app, p.name]}" if (p.app, p.name) in names else p.address or ""
        parts.append(Part(p.name, "process", network, detail, app=p.app, status=p.status))
    if controller is not None:
        parts += _stores(cp, controller.store.spec(), network)
    return parts


def _container_names(engine: Any) -> dict[tuple[str, str], str]:
    """``(app, process) -> container name`` of the running containers a docker backend started (by its labels)."""
    owner, prefix, client = (getattr(engine, a, None) for a in ("owner", "label_prefix", "client"))
    if getattr(engine, "name", None) != "docker" or not (owner and prefix and client):
        return {}
    try:
        found = client.containers.list(filters={"label": f"{prefix}.owner={owner}"})
        return {(c.labels.get(f"{prefix}.app", ""), c.labels.get(f"{prefix}.process", "")): c.name for c in found}
    except Exception as exc:  # noqa: BLE001 - a picture without container names is still a picture
        log.info("no container names for the deployment diagram: %s", exc)
        return {}


def _stores(cp: Any, spec: Mapping[str, Any], network: str | None) -> list[Part]:
    """The swap store described by ``spec`` and the storage servers a docker or swarm deployment ``cp`` started."""
    while spec.get("kind") == "faulty":  # a test wrapper: draw the store it wraps
        spec = spec.get("inner") or {}
    storage = getattr(cp, "storage", None)  # StorageEndpoints of a docker or swarm deployment
    started = {str(c.attrs.get("Config", {}).get("Image", "")): c.name for c in getattr(cp, "containers", [])
               if hasattr(c, "attrs")}
    from praas_kit.engines import images as image_names

    out = []
    s3_started = storage is not None and storage.s3_endpoint and spec.get("endpoint") == storage.s3_endpoint
    if spec.get("kind") == "s3":
        out.append(Part(started.get(image_names.S3, "S3 server"), "store", network if s3_started else None,
                        f"S3, bucket {spec.get('bucket', '?')}\n{spec.get('endpoint') or 'AWS'}",
                        swap=True))
    elif spec.get("kind") == "dir":
        shared = ",\nmounted into the containers" if network else ""
        out.append(Part("swap directory", "store", None, f"on this machine's disk{shared}", swap=True))
    else:
        out.append(Part(f"{spec.get('kind', '?')} store", "store", None, "swap store", swap=True))
    if storage is not None and storage.s3_endpoint and not s3_started:
        out.append(Part(started.get(image_names.S3, "S3 server"), "store", network, f"S3\n{storage.s3_endpoint}"))
    if storage is not None and storage.redis_url:
        out.append(Part(started.get(image_names.REDIS, "Redis server"), "store", network,
                        f"Redis (FaaS baselines)\n{storage.redis_url}"))
    return out


__all__ = ["Diagram", "edge_id", "lifecycle_diagram", "call_timeline", "Part", "PartKind", "KINDS",
           "deployment_diagram", "deployment_parts"]
