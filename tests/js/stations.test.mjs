import assert from 'node:assert/strict';
import { test } from 'node:test';

import { listenersText, stationSource, stationTitle } from '../../auralis/web/stations.js';

const focus = {
  name: 'focus',
  chord: 'D min7',
  urls: { ogg: 'http://h/stream/focus.ogg', mp3: 'http://h/stream/focus.mp3' },
};

test('a browser that plays Ogg Opus gets .ogg, any other .mp3', () => {
  assert.equal(stationSource(focus, () => 'probably'), focus.urls.ogg);
  assert.equal(stationSource(focus, () => 'maybe'), focus.urls.ogg);
  assert.equal(stationSource(focus, () => ''), focus.urls.mp3);
});

test('listener counts and lock-screen titles', () => {
  assert.equal(listenersText(0), '0 listeners');
  assert.equal(listenersText(1), '1 listener');
  assert.equal(listenersText(12), '12 listeners');
  assert.equal(stationTitle(focus), 'focus — D min7');
  assert.equal(stationTitle({ ...focus, chord: null }), 'focus');
});
