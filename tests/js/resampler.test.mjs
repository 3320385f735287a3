import test from 'node:test';
import assert from 'node:assert/strict';
import { DriftController } from '../../auralis/web/drift.js';
import { hermite } from '../../auralis/web/interpolate.js';
import { PlaybackEngine } from '../../auralis/web/playback_engine.js';
import { sineSource } from './helpers.mjs';

/** Least-squares fit of a sine at `freq`; returns {amp, snrDb}. */
function sineFit(y, rate, freq) {
  let s = 0;
  let c = 0;
  for (let i = 0; i < y.length; i++) {
    s += y[i] * Math.sin((2 * Math.PI * freq * i) / rate);
    c += y[i] * Math.cos((2 * Math.PI * freq * i) / rate);
  }
  const a = (2 * s) / y.length;
  const b = (2 * c) / y.length;
  let sig = 0;
  let err = 0;
  for (let i = 0; i < y.length; i++) {
    const fit = a * Math.sin((2 * Math.PI * freq * i) / rate) + b * Math.cos((2 * Math.PI * freq * i) / rate);
    sig += fit * fit;
    err += (y[i] - fit) ** 2;
  }
  return { amp: Math.hypot(a, b), snrDb: 10 * Math.log10(sig / err) };
}

test('Hermite interpolation passes through the samples and is exact on straight lines', () => {
  assert.equal(hermite(1, 2, 3, 4, 0), 2);
  assert.equal(hermite(1, 2, 3, 4, 0.5), 2.5);
  assert.ok(Math.abs(hermite(0, 0, 0, 0, 0.3)) === 0);
});

for (const [inRate, outRate] of [[44100, 48000], [44100, 44100], [44100, 96000], [48000, 44100]]) {
  test(`the player converts ${inRate} Hz to ${outRate} Hz: right pitch, clean signal`, () => {
    const e = new PlaybackEngine({
      outputRate: outRate, inputRate: inRate, drift: new DriftController({ maxAdjust: 0 }), softCorrectMs: Infinity,
    });
    const frames = inRate / 10;
    const src = sineSource({ rate: inRate, freq: 1000, amp: 0.5, frames });
    // One second of output, fed one chunk per 100 ms (after a 3-chunk start burst) as a server would.
    const out = new Float32Array(outRate);
    const l = new Float32Array(128);
    const r = new Float32Array(128);
    let pushed = 0;
    for (let o = 0; o + 128 <= outRate; o += 128) {
      while (pushed < 3 || pushed * 0.1 <= o / outRate + 0.2) {
        const c = src();
        e.push(c.left, c.right, { seq: c.seq });
        pushed += 1;
      }
      e.render(l, r);
      out.set(l, o);
    }
    const steady = out.subarray(Math.round(outRate * 0.1), Math.round(outRate * 0.9)); // after the fade-in
    // Pitch: count rising zero crossings over the steady part.
    let crossings = 0;
    for (let i = 1; i < steady.length; i++) if (steady[i - 1] < 0 && steady[i] >= 0) crossings += 1;
    assert.ok(Math.abs(crossings - 800) <= 1, `1 kHz for 0.8 s gives 800 cycles, got ${crossings}`);
    const { amp, snrDb } = sineFit(steady, outRate, 1000);
    assert.ok(Math.abs(amp - 0.5) < 0.005, `amplitude ${amp}`);
    assert.ok(snrDb > 60, `signal to error ${snrDb.toFixed(1)} dB`);
    assert.equal(e.underruns, 0);
  });
}
