import test from 'node:test';
import assert from 'node:assert/strict';
import { closeVerdict, errorIsFatal } from '../../auralis/web/protocol.js';
import { pageTitle, statusView } from '../../auralis/web/status.js';
import { SseParser } from '../../auralis/web/feed.js';
import { isSpaceToggle } from '../../auralis/web/media_keys.js';

const base = {
  fatal: null, offline: false, sleepEnded: false, userPaused: false, audioBlocked: false, wsOpen: true,
  reconnecting: false, reconnectInS: 0, everConnected: true, serverState: 'streaming', playerState: 'playing',
};

test('the status tells the truth', () => {
  assert.deepEqual(statusView(base), ['connected', 'Playing']);
  assert.equal(statusView({ ...base, offline: true })[0], 'offline');
  assert.match(statusView({ ...base, offline: true })[1], /Offline/);
  // Waiting for the first click is not an error, even once the idle stream was released.
  assert.deepEqual(statusView({ ...base, audioBlocked: true, wsOpen: false }), ['ready', 'Ready · press Play to listen']);
  assert.equal(statusView({ ...base, fatal: 'no token' })[0], 'disconnected');
  assert.match(statusView({ ...base, fatal: 'no token' })[1], /no token/);
  assert.equal(statusView({ ...base, playerState: 'buffering' })[0], 'buffering');
  assert.match(statusView({ ...base, wsOpen: false, reconnecting: true, reconnectInS: 2 })[1], /reconnecting in 2 s/);
  assert.equal(pageTitle('Paused', 'Focus'), 'Paused · Focus — Auralis');
});

test('a refused token is not transient; capacity and restarts are', () => {
  assert.equal(closeVerdict(1008, 'unauthorized').retry, false);
  assert.equal(closeVerdict(1013, 'full').retry, true);
  assert.equal(closeVerdict(1001, '').retry, true);
  assert.equal(closeVerdict(1008, 'mode must be one of').resetParams, true);
  assert.equal(errorIsFatal({ code: 'UNAUTHORIZED' }), true);
  assert.equal(errorIsFatal({ code: 'RATE_LIMITED' }), false);
});

test('server-sent events are parsed across chunk boundaries', () => {
  const p = new SseParser();
  assert.deepEqual(p.push('event: sample\ndata: {"a"'), []);
  assert.deepEqual(p.push(':1}\n\n: comment\n\ndata: x\r\ndata: y\r\n\r\n'), [
    { event: 'sample', data: '{"a":1}' },
    { event: 'message', data: 'x\ny' },
  ]);
});

test('Space toggles only when nothing interactive has focus', () => {
  const target = (interactive) => ({ closest: () => (interactive ? {} : null) });
  assert.equal(isSpaceToggle({ code: 'Space', key: ' ', target: target(false) }), true);
  assert.equal(isSpaceToggle({ code: 'Space', key: ' ', target: target(true) }), false);
  assert.equal(isSpaceToggle({ code: 'KeyA', key: 'a', target: target(false) }), false);
  assert.equal(isSpaceToggle({ code: 'Space', key: ' ', repeat: true, target: target(false) }), false);
});
