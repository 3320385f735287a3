import assert from 'node:assert/strict';
import { test } from 'node:test';

import { HLS_TYPE, attachHls, hlsMode } from '../../auralis/web/hls_player.js';

test('native HLS where the browser says it can, hls.js over MSE otherwise, else none', () => {
  assert.equal(hlsMode((t) => (t === HLS_TYPE ? 'maybe' : ''), false), 'native');
  assert.equal(hlsMode((t) => (t === HLS_TYPE ? 'probably' : ''), true), 'native');
  assert.equal(hlsMode(() => '', true), 'hls.js');
  assert.equal(hlsMode(() => '', false), null);
  // after the native player failed: hls.js where MSE allows, else native still
  assert.equal(hlsMode((t) => (t === HLS_TYPE ? 'maybe' : ''), true, true), 'hls.js');
  assert.equal(hlsMode((t) => (t === HLS_TYPE ? 'maybe' : ''), false, true), 'native');
});

function fakeAudio({ native, mse }) {
  const audio = {
    src: null,
    loads: 0,
    canPlayType: (t) => (native && t === HLS_TYPE ? 'maybe' : ''),
    removeAttribute(name) { if (name === 'src') this.src = null; },
    load() { this.loads += 1; },
  };
  const MediaSource = mse ? { isTypeSupported: () => true } : undefined;
  audio.ownerDocument = { defaultView: { MediaSource } };
  return audio;
}

test('native HLS sets the source; detach clears it; hls.js is not loaded', async () => {
  const audio = fakeAudio({ native: true, mse: true });
  const player = await attachHls(audio, '/hls/focus/index.m3u8', { importHls: () => assert.fail('hls.js loaded') });
  assert.equal(player.mode, 'native');
  assert.equal(audio.src, '/hls/focus/index.m3u8');
  player.detach();
  assert.equal(audio.src, null);
});

test('hls.js loads the playlist into the element (no worker: the CSP), reports fatal errors, detaches', async () => {
  const made = [];
  class FakeHls {
    static Events = { ERROR: 'hlsError' };
    constructor(config) { this.config = config; this.handlers = {}; made.push(this); }
    on(ev, fn) { this.handlers[ev] = fn; }
    loadSource(url) { this.url = url; }
    attachMedia(media) { this.media = media; }
    destroy() { this.destroyed = true; }
  }
  const errors = [];
  const audio = fakeAudio({ native: false, mse: true });
  const player = await attachHls(audio, '/hls/focus/index.m3u8', {
    importHls: async () => ({ default: FakeHls }),
    onError: (m) => errors.push(m),
  });
  assert.equal(player.mode, 'hls.js');
  const hls = made[0];
  assert.equal(hls.url, '/hls/focus/index.m3u8');
  assert.equal(hls.media, audio);
  assert.equal(hls.config.enableWorker, false);
  hls.handlers.hlsError('hlsError', { fatal: false, type: 'networkError', details: 'fragLoadError' });
  hls.handlers.hlsError('hlsError', { fatal: true, type: 'mediaError', details: 'bufferAppendError' });
  assert.deepEqual(errors, ['mediaError: bufferAppendError']);
  player.detach();
  assert.equal(hls.destroyed, true);
});

test('a browser with neither is told so', async () => {
  await assert.rejects(attachHls(fakeAudio({ native: false, mse: false }), '/x.m3u8'), /cannot play HLS/);
});
