// The WebSocket connection to /ws/stream: opening, sending, pings (round trip and clock offset),
// and reconnecting with backoff. It knows nothing of audio or the DOM: the page passes callbacks.

const PING_INTERVAL_MS = 3000;
/** Refusals in a row (closed 1008 before any audio) after which the page stops and says why. */
export const MAX_REFUSALS = 3;

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

export class Connection {
  /**
   * url(): the stream URL; onOpen(); onMessage(data); onClose(event) -> whether to reconnect;
   * reopen(): what a scheduled reconnect calls (the page counts connections there; default open).
   * `now` (ms) and the timer functions are injectable for tests.
   */
  constructor({
    url, onOpen = () => {}, onMessage = () => {}, onClose = () => true, onChange = () => {}, reopen = null,
    WebSocketImpl = globalThis.WebSocket, now = () => Date.now(),
  }) {
    Object.assign(this, { url, onOpen, onMessage, onClose, onChange, WebSocketImpl, now });
    this.reopen = reopen || (() => this.open());
    this.ws = null;
    this.isOpen = false;
    this.everConnected = false;
    this.backoff = new Backoff({ initialMs: 100, maxMs: 5000 });
    this.reconnectTimer = null;
    this.reconnectAt = 0;
    this.pingTimer = null;
    this.rttMs = null;
    this.clockOffsetS = 0; // server clock minus client clock
    this.refusals = 0; // connections in a row that closed before audio flowed
    this.audioFlowed = false;
    this.sent = []; // recent client messages (for diagnostics and tests)
  }

  get reconnecting() {
    return this.reconnectTimer !== null;
  }

  reconnectInS() {
    return Math.max(0, (this.reconnectAt - this.now()) / 1000);
  }

  open() {
    this.cancelReconnect();
    if (this.ws) this.close(1000, 'reconnecting');
    this.audioFlowed = false;
    let ws;
    try {
      ws = new this.WebSocketImpl(this.url());
    } catch (err) {
      this.onClose({ code: 1006, reason: err.message, wasClean: false });
      return;
    }
    ws.binaryType = 'arraybuffer';
    this.ws = ws;
    ws.onopen = () => {
      if (this.ws !== ws) return;
      this.isOpen = true;
      this.everConnected = true;
      this.rttMs = null;
      this.ping();
      this.pingTimer = setInterval(() => this.ping(), PING_INTERVAL_MS);
      this.onOpen();
      this.onChange();
    };
    ws.onmessage = (event) => {
      if (this.ws === ws) this.onMessage(event.data);
    };
    ws.onclose = (event) => {
      if (this.ws !== ws) return;
      this._teardown();
      // A policy close before any audio is a refusal; a network failure or a restart is not.
      if (!this.audioFlowed && event.code === 1008) this.refusals += 1;
      if (this.onClose(event)) this.scheduleReconnect();
      this.onChange();
    };
    this.onChange();
  }

  /** Audio arrived on this connection: it works, so the next drop starts again at 100 ms. */
  markAudio() {
    if (this.audioFlowed) return;
    this.audioFlowed = true;
    this.refusals = 0;
    this.backoff.reset();
  }

  send(msg) {
    if (!this.ws || !this.isOpen) return false;
    try {
      this.ws.send(JSON.stringify(msg));
    } catch {
      return false;
    }
    this.sent.push(msg);
    if (this.sent.length > 200) this.sent.shift();
    return true;
  }

  ping() {
    const msg = { type: 'ping', timestamp: this.now() / 1000 };
    if (this.rttMs !== null) msg.rtt_ms = Math.round(this.rttMs * 100) / 100; // the previous ping's
    this.send(msg);
  }

  onPong(m) {
    if (typeof m.client_timestamp !== 'number') return;
    const rtt = this.now() / 1000 - m.client_timestamp;
    if (rtt < 0 || rtt > 60) return;
    this.rttMs = rtt * 1000;
    if (typeof m.server_timestamp === 'number') this.clockOffsetS = m.server_timestamp - (m.client_timestamp + rtt / 2);
  }

  scheduleReconnect(delayMs = this.backoff.next()) {
    this.cancelReconnect();
    this.reconnectAt = this.now() + delayMs;
    this.reconnectTimer = setTimeout(() => {
      this.reconnectTimer = null;
      this.reopen();
    }, delayMs);
    this.onChange();
  }

  cancelReconnect() {
    clearTimeout(this.reconnectTimer);
    this.reconnectTimer = null;
  }

  _teardown() {
    clearInterval(this.pingTimer);
    this.pingTimer = null;
    this.ws = null;
    this.isOpen = false;
  }

  /** Close on purpose (pause, sleep, page closed): no reconnect. */
  close(code = 1000, reason = '') {
    this.cancelReconnect();
    const ws = this.ws;
    this._teardown();
    if (ws) {
      ws.onclose = null;
      ws.onmessage = null;
      try {
        ws.close(code, reason);
      } catch {
        /* already closed */
      }
    }
    this.onChange();
  }
}
