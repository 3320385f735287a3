import test from 'node:test';
import assert from 'node:assert/strict';
import {
  DEFAULT_PARAMS, DEFAULT_VOLUME, PRESETS, ParamDebouncer, applyPreset, fadeOutCurve, keyName, matchingPreset,
  niceCeil, parseRetryAfter, parseSettings, sanitizeParams, serializeSettings, streamQuery,
} from '../../auralis/web/audio_core.js';

test('presets carry the documented values and keep the key', () => {
  assert.deepEqual(PRESETS.focus, { mode: 'dorian', bpm: 60, intensity: 0.5 });
  assert.deepEqual(PRESETS.meditation, { mode: 'aeolian', bpm: 50, intensity: 0.3 });
  assert.deepEqual(PRESETS.sleep, { mode: 'phrygian', bpm: 40, intensity: 0.2 });
  assert.deepEqual(PRESETS.bright, { mode: 'lydian', bpm: 70, intensity: 0.6 });
  const p = applyPreset({ key: 64, mode: 'aeolian', bpm: 88, intensity: 1 }, 'sleep');
  assert.deepEqual(p, { key: 64, mode: 'phrygian', bpm: 40, intensity: 0.2 });
  assert.equal(matchingPreset(p), 'sleep');
  assert.equal(matchingPreset({ ...p, bpm: 41 }), null);
  assert.throws(() => applyPreset(p, 'party'));
});

test('stored settings round-trip, and anything broken falls back to defaults field by field', () => {
  const s = { params: { key: 62, mode: 'dorian', bpm: 72, intensity: 0.35 }, volume: 40 };
  assert.deepEqual(parseSettings(serializeSettings(s)), s);
  assert.deepEqual(parseSettings(null), { params: { ...DEFAULT_PARAMS }, volume: DEFAULT_VOLUME });
  assert.deepEqual(parseSettings('{not json'), { params: { ...DEFAULT_PARAMS }, volume: DEFAULT_VOLUME });
  const bad = parseSettings(JSON.stringify({ params: { key: 99, mode: 'Lydian', bpm: 'fast', intensity: 2 }, volume: 250 }));
  assert.deepEqual(bad.params, { key: 60, mode: 'lydian', bpm: 60, intensity: 0.5 });
  assert.equal(bad.volume, 100);
  assert.deepEqual(sanitizeParams({ key: 61.5, bpm: 39.9 }), { ...DEFAULT_PARAMS });
});

test('the stream URL carries the parameters (and seed/token only when given)', () => {
  const q = new URLSearchParams(streamQuery({ key: 69, mode: 'lydian', bpm: 70, intensity: 0.6 }, { seed: '42', token: null }));
  assert.deepEqual(Object.fromEntries(q), { key: '69', mode: 'lydian', bpm: '70', intensity: '0.6', seed: '42' });
});

test('parameter updates are debounced into one message with the latest values', () => {
  const sent = [];
  const timers = [];
  const d = new ParamDebouncer((p) => sent.push(p), {
    delayMs: 200,
    setTimer: (fn, ms) => { timers.push({ fn, ms, live: true }); return timers.length - 1; },
    clearTimer: (id) => { timers[id].live = false; },
  });
  d.update({ bpm: 61 });
  d.update({ bpm: 62 });
  d.update({ intensity: 0.7 });
  assert.equal(sent.length, 0);
  assert.ok(d.hasPending('bpm'));
  timers.filter((t) => t.live).forEach((t) => t.fn());
  assert.deepEqual(sent, [{ bpm: 62, intensity: 0.7 }]);
  d.update({ key: 64 }, { immediate: true });
  assert.deepEqual(sent[1], { key: 64 });
  d.update({ bpm: 80 });
  d.cancel();
  timers.filter((t) => t.live).forEach((t) => t.fn());
  assert.equal(sent.length, 2, 'cancelled updates are not sent');
});

test('key names and dashboard helpers', () => {
  assert.equal(keyName(60), 'C');
  assert.equal(keyName(66), 'F#');
  assert.equal(keyName(71), 'B');
  assert.equal(parseRetryAfter('30', null, 5), 30);
  assert.equal(parseRetryAfter(null, 12, 5), 12);
  assert.equal(parseRetryAfter('garbage', undefined, 5), 5);
  assert.equal(parseRetryAfter(new Date(10_000 + 20_000).toUTCString(), null, 5, 10_000), 20);
  assert.equal(niceCeil(0), 1);
  assert.equal(niceCeil(73), 100);
  assert.equal(niceCeil(0.42), 0.5);
  assert.equal(niceCeil(180), 200);
});

test('the sleep fade is a smooth curve from full volume to silence', () => {
  const c = fadeOutCurve(128);
  assert.equal(c[0], 1);
  assert.ok(Math.abs(c[127]) < 1e-12);
  for (let i = 1; i < c.length; i++) {
    assert.ok(c[i] <= c[i - 1], 'monotone');
    assert.ok(c[i - 1] - c[i] < 0.03, 'no step larger than 3% of full scale');
  }
});
