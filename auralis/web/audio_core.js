// Auralis client core: the pure logic of the browser client, with no DOM and no Web Audio.
// Imported by the page (audio_client_worklet.js), by the AudioWorklet (audio_worklet_processor.js)
// and by the Node unit tests (tests/js). Keep it free of browser globals.

// ---------------------------------------------------------------------------------------------
// Protocol facts (websocket-protocol.md)

export const STREAM_SAMPLE_RATE = 44100;
export const CHUNK_FRAMES = 4410;

export const KEY_NAMES = ['C', 'C#', 'D', 'D#', 'E', 'F', 'F#', 'G', 'G#', 'A', 'A#', 'B'];
export const KEY_MIN = 60;
export const KEY_MAX = 71;
export const MODES = ['aeolian', 'dorian', 'lydian', 'phrygian'];
export const BPM_MIN = 40;
export const BPM_MAX = 90;
export const DEFAULT_PARAMS = Object.freeze({ key: 60, mode: 'aeolian', bpm: 60, intensity: 0.5 });
export const DEFAULT_VOLUME = 80;
export const PRESETS = Object.freeze({
  focus: Object.freeze({ mode: 'dorian', bpm: 60, intensity: 0.5 }),
  meditation: Object.freeze({ mode: 'aeolian', bpm: 50, intensity: 0.3 }),
  sleep: Object.freeze({ mode: 'phrygian', bpm: 40, intensity: 0.2 }),
  bright: Object.freeze({ mode: 'lydian', bpm: 70, intensity: 0.6 }),
});

export function keyName(key) {
  return Number.isInteger(key) ? KEY_NAMES[((key % 12) + 12) % 12] : '—';
}

export function capitalize(word) {
  return typeof word === 'string' && word ? word[0].toUpperCase() + word.slice(1) : '—';
}

// ---------------------------------------------------------------------------------------------
// Parameters and settings

/** One parameter checked against the protocol's ranges: the clean value, or undefined. */
export function cleanParam(name, value) {
  switch (name) {
    case 'key':
      return Number.isInteger(value) && value >= KEY_MIN && value <= KEY_MAX ? value : undefined;
    case 'mode':
      return typeof value === 'string' && MODES.includes(value.toLowerCase()) ? value.toLowerCase() : undefined;
    case 'bpm':
      return typeof value === 'number' && Number.isFinite(value) && value >= BPM_MIN && value <= BPM_MAX
        ? value : undefined;
    case 'intensity':
      return typeof value === 'number' && Number.isFinite(value) && value >= 0 && value <= 1
        ? Math.round(value * 100) / 100 : undefined;
    default:
      return undefined;
  }
}

/** Complete, valid parameters from anything: invalid or missing fields take the defaults. */
export function sanitizeParams(obj) {
  const out = { ...DEFAULT_PARAMS };
  if (obj && typeof obj === 'object') {
    for (const name of Object.keys(DEFAULT_PARAMS)) {
      const v = cleanParam(name, obj[name]);
      if (v !== undefined) out[name] = v;
    }
  }
  return out;
}

/** The stored settings (localStorage JSON text) parsed and validated; never throws. */
export function parseSettings(text) {
  let obj = null;
  try {
    obj = typeof text === 'string' ? JSON.parse(text) : null;
  } catch {
    obj = null;
  }
  const params = sanitizeParams(obj && obj.params);
  let volume = DEFAULT_VOLUME;
  if (obj && typeof obj.volume === 'number' && Number.isFinite(obj.volume)) {
    volume = Math.min(100, Math.max(0, Math.round(obj.volume)));
  }
  return { params, volume };
}

export function serializeSettings({ params, volume }) {
  return JSON.stringify({ version: 1, params: sanitizeParams(params), volume });
}

/** The preset whose values the parameters match, or null. */
export function matchingPreset(params) {
  for (const [name, p] of Object.entries(PRESETS)) {
    if (params.mode === p.mode && Math.abs(params.bpm - p.bpm) < 1e-6
        && Math.abs(params.intensity - p.intensity) < 1e-6) return name;
  }
  return null;
}

