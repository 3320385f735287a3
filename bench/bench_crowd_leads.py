"""20 listeners connecting together (the soak's start): which render lead each stream got, and underruns."""
import asyncio, json, re, sys, time
repo = sys.argv[1]; secs = float(sys.argv[2]) if len(sys.argv) > 2 else 12
sys.path.insert(0, repo)
from tests.support.reliability import run_soak
from tests.support.server import running_server
with running_server(env={"AURALIS_LOG_FORMAT": "json"}) as srv:
    res = asyncio.run(run_soak(srv, clients=20, seconds=secs, sample_every_s=2.5, warmup_s=2))
    logs = srv.logs()
leads = [json.loads(l).get("lead_chunks") for l in logs.splitlines() if '"ws_connect"' in l]
ups = [json.loads(l).get("lead_chunks") for l in logs.splitlines() if '"server_underrun"' in l]
s = res.as_dict()
print(json.dumps({"leads_at_connect": leads, "server_underruns": s["server_underruns"], "underrun_lines_lead_after": ups[:40], "chunks_min": s["chunks_min"], "chunks_expected": s["chunks_expected"]}))
