import test from 'node:test';
import assert from 'node:assert/strict';
import { DriftController } from '../../auralis/web/drift.js';
import { JitterBufferPolicy } from '../../auralis/web/jitter_policy.js';
import { PlaybackEngine } from '../../auralis/web/playback_engine.js';
import { maxStep, renderFrames, sineSource } from './helpers.mjs';

test('the jitter target starts small, grows after underruns and shrinks slowly while stable', () => {
  const p = new JitterBufferPolicy();
  assert.ok(p.targetMs >= 150 && p.targetMs <= 300, `initial ${p.targetMs}`);
  const initial = p.targetMs;
  p.onUnderrun(10);
  assert.ok(p.targetMs >= initial + 100, 'an underrun grows the target by at least 100 ms');
  const grown = p.targetMs;
  p.tick(30);
  assert.equal(p.targetMs, grown, 'no shrinking soon after an underrun');
  p.tick(70);
  assert.ok(p.targetMs < grown && p.targetMs > grown - 50, 'a small step after a stable minute');
  for (let t = 70; t < 3600; t += 1) p.tick(t);
  assert.equal(p.targetMs, p.minMs, 'an hour of stability returns to the floor');
  for (let i = 0; i < 50; i++) p.onUnderrun(4000 + i);
  assert.equal(p.targetMs, p.maxMs, 'bounded growth');
  assert.ok(p.ceilingMs > p.targetMs);
});

function engine44(opts = {}) {
  // No rate correction and no crossfaded steps: positions in these tests are exact.
  return new PlaybackEngine({
    outputRate: 44100, drift: new DriftController({ maxAdjust: 0 }), softCorrectMs: Infinity, ...opts,
  });
}

test('the first start waits for the whole target (the start burst arrives together), then plays real audio', () => {
  const e = engine44();
  const src = sineSource({ rate: 44100, freq: 220, frames: 4410 }); // 100 ms chunks
  const a = src();
  e.push(a.left, a.right, { seq: a.seq });
  let out = renderFrames(e, 1280);
  assert.equal(e.state, 'idle', `100 ms buffered < the ${e.policy.targetMs} ms target: still waiting`);
  assert.equal(out.some((v) => v !== 0), false);
  const b = src();
  e.push(b.left, b.right, { seq: b.seq });
  out = renderFrames(e, 4096);
  assert.equal(e.state, 'playing', '200 ms buffered: the sound starts');
  assert.ok(e.nonSilentFrames > 3500, `non-silent frames ${e.nonSilentFrames}`);
  assert.ok(e.peak > 0.45 && e.peak <= 0.5 + 1e-6, `peak ${e.peak}`);
  assert.equal(e.stats().playing.seq, 0);
  assert.ok(e.firstAudibleFrame >= 1280 && e.firstAudibleFrame < 1280 + 128, `first audible ${e.firstAudibleFrame}`);
  assert.equal(e.underruns, 0);
});

test('after an underrun, playback resumes only at the whole (grown) target; after a clear too', () => {
  const e = engine44();
  const src = sineSource({ rate: 44100, freq: 220, frames: 4410 });
  for (let i = 0; i < 2; i++) {
    const c = src();
    e.push(c.left, c.right, { seq: c.seq });
  }
  renderFrames(e, 44100 * 0.25); // 250 ms of output from 200 ms of audio
  assert.equal(e.state, 'buffering');
  assert.equal(e.underruns, 1);
  const target = e.policy.targetMs;
  assert.ok(target >= 250, `the target grew (${target} ms)`);
  for (let i = 0; i < Math.floor(target / 100); i++) {
    const d = src();
    e.push(d.left, d.right, { seq: d.seq });
  }
  renderFrames(e, 1280);
  assert.equal(e.state, 'buffering', `${e.bufferedMs.toFixed(0)} ms < the ${target} ms target: still waiting`);
  const d = src();
  e.push(d.left, d.right, { seq: d.seq });
  renderFrames(e, 128);
  assert.equal(e.state, 'playing');
  e.clear(); // a pause: the next start waits for the (kept) target again
  assert.equal(e.state, 'idle');
  for (let i = 0; i < Math.ceil(target / 100); i++) {
    const f = src();
    e.push(f.left, f.right, { seq: f.seq });
  }
  renderFrames(e, 128);
  assert.equal(e.state, 'playing');
});

test('a start burst beyond the target is trimmed: playback starts at the freshest point', () => {
  const e = engine44();
  const src = sineSource({ rate: 44100, freq: 220, frames: 4410 });
  for (let i = 0; i < 5; i++) {
    const c = src();
    e.push(c.left, c.right, { seq: c.seq });
  }
  renderFrames(e, 128);
  assert.equal(e.state, 'playing');
  assert.ok(Math.abs(e.bufferedMs - e.policy.targetMs) < 5, `started with ${e.bufferedMs} ms ahead`);
  renderFrames(e, 4410);
  assert.equal(e.stats().playing.seq, 4, 'chunks 0-2 were never played');
});

