"""The full reliability runs behind docs/reliability.md (the CI runs are short versions).

    .venv/bin/python scripts/reliability.py fuzz     # 10,000 hostile frames, 1,000 queries, schemathesis
    .venv/bin/python scripts/reliability.py slow     # one non-reading listener among 20, 60 s phases
    .venv/bin/python scripts/reliability.py churn    # 2,000 connect/disconnect cycles
    .venv/bin/python scripts/reliability.py flood    # 20 requests with 1-64 MiB heads beside a listener
    .venv/bin/python scripts/reliability.py idle     # 500 idle or half-sent sockets
    .venv/bin/python scripts/reliability.py lockout  # one address opening 40 listeners (cap 8)
    .venv/bin/python scripts/reliability.py all

Each run starts its own real server (`auralis serve`, loopback, free port), prints its figures
as JSON and writes them to artifacts/reliability/<run>.json. Exit status 0 when every target is
met. The soak (30 minutes) is scripts/soak.py.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.support.production import auth_headers, make_token, production_env  # noqa: E402
from tests.support.reliability import (  # noqa: E402
    generate_hostile_frames,
    generate_hostile_queries,
    run_churn,
    run_fuzz,
    run_query_fuzz,
    run_slow_consumer,
)
from tests.support.reliability_limits import (  # noqa: E402
    FLOOD_SIZES_MIB,
    run_header_flood,
    run_idle_sockets,
    run_slot_lockout,
)
from tests.support.server import running_server  # noqa: E402

OUT = ROOT / "artifacts" / "reliability"
SCHEMATHESIS = str(Path(sys.executable).with_name("schemathesis"))


def schemathesis(url: str, examples: int, *headers: str) -> dict[str, Any]:
    args = [SCHEMATHESIS, "run", f"{url}/openapi.json", "--checks", "not_a_server_error",
            "--max-examples", str(examples), "--seed", "6"]
    for h in headers:
        args += ["-H", h]
    started = time.monotonic()
    with tempfile.TemporaryDirectory() as cwd:  # schemathesis keeps a cache in its working directory
        run = subprocess.run(args, capture_output=True, text=True, timeout=1800, cwd=cwd)
    summary = [line.strip() for line in run.stdout.splitlines() if "generated" in line or "passed" in line]
    return {"exit": run.returncode, "seconds": round(time.monotonic() - started, 1), "summary": summary[-2:],
            "ok": run.returncode == 0}


def fuzz(args: argparse.Namespace) -> dict[str, Any]:
    t = time.monotonic()
    frames = generate_hostile_frames(args.frames, seed_value=args.seed)
    generated_s = time.monotonic() - t
    queries = generate_hostile_queries(args.queries, seed_value=args.seed)
    with running_server(env={"AURALIS_WS_MESSAGE_RATE": "2000/second"}) as srv:
        ws = asyncio.run(run_fuzz(srv, frames, connections=args.connections))
        q = asyncio.run(run_query_fuzz(srv, queries))
        st_dev = schemathesis(srv.url, args.examples)
    env = production_env(AURALIS_RATE_LIMIT_METRICS="1000000/minute", AURALIS_RATE_LIMIT_STATUS="1000000/minute")
    with running_server(env=env, headers=auth_headers()) as srv:
        st_prod = schemathesis(srv.url, args.examples, f"Authorization: Bearer {make_token()}",
                               "X-Forwarded-Proto: https")
        st_anon = schemathesis(srv.url, args.examples, "X-Forwarded-Proto: https")
    result = {
        "websocket_frames": {**ws.as_dict(), "generated_in_s": round(generated_s, 1), "seed": args.seed},
        "query_strings": q.as_dict(),
        "schemathesis_development": st_dev,
        "schemathesis_production_token": st_prod,
        "schemathesis_production_no_token": st_anon,
    }
    result["ok"] = ws.ok and q.ok and st_dev["ok"] and st_prod["ok"] and st_anon["ok"]
    if ws.error_log_lines or q.error_log_lines:
        result["error_log_sample"] = (ws.error_log_lines + q.error_log_lines)[:5]
    return result


def slow(args: argparse.Namespace) -> dict[str, Any]:
    with running_server() as srv:
        r = asyncio.run(run_slow_consumer(srv, readers=19, phase_s=args.phase))
    d = r.as_dict()
    d["ok"] = r.ratio <= 1.2 and r.gaps == 0 and r.reader_drops == 0 and r.slow_dropped_after_s is not None
    return d


def churn(args: argparse.Namespace) -> dict[str, Any]:
    with running_server() as srv:
        r = asyncio.run(run_churn(srv, cycles=args.cycles, concurrency=8, warmup=args.warmup, every=100))
    d = r.as_dict()
    d["rss_checkpoints_mb"] = [round(c["rss_mb"], 1) for c in r.checkpoints]
    d["ok"] = (
        r.failures == 0
        and r.active_after == 0
        and r.disconnects_counted == args.cycles
        and r.rss_growth_mb() < 10
        and max(c["threads"] for c in r.checkpoints) <= r.baseline["threads"] + 1
        and r.after["fds"] <= r.baseline["fds"]
    )
    return d


def flood(args: argparse.Namespace) -> dict[str, Any]:
    with running_server() as srv:
        r = asyncio.run(run_header_flood(srv, sizes_mib=FLOOD_SIZES_MIB))
    d = r.as_dict()
    d["ok"] = (
        r.refused == len(FLOOD_SIZES_MIB)
        and r.flood_cpu_s < 0.5
        and r.listener_gaps == 0
        and r.listener_buffering == 0
        and r.status_after == 200
    )
    return d


def idle(args: argparse.Namespace) -> dict[str, Any]:
    with running_server(wait_soundfont=False) as srv:  # the default 5 s head timeout
        r = asyncio.run(run_idle_sockets(srv, sockets=args.sockets, limit_s=10))
    d = r.as_dict()
    d["ok"] = (
        r.closed_by_server == args.sockets
        and r.last_closed_after_s is not None
        and r.last_closed_after_s < 10
        and r.normal_failures == 0
        and r.fds_after <= r.fds_baseline
    )
    return d


def lockout(args: argparse.Namespace) -> dict[str, Any]:
    # the default caps (8 per address); HTTPS redirect off since 127.0.0.2 is no trusted proxy
    env = production_env(AURALIS_WS_CONNECT_RATE="1000/minute", AURALIS_HTTPS_REDIRECT="false")
    with running_server(env=env, headers=auth_headers()) as srv:
        r = asyncio.run(run_slot_lockout(
            srv, cap=8, attempts=args.attempts, query=f"?token={make_token(sub='greedy')}",
            second_query=f"?token={make_token(sub='other')}",
        ))
    d = r.as_dict()
    d["ok"] = (
        r.accepted_first_address == 8
        and r.refused_first_address == args.attempts - 8
        and set(r.refusal_codes) == {1013}
        and r.second_address_connected
        and r.second_address_audio >= 3
    )
    return d


RUNS = {"fuzz": fuzz, "slow": slow, "churn": churn, "flood": flood, "idle": idle, "lockout": lockout}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("run", choices=[*RUNS, "all"])
    ap.add_argument("--frames", type=int, default=10_000)
    ap.add_argument("--queries", type=int, default=1_000)
    ap.add_argument("--connections", type=int, default=5)
    ap.add_argument("--examples", type=int, default=1_000, help="schemathesis examples per operation")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--phase", type=float, default=60.0, help="slow: seconds per phase")
    ap.add_argument("--cycles", type=int, default=2_000)
    ap.add_argument("--warmup", type=int, default=300, help="churn: cycles before the baseline")
    ap.add_argument("--sockets", type=int, default=500, help="idle: idle sockets")
    ap.add_argument("--attempts", type=int, default=40, help="lockout: listeners one address tries to open")
    args = ap.parse_args()
    OUT.mkdir(parents=True, exist_ok=True)
    ok = True
    for name in RUNS if args.run == "all" else [args.run]:
        started = time.monotonic()
        print(f"=== {name} ===", flush=True)
        result = RUNS[name](args)
        result["wall_s"] = round(time.monotonic() - started, 1)
        (OUT / f"{name}.json").write_text(json.dumps(result, indent=1))
        print(json.dumps(result, indent=1), flush=True)
        ok &= bool(result["ok"])
    print("PASS" if ok else "FAIL")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
