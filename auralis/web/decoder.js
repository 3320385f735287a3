// Decoding audio into planar float32 for the player (main thread, never the audio thread).
//
// Formats (websocket-protocol.md): `opus` (binary AUR2 frames of Opus packets, decoded by one
// WebCodecs AudioDecoder per connection) where the browser supports it, else `pcm` (binary frames
// of int16), and `json` (base64 int16 inside JSON text frames) as the last resort.
// Every decoder has the same interface:
//   decoder.format                       'opus' | 'pcm' | 'json'
//   decoder.decode(input, epoch)         a binary frame (ArrayBuffer) or a JSON `audio` message
//   decoder.reset()                      a new connection: a new stream starts (seq from 0)
//   decoder.prepare()                    get ready for the first frame (the Opus decoder is
//                                        configured while the connection opens)
//   decoder.close()
// and hands each decoded chunk to its `onChunk` callback, in seq order:
//   {seq, epoch, timestamp, left, right, frames, sampleRate, discontinuity}
// (synchronously for `json`/`pcm`; as the AudioDecoder outputs for `opus`). Malformed input throws
// (the caller skips that chunk); an Opus decoder failure goes to `onError` and the decoder reopens.
import { CODEC_OPUS, CODEC_PCM, FrameError, SeqTracker, parseFrame, splitPackets } from './frames.js';

export const OPUS_CONFIG = Object.freeze({ codec: 'opus', sampleRate: 48000, numberOfChannels: 2 });
/** The encoder's look-ahead at the start of every Opus stream (Ogg Opus "pre-skip"): dropped. */
export const OPUS_PRE_SKIP = 312;

const B64 = new Int16Array(256).fill(-1);
'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/'
  .split('').forEach((c, i) => { B64[c.charCodeAt(0)] = i; });

/** Strict base64 (standard alphabet, padded) to bytes. Throws on malformed input. */
export function decodeBase64(str) {
  if (typeof str !== 'string' || str.length % 4 !== 0) throw new Error('base64: length is not a multiple of 4');
  const n = str.length;
  let pad = 0;
  if (n && str.charCodeAt(n - 1) === 61) pad = str.charCodeAt(n - 2) === 61 ? 2 : 1;
  const out = new Uint8Array((n / 4) * 3 - pad);
  let o = 0;
  for (let i = 0; i < n; i += 4) {
    const a = B64[str.charCodeAt(i)];
    const b = B64[str.charCodeAt(i + 1)];
    const last = i + 4 === n;
    const c = last && pad >= 2 ? 0 : B64[str.charCodeAt(i + 2)];
    const d = last && pad >= 1 ? 0 : B64[str.charCodeAt(i + 3)];
    if ((a | b | c | d) < 0) throw new Error(`base64: invalid character near offset ${i}`);
    const v = (a << 18) | (b << 12) | (c << 6) | d;
    out[o++] = v >> 16;
    if (o < out.length) out[o++] = (v >> 8) & 255;
    if (o < out.length) out[o++] = v & 255;
  }
  return out;
}

/** Interleaved signed 16-bit little-endian PCM to one Float32Array per channel, in [-1, 1). */
export function pcm16ToPlanar(bytes, channels) {
  if (!(channels >= 1) || bytes.length % (2 * channels) !== 0) {
    throw new Error(`pcm: ${bytes.length} bytes is not a whole number of ${channels}-channel frames`);
  }
  const frames = bytes.length / (2 * channels);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const planes = [];
  for (let c = 0; c < channels; c++) planes.push(new Float32Array(frames));
  for (let f = 0, off = 0; f < frames; f++) {
    for (let c = 0; c < channels; c++, off += 2) planes[c][f] = view.getInt16(off, true) / 32768;
  }
  return planes;
}

/**
 * Decode one `audio` message into stereo planes. Mono is duplicated; more channels keep the first
 * two. Throws (with a clear message) on anything that does not match the message's own fields.
 */
export function decodeAudioMessage(msg) {
  const channels = msg.channels;
  if (!Number.isInteger(channels) || channels < 1 || channels > 8) throw new Error(`audio: bad channels ${channels}`);
  if (!(msg.sample_rate >= 8000 && msg.sample_rate <= 192000)) throw new Error(`audio: bad sample_rate ${msg.sample_rate}`);
  const planes = pcm16ToPlanar(decodeBase64(msg.data), channels);
  const left = planes[0];
  const right = channels > 1 ? planes[1] : planes[0].slice();
  return { left, right, frames: left.length, sampleRate: msg.sample_rate };
}

function stereo(planes) {
  return { left: planes[0], right: planes.length > 1 ? planes[1] : planes[0].slice() };
}

