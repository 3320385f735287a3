"""Browser client benchmark: real headless Chromium against a real `auralis serve`.

    .venv/bin/python bench/bench_browser.py [--format opus] [--leads auto] [--loads 10] [--seconds 60]
        [--changes 20] [--soak 0]

`--format` is the page's audio format (`opus`: WebCodecs AudioDecoder, the page's default in
Chromium; `pcm`; `json`), asked for with the page's `?format=`. `--leads 1,2,3` repeats the
measurements for each server render lead, pinned (`AURALIS_LEAD_CHUNKS` and
`AURALIS_LEAD_CHUNKS_SHORT`), a fresh server each, so the lead can be chosen from one run;
`auto` (the default) leaves the server to choose each stream's lead by its measured headroom.
`--soak S` then plays one listener for S seconds at the first lead and counts its client
underruns (the worklet's own count). `--revisit` times the start on return visits (one browser
context, so its HTTP cache holds the page's files) instead of first visits.

1. Time to first audio: navigation start to the first audible frame at the output (the worklet's
   first non-silent frame, plus the latency the AudioContext reports), over N fresh page loads.
2. End-to-end latency from telemetry: the server's /api/metrics `end_to_end_latency_ms` after one
   listener has played for S seconds (a fresh server, so the figures are this listener's).
3. Parameter change to audible: from the `params` ack to the moment the chunk at `effective_seq`
   reaches the output (played_seq >= effective_seq), over C changes made during that run.
Targets (issue 9, with opus): p95 <= 500 ms, p95 <= 350 ms, p95 <= 2 s, 0 underruns over 5 minutes.
"""

from __future__ import annotations

import argparse
import re
import statistics
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import httpx  # noqa: E402
from playwright.sync_api import sync_playwright  # noqa: E402

from tests.support.chromium import CHROMIUM, chromium_args  # noqa: E402
from tests.support.server import running_server  # noqa: E402

ARGS = chromium_args()
SNAP = "window.auralis ? window.auralis.snapshot() : null"
CHANGES = [
    ("#key", "62"), ("preset", "focus"), ("#mode", "lydian"), ("#key", "67"), ("preset", "sleep"),
    ("#mode", "dorian"), ("#key", "64"), ("preset", "bright"), ("#mode", "aeolian"), ("preset", "meditation"),
]


