import test from 'node:test';
import assert from 'node:assert/strict';
import { decodeAudioMessage, decodeBase64, pcm16ToPlanar } from '../../auralis/web/decoder.js';
import { CHUNK_FRAMES } from '../../auralis/web/protocol.js';
import { rng } from './helpers.mjs';

test('base64 decoding matches Node for every padding case and random bytes', () => {
  const rand = rng(1);
  for (const len of [0, 1, 2, 3, 4, 5, 17, 255, 17640]) {
    const bytes = Buffer.from(Array.from({ length: len }, () => Math.floor(rand() * 256)));
    const got = decodeBase64(bytes.toString('base64'));
    assert.deepEqual(Buffer.from(got), bytes, `length ${len}`);
  }
});

test('malformed base64 is refused, not silently decoded', () => {
  assert.throws(() => decodeBase64('abc'), /multiple of 4/);
  assert.throws(() => decodeBase64('ab!d'), /invalid character/);
  assert.throws(() => decodeBase64('ab\nd'), /invalid character/);
  assert.throws(() => decodeBase64(null), /multiple of 4/);
});

test('int16 little-endian interleaved PCM becomes planar float32', () => {
  const pcm = Buffer.alloc(8);
  pcm.writeInt16LE(32767, 0); // L0
  pcm.writeInt16LE(-32768, 2); // R0
  pcm.writeInt16LE(256, 4); // L1: bytes 00 01, so byte order matters
  pcm.writeInt16LE(-1, 6); // R1
  const [l, r] = pcm16ToPlanar(new Uint8Array(pcm), 2);
  assert.deepEqual(Array.from(l), [32767 / 32768, 256 / 32768]);
  assert.deepEqual(Array.from(r), [-1, -1 / 32768]);
  assert.throws(() => pcm16ToPlanar(new Uint8Array(6), 2), /whole number/);
});

test('a protocol audio message (4410 stereo frames, 23520 base64 chars) decodes exactly', () => {
  const pcm = Buffer.alloc(CHUNK_FRAMES * 4);
  for (let i = 0; i < CHUNK_FRAMES; i++) {
    pcm.writeInt16LE(Math.round(10000 * Math.sin(i / 10)), i * 4);
    pcm.writeInt16LE(i - 2000, i * 4 + 2);
  }
  const data = pcm.toString('base64');
  assert.equal(data.length, 23520);
  const msg = { type: 'audio', seq: 7, sample_rate: 44100, channels: 2, data };
  const { left, right, frames, sampleRate } = decodeAudioMessage(msg);
  assert.equal(frames, CHUNK_FRAMES);
  assert.equal(sampleRate, 44100);
  for (const i of [0, 1, 1234, CHUNK_FRAMES - 1]) {
    assert.equal(left[i], Math.round(10000 * Math.sin(i / 10)) / 32768);
    assert.equal(right[i], (i - 2000) / 32768);
  }
});

test('mono is duplicated to both channels; bad fields are refused', () => {
  const pcm = Buffer.alloc(4);
  pcm.writeInt16LE(1000, 0);
  pcm.writeInt16LE(-1000, 2);
  const { left, right } = decodeAudioMessage({ sample_rate: 44100, channels: 1, data: pcm.toString('base64') });
  assert.deepEqual(Array.from(left), Array.from(right));
  assert.equal(left.length, 2);
  assert.throws(() => decodeAudioMessage({ sample_rate: 44100, channels: 0, data: '' }), /channels/);
  assert.throws(() => decodeAudioMessage({ sample_rate: 'x', channels: 2, data: '' }), /sample_rate/);
  assert.throws(() => decodeAudioMessage({ sample_rate: 44100, channels: 2, data: 'AAAA' }), /whole number/);
});
