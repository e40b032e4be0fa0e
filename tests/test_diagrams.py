"""The lessons' pictures (praas_kit.diagrams): what each draws, read back from the figure's artists."""

from __future__ import annotations

import io
from types import SimpleNamespace
from typing import Any

import pytest
from helpers import APP_CODE
from matplotlib.text import Annotation

from praas_kit import diagrams, lifecycle
from praas_kit.diagrams import Part
from praas_kit.errors import InvalidArgument
from praas_kit.lifecycle import Status


def _texts(fig: Any) -> list[str]:
    return [t.get_text() for ax in fig.axes for t in ax.texts]


def _gids(fig: Any, kind: type | None = None) -> list[str]:
    return [a.get_gid() for a in fig.findobj(kind) if a.get_gid()] if kind else \
        [a.get_gid() for a in fig.findobj() if a.get_gid()]


def _png(fig: Any) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    return buf.getvalue()


def test_transitions_are_the_table() -> None:
    edges = lifecycle.transitions()
    assert len(edges) == len(set(edges))
    assert all(lifecycle.transition(s, e) == t for s, e, t in edges)
    assert {(s, e) for s, e, _ in edges} == {(s, e) for s in Status for e in lifecycle.Event if lifecycle.allowed(s, e)}
    assert edges == lifecycle.transitions()  # the same order every time
    edges.clear()
    assert lifecycle.transitions()  # a copy


def test_the_lifecycle_diagram_draws_every_state_and_transition() -> None:
    fig = diagrams.lifecycle_diagram()
    texts = _texts(fig)
    for s in Status:
        assert s.value in texts
        assert f"state:{s.value}" in _gids(fig)
    arrows = set(_gids(fig, Annotation))
    for s, e, t in lifecycle.transitions():
        assert diagrams.edge_id(s, e, t) in arrows
    labels = " ".join(texts)
    for e in {e for _, e, _ in lifecycle.transitions()}:
        assert e.value in labels  # every event is named on its arrow (the died arrows into FAILED share a label)
    assert _png(fig).startswith(b"\x89PNG")
    assert fig._repr_png_().startswith(b"\x89PNG")


def _span(start: float, seconds: float, thread: Any, **extra: Any) -> dict[str, Any]:
    return {"start": start, "end": start + seconds, "thread": thread, **extra}


def test_the_call_timeline_has_a_lane_per_thread_and_a_bar_per_call() -> None:
    t0 = 1_700_000_000.0
    spans = [_span(t0 + 0.5, 0.5, 7), _span(t0, 0.5, 9), _span(t0 + 0.05, 0.5, 7),
             _span(t0 + 0.6, 0.25, "worker", label="late"), _span(t0 + 1.0, 0.01, 9)]
    fig = diagrams.call_timeline(spans, title="five calls")
    (ax,) = fig.axes
    lanes = [t.get_text() for t in ax.get_yticklabels()]
    assert lanes == ["thread 1 (9)", "thread 2 (7)", "thread 3 (worker)"]  # by first start
    bars = {p.get_gid(): p for p in ax.patches if (p.get_gid() or "").startswith("call:")}
    assert len(bars) == len(spans)
    for i, span in enumerate(spans):
        bar = bars[f"call:{i}"]
        assert bar.get_x() == pytest.approx(span["start"] - t0)
        assert bar.get_width() == pytest.approx(span["end"] - span["start"])
        assert bar.get_y() + bar.get_height() / 2 == pytest.approx(lanes.index(
            {9: "thread 1 (9)", 7: "thread 2 (7)", "worker": "thread 3 (worker)"}[span["thread"]]))
    assert "late" in _texts(fig) and "0.50 s" in _texts(fig)
    assert ax.get_xlabel() == "seconds since the first call started"
    assert fig._suptitle.get_text() == "five calls"
    _png(fig)


def test_the_call_timeline_refuses_what_it_cannot_draw() -> None:
    with pytest.raises(InvalidArgument):
        diagrams.call_timeline([])
    with pytest.raises(InvalidArgument, match="call 0"):
        diagrams.call_timeline([{"start": 1.0, "thread": 1}])
    with pytest.raises(InvalidArgument, match="before it starts"):
        diagrams.call_timeline([{"start": 2.0, "end": 1.0, "thread": 1}])


