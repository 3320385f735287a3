"""Soak: many listeners for a long time against a real server; RSS growth and underruns.

    .venv/bin/python scripts/soak.py                          # 30 minutes, 20 listeners
    .venv/bin/python scripts/soak.py --minutes 1 --clients 5  # a quick look

A real `auralis serve` starts on a free loopback port. Each listener streams its own music,
pings every 5 s (with the previous round trip, as the browser does) and sends telemetry every
second. The server's RSS, threads and open files are sampled (psutil) every --sample-every
seconds. At the end the figures are printed as JSON and written to --out (default
artifacts/reliability/soak.json): RSS growth after the warm-up (target < 10 MB), the RSS trend
(MB/hour), server underruns (target 0), seq gaps, drops, latency histograms.
The short CI version is tests/integration/test_reliability_soak.py.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.support.reliability import run_soak  # noqa: E402
from tests.support.server import running_server  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--minutes", type=float, default=30.0)
    ap.add_argument("--clients", type=int, default=20)
    ap.add_argument("--sample-every", type=float, default=10.0, help="seconds between server samples")
    ap.add_argument("--warmup", type=float, default=120.0, help="seconds before the RSS baseline")
    ap.add_argument("--out", type=Path, default=ROOT / "artifacts" / "reliability" / "soak.json")
    args = ap.parse_args()

    started = time.monotonic()
    last_print = [0.0]

    def progress(sample: dict, logs: list) -> None:
        if sample["t"] - last_print[0] >= 60 or sample["t"] == 0:
            last_print[0] = sample["t"]
            chunks = min((len(log.seqs) for log in logs), default=0)
            print(
                f"[{sample['t'] / 60:5.1f} min] rss {sample['rss_mb']:.1f} MB, threads {sample['threads']}, "
                f"fds {sample['fds']}, fewest chunks {chunks}",
                flush=True,
            )

    with running_server() as srv:
        result = asyncio.run(
            run_soak(
                srv,
                clients=args.clients,
                seconds=args.minutes * 60,
                sample_every_s=args.sample_every,
                warmup_s=args.warmup,
                progress=progress,
            )
        )
        errors = [line for line in srv.logs().splitlines() if '"level":"error"' in line]
    summary = {**result.as_dict(), "server_error_log_lines": len(errors), "wall_s": round(time.monotonic() - started, 1)}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"summary": summary, "samples": result.samples}, indent=1))
    print(json.dumps(summary, indent=1))
    ok = (
        summary["server_underruns"] == 0
        and summary["seq_gaps"] == 0
        and all(c is None for c in summary["closes"])
        and summary["rss_growth_after_warmup_mb"] < 10
    )
    print("PASS" if ok else "FAIL", flush=True)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