/** Shared by the decoders: seq continuity per connection, and a flag for the chunk after a gap. */
class BaseDecoder {
  constructor({ onChunk = () => {}, onError = () => {} } = {}) {
    this.onChunk = onChunk;
    this.onError = onError;
    this.seqs = new SeqTracker();
    this.gapPending = false;
    this.chunks = 0; // chunks handed on
  }

  /** Whether to go on with this seq (a repeat is dropped); a gap flags the next chunk. */
  _accept(seq) {
    const verdict = this.seqs.accept(seq);
    if (verdict === 'repeat') return false;
    if (verdict === 'gap') this.gapPending = true;
    return true;
  }

  _emit(chunk) {
    chunk.discontinuity = this.gapPending;
    this.gapPending = false;
    this.chunks += 1;
    this.onChunk(chunk);
  }

  reset() {
    this.seqs.reset();
    this.gapPending = false;
  }

  prepare() {}

  close() {}

  stats() {
    return { format: this.format, chunks: this.chunks, seqGaps: this.seqs.gaps, seqRepeats: this.seqs.repeats };
  }
}

/** `json`: base64 int16 inside `audio` text messages (already parsed). */
export class JsonPcmDecoder extends BaseDecoder {
  get format() {
    return 'json';
  }

  decode(msg, epoch = 0) {
    const chunk = decodeAudioMessage(msg);
    if (!this._accept(msg.seq)) return;
    this._emit({ ...chunk, seq: msg.seq, epoch, timestamp: msg.timestamp });
  }
}

/** `pcm`: binary frames of interleaved int16. */
export class PcmFrameDecoder extends BaseDecoder {
  get format() {
    return 'pcm';
  }

  decode(data, epoch = 0) {
    const f = parseFrame(data);
    if (f.codec !== CODEC_PCM) throw new FrameError(`expected a pcm frame, got ${f.format}`);
    const { left, right } = stereo(pcm16ToPlanar(f.payload, f.channels));
    if (!this._accept(f.seq)) return;
    this._emit({ seq: f.seq, epoch, timestamp: f.timestamp, left, right, frames: f.frames, sampleRate: f.sampleRate });
  }
}

/** One AudioData to stereo float32 planes (whatever sample format the browser hands out). */
export function audioDataToPlanes(ad) {
  const n = ad.numberOfFrames;
  const ch = ad.numberOfChannels;
  const planes = [];
  if (ad.format === 'f32-planar' || ad.format === null) {
    for (let c = 0; c < Math.min(ch, 2); c++) {
      const p = new Float32Array(n);
      ad.copyTo(p, { planeIndex: c, format: 'f32-planar' });
      planes.push(p);
    }
  } else {
    const all = new Float32Array(n * ch);
    ad.copyTo(all, { planeIndex: 0, format: 'f32' });
    for (let c = 0; c < Math.min(ch, 2); c++) {
      const p = new Float32Array(n);
      for (let i = 0; i < n; i++) p[i] = all[i * ch + c];
      planes.push(p);
    }
  }
  return stereo(planes);
}

/**
 * `opus`: binary frames of u16-length-prefixed Opus packets, fed in seq order to one WebCodecs
 * AudioDecoder per connection (the packets of a connection are one continuous Opus stream).
 * Timestamps come from the frames: the decoder's first frame's `timestamp`, then the stream's media
 * clock, advanced by each frame's `frames` (microseconds; continuous, as Chromium's outputs are,
 * whereas chunk timestamps of a start burst are milliseconds apart). The decoded packets of a frame
 * are joined back into that frame's chunk.
 */
export class OpusFrameDecoder extends BaseDecoder {
  constructor({ AudioDecoderImpl = globalThis.AudioDecoder, EncodedAudioChunkImpl = globalThis.EncodedAudioChunk, ...rest } = {}) {
    super(rest);
    this.AudioDecoderImpl = AudioDecoderImpl;
    this.EncodedAudioChunkImpl = EncodedAudioChunkImpl;
    this.dec = null;
    this.generation = 0; // outputs of a decoder that was reset or failed are ignored
    this.pending = []; // frames fed and not yet fully decoded, in seq order
    this.byTimestamp = new Map(); // packet timestamp (us) -> its pending frame
    this.originUs = null; // media clock of this decoder: its first frame's timestamp (us)
    this.samplesFed = 0; // samples per channel fed to this decoder
    this.errors = 0;
  }

  get format() {
    return 'opus';
  }

  _open() {
    const gen = ++this.generation;
    const dec = new this.AudioDecoderImpl({
      output: (ad) => this._output(ad, gen),
      error: (err) => this._fail(err, gen),
    });
    dec.configure(OPUS_CONFIG);
    this.dec = dec;
    this.originUs = null;
    this.samplesFed = 0;
    this.preSkip = OPUS_PRE_SKIP; // samples still to drop from this decoder's output
  }

  /** Configure the next AudioDecoder now (while the connection opens), not at the first frame. */
  prepare() {
    if (!this.dec || this.dec.state === 'closed') this._open();
  }

