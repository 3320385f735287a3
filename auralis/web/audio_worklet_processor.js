// Auralis AudioWorklet processor: runs on the audio thread. It only copies already-decoded float32
// chunks into its ring buffer and renders them (PlaybackEngine in playback_engine.js: adaptive jitter
// buffer, drift correction, sample-rate conversion, click-free underruns). No decoding, no
// allocation in the steady state apart from the small stats message it posts about every 100 ms.
import { PlaybackEngine } from './playback_engine.js';
// The engine's own imports, named here too so that the worklet requests them together with the
// engine rather than after it has arrived (worklets have no modulepreload): one round trip
// fewer before the first sound. tests/js/preload.test.mjs keeps the list complete.
import './drift.js';
import './interpolate.js';
import './jitter_policy.js';
import './protocol.js';

const REPORT_INTERVAL_S = 0.1;

class AuralisStreamProcessor extends AudioWorkletProcessor {
  constructor() {
    super();
    this.engine = new PlaybackEngine({ outputRate: sampleRate });
    this.quantaPerReport = Math.max(1, Math.round((REPORT_INTERVAL_S * sampleRate) / 128));
    this.quanta = 0;
    this.lastState = this.engine.state;
    this.scratch = new Float32Array(128);
    this.port.onmessage = (event) => this.onMessage(event.data);
  }

  onMessage(msg) {
    switch (msg && msg.type) {
      case 'chunk':
        if (msg.sampleRate && msg.sampleRate !== this.engine.inputRate) {
          this.engine.clear();
          this.engine.setInputRate(msg.sampleRate);
        }
        this.engine.push(msg.left, msg.right, { seq: msg.seq, epoch: msg.epoch, discontinuity: msg.discontinuity });
        break;
      case 'clear':
        this.engine.clear();
        this.report();
        break;
      case 'report':
        this.report();
        break;
      default:
        break;
    }
  }

  report() {
    const s = this.engine.stats();
    s.type = 'stats';
    s.frame = currentFrame;
    s.sampleRate = sampleRate;
    this.port.postMessage(s);
  }

  process(inputs, outputs) {
    const out = outputs[0];
    const left = out[0];
    if (left) {
      let right = out[1];
      if (!right) {
        if (this.scratch.length !== left.length) this.scratch = new Float32Array(left.length);
        right = this.scratch;
      }
      this.engine.render(left, right, currentFrame);
      if (!out[1]) for (let i = 0; i < left.length; i++) left[i] = 0.5 * (left[i] + right[i]);
    }
    this.quanta += 1;
    if (this.engine.state !== this.lastState || this.quanta >= this.quantaPerReport) {
      this.lastState = this.engine.state;
      this.quanta = 0;
      this.report();
    }
    return true;
  }
}

registerProcessor('auralis-stream', AuralisStreamProcessor);
