// Binary audio frames of the streaming protocol, version 2 (websocket-protocol.md, "Binary audio
// frames"): parsing only, pure (no browser globals), so Node tests check it byte for byte.
//
//   offset size type  field
//    0      4   bytes magic "AUR2"
//    4      1   u8    codec: 1 = PCM signed 16-bit interleaved, 2 = Opus
//    5      1   u8    channels
//    6      2   u16   reserved, 0
//    8      4   u32   sample rate of the decoded audio (44100 for PCM, 48000 for Opus)
//   12      4   u32   frames: samples per channel this chunk decodes to
//   16      8   u64   seq
//   24      8   f64   timestamp (server Unix time the chunk was synthesised)
//   32    ...         payload: PCM int16 interleaved, or Opus packets each preceded by a u16 length
// All integers little-endian.

export const MAGIC = [0x41, 0x55, 0x52, 0x32]; // "AUR2"
export const HEADER_BYTES = 32;
export const CODEC_PCM = 1;
export const CODEC_OPUS = 2;
export const CODECS = { [CODEC_PCM]: 'pcm', [CODEC_OPUS]: 'opus' };

export class FrameError extends Error {}

function bytesOf(data) {
  if (data instanceof Uint8Array) return data;
  if (data instanceof ArrayBuffer) return new Uint8Array(data);
  if (ArrayBuffer.isView(data)) return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  throw new FrameError('frame: not binary data');
}

/**
 * One binary frame to {codec, format, channels, sampleRate, frames, seq, timestamp, payload}.
 * `payload` is a view into the frame's bytes (no copy). Throws FrameError naming the bad field.
 */
export function parseFrame(data) {
  const b = bytesOf(data);
  if (b.length < HEADER_BYTES) throw new FrameError(`frame: ${b.length} bytes is shorter than the ${HEADER_BYTES}-byte header`);
  for (let i = 0; i < 4; i++) if (b[i] !== MAGIC[i]) throw new FrameError('frame: magic is not AUR2');
  const v = new DataView(b.buffer, b.byteOffset, b.byteLength);
  const codec = v.getUint8(4);
  const format = CODECS[codec];
  if (!format) throw new FrameError(`frame: unknown codec ${codec}`);
  const channels = v.getUint8(5);
  if (channels < 1) throw new FrameError('frame: channels is 0');
  const sampleRate = v.getUint32(8, true);
  if (sampleRate < 8000 || sampleRate > 192000) throw new FrameError(`frame: bad sample rate ${sampleRate}`);
  const frames = v.getUint32(12, true);
  const seqBig = v.getBigUint64(16, true);
  if (seqBig > BigInt(Number.MAX_SAFE_INTEGER)) throw new FrameError('frame: seq beyond 2^53');
  const seq = Number(seqBig);
  const timestamp = v.getFloat64(24, true);
  if (!Number.isFinite(timestamp)) throw new FrameError('frame: timestamp is not finite');
  const payload = b.subarray(HEADER_BYTES);
  if (codec === CODEC_PCM && payload.length !== frames * channels * 2) {
    throw new FrameError(`frame: PCM payload is ${payload.length} bytes, header says ${frames} x ${channels} int16`);
  }
  return { codec, format, channels, sampleRate, frames, seq, timestamp, payload };
}

/** A frame's seq alone (for timing its arrival before it is decoded), or null if it is too short. */
export function frameSeq(data) {
  const b = bytesOf(data);
  return b.length < HEADER_BYTES ? null : Number(new DataView(b.buffer, b.byteOffset, b.byteLength).getBigUint64(16, true));
}

/** An Opus payload to its packets (views, no copy): each preceded by its length as a u16 LE. */
export function splitPackets(payload) {
  const packets = [];
  let o = 0;
  while (o < payload.length) {
    if (o + 2 > payload.length) throw new FrameError(`opus: truncated packet length at byte ${o}`);
    const n = payload[o] | (payload[o + 1] << 8);
    o += 2;
    if (n === 0) throw new FrameError(`opus: empty packet at byte ${o - 2}`);
    if (o + n > payload.length) throw new FrameError(`opus: packet of ${n} bytes overruns the payload at byte ${o - 2}`);
    packets.push(payload.subarray(o, o + n));
    o += n;
  }
  if (!packets.length) throw new FrameError('opus: no packet in the payload');
  return packets;
}

/** Seq continuity of one connection: 0, 1, 2, ... A gap or a repeat is counted, never hidden. */
export class SeqTracker {
  constructor() {
    this.reset();
  }

  reset() {
    this.last = null;
    this.gaps = 0; // chunks missing
    this.repeats = 0; // seq at or below one already seen (dropped by the caller)
  }

  /** Returns 'ok', 'gap' (some chunks missing before this one) or 'repeat' (drop it). */
  accept(seq) {
    if (this.last === null) {
      this.last = seq;
      return 'ok';
    }
    if (seq <= this.last) {
      this.repeats += 1;
      return 'repeat';
    }
    const missing = seq - this.last - 1;
    this.last = seq;
    if (missing > 0) {
      this.gaps += missing;
      return 'gap';
    }
    return 'ok';
  }
}