  decode(data, epoch = 0) {
    const f = parseFrame(data);
    if (f.codec !== CODEC_OPUS) throw new FrameError(`expected an opus frame, got ${f.format}`);
    const packets = splitPackets(f.payload);
    if (!this._accept(f.seq)) return;
    if (!this.dec || this.dec.state === 'closed') this._open();
    if (this.samplesFed === 0) {
      this.gapPending = this.chunks > 0 || this.gapPending; // a new decoder: not continuous with before
    }
    const entry = {
      seq: f.seq, epoch, timestamp: f.timestamp, sampleRate: f.sampleRate, expected: packets.length,
      parts: [], discontinuity: this.gapPending, keys: [],
    };
    this.gapPending = false;
    this.pending.push(entry);
    if (this.originUs === null) this.originUs = Math.round(f.timestamp * 1e6);
    const perPacket = f.frames / packets.length;
    packets.forEach((packet, i) => {
      const ts = this.originUs + Math.round(((this.samplesFed + i * perPacket) / f.sampleRate) * 1e6);
      entry.keys.push(ts);
      this.byTimestamp.set(ts, entry);
      this.dec.decode(new this.EncodedAudioChunkImpl({ type: 'key', timestamp: ts, data: packet }));
    });
    this.samplesFed += f.frames;
  }

  _output(ad, gen) {
    try {
      if (gen !== this.generation) return;
      // The frame this packet came from (by timestamp; in order if the browser changed it).
      const entry = this.byTimestamp.get(ad.timestamp) || this.pending.find((e) => e.parts.length < e.expected);
      if (!entry) return;
      this.byTimestamp.delete(ad.timestamp);
      entry.parts.push(audioDataToPlanes(ad));
      // Frames complete in order; hand on every complete one at the head.
      while (this.pending.length && this.pending[0].parts.length >= this.pending[0].expected) {
        this._finish(this.pending.shift());
      }
    } finally {
      ad.close();
    }
  }

  _finish(entry) {
    for (const k of entry.keys) this.byTimestamp.delete(k);
    const total = entry.parts.reduce((n, p) => n + p.left.length, 0);
    const skip = Math.min(this.preSkip, total);
    this.preSkip -= skip;
    const frames = total - skip;
    const left = new Float32Array(frames);
    const right = new Float32Array(frames);
    let o = -skip;
    for (const p of entry.parts) {
      const from = Math.max(0, -o);
      if (from < p.left.length) {
        left.set(p.left.subarray(from), o + from);
        right.set(p.right.subarray(from), o + from);
      }
      o += p.left.length;
    }
    this.gapPending = entry.discontinuity;
    this._emit({ seq: entry.seq, epoch: entry.epoch, timestamp: entry.timestamp, left, right, frames, sampleRate: entry.sampleRate });
  }

  _fail(err, gen) {
    if (gen !== this.generation) return;
    this.errors += 1;
    this._drop();
    this.gapPending = true; // the next decoder starts a new stream
    this.onError(err);
  }

  _drop() {
    this.generation += 1;
    const dec = this.dec;
    this.dec = null;
    this.pending = [];
    this.byTimestamp.clear();
    if (dec && dec.state !== 'closed') {
      try {
        dec.close();
      } catch {
        /* already closed */
      }
    }
  }

  reset() {
    super.reset();
    this._drop();
  }

  close() {
    this._drop();
  }

  stats() {
    return { ...super.stats(), decoderErrors: this.errors };
  }
}

/** Whether this browser's WebCodecs can decode the stream's Opus (48 kHz stereo). */
export async function opusSupported(env = globalThis) {
  const AD = env.AudioDecoder;
  if (typeof AD !== 'function' || typeof env.EncodedAudioChunk !== 'function' || typeof AD.isConfigSupported !== 'function') {
    return false;
  }
  try {
    const r = await AD.isConfigSupported({ ...OPUS_CONFIG });
    return !!(r && r.supported);
  } catch {
    return false;
  }
}

/** The formats this browser can decode, best first: `opus` where WebCodecs has it, `pcm`, `json`. */
export async function supportedFormats(env = globalThis) {
  const binary = typeof env.DataView === 'function' && typeof env.BigInt === 'function';
  const out = [];
  if (binary && (await opusSupported(env))) out.push('opus');
  if (binary) out.push('pcm');
  out.push('json');
  return out;
}

/** A decoder for `format` with the callbacks {onChunk, onError}; throws for an unknown format. */
export function createDecoder(format, handlers = {}) {
  if (format === 'opus') return new OpusFrameDecoder(handlers);
  if (format === 'pcm') return new PcmFrameDecoder(handlers);
  if (format === 'json') return new JsonPcmDecoder(handlers);
  throw new Error(`no decoder for audio format ${JSON.stringify(format)}`);
}
