// The playback engine: ring buffer + jitter buffer + drift + sample-rate conversion + click-free
// transitions. Runs on the audio thread (audio_worklet_processor.js) and in Node tests; no browser
// globals.
import { DriftController } from './drift.js';
import { hermite } from './interpolate.js';
import { JitterBufferPolicy } from './jitter_policy.js';
import { STREAM_SAMPLE_RATE } from './protocol.js';

const SILENCE = 1e-4; // about -80 dBFS: quieter output frames count as silent

/**
 * Plays a stream of chunks at any output rate. Owned by the AudioWorkletProcessor; pure and
 * synchronous so that Node tests can drive it quantum by quantum.
 *
 * - Chunks are appended to a ring buffer of input frames (float32 per channel).
 * - One fractional read head advances by inRate/outRate x drift ratio per output frame; samples
 *   are Hermite-interpolated (44.1 kHz to 48 kHz and back, and drift correction in one place).
 * - Playback starts (and resumes after an underrun) once the level reaches the jitter target,
 *   from the freshest point if far more has arrived (a start burst), with a short
 *   fade-in; when data runs out the last frames fade out, so there is never a click.
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
      if (this.bufferedMs >= this.policy.targetMs &&  this.writeAbs - this.pos > 3) {
        // Start (or resume) at the freshest point: audio beyond the target (a start burst, or a
        // burst after a stall) would only add latency. Nothing has been heard from it yet.
        if (this.bufferedMs > this.policy.targetMs + this.trimAboveMs) {
          this.pos = this.writeAbs - Math.round((this.policy.targetMs / 1000) * this.inputRate);
          this.chunkStarts = this.chunkStarts.filter((c) => c.abs >= this.pos);
          this.boundaries = this.boundaries.filter((b) => b + this.fadeFrames >= this.pos);
        }
        this.state = 'playing';
        this.rampGain = 0;
        this.drift.smoothedMs = null;
        // No crossfaded head correction in the first seconds: the rest of a start burst is still
        // arriving, and the smoothed level has not seen it yet.
        this.lastAdjustClock = startClock;
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
