// Shared helpers for the client's Node tests (not a test file itself).
import { DriftController } from '../../auralis/web/drift.js';
import { JitterBufferPolicy } from '../../auralis/web/jitter_policy.js';
import { PlaybackEngine } from '../../auralis/web/playback_engine.js';

export { PlaybackEngine, JitterBufferPolicy, DriftController };

/** Deterministic PRNG (mulberry32) so simulations are reproducible. */
export function rng(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** A sine source that hands out consecutive chunks of `frames` frames (stereo, identical). */
export function sineSource({ rate, freq, amp = 0.5, frames }) {
  let n = 0;
  let seq = 0;
  return () => {
    const l = new Float32Array(frames);
    for (let i = 0; i < frames; i++, n++) l[i] = amp * Math.sin((2 * Math.PI * freq * n) / rate);
    return { left: l, right: l.slice(), seq: seq++ };
  };
}

/** Render `frames` output frames in quanta of `quantum`; returns the concatenated left channel. */
export function renderFrames(engine, frames, quantum = 128) {
  const out = new Float32Array(frames);
  const l = new Float32Array(quantum);
  const r = new Float32Array(quantum);
  for (let o = 0; o < frames; o += quantum) {
    const n = Math.min(quantum, frames - o);
    const ln = n === quantum ? l : l.subarray(0, n);
    engine.render(ln, n === quantum ? r : r.subarray(0, n));
    out.set(ln, o);
  }
  return out;
}

export function maxStep(samples, from = 1, to = samples.length) {
  let m = 0;
  for (let i = Math.max(1, from); i < to; i++) m = Math.max(m, Math.abs(samples[i] - samples[i - 1]));
  return m;
}
