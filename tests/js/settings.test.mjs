import test from 'node:test';
import assert from 'node:assert/strict';
import { niceCeil } from '../../auralis/web/chart.js';
import { parseRetryAfter } from '../../auralis/web/feed.js';
import { MusicFacts } from '../../auralis/web/music.js';
import { ParamDebouncer } from '../../auralis/web/param_changes.js';
import { streamQuery } from '../../auralis/web/protocol.js';
import { DEFAULT_VOLUME, parseSettings, serializeSettings } from '../../auralis/web/settings.js';
import { FACTS } from './facts.mjs';

const facts = new MusicFacts(FACTS);

test('stored settings round-trip, and anything broken falls back to the served defaults field by field', () => {
  const s = { params: { key: 62, mode: 'dorian', bpm: 72, intensity: 0.35, palette: 'glass' }, volume: 40 };
  assert.deepEqual(parseSettings(serializeSettings(s, facts), facts), s);
  assert.deepEqual(parseSettings(null, facts), { params: { ...facts.defaults }, volume: DEFAULT_VOLUME });
  assert.deepEqual(parseSettings('{not json', facts), { params: { ...facts.defaults }, volume: DEFAULT_VOLUME });
  const bad = parseSettings(JSON.stringify({ params: { key: 99, mode: 'Lydian', bpm: 'fast', intensity: 2, palette: 'nope' }, volume: 250 }), facts);
  assert.deepEqual(bad.params, { key: 60, mode: 'lydian', bpm: 60, intensity: 0.5, palette: 'classic' });
  assert.equal(bad.volume, 100);
  // A mode the server serves is kept (the old page turned `ionian` into `aeolian`).
  const ionian = parseSettings(JSON.stringify({ params: { key: 65, mode: 'ionian', bpm: 55, intensity: 0.4 } }), facts);
  assert.equal(ionian.params.mode, 'ionian');
});

test('the stream URL carries the parameters (and seed/token only when given)', () => {
  const q = new URLSearchParams(streamQuery({ key: 69, mode: 'lydian', bpm: 70, intensity: 0.6 }, { seed: '42', token: null }));
  assert.deepEqual(Object.fromEntries(q), { key: '69', mode: 'lydian', bpm: '70', intensity: '0.6', seed: '42' });
  const p = new URLSearchParams(streamQuery({ key: 69, mode: 'lydian', bpm: 70, intensity: 0.6, palette: 'choir' }));
  assert.equal(p.get('palette'), 'choir');
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

test('dashboard helpers', () => {
  assert.equal(parseRetryAfter('30', null, 5), 30);
  assert.equal(parseRetryAfter(null, 12, 5), 12);
  assert.equal(parseRetryAfter('garbage', undefined, 5), 5);
  assert.equal(parseRetryAfter(new Date(10_000 + 20_000).toUTCString(), null, 5, 10_000), 20);
  assert.equal(niceCeil(0), 1);
  assert.equal(niceCeil(73), 100);
  assert.equal(niceCeil(0.42), 0.5);
  assert.equal(niceCeil(180), 200);
});