test('an underrun fades out, is counted, shows buffering, grows the target and resumes with a fade-in', () => {
  const e = engine44();
  const src = sineSource({ rate: 44100, freq: 220, amp: 0.5, frames: 4410 });
  for (let i = 0; i < 3; i++) {
    const c = src();
    e.push(c.left, c.right, { seq: c.seq });
  }
  const before = e.policy.targetMs;
  const out1 = renderFrames(e, 44100 * 0.4); // 400 ms of output from 300 ms of audio
  assert.equal(e.state, 'buffering');
  assert.equal(e.underruns, 1);
  assert.ok(e.policy.targetMs > before);
  const natural = 0.5 * 2 * Math.PI * 220 / 44100; // the sine's own largest step
  assert.ok(maxStep(out1) < natural * 1.6, `no click when the data runs out: ${maxStep(out1)}`);
  for (let i = 0; i < 4; i++) {
    const c = src();
    e.push(c.left, c.right, { seq: c.seq });
  }
  const out2 = renderFrames(e, 44100 * 0.2);
  assert.equal(e.state, 'playing');
  assert.ok(maxStep(out2) < natural * 1.6, `no click on resume: ${maxStep(out2)}`);
  assert.ok(Math.abs(out2[10]) < 0.05, 'resume starts quietly (fade-in)');
  assert.equal(e.underruns, 1, 'waiting to resume is not a second underrun');
});

test('a discontinuity (new connection) is faded, not jumped', () => {
  const e = engine44();
  const a = sineSource({ rate: 44100, freq: 200, amp: 0.5, frames: 4410 });
  const b = sineSource({ rate: 44100, freq: 333, amp: -0.5, frames: 4410 });
  for (let i = 0; i < 2; i++) {
    const c = a();
    e.push(c.left, c.right, { seq: c.seq, epoch: 1 });
  }
  const out1 = renderFrames(e, 4410);
  b(); // make the new stream start mid-wave
  for (let i = 0; i < 3; i++) {
    const c = b();
    e.push(c.left, c.right, { seq: i, epoch: 2, discontinuity: i === 0 });
  }
  const out2 = renderFrames(e, 44100 * 0.3);
  const natural = 0.5 * 2 * Math.PI * 333 / 44100;
  const all = new Float32Array(out1.length + out2.length);
  all.set(out1);
  all.set(out2, out1.length);
  assert.ok(maxStep(all, 10) < natural * 1.6, `max step ${maxStep(all, 10)}`);
  assert.equal(e.stats().playing.epoch, 2);
  assert.equal(e.underruns, 0);
});

test('a burst far above the target skips ahead with a click-free crossfade', () => {
  const e = engine44();
  const src = sineSource({ rate: 44100, freq: 250, amp: 0.5, frames: 4410 });
  for (let i = 0; i < 3; i++) {
    const c = src();
    e.push(c.left, c.right, { seq: c.seq });
  }
  renderFrames(e, 4410);
  for (let i = 0; i < 20; i++) { // two seconds at once (a stalled tab catching up)
    const c = src();
    e.push(c.left, c.right, { seq: c.seq });
  }
  const out = renderFrames(e, 44100 * 0.12);
  assert.equal(e.skips, 1);
  assert.ok(e.peak <= 0.5 + 1e-6, `the crossfade never exceeds the material's peak (${e.peak})`);
  assert.ok(e.bufferedMs < e.policy.targetMs + 50, `latency back near target: ${e.bufferedMs}`);
  assert.ok(maxStep(out) < 0.5 * 2 * Math.PI * 250 / 44100 * 1.6, `max step ${maxStep(out)}`);
  assert.ok(e.stats().playing.seq >= 18, 'the skipped chunks are not reported as played');
});

test('played position reports the chunk whose first frame is at the head, with its output frame', () => {
  const e = engine44();
  const src = sineSource({ rate: 44100, freq: 220, frames: 4410 });
  for (let i = 0; i < 2; i++) {
    const c = src();
    e.push(c.left, c.right, { seq: 10 + i, epoch: 3 });
  }
  renderFrames(e, 128);
  assert.deepEqual(e.stats().playing, { seq: 10, epoch: 3, frame: 0 });
  renderFrames(e, 4480);
  const p = e.stats().playing;
  assert.equal(p.seq, 11);
  assert.equal(p.frame, 4410, 'at 44.1 kHz with no drift, chunk 11 starts at output frame 4410');
});

test('reported frames follow the clock the worklet passes in (AudioContext currentFrame)', () => {
  const e = engine44();
  const src = sineSource({ rate: 44100, freq: 220, frames: 4410 });
  for (let i = 0; i < 2; i++) {
    const c = src();
    e.push(c.left, c.right, { seq: i, epoch: 1 });
  }
  const l = new Float32Array(128);
  const r = new Float32Array(128);
  const base = 123456; // the context had been running before the worklet node was created
  for (let k = 0; k < 40; k++) e.render(l, r, base + k * 128);
  assert.deepEqual(e.stats().playing, { seq: 1, epoch: 1, frame: base + 4410 });
  assert.equal(e.firstAudibleFrame >= base, true);
});