/** Parameters after a preset: the preset's values, keeping the key (as the server does). */
export function applyPreset(params, name) {
  const p = PRESETS[name];
  if (!p) throw new Error(`unknown preset ${name}`);
  return { ...params, mode: p.mode, bpm: p.bpm, intensity: p.intensity };
}

/** Query string for /ws/stream from parameters (+ optional seed and token). */
export function streamQuery(params, extra = {}) {
  const q = new URLSearchParams();
  const p = sanitizeParams(params);
  q.set('key', String(p.key));
  q.set('mode', p.mode);
  q.set('bpm', String(p.bpm));
  q.set('intensity', String(p.intensity));
  for (const [k, v] of Object.entries(extra)) {
    if (v !== undefined && v !== null && v !== '') q.set(k, String(v));
  }
  return q.toString();
}

// ---------------------------------------------------------------------------------------------
// Reconnect backoff: 100 ms, doubling, at most 5 s (websocket-protocol.md, robustness rules)

export class Backoff {
  constructor({ initialMs = 100, maxMs = 5000, factor = 2 } = {}) {
    this.initialMs = initialMs;
    this.maxMs = maxMs;
    this.factor = factor;
    this.attempts = 0;
  }

  /** The delay before the next attempt; each call doubles the following one. */
  next() {
    const d = Math.min(this.maxMs, this.initialMs * this.factor ** this.attempts);
    this.attempts += 1;
    return d;
  }

  reset() {
    this.attempts = 0;
  }
}

// ---------------------------------------------------------------------------------------------
// Debounced parameter updates: several changes within `delayMs` go out as one message.

export class ParamDebouncer {
  constructor(send, {
    delayMs = 200, setTimer = (fn, ms) => setTimeout(fn, ms), clearTimer = (id) => clearTimeout(id),
  } = {}) {
    this.send = send;
    this.delayMs = delayMs;
    this.setTimer = setTimer;
    this.clearTimer = clearTimer;
    this.pending = {};
    this.timer = null;
  }

  /** Queue changes; `immediate` flushes now (discrete controls such as selects). */
  update(changes, { immediate = false } = {}) {
    Object.assign(this.pending, changes);
    if (this.timer !== null) this.clearTimer(this.timer);
    this.timer = null;
    if (immediate) this.flush();
    else this.timer = this.setTimer(() => this.flush(), this.delayMs);
  }

  hasPending(name) {
    return Object.prototype.hasOwnProperty.call(this.pending, name);
  }

  flush() {
    if (this.timer !== null) this.clearTimer(this.timer);
    this.timer = null;
    const p = this.pending;
    this.pending = {};
    if (Object.keys(p).length) this.send(p);
  }

  cancel() {
    if (this.timer !== null) this.clearTimer(this.timer);
    this.timer = null;
    this.pending = {};
  }
}

// ---------------------------------------------------------------------------------------------
// Decoding: base64 -> bytes -> int16 LE interleaved -> planar float32

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

// ---------------------------------------------------------------------------------------------
// Adaptive jitter buffer policy

/**
 * The buffer level the player aims for. Starts at `initialMs` (150 ms: 1.5 chunks, enough for the
 * jitter of a healthy connection and small enough for end-to-end latency); each underrun grows it
 * (x1.5, at least +100 ms, up to `maxMs`). It shrinks by `shrinkStepMs` only after `shrinkAfterS` with no
 * underrun *and* with the lowest level seen in that time at least `shrinkStepMs + safetyMs`, so
 * it never shrinks into the jitter it has just measured (no grow/shrink/underrun cycles).
 */
export class JitterBufferPolicy {
  constructor({
    initialMs = 150, minMs = 150, maxMs = 2000, growFactor = 1.5, growMinStepMs = 100,
    shrinkAfterS = 60, shrinkStepMs = 25, safetyMs = 40,
  } = {}) {
    Object.assign(this, { minMs, maxMs, growFactor, growMinStepMs, shrinkAfterS, shrinkStepMs, safetyMs });
    this.targetMs = Math.min(maxMs, Math.max(minMs, initialMs));
    this.lastChangeS = 0;
    this.lowWaterMs = Infinity;
  }

