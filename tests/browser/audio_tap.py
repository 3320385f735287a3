"""Tapping what the page sends to the speakers: an init script records every node connected to the
AudioContext's destination (an AudioWorklet tap beside it, fed the same signal), so tests judge the
audio a listener hears, not the worklet's own counters.

The tap runs on the audio rendering thread, as the page's own worklet does, and posts blocks of
4,096 frames to the main thread with the context frame each began at; a message is queued, never
dropped, however late the main thread is. (A ScriptProcessor tap, the earlier one, runs on the
main thread, and Chromium drops its buffers when that thread is late: under CI's load the seam
between two kept buffers read as a click.) `seams` lists the blocks that did not start where the
last one ended (at which frame of the tap, how many frames were skipped); the analysis reports
those inside its span. At start-up, before the page's graph settles, Chromium may skip the tap
for a few render quanta; after that none is expected."""

from __future__ import annotations

import json
from typing import Any

from playwright.sync_api import Page

# The tap's AudioWorklet module: copies its input (2 channels) into 4,096-frame blocks.
TAP_WORKLET = """
class AuralisTap extends AudioWorkletProcessor {
  constructor() {
    super();
    this.size = 4096;
    this.fresh();
  }
  fresh() {
    this.l = new Float32Array(this.size);
    this.r = new Float32Array(this.size);
    this.k = 0;
    this.start = 0;
  }
  process(inputs) {
    const input = inputs[0];
    const n = input.length ? input[0].length : 128;
    if (this.k === 0) this.start = currentFrame;
    if (input.length) {
      this.l.set(input[0], this.k);
      this.r.set(input[input.length > 1 ? 1 : 0], this.k);
    }
    this.k += n;
    if (this.k >= this.size) {
      this.port.postMessage({ frame: this.start, l: this.l, r: this.r }, [this.l.buffer, this.r.buffer]);
      this.fresh();
    }
    return true;
  }
}
registerProcessor("auralis-tap", AuralisTap);
"""

# Runs before the page's scripts. Records the left and right channels of the destination's input
# (mixed as the destination mixes them: a gain node sums them) into window.__tap, at most MAX_S
# seconds (a ring). What reaches the destination before the tap's module has loaded is not recorded.
TAP_SCRIPT = """
(() => {
  const MAX_S = 30;
  const SOURCE = __WORKLET__;
  const native = AudioNode.prototype.connect;
  const taps = new WeakMap();
  window.__tap = null;
  AudioNode.prototype.connect = function (target, ...rest) {
    const out = native.call(this, target, ...rest);
    if (target instanceof AudioDestinationNode) {
      const ctx = target.context;
      let tap = taps.get(ctx);
      if (!tap) {
        const input = ctx.createGain();
        const cap = MAX_S * ctx.sampleRate;
        tap = { input, sampleRate: ctx.sampleRate, L: new Float32Array(cap), R: new Float32Array(cap), n: 0, cap,
                seams: [], next: null };
        taps.set(ctx, tap);
        window.__tap = tap;
        const url = URL.createObjectURL(new Blob([SOURCE], { type: "text/javascript" }));
        ctx.audioWorklet.addModule(url).then(() => {
          const node = new AudioWorkletNode(ctx, "auralis-tap", {
            numberOfInputs: 1, numberOfOutputs: 1, outputChannelCount: [2],
            channelCount: 2, channelCountMode: "explicit", channelInterpretation: "speakers",
          });
          node.port.onmessage = (e) => {
            const { frame, l, r } = e.data;
            if (tap.next !== null && frame !== tap.next) tap.seams.push([tap.n, frame - tap.next]);
            tap.next = frame + l.length;
            for (let i = 0; i < l.length; i++) {
              const j = tap.n % cap;
              tap.L[j] = l[i];
              tap.R[j] = r[i];
              tap.n += 1;
            }
          };
          const mute = ctx.createGain();
          mute.gain.value = 0;
          native.call(input, node);
          native.call(node, mute);
          native.call(mute, ctx.destination);
        });
      }
      native.call(this, tap.input);
    }
    return out;
  };
})();
""".replace("__WORKLET__", json.dumps(TAP_WORKLET))

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
    frames: t.n, seams: t.seams.filter(([n]) => n > t.n - want), sampleRate: t.sampleRate, seconds: want / t.sampleRate, blockRms: rms, peak,
    maxStep: k ? used[k - 1] : 0,
    p999Step: k ? used[Math.floor(k * 0.999)] : 0,
  };
}
"""


def tapped(page: Page, seconds: float) -> dict[str, Any] | None:
    return page.evaluate(ANALYSE, seconds)


def tapped_frames(page: Page) -> int:
    return page.evaluate("window.__tap ? window.__tap.n : 0")
