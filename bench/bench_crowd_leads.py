"""A crowd arriving together: which render lead each stream got, and the server underruns.

    .venv/bin/python bench/bench_crowd_leads.py [--clients 20] [--seconds 12]

`--clients` listeners connect to a fresh `auralis serve` at once, as the reliability soak's do
(`tests.support.reliability.run_soak`: pings and telemetry like the browser), for `--seconds`.
Prints the lead each stream started at (the `lead_chunks` of each `ws_connect` log line:
`auralis/streaming/headroom.py` chooses it), the server underruns and the chunks received.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.support.reliability import run_soak  # noqa: E402
from tests.support.server import running_server  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--clients", type=int, default=20)
    ap.add_argument("--seconds", type=float, default=12.0)
    a = ap.parse_args()
    with running_server(env={"AURALIS_LOG_FORMAT": "json"}) as srv:
        result = asyncio.run(run_soak(srv, clients=a.clients, seconds=a.seconds, sample_every_s=2.5, warmup_s=2))
        logs = srv.logs()
    events = [json.loads(line) for line in logs.splitlines() if line.startswith("{")]
    leads = [e.get("lead_chunks") for e in events if e.get("event") == "ws_connect"]
    s = result.as_dict()
    print(json.dumps({"leads_at_connect": leads, "server_underruns": s["server_underruns"],
                      "chunks_min": s["chunks_min"], "chunks_expected": s["chunks_expected"]}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