  onUnderrun(nowS) {
    const grown = Math.max(this.targetMs * this.growFactor, this.targetMs + this.growMinStepMs);
    this.targetMs = Math.min(this.maxMs, grown);
    this.lastChangeS = nowS;
    this.lowWaterMs = Infinity;
  }

  /** The buffer level while playing (called every render quantum). */
  observe(levelMs) {
    if (levelMs < this.lowWaterMs) this.lowWaterMs = levelMs;
  }

  /** Call regularly with the current time (seconds); shrinks the target while stable. */
  tick(nowS) {
    if (nowS - this.lastChangeS < this.shrinkAfterS) return;
    if (this.targetMs > this.minMs && this.lowWaterMs >= this.shrinkStepMs + this.safetyMs) {
      this.targetMs = Math.max(this.minMs, this.targetMs - this.shrinkStepMs);
    }
    this.lastChangeS = nowS;
    this.lowWaterMs = Infinity;
  }

  /** Above this level the player skips ahead (crossfaded) to the target: bounded latency. */
  get ceilingMs() {
    return this.targetMs + Math.max(600, this.targetMs);
  }
}

// ---------------------------------------------------------------------------------------------
// Clock drift: gentle playback-rate correction that holds the buffer level at its target

/**
 * Proportional-integral control of the playback rate from the smoothed buffer level. A level
 * above target plays slightly faster, below target slightly slower, at most `maxAdjust` (0.3% =
 * 5 cents, far below what a listener notices on ambient music). The integral term learns the
 * steady clock difference (typically < 0.01%), so the level settles on the target itself rather
 * than beside it; the loop is over-damped (no oscillation). The rate moves at most `slewPerS` per
 * second, so it never wobbles.
 */
export class DriftController {
  constructor({
    timeConstantS = 2, deadbandMs = 10, fullScaleMs = 60, maxAdjust = 0.003, integralTimeS = 300,
    slewPerS = 0.001,
  } = {}) {
    Object.assign(this, { timeConstantS, deadbandMs, fullScaleMs, maxAdjust, integralTimeS, slewPerS });
    this.reset();
  }

  reset() {
    this.smoothedMs = null;
    this.integral = 0;
    this.ratio = 1;
  }

  /** Feed the current level; returns the rate ratio (>1 consumes faster). */
  update(levelMs, targetMs, dtS) {
    if (this.smoothedMs === null) this.smoothedMs = levelMs;
    else this.smoothedMs += (levelMs - this.smoothedMs) * Math.min(1, dtS / this.timeConstantS);
    const err = this.smoothedMs - targetMs;
    const kp = this.maxAdjust / this.fullScaleMs;
    const lim = this.maxAdjust;
    // Anti-windup: the integral learns only near the target (transients are P's and the
    // player's job) and never claims more than half the range.
    if (Math.abs(err) < this.fullScaleMs) {
      this.integral = Math.max(-lim / 2, Math.min(lim / 2, this.integral + (kp * err * dtS) / this.integralTimeS));
    }
    let p = 0;
    if (Math.abs(err) > this.deadbandMs) p = kp * (err - Math.sign(err) * this.deadbandMs);
    const want = Math.max(-lim, Math.min(lim, p + this.integral));
    const maxStep = this.slewPerS * dtS;
    this.ratio += Math.max(-maxStep, Math.min(maxStep, 1 + want - this.ratio));
    return this.ratio;
  }
}

// ---------------------------------------------------------------------------------------------
// Interpolation (sample-rate conversion and drift correction share one fractional read head)

