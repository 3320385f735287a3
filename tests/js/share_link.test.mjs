import test from 'node:test';
import assert from 'node:assert/strict';
import { MusicFacts } from '../../auralis/web/music.js';
import { paramNames, paramsFromQuery, parseSeed, shareUrl } from '../../auralis/web/share_link.js';
import { FACTS } from './facts.mjs';

const facts = new MusicFacts(FACTS);
const BASE = 'http://127.0.0.1:8000/';

test('the Share link carries every parameter the facts define, and the seed; reading it back gives them', () => {
  const params = { key: 65, mode: 'lydian', bpm: 72, intensity: 0.35, palette: 'glass' };
  const url = shareUrl(BASE, params, '123456789', facts);
  const q = new URL(url).searchParams;
  assert.deepEqual([...q.keys()], [...paramNames(facts), 'seed']);
  assert.equal(q.get('palette'), 'glass'); // the palette travels with the link (issue 12)
  assert.equal(q.get('token'), null);
  const back = paramsFromQuery(q, facts);
  assert.deepEqual(back, { params, rejected: [], seed: '123456789', badSeed: false });
});

test('values the facts refuse are named and left out; the seed is checked as the server does', () => {
  const q = new URLSearchParams('key=99&mode=Dorian&bpm=fast&intensity=0.4&palette=nope&seed=-3');
  const got = paramsFromQuery(q, facts);
  assert.deepEqual(got.params, { mode: 'dorian', intensity: 0.4 });
  assert.deepEqual(got.rejected, ['key', 'bpm', 'palette']);
  assert.equal(got.seed, null);
  assert.equal(got.badSeed, true);
  assert.deepEqual(paramsFromQuery(new URLSearchParams(''), facts), { params: {}, rejected: [], seed: null, badSeed: false });
  assert.equal(parseSeed('9223372036854775807'), '9223372036854775807'); // 2^63-1: beyond a JS number
  assert.equal(parseSeed('9223372036854775808'), null);
  assert.equal(parseSeed(42), '42');
  assert.equal(parseSeed('4.5'), null);
  assert.equal(parseSeed(null), null);
});

test('a link without a seed leaves it out (the server then picks one)', () => {
  const url = shareUrl(BASE, facts.defaults, null, facts);
  assert.equal(new URL(url).searchParams.has('seed'), false);
  assert.equal(new URL(url).searchParams.get('mode'), facts.defaults.mode);
});
