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
