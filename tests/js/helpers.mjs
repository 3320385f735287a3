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

/** A frame built from the contract's table by hand (websocket-protocol.md, "Binary audio frames"). */
export function frameBytes({ codec = 2, channels = 2, reserved = 0, rate = 48000, frames = 4800, seq = 0, ts = 1764107400.125, payload = new Uint8Array(0), magic = 'AUR2' } = {}) {
  const b = Buffer.alloc(32 + payload.length);
  b.write(magic, 0, 'latin1');
  b.writeUInt8(codec, 4);
  b.writeUInt8(channels, 5);
  b.writeUInt16LE(reserved, 6);
  b.writeUInt32LE(rate, 8);
  b.writeUInt32LE(frames, 12);
  b.writeBigUInt64LE(BigInt(seq), 16);
  b.writeDoubleLE(ts, 24);
  Buffer.from(payload).copy(b, 32);
  // An ArrayBuffer exactly like a WebSocket's binaryType 'arraybuffer' message.
  return b.buffer.slice(b.byteOffset, b.byteOffset + b.length);
}
