"""Browser client benchmark: real headless Chromium against a real `auralis serve`.

    .venv/bin/python bench/bench_browser.py [--loads 10] [--seconds 60] [--changes 20]

1. Time to first audio: navigation start to the first audible frame at the output (the worklet's
   first non-silent frame, plus the latency the AudioContext reports), over N fresh page loads.
2. End-to-end latency from telemetry: the server's /api/metrics `end_to_end_latency_ms` after one
   listener has played for S seconds (a fresh server, so the figures are this listener's).
3. Parameter change to audible: from the `params` ack to the moment the chunk at `effective_seq`
   reaches the output (played_seq >= effective_seq), over C changes made during that run.
Targets (issue 5): p95 <= 1 s, p95 <= 500 ms, p95 <= 2 s.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from playwright.sync_api import sync_playwright  # noqa: E402

from tests.support.server import running_server  # noqa: E402

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--autoplay-policy=no-user-gesture-required", "--disable-background-networking"]
SNAP = "window.auralis ? window.auralis.snapshot() : null"
CHANGES = [
    ("#key", "62"), ("preset", "focus"), ("#mode", "lydian"), ("#key", "67"), ("preset", "sleep"),
    ("#mode", "dorian"), ("#key", "64"), ("preset", "bright"), ("#mode", "aeolian"), ("preset", "meditation"),
]


def pct(values: list[float], p: float) -> float:
    s = sorted(values)
    k = max(0, min(len(s) - 1, int(-(-p / 100 * len(s) // 1)) - 1))
    return s[k]


def first_audio(browser, url: str, loads: int) -> list[float]:
    out = []
    for _ in range(loads):
        ctx = browser.new_context()
        page = ctx.new_page()
        page.goto(url)
        page.wait_for_function(f"(() => {{ const s = {SNAP}; return s && s.firstAudioMs !== null; }})()",
                               timeout=15000, polling=20)
        out.append(page.evaluate(SNAP)["firstAudioMs"])
        ctx.close()
    return out


def session(browser, url: str, seconds: float, changes: int) -> dict:
    ctx = browser.new_context()
    page = ctx.new_page()
    page.goto(url)
    page.wait_for_function(f"(() => {{ const s = {SNAP}; return s && s.stats && s.stats.state === 'playing'; }})()",
                           timeout=15000)
    start = time.monotonic()
    interval = seconds / max(1, changes)
    client_e2e = []
    for i in range(changes):
        target, value = CHANGES[i % len(CHANGES)]
        if target == "preset":
            page.click(f".preset[data-preset='{value}']")
        else:
            page.select_option(target, value)
        deadline = start + (i + 1) * interval
        while time.monotonic() < deadline:
            s = page.evaluate(SNAP)
            if s["e2eMs"] is not None:
                client_e2e.append(s["e2eMs"])
            time.sleep(0.25)
    s = page.evaluate(SNAP)
    ctx.close()
    return {"param_ms": s["paramLatenciesMs"], "client_e2e": client_e2e, "underruns": s["stats"]["underruns"],
            "sample_rate": s["sampleRate"], "played_s": time.monotonic() - start}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--loads", type=int, default=10)
    ap.add_argument("--seconds", type=float, default=60.0)
    ap.add_argument("--changes", type=int, default=20)
    a = ap.parse_args()
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            with running_server() as srv:
                page = browser.new_page()  # warm-up: the first Chromium renderer start is not a page load
                page.goto(srv.url)
                page.wait_for_timeout(1500)
                page.close()
                tta = first_audio(browser, srv.url, a.loads)
            with running_server() as srv:
                res = session(browser, srv.url, a.seconds, a.changes)
                e2e = srv.metrics()["end_to_end_latency_ms"]
                net = srv.metrics()["network_latency_ms"]
        finally:
            browser.close()
    pm = res["param_ms"]
    print(f"Chromium headless, AudioContext {res['sample_rate']} Hz, {res['played_s']:.0f} s session, "
          f"{res['underruns']} client underruns")
    print(f"{'measure':44} {'n':>4} {'p50':>8} {'p95':>8} {'max':>8}  target")
    print(f"{'time to first audio (ms)':44} {len(tta):4d} {statistics.median(tta):8.0f} {pct(tta, 95):8.0f} "
          f"{max(tta):8.0f}  p95 <= 1000")
    print(f"{'end-to-end latency, server /api/metrics (ms)':44} {e2e['samples']:4d} {e2e['p50']:8.0f} "
          f"{e2e['p95']:8.0f} {'':>8}  p95 <= 500")
    if res["client_e2e"]:
        ce = res["client_e2e"]
        print(f"{'end-to-end latency, client estimate (ms)':44} {len(ce):4d} {statistics.median(ce):8.0f} "
              f"{pct(ce, 95):8.0f} {max(ce):8.0f}")
    print(f"{'network latency, server /api/metrics (ms)':44} {net['samples']:4d} {net['p50']:8.1f} {net['p95']:8.1f}")
    if pm:
        print(f"{'parameter change to audible (ms)':44} {len(pm):4d} {statistics.median(pm):8.0f} "
              f"{pct(pm, 95):8.0f} {max(pm):8.0f}  p95 <= 2000")
    ok = pct(tta, 95) <= 1000 and e2e["p95"] <= 500 and bool(pm) and pct(pm, 95) <= 2000
    print("all targets met" if ok else "TARGET MISSED")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
