"""A crowd arriving together: which render lead each stream got, and the server underruns.

    .venv/bin/python bench/bench_crowd_leads.py [--clients 20] [--seconds 12] [--others-after S] [--runs N]

`--clients` listeners connect to a fresh `auralis serve` at once, as the reliability soak's do
(`tests.support.reliability.run_soak`: pings and telemetry like the browser), for `--seconds`.
With `--others-after S` the first listener connects alone and the others together S seconds
later (a crowd arriving while a lone listener plays, perhaps at the short lead). Environment
variables pass to the server (`AURALIS_LEAD_SHORT_MAX_LOAD=0.25 ...`). Prints the lead each stream started at (the `lead_chunks` of each `ws_connect` log line:
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
    ap.add_argument("--others-after", type=float, default=0.0,
                    help="the first listener alone, the others together this many seconds later")
    ap.add_argument("--runs", type=int, default=1, help="fresh servers, one after the other")
    a = ap.parse_args()
    for _ in range(a.runs):
        with running_server(env={"AURALIS_LOG_FORMAT": "json"}) as srv:
            result = asyncio.run(run_soak(srv, clients=a.clients, seconds=a.seconds, sample_every_s=2.5,
                                          warmup_s=2, others_after_s=a.others_after))
            logs = srv.logs()
        events = [json.loads(line) for line in logs.splitlines() if line.startswith("{")]
        leads = [e.get("lead_chunks") for e in events if e.get("event") == "ws_connect"]
        under = [{k: e.get(k) for k in ("client_id", "lead_chunks")} for e in events if e.get("event") == "server_underrun"]
        s = result.as_dict()
        print(json.dumps({"leads_at_connect": leads, "server_underruns": s["server_underruns"],
                          "underruns_logged": under[:10], "chunks_min": s["chunks_min"],
                          "chunks_expected": s["chunks_expected"]}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