/** 4-point, 3rd-order Hermite (Catmull-Rom) interpolation between x0 and x1 at t in [0, 1). */
export function hermite(xm1, x0, x1, x2, t) {
  const c1 = 0.5 * (x1 - xm1);
  const c2 = xm1 - 2.5 * x0 + 2 * x1 - 0.5 * x2;
  const c3 = 0.5 * (x2 - xm1) + 1.5 * (x0 - x1);
  return ((c3 * t + c2) * t + c1) * t + x0;
}

// ---------------------------------------------------------------------------------------------
// The player: ring buffer + jitter buffer + drift + SRC + click-free transitions

const SILENCE = 1e-4; // about -80 dBFS: quieter output frames count as silent

/**
 * Plays a stream of chunks at any output rate. Owned by the AudioWorkletProcessor; pure and
 * synchronous so that Node tests can drive it quantum by quantum.
 *
 * - Chunks are appended to a ring buffer of input frames (float32 per channel).
 * - One fractional read head advances by inRate/outRate x drift ratio per output frame; samples
 *   are Hermite-interpolated (44.1 kHz to 48 kHz and back, and drift correction in one place).
 * - Playback starts (and resumes after an underrun) once the level reaches the jitter target,
 *   from the freshest point if far more has arrived (a start burst), with a short fade-in; when data runs out the last frames fade out, so there is never a click.
 * - Clock drift is corrected by bending the rate (at most 0.3%, DriftController). Should the clocks
 *   differ by more (a loaded machine's audio clock), the head moves by the excess with a crossfade.
 * - A level above the policy's ceiling (after a stall and a burst) skips ahead to the target with
 *   a raised-cosine crossfade, so latency stays bounded.
 * - A chunk flagged `discontinuity` (first chunk of a new connection) gets a fade-out/fade-in at
 *   its boundary instead of a jump.
 */
export class PlaybackEngine {
  constructor({
    outputRate, inputRate = STREAM_SAMPLE_RATE, capacityFrames = 1 << 19, fadeMs = 5, resumeFadeMs = 30,
    crossfadeMs = 20, softCorrectMs = 40, trimAboveMs = 100, policy = new JitterBufferPolicy(), drift = new DriftController(),
  }) {
    if (!(outputRate > 0)) throw new Error('outputRate required');
    if (capacityFrames & (capacityFrames - 1)) throw new Error('capacityFrames must be a power of two');
    this.outputRate = outputRate;
    this.capacity = capacityFrames;
    this.mask = capacityFrames - 1;
    this.L = new Float32Array(capacityFrames);
    this.R = new Float32Array(capacityFrames);
    this.policy = policy;
    this.drift = drift;
    this.fadeMs = fadeMs;
    this.resumeFadeMs = resumeFadeMs;
    this.crossfadeMs = crossfadeMs;
    this.softCorrectMs = softCorrectMs;
    this.trimAboveMs = trimAboveMs;
    this.setInputRate(inputRate);
    this.clear();
    // Counters (cumulative over the engine's life).
    this.framesReceived = 0;
    this.chunksReceived = 0;
    this.framesOutput = 0; // output frames rendered while playing
    this.nonSilentFrames = 0;
    this.peak = 0;
    this.underruns = 0;
    this.skips = 0;
    this.softSkips = 0; // crossfaded steps forward by the excess (audio clock far slower than the server's)
    this.softInserts = 0; // crossfaded steps back (audio clock far faster)
    this.overflows = 0;
    this.lastAdjustClock = -Infinity;
    this.outputClock = 0; // output clock after the last render (AudioContext frames in the worklet)
    this.firstAudibleFrame = -1; // output clock frame of the first non-silent output
  }

  setInputRate(rate) {
    this.inputRate = rate;
    this.baseStep = rate / this.outputRate;
    this.fadeFrames = Math.max(1, Math.round((this.fadeMs / 1000) * rate));
  }

