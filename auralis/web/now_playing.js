// What is audible now: each chunk's chord, section and parameters, looked up when the worklet says
// the chunk reached the output, and the recent chords (the now-playing strip). Pure.

const MAX_CHUNKS = 600;
const MAX_TIMELINE = 100;
const MAX_CHORDS = 8;

export class NowPlaying {
  constructor() {
    this.chunks = new Map(); // `${epoch}:${seq}` -> {chord, section, timestamp, params}
    this.nows = []; // [{epoch, seq, info}] from `now` messages (binary formats): info from seq on
    this.timeline = []; // [{epoch, seq, params}] parameters in force from seq on
    this.chords = []; // [{chord, section}] recent chords heard, oldest first
    this.last = null; // the last chunk seen playing
  }

  /** A chunk arrived (its fields from the `audio` message; `params` already validated or null). */
  recordChunk(epoch, seq, info) {
    this.chunks.set(`${epoch}:${seq}`, info);
    if (this.chunks.size > MAX_CHUNKS) this.chunks.delete(this.chunks.keys().next().value);
  }

  /**
   * A `now` message (binary formats): the chord, section and parameters (validated or null) of
   * chunk `seq` and the chunks after it, until the next `now`.
   */
  recordNow(epoch, seq, info) {
    this.nows.push({ epoch, seq, info });
    if (this.nows.length > MAX_TIMELINE) this.nows.splice(0, this.nows.length - MAX_TIMELINE);
  }

  nowAt(epoch, seq) {
    let best = null;
    for (const e of this.nows) if (e.epoch === epoch && e.seq <= seq && (!best || e.seq >= best.seq)) best = e;
    return best ? best.info : null;
  }

  /** Parameters in force from chunk `seq` of connection `epoch` on (a status or a params ack). */
  recordParams(epoch, seq, params) {
    this.timeline.push({ epoch, seq, params });
    if (this.timeline.length > MAX_TIMELINE) this.timeline.splice(0, this.timeline.length - MAX_TIMELINE);
  }

  paramsAt(epoch, seq) {
    let best = null;
    for (const e of this.timeline) if (e.epoch === epoch && e.seq <= seq) best = e;
    return best ? best.params : null;
  }

  info(playing) {
    if (!playing) return null;
    const chunk = this.chunks.get(`${playing.epoch}:${playing.seq}`) || null;
    const now = this.nowAt(playing.epoch, playing.seq);
    if (!now) return chunk;
    // Binary formats: the chunk's own record has its timestamp; the music comes from `now`.
    const merged = { ...now, timestamp: undefined };
    if (chunk) for (const [k, v] of Object.entries(chunk)) if (v !== undefined && v !== null) merged[k] = v;
    return merged;
  }

  /** The worklet reports `playing` ({epoch, seq}) as audible: note its chord once. */
  notePlaying(playing) {
    if (!playing) return;
    const same = this.last && this.last.seq === playing.seq && this.last.epoch === playing.epoch;
    this.last = { epoch: playing.epoch, seq: playing.seq };
    const info = this.info(playing);
    if (same || !info || typeof info.chord !== 'string' || !info.chord) return;
    const prev = this.chords[this.chords.length - 1];
    if (prev && prev.chord === info.chord && prev.section === info.section) return;
    this.chords.push({ chord: info.chord, section: info.section });
    if (this.chords.length > MAX_CHORDS) this.chords.shift();
  }

  /**
   * The parameters of the chunk now audible: from the chunk itself if the server says, else from
   * the params acks' effective_seq, else `fallback`.
   */
  params(playing, fallback) {
    const info = this.info(playing);
    return (info && info.params) || (playing && this.paramsAt(playing.epoch, playing.seq)) || fallback;
  }
}
