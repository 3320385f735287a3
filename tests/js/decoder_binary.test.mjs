import test from 'node:test';
import assert from 'node:assert/strict';
import { OPUS_CONFIG, OpusFrameDecoder, PcmFrameDecoder, createDecoder, supportedFormats } from '../../auralis/web/decoder.js';
import { frameBytes } from './helpers.mjs';

/**
 * A stand-in for WebCodecs' AudioDecoder (Node has none): it records what it is fed and, when
 * told, outputs one AudioData per packet, in order, whose samples are the packet's first byte.
 */
class FakeAudioDecoder {
  static instances = [];

  constructor({ output, error }) {
    Object.assign(this, { output, error, state: 'unconfigured', fed: [] });
    FakeAudioDecoder.instances.push(this);
  }

  configure(cfg) {
    this.config = cfg;
    this.state = 'configured';
  }

  decode(chunk) {
    this.fed.push(chunk);
  }

  flushOutputs(n = this.fed.length) {
    for (const c of this.fed.splice(0, n)) {
      const v = c.data[0] / 256;
      this.output({
        timestamp: c.timestamp, numberOfFrames: 960, numberOfChannels: 2, format: 'f32-planar', closed: false,
        copyTo(dest, { planeIndex }) { dest.fill(planeIndex === 0 ? v : -v); },
        close() { this.closed = true; },
      });
    }
  }

  close() {
    this.state = 'closed';
  }
}

class FakeChunk {
  constructor({ type, timestamp, data }) {
    Object.assign(this, { type, timestamp, data: new Uint8Array(data) });
  }
}

function opusFrame(seq, ts, firstBytes) {
  const parts = [];
  for (const b of firstBytes) parts.push(3, 0, b, 0xaa, 0xbb);
  return frameBytes({ codec: 2, rate: 48000, frames: 960 * firstBytes.length, seq, ts, payload: new Uint8Array(parts) });
}

test('opus: one decoder per connection, configured per the contract, fed every packet in seq order', () => {
  FakeAudioDecoder.instances = [];
  const got = [];
  const d = new OpusFrameDecoder({ AudioDecoderImpl: FakeAudioDecoder, EncodedAudioChunkImpl: FakeChunk, onChunk: (c) => got.push(c) });
  for (let seq = 0; seq < 3; seq++) d.decode(opusFrame(seq, 1000 + seq * 0.003, [seq * 5 + 1, seq * 5 + 2, seq * 5 + 3, seq * 5 + 4, seq * 5 + 5]), 7);
  assert.equal(FakeAudioDecoder.instances.length, 1);
  const dec = FakeAudioDecoder.instances[0];
  assert.deepEqual(dec.config, OPUS_CONFIG);
  assert.equal(dec.fed.length, 15);
  assert.deepEqual(dec.fed.map((c) => c.data[0]), Array.from({ length: 15 }, (_, i) => i + 1));
  assert.ok(dec.fed.every((c) => c.type === 'key' && c.data.length === 3));
  // Timestamps from the frames: the first frame's timestamp, then 20 ms per 960-sample packet
  // (the media clock, continuous even though a start burst's chunk timestamps are close together).
  assert.deepEqual(dec.fed.map((c) => c.timestamp), Array.from({ length: 15 }, (_, i) => 1000e6 + i * 20000));
  // Outputs arrive later, one packet at a time: a chunk is handed on once all its packets are decoded.
  dec.flushOutputs(4);
  assert.equal(got.length, 0);
  dec.flushOutputs(7);
  assert.deepEqual(got.map((c) => c.seq), [0, 1]);
  const c0 = got[0];
  assert.equal(c0.frames, 4800 - 312); // the stream's pre-skip is dropped once, at its start
  assert.equal(c0.sampleRate, 48000);
  assert.equal(c0.epoch, 7);
  assert.equal(c0.timestamp, 1000);
  assert.equal(c0.left[0], 1 / 256);
  assert.equal(c0.left[0], 1 / 256);
  assert.equal(c0.left[960 - 313], 1 / 256);
  assert.equal(c0.left[960 - 312], 2 / 256); // packets joined in order
  assert.equal(c0.left[4799 - 312], 5 / 256);
  assert.equal(c0.right[960 - 312], -2 / 256);
  assert.equal(got[1].frames, 4800);
  assert.equal(c0.discontinuity, false);
  dec.flushOutputs();
  assert.deepEqual(got.map((c) => c.seq), [0, 1, 2]);
});

test('opus: a seq gap flags the next chunk; a reset (new connection) opens a new decoder and drops old outputs', () => {
  FakeAudioDecoder.instances = [];
  const got = [];
  const d = new OpusFrameDecoder({ AudioDecoderImpl: FakeAudioDecoder, EncodedAudioChunkImpl: FakeChunk, onChunk: (c) => got.push(c) });
  d.decode(opusFrame(0, 1, [1]), 1);
  d.decode(opusFrame(3, 1.3, [2]), 1);
  d.decode(opusFrame(3, 1.3, [9]), 1); // a repeat: not fed
  const first = FakeAudioDecoder.instances[0];
  assert.equal(first.fed.length, 2);
  first.flushOutputs();
  assert.deepEqual(got.map((c) => [c.seq, c.discontinuity]), [[0, false], [3, true]]);
  assert.equal(d.stats().seqGaps, 2);
  d.decode(opusFrame(4, 1.4, [3]), 1);
  d.reset();
  first.flushOutputs(); // output of the old connection's decoder after the reset: ignored
  assert.equal(got.length, 2);
  assert.equal(first.state, 'closed');
  d.decode(opusFrame(0, 2, [4]), 2);
  assert.equal(FakeAudioDecoder.instances.length, 2);
  FakeAudioDecoder.instances[1].flushOutputs();
  assert.deepEqual(got.map((c) => [c.seq, c.epoch]), [[0, 1], [3, 1], [0, 2]]);
});