  /** Forget all buffered audio (for example after a long pause). Counters are kept. */
  clear() {
    this.writeAbs = 0; // absolute index of the next input frame to be written
    this.startAbs = 0; // oldest valid absolute frame
    this.pos = 0; // fractional read head (absolute input frames)
    this.state = 'idle'; // idle (never played) | playing | buffering
    this.hasPlayed = false;
    this.rampGain = 0;
    this.xfade = null; // {pos, left} while crossfading to a new head
    this.boundaries = []; // absolute frames of discontinuities still ahead of (or near) the head
    this.chunkStarts = []; // [{seq, epoch, abs, chord, section}] for chunks not yet reached
    this.playing = null; // {seq, epoch, frame} of the last chunk whose first frame was output
    this.drift.reset();
  }

  get bufferedFrames() {
    return Math.max(0, this.writeAbs - this.pos);
  }

  get bufferedMs() {
    return (this.bufferedFrames / this.inputRate) * 1000;
  }

  /** Append a chunk. `meta` = {seq, epoch, discontinuity}. */
  push(left, right, meta = {}) {
    const n = left.length;
    if (right.length !== n) throw new Error('push: channel lengths differ');
    if (this.bufferedFrames + n > this.capacity - 8) {
      // Far beyond any sane level (nothing has been rendering): drop what is buffered.
      this.overflows += 1;
      this.clear();
    }
    const at = this.writeAbs;
    if (at === 0) {
      this.startAbs = 0;
    } else if (meta.discontinuity) {
      this.boundaries.push(at);
    }
    for (let i = 0; i < n; i++) {
      const j = (at + i) & this.mask;
      this.L[j] = left[i];
      this.R[j] = right[i];
    }
    this.writeAbs = at + n;
    this.startAbs = Math.max(this.startAbs, this.writeAbs - this.capacity + 8);
    this.framesReceived += n;
    this.chunksReceived += 1;
    if (meta.seq !== undefined) {
      this.chunkStarts.push({ seq: meta.seq, epoch: meta.epoch ?? 0, abs: at });
      if (this.chunkStarts.length > 256) this.chunkStarts.shift();
    }
  }

  _sample(buf, p) {
    const i0 = Math.floor(p);
    const t = p - i0;
    const lo = this.startAbs;
    const m = this.mask;
    const xm1 = buf[(i0 - 1 < lo ? lo : i0 - 1) & m];
    return hermite(xm1, buf[i0 & m], buf[(i0 + 1) & m], buf[(i0 + 2) & m], t);
  }

  _boundaryGain(p) {
    let g = 1;
    for (const b of this.boundaries) {
      const d = Math.abs(p - b) / this.fadeFrames;
      if (d < g) g = d;
    }
    return g;
  }

