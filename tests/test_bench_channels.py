"""``praas bench channels`` (paper §6.2) with its S3 baseline, end to end on the local backend against a real Redis
and a real Swift S3 server, with the smallest parameters; then its output is validated (files, columns, cells,
figure, the paper's ratios). No timing is asserted."""

from __future__ import annotations

import csv
import json
import os
from pathlib import Path

import pytest
from helpers import children_of, servers_ready


@pytest.mark.s3
@pytest.mark.redis
def test_channel_benchmark_with_s3_writes_valid_results(tmp_path: Path) -> None:
    from praas_kit.bench import channels
    from praas_kit.bench.common import load_rows
    from praas_kit.bench.validate import ROW_COLUMNS, validate

    servers_ready(redis=True, s3=True)
    before = children_of(os.getpid())
    run = channels.run_channel_benchmarks(tmp_path, quick=True, backend="local", dataplane_auth="none", sizes=[10],
                                          s3_reps=4)
    assert children_of(os.getpid()) <= before  # Redis, the Swift S3 server and the control plane are gone

    with open(run.csv, newline="") as f:
        lines = list(csv.DictReader(f))
    assert list(lines[0]) == ROW_COLUMNS
    meta = json.loads(run.meta.read_text())
    params = meta["params"]
    assert meta["git_commit"] and params["skipped"] == [] and params["s3_sizes"] == [10]
    cells = {(line["experiment"], line["variant"], int(line["size"])) for line in lines}
    want = channels.expected(params)
    assert want == {("channel", t, 10) for t in channels.TRANSPORTS}
    assert want <= cells
    assert sum(1 for line in lines if line["variant"] == "s3") == 4
    for name in ("channels.png", "channels.pdf"):
        assert (tmp_path / name).stat().st_size > 0, name
    assert validate(tmp_path, "channels") == []

    rows = load_rows(run.csv)
    comparison = {r["what"]: r for r in channels.comparison(rows, auth="none")}
    assert set(comparison) == {"Redis-poll/PraaS", "Redis BLPOP/PraaS", "S3/PraaS"}
    assert all(r["benchmark"] == "channels" and r["condition"] == "10 B" and r["ours"] > 0
               for r in comparison.values())
    assert comparison["S3/PraaS"]["paper"] == round(33.26 / 0.1956, 2)  # datasets/paper/channels.csv
    assert comparison["Redis-poll/PraaS"]["paper"] == round(2.892 / 0.1956, 2)
    names = {f.name for f in channels.summarise(rows)}
    assert {"S3 / send-recv, 10 B (none)", "Redis BLPOP / send-recv, 10 B (none)"} <= names


@pytest.mark.s3
def test_channel_benchmark_stops_its_s3_server_on_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from praas_kit.bench import channels

    servers_ready(s3=True)
    before = children_of(os.getpid())

    def broken(*args: object, **kwargs: object) -> list[object]:
        raise RuntimeError("broken on purpose")

    monkeypatch.setattr(channels, "_measure", broken)
    with pytest.raises(RuntimeError, match="broken on purpose"):
        channels.run_channel_benchmarks(tmp_path, quick=True, dataplane_auth="none", sizes=[10],
                                        transports=("praas", "s3"))
    assert children_of(os.getpid()) <= before
    assert not (tmp_path / "channels.csv").exists()


def test_channel_expected_cells() -> None:
    from praas_kit.bench import channels

    assert channels._s3_sizes(channels.SIZES, quick=True) == [10, 1024, 100 * 1024, 1 << 20]
    assert channels._s3_sizes(channels.SIZES, quick=False) == channels.SIZES
    params = {"transports": ["praas", "redis", "s3"], "sizes": [10, 5 << 20], "s3_sizes": [10], "skipped": ["redis"]}
    assert channels.expected(params) == {("channel", "praas", 10), ("channel", "praas", 5 << 20), ("channel", "s3", 10)}
    paper = channels.paper_channels()
    assert paper[("s3", 1024)] == pytest.approx(0.0516) and paper[("praas", 10)] == pytest.approx(0.0001956)
