import test from 'node:test';
import assert from 'node:assert/strict';
import { FrameError, HEADER_BYTES, SeqTracker, parseFrame, splitPackets } from '../../auralis/web/frames.js';
import { frameBytes } from './helpers.mjs';

function opusPayload(sizes) {
  const parts = [];
  sizes.forEach((n, k) => {
    parts.push(n & 255, n >> 8);
    for (let i = 0; i < n; i++) parts.push((k * 31 + i) & 255);
  });
  return new Uint8Array(parts);
}

test('header fields are read at the contract offsets, little-endian', () => {
  const f = parseFrame(frameBytes({ seq: 2 ** 40 + 7, ts: 1764107400.125, frames: 4800, payload: opusPayload([3]) }));
  assert.equal(HEADER_BYTES, 32);
  assert.equal(f.codec, 2);
  assert.equal(f.format, 'opus');
  assert.equal(f.channels, 2);
  assert.equal(f.sampleRate, 48000);
  assert.equal(f.frames, 4800);
  assert.equal(f.seq, 2 ** 40 + 7); // u64 at 16: a high word matters
  assert.equal(f.timestamp, 1764107400.125); // f64 at 24
  assert.equal(f.payload.length, 5);
});

test('a PCM frame: 4410 x 2 int16 (17,640 bytes) after the header, size checked', () => {
  const payload = new Uint8Array(17640);
  const f = parseFrame(frameBytes({ codec: 1, rate: 44100, frames: 4410, seq: 3, payload }));
  assert.equal(f.format, 'pcm');
  assert.equal(f.sampleRate, 44100);
  assert.equal(f.payload.byteLength, 17640);
  assert.throws(() => parseFrame(frameBytes({ codec: 1, rate: 44100, frames: 4410, payload: new Uint8Array(17638) })), /17638 bytes/);
});

test('bad frames are refused, naming the field', () => {
  assert.throws(() => parseFrame(new ArrayBuffer(31)), /shorter than the 32-byte header/);
  assert.throws(() => parseFrame(frameBytes({ magic: 'AUR1' })), /magic/);
  assert.throws(() => parseFrame(frameBytes({ codec: 3 })), /unknown codec 3/);
  assert.throws(() => parseFrame(frameBytes({ channels: 0 })), /channels/);
  assert.throws(() => parseFrame(frameBytes({ rate: 0 })), /sample rate/);
  assert.throws(() => parseFrame(frameBytes({ ts: NaN })), /timestamp/);
  assert.throws(() => parseFrame('AUR2'), FrameError);
});

test('Opus payloads split into u16-length-prefixed packets, byte for byte', () => {
  const sizes = [1, 200, 256, 300, 65535 & 0x1ff];
  const f = parseFrame(frameBytes({ payload: opusPayload(sizes) }));
  const packets = splitPackets(f.payload);
  assert.deepEqual(packets.map((p) => p.length), sizes);
  packets.forEach((p, k) => assert.deepEqual(Array.from(p), Array.from({ length: sizes[k] }, (_, i) => (k * 31 + i) & 255)));
  // 256 = 0x0100: the high byte comes second (little-endian)
  const raw = opusPayload([256]);
  assert.deepEqual(Array.from(raw.slice(0, 2)), [0, 1]);
  assert.throws(() => splitPackets(new Uint8Array([5, 0, 1, 2])), /overruns/);
  assert.throws(() => splitPackets(new Uint8Array([2, 0, 1, 2, 7])), /truncated packet length/);
  assert.throws(() => splitPackets(new Uint8Array([0, 0])), /empty packet/);
  assert.throws(() => splitPackets(new Uint8Array(0)), /no packet/);
});

test('seq continuity: gaps are counted by the chunks missing, repeats are dropped', () => {
  const t = new SeqTracker();
  assert.deepEqual([0, 1, 2].map((s) => t.accept(s)), ['ok', 'ok', 'ok']);
  assert.equal(t.accept(5), 'gap');
  assert.equal(t.gaps, 2);
  assert.equal(t.accept(5), 'repeat');
  assert.equal(t.accept(4), 'repeat');
  assert.equal(t.accept(6), 'ok');
  assert.equal(t.repeats, 2);
  t.reset();
  assert.equal(t.accept(0), 'ok');
  assert.equal(t.gaps, 0);
});