def _docker_like() -> list[Part]:
    net = "praas-deploy-1234abcd"
    return [Part("notebook", "client", None, "pid 1"),
            Part("control plane", "control-plane", None, "http://127.0.0.1:1234", inside="notebook"),
            Part("alice", "process", net, "praas-demo-alice-1", app="demo", status=Status.ALLOCATED),
            Part("bob", "process", net, app="demo", status=Status.SWAPPED_OUT),
            *[Part(f"w{i}", "process", net, app="many", status=Status.ALLOCATED) for i in range(9)],
            Part("praas-s3-1234abcd", "store", net, "S3", swap=True),
            Part("praas-redis-1234abcd", "store", net, "Redis"),
            Part("swap directory", "store", None, "on the host", swap=True)]


def test_the_deployment_diagram_draws_every_part_where_it_runs() -> None:
    parts = _docker_like()
    fig = diagrams.deployment_diagram(parts)
    gids, texts = _gids(fig), " ".join(_texts(fig))
    shown = [p for p in parts if p.app != "many" or p.name in {f"w{i}" for i in range(6)}]
    for p in shown:
        assert f"part:{p.name}" in gids and p.name in texts
    assert "+ 3 more" in texts  # nine processes in one application: six drawn
    assert "application demo" in texts and "application many" in texts
    assert "ALLOCATED" in texts and "SWAPPED_OUT" in texts
    assert {"network:praas-deploy-1234abcd", "network:host", "process:notebook"} <= set(gids)
    assert "Docker network praas-deploy-1234abcd" in texts
    links = [g for g in _gids(fig, Annotation) if g.startswith("link:")]
    assert links.count("link:rest") == 1
    assert links.count("link:data") == links.count("link:control") == 2  # one per application
    assert links.count("link:swap") == 4  # each application to each of the two swap stores
    _png(fig)


def test_the_deployment_diagram_without_networks_or_an_embedded_control_plane() -> None:
    fig = diagrams.deployment_diagram([Part("client", "client"), Part("remote control plane", "control-plane"),
                                       Part("p", "process", app="a", status=Status.FAILED)])
    gids = _gids(fig)
    assert "network:host" in gids and not any(g.startswith(("process:", "network:praas")) for g in gids)
    assert "this machine: everything on the host, over loopback (127.0.0.1)" in _texts(fig)
    with pytest.raises(InvalidArgument):
        diagrams.deployment_diagram([])
    with pytest.raises(InvalidArgument, match="kind"):
        Part("x", "database")  # type: ignore[arg-type]  # the point: an unknown kind is refused


def test_deployment_parts_of_a_local_deployment() -> None:
    import praas_kit

    with praas_kit.local() as cp:
        app = cp.create_application("demo", code=APP_CODE)
        app.create_process("alice")
        parts = diagrams.deployment_parts(cp)
    by_kind = {k: [p for p in parts if p.kind == k] for k in diagrams.KINDS}
    (client,), (plane,), (proc,) = by_kind["client"], by_kind["control-plane"], by_kind["process"]
    assert plane.inside == client.name and "backend: local" in plane.detail
    assert (proc.name, proc.app, proc.status, proc.network) == ("alice", "demo", Status.ALLOCATED, None)
    assert [(s.name, s.swap, s.network) for s in by_kind["store"]] == [("swap directory", True, None)]
    assert all(p.network is None for p in parts)
    diagrams.deployment_diagram(parts)


def test_deployment_parts_of_a_remote_control_plane() -> None:
    class Remote:  # what a client from praas_kit.connect() offers: REST only
        url = "http://control-plane:8000"

        def healthz(self) -> dict[str, Any]:
            return {"ok": True, "backend": "docker"}

        def processes(self) -> list[Any]:
            return [SimpleNamespace(app="demo", name="alice", status=Status.ALLOCATED, address="tcp://10.0.0.5:8000")]

    parts = diagrams.deployment_parts(Remote())
    assert [(p.kind, p.inside) for p in parts] == [("client", None), ("control-plane", None), ("process", None)]
    assert parts[2].network == "(not known to this client)" and parts[2].detail == "tcp://10.0.0.5:8000"
    diagrams.deployment_diagram(parts)
