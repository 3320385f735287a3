// Decoding audio messages into planar float32 for the player (main thread, never the audio thread).
//
// Formats (websocket-protocol.md): today the page asks for `json` (base64 int16 PCM inside JSON
// text frames). The seam for protocol v2 is `createDecoder(format)` / `preferredFormat()`: a binary
// `pcm` or `opus` decoder (WebCodecs AudioDecoder for Opus) implements the same interface,
//   decode(message) -> {left, right, frames, sampleRate}   (or null while it has no output yet)
// and `preferredFormat()` picks it where the browser supports it. Nothing else in the page changes.

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

/** The decoder for `json` audio messages. */
export class JsonPcmDecoder {
  get format() {
    return 'json';
  }

  decode(msg) {
    return decodeAudioMessage(msg);
  }

  close() {}
}

/** The formats this page can decode, best first (binary `pcm`/`opus` join here with protocol v2). */
export function supportedFormats() {
  return ['json'];
}

/** The format to ask the server for. */
export function preferredFormat() {
  return supportedFormats()[0];
}

/** A decoder for `format`; throws for a format this page cannot decode. */
export function createDecoder(format = preferredFormat()) {
  if (format === 'json') return new JsonPcmDecoder();
  throw new Error(`no decoder for audio format ${JSON.stringify(format)}`);
}