  /**
   * Render `outL.length` frames into outL/outR. `clockFrame` is the output clock of the first
   * frame (the worklet passes `currentFrame`, so reported frames are AudioContext frames).
   * Returns the number of frames that carried audio.
   */
  render(outL, outR, clockFrame = this.outputClock) {
    const n = outL.length;
    const dtS = n / this.outputRate;
    const startClock = clockFrame; // the AudioContext's frame clock when driven by the worklet
    this.outputClock = clockFrame + n;
    this.policy.tick(startClock / this.outputRate);

    if (this.state !== 'playing') {
      if (this.bufferedMs >= this.policy.targetMs && this.writeAbs - this.pos > 3) {
        // Start (or resume) at the freshest point: audio beyond the target (a start burst, or a
        // burst after a stall) would only add latency. Nothing has been heard from it yet.
        if (this.bufferedMs > this.policy.targetMs + this.trimAboveMs) {
          this.pos = this.writeAbs - Math.round((this.policy.targetMs / 1000) * this.inputRate);
          this.chunkStarts = this.chunkStarts.filter((c) => c.abs >= this.pos);
          this.boundaries = this.boundaries.filter((b) => b + this.fadeFrames >= this.pos);
        }
        this.state = 'playing';
        this.rampGain = 0;
        this.hasPlayed = true;
        this.drift.smoothedMs = null;
      } else {
        outL.fill(0);
        outR.fill(0);
        return 0;
      }
    }

    // Drift: steer the rate so the level converges on the target (DriftController). When the
    // clocks differ by more than the rate correction may bend (a loaded machine's audio clock),
    // move the head by the excess with a crossfade instead; far above the ceiling, skip at once.
    const level = this.bufferedMs;
    const target = this.policy.targetMs;
    let effectiveLevel = level;
    if (this.xfade === null) {
      const smoothed = this.drift.smoothedMs;
      const saturated = Math.abs(this.drift.ratio - 1) >= this.drift.maxAdjust * 0.95;
      const cool = startClock - this.lastAdjustClock >= this.outputRate * 2;
      if (level > this.policy.ceilingMs) {
        const targetFrames = Math.round((target / 1000) * this.inputRate);
        this.xfade = { pos: this.writeAbs - targetFrames, done: 0 };
        this.skips += 1;
        this.lastAdjustClock = startClock;
        this.drift.smoothedMs = null;
        effectiveLevel = target; // the level once the crossfade lands
      } else if (smoothed !== null && cool && (
        // Above target by softCorrectMs while the rate is bent all it may (or twice that at all);
        // below it by half those (an underrun costs more than a little latency).
        (smoothed - target > this.softCorrectMs && (saturated || smoothed - target > 2 * this.softCorrectMs))
        || (target - smoothed > this.softCorrectMs / 2 && (saturated || target - smoothed > this.softCorrectMs)))) {
        const frames = Math.round(((smoothed - target) / 1000) * this.inputRate);
        const to = this.pos + frames;
        // Forward: land well inside the data. Back: the audio must still be in the ring.
        if (to > this.startAbs + 4 && to < this.writeAbs - 2 * this.fadeFrames - 3) {
          this.xfade = { pos: to, done: 0 };
          if (frames > 0) this.softSkips += 1;
          else this.softInserts += 1;
          this.drift.smoothedMs -= (frames / this.inputRate) * 1000;
          this.lastAdjustClock = startClock;
        }
      }
    }
    this.policy.observe(level);
    const ratio = this.drift.update(effectiveLevel, target, dtS);
    const step = this.baseStep * ratio;
    const rampInc = 1 / Math.max(1, (this.resumeFadeMs / 1000) * this.outputRate);
    const xfadeLen = Math.max(1, Math.round((this.crossfadeMs / 1000) * this.outputRate));

    let produced = 0;
    let i = 0;
    for (; i < n; i++) {
      const head = this.xfade ? this.xfade.pos : this.pos;
      if (head + 3 > this.writeAbs) break; // out of data
      this._markChunkStarts(this.pos, startClock + i);
      let l = this._sample(this.L, this.pos);
      let r = this._sample(this.R, this.pos);
      let g = this._boundaryGain(this.pos);
      if (this.xfade) {
        const x = this.xfade;
        const w = (x.done + 0.5) / xfadeLen;
        const a = Math.cos(w * Math.PI * 0.5) ** 2; // raised cosine: a + b = 1, so a crossfade
        const b = 1 - a; // between correlated material never exceeds its peak
        const g2 = this._boundaryGain(x.pos);
        l = l * g * a + this._sample(this.L, x.pos) * g2 * b;
        r = r * g * a + this._sample(this.R, x.pos) * g2 * b;
        g = 1;
        x.pos += step;
        x.done += 1;
        if (x.done >= xfadeLen) {
          this.pos = x.pos;
          this.xfade = null;
          this.chunkStarts = this.chunkStarts.filter((c) => c.abs >= this.pos); // skipped chunks never played
        } else {
          this.pos += step;
        }
      } else {
        this.pos += step;
      }
      // Fade out as the head nears the end of the data (an underrun then ends in silence).
      const edge = (this.writeAbs - 3 - (this.xfade ? this.xfade.pos : this.pos)) / this.fadeFrames;
      if (edge < 1) g *= Math.max(0, edge);
      if (this.rampGain < 1) {
        this.rampGain = Math.min(1, this.rampGain + rampInc);
        g *= this.rampGain;
      }
      l *= g;
      r *= g;
      outL[i] = l;
      outR[i] = r;
      const a = Math.max(Math.abs(l), Math.abs(r));
      if (a > SILENCE) {
        this.nonSilentFrames += 1;
        if (this.firstAudibleFrame < 0) this.firstAudibleFrame = startClock + i;
      }
      if (a > this.peak) this.peak = a;
      produced += 1;
    }
    this.framesOutput += produced;
    if (i < n) {
      outL.fill(0, i);
      outR.fill(0, i);
      this.state = 'buffering';
      this.xfade = null;
      this.underruns += 1;
      this.policy.onUnderrun(this.outputClock / this.outputRate);
    }
    while (this.boundaries.length && this.boundaries[0] + this.fadeFrames < this.pos) this.boundaries.shift();
    return produced;
  }

