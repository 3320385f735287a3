// The received bitrate, measured: bytes that actually arrived (every WebSocket message, audio and
// text) over a sliding window. Pure; the page feeds it from the connection.

export class RateMeter {
  constructor({ windowMs = 5000, minSpanMs = 1000 } = {}) {
    this.windowMs = windowMs;
    this.minSpanMs = minSpanMs;
    this.samples = []; // [tMs, bytes]
    this.total = 0; // bytes over the meter's life
    this.since = null; // time of the first sample since the last reset
  }

  add(bytes, nowMs) {
    this.samples.push([nowMs, bytes]);
    this.total += bytes;
    if (this.since === null) this.since = nowMs;
    this._trim(nowMs);
  }

  _trim(nowMs) {
    const s = this.samples;
    let i = 0;
    while (i < s.length && s[i][0] <= nowMs - this.windowMs) i++;
    if (i) s.splice(0, i);
  }

  /** kbit/s over the window ending now (or since the first byte, if that is shorter); null under minSpanMs. */
  kbps(nowMs) {
    this._trim(nowMs);
    if (this.since === null) return null;
    const span = Math.min(this.windowMs, nowMs - this.since);
    if (span < this.minSpanMs) return null;
    let bytes = 0;
    for (const [, b] of this.samples) bytes += b;
    return (bytes * 8) / span; // bits per ms = kbit/s
  }

  /** A new connection: the rate starts again (the total is kept). */
  reset() {
    this.samples = [];
    this.since = null;
  }
}

/** Bytes of a string as UTF-8 (what a WebSocket text frame carries). */
export function utf8Length(s) {
  let n = s.length;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x80) continue;
    if (c < 0x800) n += 1;
    else if (c >= 0xd800 && c <= 0xdbff) { n += 2; i++; } // a surrogate pair: 4 bytes for 2 units
    else n += 2;
  }
  return n;
}
