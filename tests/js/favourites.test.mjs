import test from 'node:test';
import assert from 'node:assert/strict';
import {
  MAX_FAVOURITES, addFavourite, cleanName, parseFavourites, removeFavourite, serializeFavourites,
} from '../../auralis/web/favourites.js';
import { MusicFacts } from '../../auralis/web/music.js';
import { FACTS } from './facts.mjs';

const facts = new MusicFacts(FACTS);
const P = { key: 62, mode: 'dorian', bpm: 66, intensity: 0.4, palette: 'garden' };

test('favourites round-trip through storage with their name, parameters and seed', () => {
  let list = addFavourite([], '  Rainy   morning ', P, '77', facts);
  list = addFavourite(list, 'Night', { ...P, mode: 'phrygian' }, null, facts);
  assert.deepEqual(list.map((f) => f.name), ['Night', 'Rainy morning']);
  const back = parseFavourites(serializeFavourites(list), facts);
  assert.deepEqual(back, list);
  assert.deepEqual(back[1], { name: 'Rainy morning', params: P, seed: '77' });
});

test('saving under an existing name replaces it; removing drops it; bad names are refused', () => {
  let list = addFavourite([], 'A', P, '1', facts);
  list = addFavourite(list, 'A', { ...P, bpm: 80 }, '2', facts);
  assert.equal(list.length, 1);
  assert.equal(list[0].params.bpm, 80);
  assert.equal(list[0].seed, '2');
  assert.deepEqual(removeFavourite(list, 'A'), []);
  assert.throws(() => addFavourite(list, '   ', P, '1', facts), /name/);
  assert.throws(() => addFavourite(list, 'x'.repeat(41), P, '1', facts), /name/);
  assert.equal(cleanName('ok'), 'ok');
});

test('broken storage gives no favourites; broken entries are dropped or cleaned; the list is bounded', () => {
  assert.deepEqual(parseFavourites(null, facts), []);
  assert.deepEqual(parseFavourites('{not json', facts), []);
  const stored = JSON.stringify({ favourites: [
    { name: 'good', params: { ...P, bpm: 500 }, seed: 'abc' },
    { name: '', params: P },
    { name: 'no params' },
    { name: 'good', params: P },
  ] });
  assert.deepEqual(parseFavourites(stored, facts), [{ name: 'good', params: { ...P, bpm: facts.defaults.bpm }, seed: null }]);
  // a favourite kept before palettes existed (no palette) opens with the default palette
  const { palette, ...before } = P;
  const old = JSON.stringify({ favourites: [{ name: 'old', params: before, seed: '5' }] });
  assert.equal(palette, 'garden');
  assert.deepEqual(parseFavourites(old, facts), [{ name: 'old', params: { ...before, palette: facts.defaults.palette }, seed: '5' }]);
  let list = [];
  for (let i = 0; i < MAX_FAVOURITES + 5; i++) list = addFavourite(list, `f${i}`, P, null, facts);
  assert.equal(list.length, MAX_FAVOURITES);
  assert.equal(list[0].name, `f${MAX_FAVOURITES + 4}`);
});
