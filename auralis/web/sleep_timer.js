// The sleep timer as state of its own: it counts only while music plays (paused time does not
// count), survives a reload (kept in localStorage with its end time), and fades at its end.
// Pure: the clock and the storage are passed in, so Node tests drive it.

export const SLEEP_TIMER_KEY = 'auralis.sleepTimer';
/** The choices the page offers, in minutes (plus a custom value). */
export const SLEEP_CHOICES_MIN = [5, 10, 15, 20, 30, 45, 60, 90, 120, 180];
export const CUSTOM_MIN_MINUTES = 0.1;
export const CUSTOM_MAX_MINUTES = 720;
export const SLEEP_FADE_S = 60;

/** A custom length in minutes, or null if it is not one. */
export function cleanMinutes(value) {
  const v = typeof value === 'string' ? Number(value.trim()) : value;
  if (typeof v !== 'number' || !Number.isFinite(v)) return null;
  if (v < CUSTOM_MIN_MINUTES || v > CUSTOM_MAX_MINUTES) return null;
  return Math.round(v * 100) / 100;
}

/** "m:ss" (or "h:mm:ss") for a duration in milliseconds. */
export function formatRemaining(ms) {
  const total = Math.max(0, Math.ceil(ms / 1000));
  const h = Math.floor(total / 3600);
  const m = Math.floor((total % 3600) / 60);
  const s = String(total % 60).padStart(2, '0');
  return h ? `${h}:${String(m).padStart(2, '0')}:${s}` : `${m}:${s}`;
}

/**
 * States: `off`; `running` (music plays; `endsAt` is a wall-clock time in ms); `held` (music does
 * not play; `remainingMs` waits for it to play again); `ended` (it stopped the music).
 */
export class SleepTimer {
  constructor({ now = () => Date.now() } = {}) {
    this.now = now;
    this.state = 'off';
    this.minutes = 0;
    this.endsAt = 0;
    this.remainingMs = 0;
  }

  /** Set a timer of `minutes` (0 turns it off); it runs at once when `playing`, else it holds. */
  set(minutes, playing) {
    if (!(minutes > 0)) {
      this.cancel();
      return;
    }
    this.minutes = minutes;
    this.remainingMs = minutes * 60000;
    this.endsAt = 0;
    this.state = 'held';
    if (playing) this.resume();
  }

  cancel() {
    this.state = 'off';
    this.minutes = 0;
    this.endsAt = 0;
    this.remainingMs = 0;
  }

  /** The music stopped (pause, autoplay blocked, offline): hold the remaining time. */
  hold() {
    if (this.state !== 'running') return;
    this.remainingMs = Math.max(0, this.endsAt - this.now());
    this.endsAt = 0;
    this.state = 'held';
  }

  /** The music plays again: count down from where it was held. */
  resume() {
    if (this.state !== 'held') return;
    this.endsAt = this.now() + this.remainingMs;
    this.state = 'running';
  }

  /** Milliseconds left (counting only while running). */
  remaining() {
    if (this.state === 'running') return Math.max(0, this.endsAt - this.now());
    if (this.state === 'held') return this.remainingMs;
    return 0;
  }

  /** Seconds of fade at the end: a minute, or half the timer if it is shorter than two. */
  get fadeS() {
    return Math.min(SLEEP_FADE_S, (this.minutes * 60) / 2);
  }

  /** True once a running timer has reached its end (then call `finish`). */
  due() {
    return this.state === 'running' && this.now() >= this.endsAt;
  }

  finish() {
    this.state = 'ended';
    this.endsAt = 0;
    this.remainingMs = 0;
  }

  /** Played again after the timer ended: it is off. */
  acknowledge() {
    if (this.state === 'ended') this.cancel();
  }

  toJSON() {
    if (this.state === 'running') return { version: 1, minutes: this.minutes, endsAt: this.endsAt };
    if (this.state === 'held') return { version: 1, minutes: this.minutes, remainingMs: this.remainingMs };
    return null;
  }

  /**
   * Restore stored state (JSON text). A running timer comes back held with the time left to its
   * end time (the new page counts it again once music plays); one whose end has passed is off.
   */
  restore(text) {
    this.cancel();
    let obj = null;
    try {
      obj = typeof text === 'string' ? JSON.parse(text) : null;
    } catch {
      obj = null;
    }
    if (!obj || !(obj.minutes > 0) || !Number.isFinite(obj.minutes)) return;
    let left = null;
    if (Number.isFinite(obj.endsAt)) left = obj.endsAt - this.now();
    else if (Number.isFinite(obj.remainingMs)) left = obj.remainingMs;
    if (left === null || !(left > 0) || left > obj.minutes * 60000 + 1000) return;
    this.minutes = obj.minutes;
    this.remainingMs = left;
    this.state = 'held';
  }
}

/** Sleep timer fade: gain curve (cosine squared) of `points` values from 1 to 0. */
export function fadeOutCurve(points = 64) {
  const c = new Float32Array(points);
  for (let i = 0; i < points; i++) {
    const x = i / (points - 1);
    c[i] = Math.cos(x * Math.PI * 0.5) ** 2;
  }
  return c;
}
