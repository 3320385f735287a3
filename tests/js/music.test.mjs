import test from 'node:test';
import assert from 'node:assert/strict';
import { FactsError, MusicFacts, fetchMusicFacts } from '../../auralis/web/music.js';
import { FACTS } from './facts.mjs';

const facts = new MusicFacts(FACTS);

test('every mode the server serves is valid, with its character; nothing else is', () => {
  assert.deepEqual(facts.modes.map((m) => m.name), FACTS.modes.map((m) => m.name));
  for (const m of FACTS.modes) assert.equal(facts.clean('mode', m.name.toUpperCase()), m.name);
  assert.equal(facts.clean('mode', 'locrian'), undefined);
  assert.equal(facts.clean('key', FACTS.ranges.key.max + 1), undefined);
  assert.equal(facts.clean('bpm', FACTS.ranges.bpm.min - 0.1), undefined);
  assert.equal(facts.clean('intensity', 0.333), 0.33);
});

test('the facts decide: a server with other modes and ranges gets a page that follows it', () => {
  const other = new MusicFacts({
    ...FACTS,
    modes: [{ name: 'ionian', label: 'Ionian', character: 'clear' }],
    ranges: { ...FACTS.ranges, bpm: { min: 30, max: 120, step: 2 } },
    palettes: [{ name: 'glass', label: 'Glass', description: 'music box' }],
    defaults: { key: 60, mode: 'ionian', bpm: 100, intensity: 0.5, palette: 'glass' },
  });
  assert.equal(other.clean('mode', 'aeolian'), undefined);
  assert.equal(other.clean('bpm', 110), 110);
  assert.equal(other.clean('palette', 'classic'), undefined);
  assert.deepEqual(other.sanitize({ mode: 'dorian', palette: 'sleep' }),
    { key: 60, mode: 'ionian', bpm: 100, intensity: 0.5, palette: 'glass' });
});

test('palettes come from the server: each is valid, presets bring theirs, a different palette is Custom', () => {
  assert.deepEqual(facts.palettes.map((p) => p.name), FACTS.palettes.map((p) => p.name));
  for (const p of FACTS.palettes) assert.equal(facts.clean('palette', p.name), p.name);
  assert.equal(facts.clean('palette', 'nope'), undefined);
  assert.equal(facts.clean('palette', 3), undefined);
  const sleep = facts.applyPreset(facts.defaults, 'sleep');
  assert.equal(sleep.palette, 'sleep');
  assert.equal(facts.matchingPreset({ ...sleep, palette: 'glass' }), null);
  assert.ok(facts.palette('glass').description.length > 10);
  assert.throws(() => new MusicFacts({ ...FACTS, palettes: [] }), /no palettes/);
});

test('presets keep the key and are recognised; anything else is Custom (null)', () => {
  const sleep = FACTS.presets.find((p) => p.name === 'sleep');
  const p = facts.applyPreset({ key: 64, mode: 'aeolian', bpm: 88, intensity: 1 }, 'sleep');
  assert.deepEqual(p, { key: 64, ...sleep.params });
  assert.equal(facts.matchingPreset(p), 'sleep');
  assert.equal(facts.matchingPreset({ ...p, bpm: p.bpm + 1 }), null);
  assert.equal(facts.matchingPreset(facts.defaults), null, 'the defaults match no mood: the page shows Custom');
  assert.throws(() => facts.applyPreset(p, 'party'));
  assert.ok(facts.preset('focus').description.length > 10);
  assert.equal(facts.keyName(66), 'F#');
});

test('unusable facts are refused with a clear error', () => {
  assert.throws(() => new MusicFacts({}), FactsError);
  assert.throws(() => new MusicFacts({ ...FACTS, defaults: { ...FACTS.defaults, bpm: 1000 } }), /default bpm/);
});

test('fetching: 401 is fatal (not transient) and says why; a network error is not fatal', async () => {
  const res401 = { status: 401, ok: false, json: async () => ({ detail: 'missing bearer token' }) };
  await assert.rejects(fetchMusicFacts(async () => res401, null), (err) => err.fatal && /token/.test(err.message));
  await assert.rejects(fetchMusicFacts(async () => { throw new Error('offline'); }, null), (err) => !err.fatal);
  const seen = [];
  const ok = { status: 200, ok: true, json: async () => FACTS };
  const f = await fetchMusicFacts(async (url, init) => { seen.push([url, init.headers.Authorization]); return ok; }, 'abc');
  assert.deepEqual(seen, [['/api/music', 'Bearer abc']]);
  assert.equal(f.modes.length, FACTS.modes.length);
});