test('opus: prepare() configures the decoder of a connection before its first frame, which then uses it', () => {
  FakeAudioDecoder.instances = [];
  const got = [];
  const d = new OpusFrameDecoder({ AudioDecoderImpl: FakeAudioDecoder, EncodedAudioChunkImpl: FakeChunk, onChunk: (c) => got.push(c) });
  d.prepare();
  assert.equal(FakeAudioDecoder.instances.length, 1);
  const first = FakeAudioDecoder.instances[0];
  assert.equal(first.state, 'configured');
  assert.deepEqual(first.config, OPUS_CONFIG);
  d.prepare(); // idempotent
  d.decode(opusFrame(0, 1, [1, 2]), 1);
  d.decode(opusFrame(1, 1.1, [3]), 1);
  assert.equal(FakeAudioDecoder.instances.length, 1, 'the prepared decoder decodes the stream');
  assert.deepEqual(first.fed.map((c) => c.data[0]), [1, 2, 3]);
  first.flushOutputs();
  assert.deepEqual(got.map((c) => [c.seq, c.frames, c.discontinuity]), [[0, 1920 - 312, false], [1, 960, false]]);
  // a new connection: a fresh prepared decoder; its first chunk is flagged (not continuous with the last)
  d.reset();
  d.prepare();
  assert.equal(first.state, 'closed');
  assert.equal(FakeAudioDecoder.instances.length, 2);
  d.decode(opusFrame(0, 2, [4, 5]), 2);
  FakeAudioDecoder.instances[1].flushOutputs();
  assert.deepEqual(got.slice(2).map((c) => [c.seq, c.epoch, c.frames, c.discontinuity]), [[0, 2, 1920 - 312, true]]);
});

test('opus: a decoder error is reported, pending chunks dropped, and the next frame opens a new decoder', () => {
  FakeAudioDecoder.instances = [];
  const got = [];
  const errors = [];
  const d = new OpusFrameDecoder({ AudioDecoderImpl: FakeAudioDecoder, EncodedAudioChunkImpl: FakeChunk, onChunk: (c) => got.push(c), onError: (e) => errors.push(e.message) });
  d.decode(opusFrame(0, 1, [1]), 1);
  FakeAudioDecoder.instances[0].error(new Error('bad packet'));
  assert.deepEqual(errors, ['bad packet']);
  assert.equal(d.errors, 1);
  d.decode(opusFrame(1, 1.1, [2]), 1);
  assert.equal(FakeAudioDecoder.instances.length, 2);
  FakeAudioDecoder.instances[0].flushOutputs();
  FakeAudioDecoder.instances[1].flushOutputs();
  assert.deepEqual(got.map((c) => [c.seq, c.discontinuity]), [[1, true]]);
  assert.throws(() => d.decode(frameBytes({ codec: 1, rate: 44100, frames: 1, payload: new Uint8Array(4) }), 1), /expected an opus frame/);
});

test('pcm frames decode to int16 directly, synchronously, in seq order', () => {
  const got = [];
  const d = new PcmFrameDecoder({ onChunk: (c) => got.push(c) });
  const payload = Buffer.alloc(4410 * 4);
  for (let i = 0; i < 4410; i++) {
    payload.writeInt16LE(i, i * 4);
    payload.writeInt16LE(-i, i * 4 + 2);
  }
  d.decode(frameBytes({ codec: 1, rate: 44100, frames: 4410, seq: 0, ts: 5, payload }), 3);
  assert.equal(got.length, 1);
  assert.equal(got[0].frames, 4410);
  assert.equal(got[0].sampleRate, 44100);
  assert.equal(got[0].left[4409], 4409 / 32768);
  assert.equal(got[0].right[100], -100 / 32768);
  assert.equal(got[0].timestamp, 5);
  assert.throws(() => d.decode(frameBytes({ codec: 2, payload: new Uint8Array([1, 0, 7]) }), 3), /expected a pcm frame/);
});

test('format choice: opus where AudioDecoder supports it, else pcm, json last', async () => {
  const base = { DataView, BigInt, EncodedAudioChunk: FakeChunk };
  const yes = class { static async isConfigSupported(cfg) { return { supported: cfg.codec === 'opus' && cfg.sampleRate === 48000, config: cfg }; } };
  const no = class { static async isConfigSupported() { return { supported: false }; } };
  const throws = class { static async isConfigSupported() { throw new TypeError('bad'); } };
  assert.deepEqual(await supportedFormats({ ...base, AudioDecoder: yes }), ['opus', 'pcm', 'json']);
  assert.deepEqual(await supportedFormats({ ...base, AudioDecoder: no }), ['pcm', 'json']);
  assert.deepEqual(await supportedFormats({ ...base, AudioDecoder: throws }), ['pcm', 'json']);
  assert.deepEqual(await supportedFormats({ ...base }), ['pcm', 'json']); // no WebCodecs at all
  assert.deepEqual(await supportedFormats({}), ['json']);
  assert.equal(createDecoder('pcm').format, 'pcm');
  assert.equal(createDecoder('json').format, 'json');
  assert.throws(() => createDecoder('mp3'), /no decoder/);
});
