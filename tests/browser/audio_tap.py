"""Tapping what the page sends to the speakers: an init script records every node connected to the
AudioContext's destination (a ScriptProcessor beside it, fed the same signal), so tests judge the
audio a listener hears, not the worklet's own counters."""

from __future__ import annotations

from typing import Any

from playwright.sync_api import Page

# Runs before the page's scripts. Records the left and right channels of the destination's input
# (mixed as the destination mixes them) into window.__tap, at most MAX_S seconds (a ring).
TAP_SCRIPT = """
(() => {
  const MAX_S = 30;
  const native = AudioNode.prototype.connect;
  const taps = new WeakMap();
  window.__tap = null;
  AudioNode.prototype.connect = function (target, ...rest) {
    const out = native.call(this, target, ...rest);
    if (target instanceof AudioDestinationNode) {
      const ctx = target.context;
      let tap = taps.get(ctx);
      if (!tap) {
        const proc = ctx.createScriptProcessor(4096, 2, 2);
        const mute = ctx.createGain();
        mute.gain.value = 0;
        native.call(proc, mute);
        native.call(mute, ctx.destination);
        const cap = MAX_S * ctx.sampleRate;
        tap = { proc, sampleRate: ctx.sampleRate, L: new Float32Array(cap), R: new Float32Array(cap), n: 0, cap };
        proc.onaudioprocess = (e) => {
          const l = e.inputBuffer.getChannelData(0);
          const r = e.inputBuffer.getChannelData(1);
          for (let i = 0; i < l.length; i++) {
            const j = tap.n % cap;
            tap.L[j] = l[i];
            tap.R[j] = r[i];
            tap.n += 1;
          }
        };
        taps.set(ctx, tap);
        window.__tap = tap;
      }
      native.call(this, tap.proc);
    }
    return out;
  };
})();
"""

# The last `seconds` of tapped audio, in 20 ms blocks: RMS per block (both channels), the peak,
# and the largest sample-to-sample step against the 99.9th percentile of steps (a click stands out).
ANALYSE = """
(seconds) => {
  const t = window.__tap;
  if (!t) return null;
  const want = Math.min(t.n, t.cap, Math.round(seconds * t.sampleRate));
  const block = Math.round(0.02 * t.sampleRate);
  const rms = [];
  let peak = 0;
  const steps = new Float32Array(Math.max(0, want - 1));
  let k = 0;
  let prevL = null;
  let prevR = null;
  for (let b = 0; b + block <= want; b += block) {
    let s = 0;
    for (let i = 0; i < block; i++) {
      const j = (t.n - want + b + i) % t.cap;
      const l = t.L[j];
      const r = t.R[j];
      s += l * l + r * r;
      peak = Math.max(peak, Math.abs(l), Math.abs(r));
      if (prevL !== null) steps[k++] = Math.max(Math.abs(l - prevL), Math.abs(r - prevR));
      prevL = l;
      prevR = r;
    }
    rms.push(Math.sqrt(s / (2 * block)));
  }
  const used = steps.subarray(0, k).sort();
  return {
    frames: t.n, sampleRate: t.sampleRate, seconds: want / t.sampleRate, blockRms: rms, peak,
    maxStep: k ? used[k - 1] : 0,
    p999Step: k ? used[Math.floor(k * 0.999)] : 0,
  };
}
"""


def tapped(page: Page, seconds: float) -> dict[str, Any] | None:
    return page.evaluate(ANALYSE, seconds)


def tapped_frames(page: Page) -> int:
    return page.evaluate("window.__tap ? window.__tap.n : 0")
