// The sleep timer put to work: it runs while music plays and holds otherwise, keeps its state in
// storage, schedules the fade on the audio clock (exact even in a background tab) and ends the
// music at its end. The timer itself (sleep_timer.js) is pure state.
import { SLEEP_TIMER_KEY, SleepTimer } from './sleep_timer.js';
import { readStored, writeStored } from './settings.js';

export class SleepControl {
  /**
   * player: the Player (fade); storage: localStorage; listening(): whether music is meant to be
   * heard now; onEnd(): stop the music; render(timer): show it.
   */
  constructor({ player, storage, listening, onEnd, render }) {
    Object.assign(this, { player, storage, listening, onEnd, render });
    this.timer = new SleepTimer();
    this.timeout = null;
    this.restored = false;
  }

  restore() {
    this.timer.restore(readStored(this.storage, SLEEP_TIMER_KEY));
    this.restored = true;
  }

  save() {
    const state = this.timer.toJSON();
    writeStored(this.storage, SLEEP_TIMER_KEY, state ? JSON.stringify(state) : null);
  }

  set(minutes) {
    this.timer.set(minutes, this.listening());
    this.sync();
  }

  /** Played again after the timer ended: it is off. */
  acknowledge() {
    this.timer.acknowledge();
  }

  /** Bring the timer in line with whether music plays: hold or run it, schedule its fade and end. */
  sync() {
    if (!this.restored) return; // never overwrite the stored timer before reading it
    if (this.listening()) this.timer.resume();
    else this.timer.hold();
    clearTimeout(this.timeout);
    this.timeout = null;
    if (this.timer.state === 'running') {
      const left = this.timer.remaining();
      this.player.scheduleSleepFade(left / 1000, this.timer.fadeS);
      this.timeout = setTimeout(() => this.check(), left);
    } else if (this.player.ctx) {
      this.player.cancelSleepFade();
    }
    this.save();
    this.render(this.timer);
  }

  /** Called by its timeout and by the page's tick (a throttled background timer may be late). */
  async check() {
    if (!this.timer.due()) {
      if (this.timeout === null) this.sync();
      return;
    }
    clearTimeout(this.timeout);
    this.timeout = null;
    this.timer.finish();
    this.save();
    await this.onEnd();
    this.render(this.timer);
  }
}
