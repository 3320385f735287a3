"""A short soak: 20 listeners that ping and report telemetry like the browser, for a minute.
`scripts/soak.py` runs the full 30 minutes (figures in docs/reliability.md)."""

from __future__ import annotations

import asyncio
import json

import pytest

from tests.support.reliability import run_soak, underrun_timeline
from tests.support.server import running_server

pytestmark = pytest.mark.slow

CI_SECONDS = 50.0
CI_WARMUP_S = 15.0


def test_twenty_listeners_for_a_minute_no_underrun_flat_memory():
    with running_server() as srv:
        result = asyncio.run(run_soak(srv, clients=20, seconds=CI_SECONDS, sample_every_s=2.5, warmup_s=CI_WARMUP_S))
        logs = srv.logs()
    summary = result.as_dict()
    report = json.dumps({**summary, "underrun_timeline": underrun_timeline(logs)[:20]}, indent=1)
    print("\n" + report)
    assert summary["server_underruns"] == 0 and summary["buffering_events"] == 0, report
    assert summary["seq_gaps"] == 0 and summary["closes"] == [None] * 20, report
    assert summary["chunks_min"] >= 0.95 * summary["chunks_expected"], report
    assert summary["rss_growth_after_warmup_mb"] < 10, report
    assert summary["threads"][1] <= summary["threads"][0] + 10  # render workers and executor only
    assert summary["end_to_end_latency_ms"]["samples"] > 0 and summary["network_latency_ms"]["samples"] > 0
