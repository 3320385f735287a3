// Clock drift between the server (which paces chunks by its clock) and the sound card. The
// simulations run at one tenth of the real rates (4410 Hz in, 4800 Hz out, 441-frame chunks) so an
// hour of audio takes well under a second; every time constant is in seconds, so the dynamics
// are the same as at 44.1/48 kHz.
import test from 'node:test';
import assert from 'node:assert/strict';
import { DriftController } from '../../auralis/web/drift.js';
import { JitterBufferPolicy } from '../../auralis/web/jitter_policy.js';
import { PlaybackEngine } from '../../auralis/web/playback_engine.js';
import { rng } from './helpers.mjs';

const IN_RATE = 4410;
const OUT_RATE = 4800;
const CHUNK = 441;

function simulate({
  seconds, driftPpm, jitterMs = 30, seed = 1, drift = new DriftController(), stallAt = null, engine = {},
}) {
  const e = new PlaybackEngine({
    outputRate: OUT_RATE, inputRate: IN_RATE, capacityFrames: 1 << 16, drift, policy: new JitterBufferPolicy(), ...engine,
  });
  const rand = rng(seed);
  const period = 0.1 / (1 + driftPpm * 1e-6); // a fast server clock sends chunks more often
  const chunk = new Float32Array(CHUNK).fill(0.25);
  let k = 0;
  let lastArrival = 0;
  const nextArrival = () => {
    const nominal = Math.max(0, k - 2) * period; // a start burst of three chunks
    let t = Math.max(lastArrival, nominal + (rand() * jitterMs) / 1000);
    if (stallAt !== null && t >= stallAt && t < stallAt + 2) t = stallAt + 2; // the network stalls 2 s
    return t;
  };
  let arrival = nextArrival();
  const Q = 16; // 3.3 ms at 4800 Hz, like a 128-frame render quantum at 44.1/48 kHz
  const l = new Float32Array(Q);
  const r = new Float32Array(Q);
  const quanta = Math.floor((seconds * OUT_RATE) / Q);
  const levels = [];
  let minLevel = Infinity;
  let maxLevel = 0;
  let maxRatioDev = 0;
  let at60 = null; // correction counters once the start transient (a 3-chunk burst) is over
  for (let q = 0; q < quanta; q++) {
    const t = (q * Q) / OUT_RATE;
    while (arrival <= t) {
      e.push(chunk, chunk, { seq: k });
      k += 1;
      lastArrival = arrival;
      arrival = nextArrival();
    }
    const lv = e.bufferedMs;
    e.render(l, r);
    if (t > 60) {
      if (at60 === null) at60 = e.skips + e.softSkips + e.softInserts;
      minLevel = Math.min(minLevel, lv);
      maxLevel = Math.max(maxLevel, lv);
      if (q % 301 === 0) levels.push(lv);
      maxRatioDev = Math.max(maxRatioDev, Math.abs(e.drift.ratio - 1));
    }
  }
  const tail = levels.slice(-Math.floor(levels.length / 6));
  const tailMean = tail.reduce((a, b) => a + b, 0) / tail.length;
  const stepsAfterStart = e.skips + e.softSkips + e.softInserts - (at60 ?? 0);
  return { e, minLevel, maxLevel, tailMean, maxRatioDev, chunks: k, stepsAfterStart };
}

for (const driftPpm of [+100, -100, +1000, -1000]) {
  test(`an hour at ${driftPpm} ppm clock difference: bounded buffer, no underruns, no skips`, () => {
    const { e, minLevel, maxLevel, tailMean, maxRatioDev, stepsAfterStart } = simulate({ seconds: 3600, driftPpm });
    console.log(`# ${driftPpm} ppm: level ${minLevel.toFixed(1)}..${maxLevel.toFixed(1)} ms, settled ${tailMean.toFixed(1)} ms, target ${e.policy.targetMs} ms, max rate change ${(maxRatioDev * 1e6).toFixed(0)} ppm`);
    assert.equal(e.underruns, 0, "no underruns");
    assert.equal(stepsAfterStart, 0, 'rate correction alone suffices: no skips after the start');
    assert.ok(e.skips + e.softSkips + e.softInserts <= 1, 'at most one trim of the start burst');
    assert.ok(minLevel > 20, `level never near empty (min ${minLevel.toFixed(1)} ms)`);
    assert.ok(maxLevel < e.policy.targetMs + 250, `level bounded (max ${maxLevel.toFixed(1)} ms)`);
    assert.ok(Math.abs(tailMean - e.policy.targetMs) < 120, `settles near target (${tailMean.toFixed(1)} ms)`);
    assert.ok(maxRatioDev <= e.drift.maxAdjust + 1e-12, 'rate correction stays within its bound');
    assert.ok(maxRatioDev > Math.abs(driftPpm) * 1e-6 * 0.5, 'the correction really follows the drift');
  });
}

test('without drift correction the same simulation fails (so the test above can fail)', () => {
  const fast = simulate({ seconds: 3600, driftPpm: +1000, drift: new DriftController({ maxAdjust: 0 }), engine: { softCorrectMs: Infinity } });
  assert.ok(fast.e.skips + fast.e.softSkips > 0 || fast.maxLevel > 2000, 'a fast server clock piles up latency');
  const slow = simulate({ seconds: 3600, driftPpm: -1000, drift: new DriftController({ maxAdjust: 0 }), engine: { softCorrectMs: Infinity } });
  assert.ok(slow.e.underruns > 0, 'a slow server clock starves the player');
});

test('a 2 s network stall: one underrun, then latency returns to the target (no lasting growth)', () => {
  const { e, tailMean } = simulate({ seconds: 900, driftPpm: 50, stallAt: 300 });
  assert.equal(e.underruns, 1);
  assert.ok(e.skips <= 1);
  assert.ok(e.softSkips + e.softInserts <= 2, 'the stall does not start a cycle of corrections');
  assert.ok(Math.abs(tailMean - e.policy.targetMs) < 120, `settled at ${tailMean.toFixed(1)} ms`);
  assert.ok(e.policy.targetMs <= 300, `target relaxes after the stall (${e.policy.targetMs} ms)`);
});

for (const driftPpm of [+15000, -15000]) {
  test(`an audio clock ${driftPpm > 0 ? 'slower' : 'faster'} than the server's by 1.5%: crossfaded steps keep latency bounded`, () => {
    const { e, minLevel, maxLevel, tailMean } = simulate({ seconds: 1200, driftPpm });
    assert.equal(e.underruns, 0, 'no underruns');
    assert.equal(e.skips, 0, 'no hard skips');
    assert.ok(driftPpm > 0 ? e.softSkips > 10 : e.softInserts > 10, `steps ${e.softSkips}/${e.softInserts}`);
    assert.ok(minLevel > 10 && maxLevel < e.policy.targetMs + 250, `level ${minLevel.toFixed(0)}..${maxLevel.toFixed(0)} ms`);
    assert.ok(Math.abs(tailMean - e.policy.targetMs) < 80, `settled at ${tailMean.toFixed(1)} ms`);
  });
}
