// The Web Audio graph on the main thread: an AudioContext, the AudioWorklet node that plays the
// stream (audio_worklet_processor.js), a volume gain and a sleep-fade gain. Decoded chunks are
// transferred (not copied) to the worklet; while audio cannot run yet, a few wait here so a click
// starts sound at once.
import { fadeOutCurve } from './sleep_timer.js';

const PENDING_CHUNKS_MAX = 5;

/** Roughly perceptual volume: 0-100 to a gain. */
export function volumeToGain(v) {
  return (Math.max(0, Math.min(100, v)) / 100) ** 2;
}

/**
 * Unix time (s) at which output frame `frame` (AudioContext clock) reaches the speakers, given
 * the context's current time and the latencies it reports.
 */
export function frameToUnixTime(frame, sampleRate, { nowUnixS, contextTimeS, baseLatencyS = 0, outputLatencyS = 0 }) {
  return nowUnixS + (frame / sampleRate - contextTimeS) + (baseLatencyS || 0) + (outputLatencyS || 0);
}

export class Player {
  constructor({ onStats = () => {}, onStateChange = () => {}, onFailure = () => {} } = {}) {
    Object.assign(this, { onStats, onStateChange, onFailure });
    this.ctx = null;
    this.node = null;
    this.volumeGain = null;
    this.sleepGain = null;
    this.ready = false;
    this.pending = [];
  }

  get state() {
    return this.ctx ? this.ctx.state : null;
  }

  get running() {
    return !!this.ctx && this.ctx.state === 'running';
  }

  async setup(volume) {
    const Ctx = window.AudioContext || window.webkitAudioContext;
    const ctx = new Ctx({ latencyHint: 'balanced' });
    performance.mark('auralis:audio-context'); // start-up milestones (bench_browser.py --breakdown)
    this.ctx = ctx;
    this.volumeGain = ctx.createGain();
    this.sleepGain = ctx.createGain();
    this.volumeGain.gain.value = volumeToGain(volume);
    this.volumeGain.connect(this.sleepGain).connect(ctx.destination);
    ctx.onstatechange = () => {
      if (this.running) this.flushPending();
      this.onStateChange(ctx.state);
    };
    this.onStateChange(ctx.state);
    performance.mark('auralis:worklet-fetch');
    await ctx.audioWorklet.addModule('/client/audio_worklet_processor.js');
    performance.mark('auralis:worklet-module');
    const node = new AudioWorkletNode(ctx, 'auralis-stream', {
      numberOfInputs: 0, numberOfOutputs: 1, outputChannelCount: [2],
    });
    node.port.onmessage = (event) => {
      if (event.data && event.data.type === 'stats') this.onStats(event.data);
    };
    node.onprocessorerror = () => this.onFailure('The audio engine stopped unexpectedly. Reload the page to restart it.');
    node.connect(this.volumeGain);
    this.node = node;
    this.ready = true;
    if (this.running) this.flushPending();
  }

  /** A decoded chunk message {type:'chunk', seq, epoch, left, right, sampleRate, discontinuity}. */
  push(msg) {
    if (this.ready && this.running) {
      this.flushPending();
      this.node.port.postMessage(msg, [msg.left.buffer, msg.right.buffer]);
      return;
    }
    this.pending.push(msg);
    if (this.pending.length > PENDING_CHUNKS_MAX) {
      this.pending.shift();
      this.pending[0].discontinuity = true;
    }
  }

  flushPending() {
    if (!this.ready) return;
    for (const msg of this.pending) this.node.port.postMessage(msg, [msg.left.buffer, msg.right.buffer]);
    this.pending = [];
  }

  /** Forget buffered audio, here and in the worklet. */
  clear() {
    this.pending = [];
    if (this.node) this.node.port.postMessage({ type: 'clear' });
  }

  setVolume(volume) {
    if (this.ctx) this.volumeGain.gain.setTargetAtTime(volumeToGain(volume), this.ctx.currentTime, 0.03);
  }

  async resume() {
    if (!this.ctx) return;
    try {
      await this.ctx.resume();
    } catch {
      /* still blocked: the play button stays */
    }
  }

  /** Fade out over `fadeS`, then suspend the context and forget the buffered audio. */
  async fadeAndSuspend(fadeS, volume) {
    const ctx = this.ctx;
    if (ctx && ctx.state === 'running' && fadeS > 0) {
      const g = this.volumeGain.gain;
      g.cancelScheduledValues(ctx.currentTime);
      g.setTargetAtTime(0, ctx.currentTime, fadeS / 4);
      await new Promise((r) => { setTimeout(r, fadeS * 1000); });
    }
    this.clear();
    if (!ctx) return;
    try {
      await ctx.suspend();
    } catch {
      /* closed */
    }
    this.volumeGain.gain.cancelScheduledValues(ctx.currentTime);
    this.volumeGain.gain.value = volumeToGain(volume);
    this.cancelSleepFade();
  }

  /**
   * Schedule the sleep fade on the audio clock (exact even in a background tab): silence in
   * `remainingS`, fading over the last `fadeS` of it (from now, if less is left).
   */
  scheduleSleepFade(remainingS, fadeS) {
    if (!this.ctx) return;
    this.cancelSleepFade();
    const g = this.sleepGain.gain;
    const now = this.ctx.currentTime;
    const fade = Math.max(0.05, Math.min(fadeS, remainingS));
    const t0 = now + Math.max(0, remainingS - fade);
    g.setValueAtTime(1, t0);
    g.setValueCurveAtTime(fadeOutCurve(128), t0, fade);
  }

  cancelSleepFade() {
    if (!this.ctx) return;
    const g = this.sleepGain.gain;
    g.cancelScheduledValues(0);
    g.setValueAtTime(1, this.ctx.currentTime);
  }

  /** The sleep fade's current gain (1 when none runs). */
  get sleepLevel() {
    return this.sleepGain ? this.sleepGain.gain.value : 1;
  }

  playedAtUnix(frame) {
    const ctx = this.ctx;
    return frameToUnixTime(frame, ctx.sampleRate, {
      nowUnixS: Date.now() / 1000, contextTimeS: ctx.currentTime,
      baseLatencyS: ctx.baseLatency, outputLatencyS: ctx.outputLatency,
    });
  }
}