  _markChunkStarts(p, clockFrame) {
    const cs = this.chunkStarts;
    while (cs.length && cs[0].abs <= p) {
      const c = cs.shift();
      this.playing = { seq: c.seq, epoch: c.epoch, frame: clockFrame };
    }
  }

  stats() {
    return {
      state: this.state,
      framesReceived: this.framesReceived,
      chunksReceived: this.chunksReceived,
      framesOutput: this.framesOutput,
      nonSilentFrames: this.nonSilentFrames,
      peak: this.peak,
      underruns: this.underruns,
      skips: this.skips,
      softSkips: this.softSkips,
      softInserts: this.softInserts,
      overflows: this.overflows,
      bufferedMs: this.bufferedMs,
      targetMs: this.policy.targetMs,
      driftRatio: this.drift.ratio,
      smoothedMs: this.drift.smoothedMs,
      outputClock: this.outputClock,
      firstAudibleFrame: this.firstAudibleFrame,
      playing: this.playing,
    };
  }
}

// ---------------------------------------------------------------------------------------------
// Timing helpers for the page

/**
 * Unix time (s) at which output frame `frame` (AudioContext clock) reaches the speakers, given
 * the context's current time and the latencies it reports.
 */
export function frameToUnixTime(frame, sampleRate, { nowUnixS, contextTimeS, baseLatencyS = 0, outputLatencyS = 0 }) {
  return nowUnixS + (frame / sampleRate - contextTimeS) + (baseLatencyS || 0) + (outputLatencyS || 0);
}

/** Sleep timer fade: gain curve (equal-loudness-ish, cosine) of `points` values from 1 to 0. */
export function fadeOutCurve(points = 64) {
  const c = new Float32Array(points);
  for (let i = 0; i < points; i++) {
    const x = i / (points - 1);
    c[i] = Math.cos(x * Math.PI * 0.5) ** 2;
  }
  return c;
}

// ---------------------------------------------------------------------------------------------
// Dashboard helpers (debug.js)

/**
 * Seconds to wait after a refused request: the Retry-After header (seconds or HTTP date), else the
 * body's `retry_after`, else `fallbackS`. Always within [1, 3600].
 */
export function parseRetryAfter(header, bodyRetryAfter, fallbackS, nowMs = Date.now()) {
  let s = NaN;
  if (typeof header === 'string' && header.trim()) {
    const h = header.trim();
    if (/^\d+(\.\d+)?$/.test(h)) s = Number(h);
    else {
      const t = Date.parse(h);
      if (!Number.isNaN(t)) s = (t - nowMs) / 1000;
    }
  }
  if (!Number.isFinite(s) && typeof bodyRetryAfter === 'number') s = bodyRetryAfter;
  if (!Number.isFinite(s)) s = fallbackS;
  return Math.min(3600, Math.max(1, Math.ceil(s)));
}

/** A round axis maximum (1, 2, 2.5 or 5 times a power of ten) at or above `v`. */
export function niceCeil(v) {
  if (!(v > 0)) return 1;
  const e = 10 ** Math.floor(Math.log10(v));
  for (const m of [1, 2, 2.5, 5, 10]) if (m * e >= v - 1e-12) return m * e;
  return 10 * e;
}