def pct(values: list[float], p: float) -> float:
    s = sorted(values)
    k = max(0, min(len(s) - 1, int(-(-p / 100 * len(s) // 1)) - 1))
    return s[k]


#: The page's start-up milestones (performance marks `auralis:NAME`, audio_client_worklet.js) and
#: the navigation and resource timings, ms since navigation start, for one load.
TIMELINE = """(() => {
  const nav = performance.getEntriesByType('navigation')[0];
  const out = { html: nav.responseEnd, dcl: nav.domContentLoadedEventStart };
  let modules = 0, worklet = 0;
  for (const r of performance.getEntriesByType('resource')) {
    if (!/[.]js$/.test(r.name)) continue;
    if (/audio_worklet_processor|playback_engine|drift|interpolate|jitter_policy/.test(r.name)) worklet = Math.max(worklet, r.responseEnd);
    else modules = Math.max(modules, r.responseEnd);
  }
  out.modules = modules;
  if (worklet) out.worklet_modules = worklet;
  for (const m of performance.getEntriesByType('mark')) {
    if (m.name.startsWith('auralis:')) out[m.name.slice(8)] = m.startTime;
  }
  return out;
})()"""
#: The breakdown's columns, in start-up order.
STEPS = ["html", "modules", "main", "audio-context", "worklet-fetch", "dcl", "facts", "ws-create", "ws-open",
         "worklet-module", "worklet-ready", "first-text", "first-frame", "chunk0-decoded", "chunk1-decoded", "audible"]


def first_audio(browser, url: str, loads: int, fmt: str, revisit: bool = False) -> tuple[list[float], list[dict]]:
    """Time to first audio over `loads` fresh page loads (a fresh browser context each: nothing
    cached), and each load's start-up timeline (TIMELINE). `revisit`: return visits instead, all
    in one browser context after a first, unmeasured load (the HTTP cache holds the files, which
    the server's ETags then answer with 304s)."""
    out, timelines = [], []
    shared = browser.new_context() if revisit else None
    if shared is not None:
        page = shared.new_page()
        page.goto(url)
        page.wait_for_function(f"(() => {{ const s = {SNAP}; return s && s.firstAudioMs !== null; }})()",
                               timeout=15000, polling=20)
        page.close()
    for _ in range(loads):
        ctx = shared or browser.new_context()
        page = ctx.new_page()
        page.goto(url)
        page.wait_for_function(f"(() => {{ const s = {SNAP}; return s && s.firstAudioMs !== null; }})()",
                               timeout=15000, polling=20)
        s = page.evaluate(SNAP)
        assert s["format"] == fmt, f"the page plays {s['format']}, not {fmt}"
        out.append(s["firstAudioMs"])
        t = page.evaluate(TIMELINE)
        t["audible"] = s["firstAudioMs"]
        t["output_latency"] = s["outputLatencyMs"]
        timelines.append(t)
        if shared is None:
            ctx.close()
        else:
            page.close()
    if shared is not None:
        shared.close()
    return out, timelines


def print_timeline(timelines: list[dict], per_load: bool = False) -> None:
    """Median (and max) ms since navigation start of each start-up step, and the step's own share."""
    print(f"{'start-up step (ms since navigation start)':48} {'n':>4} {'p50':>8} {'max':>8} {'step p50':>9}")
    prev = 0.0
    for name in STEPS:
        vals = [t[name] for t in timelines if t.get(name) is not None]
        if not vals:
            continue
        med = statistics.median(vals)
        print(f"{'  ' + name:48} {len(vals):4d} {med:8.0f} {max(vals):8.0f} {med - prev:+9.0f}")
        prev = med
    if per_load:
        names = [n for n in STEPS if any(t.get(n) is not None for t in timelines)]
        print("  each load: " + " ".join(n[:10] for n in names))
        for t in timelines:
            print("   " + " ".join("-" if t.get(n) is None else f"{t[n]:.0f}" for n in names))
    lat = [t["output_latency"] for t in timelines if t.get("output_latency") is not None]
    if lat:
        print(f"{'  (of which audio output latency, reported)':48} {len(lat):4d} {statistics.median(lat):8.0f}")


def session(browser, url: str, seconds: float, changes: int, fmt: str) -> dict:
    ctx = browser.new_context()
    page = ctx.new_page()
    page.goto(url)
    page.wait_for_function(f"(() => {{ const s = {SNAP}; return s && s.stats && s.stats.state === 'playing'; }})()",
                           timeout=15000)
    assert page.evaluate(SNAP)["format"] == fmt
    start = time.monotonic()
    interval = seconds / max(1, changes)
    client_e2e = []
    kbps = []
    for i in range(max(1, changes)):
        if changes:
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
            if s["kbps"] is not None:
                kbps.append(s["kbps"])
            page.wait_for_timeout(250)
    s = page.evaluate(SNAP)
    ctx.close()
    return {"param_ms": s["paramLatenciesMs"], "client_e2e": client_e2e, "underruns": s["stats"]["underruns"],
            "sample_rate": s["sampleRate"], "played_s": time.monotonic() - start, "kbps": kbps,
            "seq_gaps": s["decoder"]["seqGaps"], "bytes": s["bytesReceived"], "target_ms": s["stats"]["targetMs"],
            "max_frame_gap_ms": s.get("maxFrameGapMs"), "max_decode_ms": s.get("maxDecodeMs"),
            "underrun_log": s.get("underrunLog") or [], "first_audio_ms": s["firstAudioMs"]}


def server_underruns(srv) -> int:
    """The server's own underruns (a chunk due and none ready), from its Prometheus counter."""
    text = httpx.get(f"{srv.url}/metrics", timeout=5).text
    m = re.search(r'^auralis_buffer_underruns_total\{source="server"\} ([0-9.e+]+)$', text, re.M)
    return int(float(m.group(1))) if m else 0


def print_underruns(res: dict, server: int) -> None:
    """Where the client's underruns came from: each with the time since the last audio frame
    arrived (long: the frames came late, from the server or the network; short: they came in
    time and the main thread decoded them late) and the longest decode so far."""
    gap, dec = res["max_frame_gap_ms"], res["max_decode_ms"]
    print(f"  client underruns {res['underruns']}, server underruns {server}, jitter target at the end "
          f"{res['target_ms']:.0f} ms, longest gap between audio frames "
          f"{'?' if gap is None else f'{gap:.0f}'} ms, longest arrival-to-decoded {'?' if dec is None else f'{dec:.0f}'} ms")
    t0 = res["first_audio_ms"] or 0
    for u in res["underrun_log"]:
        since = "?" if u["sinceFrameMs"] is None else f"{u['sinceFrameMs']:.0f}"
        print(f"    underrun at {(u['atMs'] - t0) / 1000:7.1f} s after first audio: last frame {since} ms before, "
              f"longest decode so far {u['maxDecodeMs']:.0f} ms")


def row(name: str, values: list[float], target: str = "", fmt: str = "8.0f") -> str:
    if not values:
        return f"{name:48} {0:4d}"
    return (f"{name:48} {len(values):4d} {statistics.median(values):{fmt}} {pct(values, 95):{fmt}} "
            f"{max(values):{fmt}}  {target}")


def lead_env(lead: str) -> dict[str, str]:
    """The server's render-lead settings: pinned to `lead` chunks, or its own choice (auto)."""
    if lead == "auto":
        return {}
    return {"AURALIS_LEAD_CHUNKS": lead, "AURALIS_LEAD_CHUNKS_SHORT": lead}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--format", default="opus", choices=["opus", "pcm", "json"])
    ap.add_argument("--leads", default="auto",
                    help="server render leads (chunks) to measure, comma-separated; auto: the server's choice")
    ap.add_argument("--loads", type=int, default=10)
    ap.add_argument("--seconds", type=float, default=60.0)
    ap.add_argument("--changes", type=int, default=20)
    ap.add_argument("--start-burst", type=int, default=None,
                    help="the server's start burst (AURALIS_START_BURST; default: the server's default)")
    ap.add_argument("--breakdown", action="store_true", help="print the time to first audio step by step")
    ap.add_argument("--revisit", action="store_true",
                    help="time to first audio on return visits (one browser context, its HTTP cache kept)")
    ap.add_argument("--soak", type=float, default=0.0, help="seconds of one listener at the first lead (0: none)")
    a = ap.parse_args()
    leads = [x.strip() for x in a.leads.split(",")]
    for x in leads:
        if x != "auto" and not x.isdigit():
            ap.error(f"--leads: {x!r} is neither a chunk count nor auto")
    burst_env = {} if a.start_burst is None else {"AURALIS_START_BURST": str(a.start_burst)}
    ok = True
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            for lead in leads:
                env = {**lead_env(lead), "AURALIS_LOG_LEVEL": "warning", **burst_env}
                print(f"\n== format {a.format}, render lead {lead} chunks, start burst "
                      f"{a.start_burst or 'default'}: Chromium headless")
                print(f"{'measure':48} {'n':>4} {'p50':>8} {'p95':>8} {'max':>8}  target")
                met = True
                if a.loads > 0:
                    with running_server(env=env) as srv:
                        url = f"{srv.url}/?format={a.format}"
                        page = browser.new_page()  # warm-up: the first Chromium renderer start is not a page load
                        page.goto(url)
                        page.wait_for_timeout(1500)
                        page.close()
                        tta, timelines = first_audio(browser, url, a.loads, a.format, a.revisit)
                    print(row("time to first audio, return visits (ms)" if a.revisit else "time to first audio (ms)",
                              tta, "p95 <= 500"))
                    if a.breakdown:
                        print_timeline(timelines, per_load=True)
                    met = met and pct(tta, 95) <= 500
                if a.seconds > 0:
                    with running_server(env=env) as srv:
                        res = session(browser, f"{srv.url}/?format={a.format}", a.seconds, a.changes, a.format)
                        m = srv.metrics()
                        server = server_underruns(srv)
                        e2e, net = m["end_to_end_latency_ms"], m["network_latency_ms"]
                    pm = res["param_ms"]
                    print(f"{'end-to-end latency, server /api/metrics (ms)':48} {e2e['samples']:4d} {e2e['p50']:8.0f} "
                          f"{e2e['p95']:8.0f} {'':>8}  p95 <= 350")
                    print(row("end-to-end latency, client estimate (ms)", res["client_e2e"]))
                    print(f"{'network latency, server /api/metrics (ms)':48} {net['samples']:4d} {net['p50']:8.1f} "
                          f"{net['p95']:8.1f}")
                    print(row("parameter change to audible (ms)", pm, "p95 <= 2000"))
                    print(row("received kbps (page's 5 s window)", res["kbps"], "", "8.1f"))
                    print(f"  session: AudioContext {res['sample_rate']} Hz, {res['played_s']:.0f} s, {res['seq_gaps']} seq "
                          f"gaps, {res['bytes'] * 8 / res['played_s'] / 1000:.0f} kbps received")
                    print_underruns(res, server)
                    met = met and e2e["p95"] <= 350 and (not a.changes or (bool(pm) and pct(pm, 95) <= 2000))
                print("all targets met" if met else "TARGET MISSED")
                ok = ok and met
            if a.soak > 0:
                env = {**lead_env(leads[0]), "AURALIS_LOG_LEVEL": "warning", **burst_env}
                with running_server(env=env) as srv:
                    res = session(browser, f"{srv.url}/?format={a.format}", a.soak, 0, a.format)
                    e2e = srv.metrics()["end_to_end_latency_ms"]
                    server = server_underruns(srv)
                print(f"\n== soak: format {a.format}, render lead {leads[0]}, {res['played_s']:.0f} s: "
                      f"{res['underruns']} client underruns, {res['seq_gaps']} seq gaps, end-to-end p50 "
                      f"{e2e['p50']:.0f} / p95 {e2e['p95']:.0f} ms ({e2e['samples']} samples)")
                print_underruns(res, server)
                ok = ok and res["underruns"] == 0
        finally:
            browser.close()
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
