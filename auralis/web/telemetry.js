// What the listener measures and reports: time to first audio, end-to-end latency, parameter
// change to audible, and the `telemetry` message (websocket-protocol.md). Pure: the page passes
// `playedAtUnix(frame)` (the player's clock) in.

export class ListenerMeasures {
  constructor() {
    this.firstAudioMs = null; // page load -> first audible frame (ms since navigation start)
    this.e2eMs = null;
    this.paramLatenciesMs = [];
    this.pendingChange = null; // {epoch, effectiveSeq, ackUnix}
    // Where client underruns come from: audio frames arriving late (server or network), or
    // frames arriving in time and decoded late (the main thread).
    this.lastFrameMs = null; // arrival of the last audio frame (performance.now())
    this.maxFrameGapMs = 0; // longest wait between two audio frames of a connection
    this.arrivals = new Map(); // seq -> arrival (ms), until decoded
    this.maxDecodeMs = 0; // longest arrival-to-decoded time of a chunk
    this.underrunCount = 0; // underruns seen in the processor's reports
    this.underrunLog = []; // [{atMs, sinceFrameMs, maxDecodeMs}] the last few underruns
  }

  /** A new connection: frame gaps and decode times start afresh. */
  newConnection() {
    this.lastFrameMs = null;
    this.arrivals.clear();
  }

  /** An audio frame (binary, or a JSON `audio` message) `seq` arrived at `nowMs`. */
  frameArrived(seq, nowMs) {
    if (this.lastFrameMs !== null) this.maxFrameGapMs = Math.max(this.maxFrameGapMs, nowMs - this.lastFrameMs);
    this.lastFrameMs = nowMs;
    this.arrivals.set(seq, nowMs);
    if (this.arrivals.size > 64) this.arrivals.delete(this.arrivals.keys().next().value);
  }

  /** Chunk `seq` was decoded (handed to the player) at `nowMs`. */
  chunkDecoded(seq, nowMs) {
    const at = this.arrivals.get(seq);
    if (at === undefined) return;
    this.arrivals.delete(seq);
    this.maxDecodeMs = Math.max(this.maxDecodeMs, nowMs - at);
  }

  /** A params ack: the change is audible once chunk `effectiveSeq` plays. */
  changeAcked(epoch, effectiveSeq, ackUnix) {
    this.pendingChange = { epoch, effectiveSeq, ackUnix };
  }

  /**
   * A processor report. `info` is the audible chunk's record (timestamp), `clockOffsetS` the
   * server clock minus ours, `timeOriginMs` the page's navigation start.
   */
  onStats(st, { epoch, info, playedAtUnix, clockOffsetS, timeOriginMs, nowMs = null }) {
    if (st.underruns > this.underrunCount) {
      this.underrunCount = st.underruns;
      if (nowMs !== null) {
        const sinceFrameMs = this.lastFrameMs === null ? null : nowMs - this.lastFrameMs;
        this.underrunLog.push({ atMs: nowMs, sinceFrameMs, maxDecodeMs: this.maxDecodeMs });
        if (this.underrunLog.length > 20) this.underrunLog.shift();
      }
    }
    if (this.firstAudioMs === null && st.firstAudibleFrame >= 0) {
      this.firstAudioMs = playedAtUnix(st.firstAudibleFrame) * 1000 - timeOriginMs;
    }
    const p = st.playing;
    if (!p || p.epoch !== epoch) return;
    if (info && typeof info.timestamp === 'number') {
      this.e2eMs = (playedAtUnix(p.frame) - (info.timestamp - clockOffsetS)) * 1000;
    }
    const pc = this.pendingChange;
    if (pc && pc.epoch === p.epoch && p.seq >= pc.effectiveSeq) {
      this.paramLatenciesMs.push(Math.max(0, (playedAtUnix(p.frame) - pc.ackUnix) * 1000));
      if (this.paramLatenciesMs.length > 100) this.paramLatenciesMs.shift();
      this.pendingChange = null;
    }
  }
}

/** The `telemetry` message for the last report, or null when nothing of this connection plays. */
export function telemetryMessage(st, { epoch, playedAtUnix, underrunBase, rttMs, nowS }) {
  if (!st || !st.playing || st.playing.epoch !== epoch) return null;
  const msg = {
    type: 'telemetry',
    played_seq: st.playing.seq,
    played_at: playedAtUnix(st.playing.frame),
    buffered_ms: Math.round(st.bufferedMs * 10) / 10,
    underruns: Math.max(0, st.underruns - underrunBase),
    timestamp: nowS,
  };
  if (rttMs !== null) msg.rtt_ms = Math.round(rttMs * 100) / 100;
  return msg;
}
