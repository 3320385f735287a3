// The adaptive jitter buffer's policy: the buffer level the player aims for.

/**
 * The buffer level the player aims for, at a start and at a resume after an underrun. (A first
 * start at less than one chunk gained nothing once the server sends its start burst together,
 * and on a loaded 2-core machine it underran when the burst's second chunk was late.) The target starts at `initialMs` (150 ms: 1.5 chunks, enough for the
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
