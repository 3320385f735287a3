import test from 'node:test';
import assert from 'node:assert/strict';
import { NowPlaying } from '../../auralis/web/now_playing.js';
import { ListenerMeasures, telemetryMessage } from '../../auralis/web/telemetry.js';

test('the audible chunk decides chord, parameters and the recent-chords strip', () => {
  const np = new NowPlaying();
  const a = { key: 60, mode: 'aeolian', bpm: 60, intensity: 0.5 };
  const b = { ...a, mode: 'ionian' };
  np.recordParams(1, 0, a);
  np.recordParams(1, 5, b); // a params ack: effective from seq 5
  for (let seq = 0; seq < 8; seq++) np.recordChunk(1, seq, { chord: seq < 4 ? 'C min7' : 'F maj7', section: seq < 6 ? 1 : 2, timestamp: seq, params: null });
  assert.deepEqual(np.params({ epoch: 1, seq: 3 }, null), a);
  assert.deepEqual(np.params({ epoch: 1, seq: 6 }, null), b);
  assert.deepEqual(np.params(null, 'fallback'), 'fallback');
  for (let seq = 0; seq < 8; seq++) {
    np.notePlaying({ epoch: 1, seq });
    np.notePlaying({ epoch: 1, seq }); // reported again: noted once
  }
  assert.deepEqual(np.chords, [
    { chord: 'C min7', section: 1 }, { chord: 'F maj7', section: 1 }, { chord: 'F maj7', section: 2 },
  ]);
});

test('measures: end-to-end latency, change to audible, and the telemetry message', () => {
  const m = new ListenerMeasures();
  const playedAtUnix = (frame) => 1000 + frame / 48000;
  m.changeAcked(2, 10, 1000.5);
  const st = { playing: { epoch: 2, seq: 10, frame: 48000 }, firstAudibleFrame: 0, bufferedMs: 151.26, underruns: 3 };
  m.onStats(st, { epoch: 2, info: { timestamp: 1000.7 }, playedAtUnix, clockOffsetS: 0, timeOriginMs: 999_000 });
  assert.equal(Math.round(m.e2eMs), 300);
  assert.deepEqual(m.paramLatenciesMs.map(Math.round), [500]);
  assert.equal(m.firstAudioMs, 1000);
  const msg = telemetryMessage(st, { epoch: 2, playedAtUnix, underrunBase: 1, rttMs: 12.345, nowS: 1002 });
  assert.deepEqual(msg, { type: 'telemetry', played_seq: 10, played_at: 1001, buffered_ms: 151.3, underruns: 2, timestamp: 1002, rtt_ms: 12.35 });
  assert.equal(telemetryMessage(st, { epoch: 3, playedAtUnix, underrunBase: 0, rttMs: null, nowS: 0 }), null);
});

test('`now` messages (binary formats) describe their chunk and the ones after it, per connection', () => {
  const np = new NowPlaying();
  const p = { key: 62, mode: 'dorian', bpm: 60, intensity: 0.5 };
  np.recordNow(1, 0, { chord: 'D min7', section: 1, params: p });
  np.recordNow(1, 12, { chord: 'G 7', section: 1, params: p });
  np.recordNow(2, 0, { chord: 'C maj7', section: 0, params: null });
  assert.equal(np.info({ epoch: 1, seq: 11 }).chord, 'D min7');
  assert.equal(np.info({ epoch: 1, seq: 12 }).chord, 'G 7');
  assert.equal(np.info({ epoch: 1, seq: 400 }).chord, 'G 7');
  assert.equal(np.info({ epoch: 2, seq: 3 }).chord, 'C maj7');
  assert.equal(np.info({ epoch: 3, seq: 3 }), null);
  // A chunk's own record (its timestamp, from the binary frame) joins the music of its `now`.
  np.recordChunk(1, 13, { timestamp: 99.5 });
  assert.deepEqual(np.info({ epoch: 1, seq: 13 }), { chord: 'G 7', section: 1, params: p, timestamp: 99.5 });
  assert.equal(np.info({ epoch: 1, seq: 14 }).timestamp, undefined); // not the `now` message's time
  assert.deepEqual(np.params({ epoch: 1, seq: 5 }, null), p);
  np.notePlaying({ epoch: 1, seq: 3 });
  np.notePlaying({ epoch: 1, seq: 13 });
  assert.deepEqual(np.chords.map((c) => c.chord), ['D min7', 'G 7']);
});
