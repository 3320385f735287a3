"""Connect / first chunk / disconnect cycles (a quarter cut without a close frame): every
listener counted in and out, no thread, file or stream left behind, RSS flat. Short here;
`scripts/reliability.py churn` runs the full 2,000 cycles (figures in docs/reliability.md)."""

from __future__ import annotations

import asyncio
import json

import pytest

from tests.support.reliability import run_churn
from tests.support.server import running_server

pytestmark = pytest.mark.slow

CI_WARMUP = 80
CI_CYCLES = 160


def test_connect_disconnect_churn_leaves_nothing_behind():
    with running_server() as srv:
        result = asyncio.run(run_churn(srv, cycles=CI_CYCLES, concurrency=8, warmup=CI_WARMUP, every=40))
        status = srv.status()
    report = json.dumps(result.as_dict(), indent=1)
    print("\n" + report)
    assert result.failures == 0, report
    assert result.active_after == 0 and status["active_connections"] == 0 and status["buffer_depth"] == 0
    assert result.disconnects_counted == CI_CYCLES, report
    # render workers and the default executor are created by the warm-up; nothing grows after it
    assert max(c["threads"] for c in result.checkpoints) <= result.baseline["threads"] + 1, report
    assert result.after["fds"] <= result.baseline["fds"], report
    # a short run: single RSS readings wander by several MB (allocator free lists), so the bound
    # here is looser than the full run's 10 MB over 2,000 cycles
    assert result.rss_growth_mb() < 15, report
