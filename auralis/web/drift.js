// Clock drift: gentle playback-rate correction that holds the buffer level at its target.

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
