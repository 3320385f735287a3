// Auralis page: controls, WebSocket protocol (websocket-protocol.md), decoding and the AudioWorklet
// graph. Decoding happens here, on the main thread, never on the audio thread: each `audio`
// message becomes two Float32Arrays that are transferred (not copied) to the worklet.
import {
  Backoff, DEFAULT_PARAMS, ParamDebouncer, PRESETS, applyPreset, capitalize, cleanParam,
  decodeAudioMessage, fadeOutCurve, frameToUnixTime, keyName, matchingPreset, parseSettings,
  sanitizeParams, serializeSettings, streamQuery,
} from './audio_core.js';

const STORAGE_KEY = 'auralis.settings';
const PING_INTERVAL_MS = 3000;
const TELEMETRY_INTERVAL_MS = 1000;
const UI_INTERVAL_MS = 250;
const BLOCKED_IDLE_CLOSE_MS = 60000; // autoplay blocked and nobody clicked: stop holding a stream
const PENDING_CHUNKS_MAX = 5; // chunks kept while audio cannot run yet (instant start on click)
const SLEEP_FADE_S = 60;
const MESSAGE_HIDE_MS = 8000;

const $ = (id) => document.getElementById(id);
const unixNow = () => Date.now() / 1000;
const pageQuery = new URLSearchParams(window.location.search);

// ---------------------------------------------------------------------------------------------
// State

const S = {
  settings: loadSettings(),
  acked: null, // parameters the server last confirmed
  ws: null,
  wsOpen: false,
  epoch: 0, // one per connection; chunks and reports carry it
  everConnected: false,
  serverState: null,
  firstChunkOfEpoch: true,
  reconnectTimer: null,
  reconnectAt: 0,
  backoff: new Backoff({ initialMs: 100, maxMs: 5000 }),
  pingTimer: null,
  telemetryTimer: null,
  ctx: null,
  node: null,
  volumeGain: null,
  sleepGain: null,
  workletReady: false,
  pending: [], // decoded chunks waiting for the worklet / a running context
  stats: null, // last processor report
  underrunBase: 0,
  rttMs: null,
  clockOffsetS: 0, // server clock minus client clock
  chunkInfo: new Map(), // `${epoch}:${seq}` -> {chord, section, timestamp}
  timeline: [], // [{epoch, seq, params}] parameters in force from seq on
  pendingChange: null, // {epoch, effectiveSeq, ackUnix}
  paramLatenciesMs: [],
  firstAudioMs: null, // page-load -> first audible frame at the output (ms since navigation start)
  e2eMs: null,
  userPaused: false,
  sleepEndsAt: 0,
  sleepEnded: false,
  blockedTimer: null,
  messageTimer: null,
  lastError: null,
  sent: [], // recent client messages (for diagnostics and tests)
  presetPending: null, // preset sent, ack not yet received
  statusParamsChecked: false,
  sleepTimer: null,
};

// ---------------------------------------------------------------------------------------------
// Settings

function loadSettings() {
  let text = null;
  try {
    text = window.localStorage.getItem(STORAGE_KEY);
  } catch {
    text = null;
  }
  return parseSettings(text);
}

function saveSettings() {
  try {
    window.localStorage.setItem(STORAGE_KEY, serializeSettings(S.settings));
  } catch {
    /* storage full or disabled: settings then last for this page only */
  }
}

// ---------------------------------------------------------------------------------------------
// Messages to the server

function send(msg) {
  if (!S.ws || !S.wsOpen) return false;
  try {
    S.ws.send(JSON.stringify(msg));
  } catch {
    return false;
  }
  S.sent.push(msg);
  if (S.sent.length > 200) S.sent.shift();
  return true;
}

const debouncer = new ParamDebouncer((changes) => {
  send({ type: 'update_params', params: changes, timestamp: unixNow() });
}, { delayMs: 200 });

function changeParam(name, value, { immediate = false } = {}) {
  const v = cleanParam(name, value);
  if (v === undefined) return;
  S.settings.params = { ...S.settings.params, [name]: v };
  saveSettings();
  renderControls();
  if (S.wsOpen) debouncer.update({ [name]: v }, { immediate });
}

function selectPreset(name) {
  if (!PRESETS[name]) return;
  debouncer.flush();
  if (S.wsOpen && send({ type: 'select_preset', preset: name, timestamp: unixNow() })) {
    // The server's `params` ack updates the controls; until then show the choice as pending.
    S.presetPending = name;
    renderPresets();
    return;
  }
  // Offline: apply locally; the next connection starts with these values.
  S.settings.params = applyPreset(S.settings.params, name);
  saveSettings();
  renderControls();
}

// ---------------------------------------------------------------------------------------------
// Connection

function wsUrl() {
  const proto = window.location.protocol === 'https:' ? 'wss:' : 'ws:';
  const extra = { seed: pageQuery.get('seed'), token: pageQuery.get('token') };
  return `${proto}//${window.location.host}/ws/stream?${streamQuery(S.settings.params, extra)}`;
}

function connect() {
  clearTimeout(S.reconnectTimer);
  S.reconnectTimer = null;
  if (S.ws) closeSocket(1000, 'reconnecting');
  const epoch = ++S.epoch;
  S.firstChunkOfEpoch = true;
  S.serverState = null;
  S.statusParamsChecked = false;
  let ws;
  try {
    ws = new WebSocket(wsUrl());
  } catch (err) {
    showMessage(`Cannot open the stream: ${err.message}`);
    scheduleReconnect();
    return;
  }
  S.ws = ws;
  ws.onopen = () => {
    if (S.ws !== ws) return;
    S.wsOpen = true;
    S.everConnected = true;
    S.underrunBase = S.stats ? S.stats.underruns : 0;
    S.rttMs = null;
    sendPing();
    S.pingTimer = setInterval(sendPing, PING_INTERVAL_MS);
    S.telemetryTimer = setInterval(sendTelemetry, TELEMETRY_INTERVAL_MS);
    renderStatus();
  };
  ws.onmessage = (event) => {
    if (S.ws === ws) onServerMessage(event.data, epoch);
  };
  ws.onclose = (event) => {
    if (S.ws !== ws) return;
    teardownSocket();
    if (S.userPaused || S.sleepEnded) {
      renderStatus();
      return;
    }
    explainClose(event);
    scheduleReconnect();
  };
  renderStatus();
}

function teardownSocket() {
  clearInterval(S.pingTimer);
  clearInterval(S.telemetryTimer);
  S.pingTimer = null;
  S.telemetryTimer = null;
  S.ws = null;
  S.wsOpen = false;
  S.serverState = null;
  S.presetPending = null;
  debouncer.cancel();
}

function closeSocket(code, reason) {
  const ws = S.ws;
  teardownSocket();
  if (ws) {
    ws.onclose = null;
    ws.onmessage = null;
    try {
      ws.close(code, reason);
    } catch {
      /* already closed */
    }
  }
}

function explainClose(event) {
  const reason = event.reason ? `: ${event.reason}` : '';
  if (event.code === 1013) showMessage(`The server is at capacity${reason}. Retrying shortly.`);
  else if (event.code === 1008) {
    showMessage(`The server refused the connection${reason}.`);
    // A refused parameter (for example from an old saved setting) must not refuse us forever.
    if (/key|mode|bpm|intensity|preset/i.test(event.reason || '')) {
      S.settings.params = { ...DEFAULT_PARAMS };
      saveSettings();
      renderControls();
    }
  } else if (event.code === 1011) showMessage(`Server error${reason}. Reconnecting.`);
  else if (event.code === 1001) showMessage('The server is restarting. Reconnecting.', { hideAfterMs: MESSAGE_HIDE_MS });
}

function scheduleReconnect() {
  const delay = S.backoff.next();
  S.reconnectAt = performance.now() + delay;
  clearTimeout(S.reconnectTimer);
  S.reconnectTimer = setTimeout(connect, delay);
  renderStatus();
}

// ---------------------------------------------------------------------------------------------
// Server messages

function onServerMessage(text, epoch) {
  let m;
  try {
    m = JSON.parse(text);
  } catch {
    return;
  }
  if (!m || typeof m !== 'object') return;
  switch (m.type) {
    case 'audio':
      onAudio(m, epoch);
      break;
    case 'status':
      onStatus(m);
      break;
    case 'params':
      onParamsAck(m, epoch);
      break;
    case 'pong':
      onPong(m);
      break;
    case 'error':
      onError(m);
      break;
    default:
      break;
  }
}

function onAudio(m, epoch) {
  if (!Number.isInteger(m.seq) || typeof m.data !== 'string') return;
  let chunk;
  try {
    chunk = decodeAudioMessage(m);
  } catch (err) {
    showMessage(`Skipped a damaged audio chunk (${err.message}).`, { hideAfterMs: MESSAGE_HIDE_MS });
    return;
  }
  if (S.backoff.attempts) S.backoff.reset(); // audio flows: the next drop starts again at 100 ms
  const key = `${epoch}:${m.seq}`;
  const params = m.params && typeof m.params === 'object' ? sanitizeParams(m.params) : null;
  S.chunkInfo.set(key, { chord: m.chord, section: m.section, timestamp: m.timestamp, params });
  if (S.chunkInfo.size > 600) S.chunkInfo.delete(S.chunkInfo.keys().next().value);
  const msg = {
    type: 'chunk', seq: m.seq, epoch, left: chunk.left, right: chunk.right,
    sampleRate: chunk.sampleRate, discontinuity: S.firstChunkOfEpoch,
  };
  S.firstChunkOfEpoch = false;
  if (S.workletReady && S.ctx.state === 'running') {
    flushPending();
    S.node.port.postMessage(msg, [msg.left.buffer, msg.right.buffer]);
  } else {
    S.pending.push(msg);
    if (S.pending.length > PENDING_CHUNKS_MAX) {
      S.pending.shift();
      S.pending[0].discontinuity = true;
    }
  }
}

function flushPending() {
  if (!S.workletReady) return;
  for (const msg of S.pending) S.node.port.postMessage(msg, [msg.left.buffer, msg.right.buffer]);
  S.pending = [];
}

function onStatus(m) {
  S.serverState = m.state;
  if (m.params && typeof m.params === 'object') {
    const p = sanitizeParams({ ...S.settings.params, ...m.params });
    S.timeline.push({ epoch: S.epoch, seq: 0, params: p });
    trimTimeline();
    if (!S.statusParamsChecked) {
      S.statusParamsChecked = true;
      const want = S.settings.params;
      const diff = {};
      for (const k of Object.keys(want)) if (want[k] !== p[k]) diff[k] = want[k];
      if (Object.keys(diff).length) debouncer.update(diff, { immediate: true });
      else setAcked(p);
    }
  }
  if (m.state === 'error' && m.message) showMessage(m.message);
  renderStatus();
}

function onParamsAck(m, epoch) {
  const p = sanitizeParams({ ...S.settings.params, ...(m.params || {}) });
  S.presetPending = null;
  if (Number.isInteger(m.effective_seq)) {
    S.timeline.push({ epoch, seq: m.effective_seq, params: p });
    trimTimeline();
    S.pendingChange = { epoch, effectiveSeq: m.effective_seq, ackUnix: unixNow() };
  }
  setAcked(p);
}

function setAcked(p) {
  S.acked = p;
  // Keep values the listener is still changing (not yet sent); take the server's for the rest.
  const next = { ...p };
  for (const k of Object.keys(next)) if (debouncer.hasPending(k)) next[k] = S.settings.params[k];
  S.settings.params = next;
  saveSettings();
  renderControls();
}

function trimTimeline() {
  if (S.timeline.length > 100) S.timeline.splice(0, S.timeline.length - 100);
}

function sendPing() {
  const msg = { type: 'ping', timestamp: unixNow() };
  if (S.rttMs !== null) msg.rtt_ms = Math.round(S.rttMs * 100) / 100; // the previous ping's round trip
  send(msg);
}

function onPong(m) {
  if (typeof m.client_timestamp !== 'number') return;
  const now = unixNow();
  const rtt = now - m.client_timestamp;
  if (rtt < 0 || rtt > 60) return;
  S.rttMs = rtt * 1000;
  if (typeof m.server_timestamp === 'number') S.clockOffsetS = m.server_timestamp - (m.client_timestamp + rtt / 2);
}

function onError(m) {
  S.lastError = m;
  const text = typeof m.message === 'string' ? m.message : 'Unknown error';
  const code = typeof m.code === 'string' ? m.code : 'ERROR';
  if (code === 'INVALID_MESSAGE' && S.acked) {
    // Nothing was applied: show the values that really play.
    debouncer.cancel();
    S.settings.params = { ...S.acked };
    saveSettings();
    renderControls();
  }
  const friendly = {
    RATE_LIMITED: 'Too many changes at once; slow down a little.',
    SOUNDFONT_LOAD_FAILED: 'The server could not load its instruments.',
    SYNTHESIS_TIMEOUT: 'The server is falling behind.',
    UNAUTHORIZED: 'Not authorised to listen.',
  }[code];
  showMessage(`${friendly ? `${friendly} ` : ''}(${code}: ${text})`, {
    hideAfterMs: m.recoverable === false ? 0 : MESSAGE_HIDE_MS,
  });
}

// ---------------------------------------------------------------------------------------------
// Telemetry

function playedAtUnix(frame) {
  const ctx = S.ctx;
  return frameToUnixTime(frame, ctx.sampleRate, {
    nowUnixS: unixNow(), contextTimeS: ctx.currentTime,
    baseLatencyS: ctx.baseLatency, outputLatencyS: ctx.outputLatency,
  });
}

function sendTelemetry() {
  const st = S.stats;
  if (!st || !st.playing || st.playing.epoch !== S.epoch || !S.ctx || S.ctx.state !== 'running') return;
  const msg = {
    type: 'telemetry',
    played_seq: st.playing.seq,
    played_at: playedAtUnix(st.playing.frame),
    buffered_ms: Math.round(st.bufferedMs * 10) / 10,
    underruns: Math.max(0, st.underruns - S.underrunBase),
    timestamp: unixNow(),
  };
  if (S.rttMs !== null) msg.rtt_ms = Math.round(S.rttMs * 100) / 100;
  send(msg);
}

function onStats(st) {
  const prevState = S.stats ? S.stats.state : null;
  S.stats = st;
  const ctx = S.ctx;
  if (S.firstAudioMs === null && st.firstAudibleFrame >= 0 && ctx) {
    const atUnix = playedAtUnix(st.firstAudibleFrame);
    S.firstAudioMs = atUnix * 1000 - performance.timeOrigin;
  }
  if (st.playing && st.playing.epoch === S.epoch) {
    const info = S.chunkInfo.get(`${st.playing.epoch}:${st.playing.seq}`);
    if (info && typeof info.timestamp === 'number') {
      S.e2eMs = (playedAtUnix(st.playing.frame) - (info.timestamp - S.clockOffsetS)) * 1000;
    }
    const pc = S.pendingChange;
    if (pc && pc.epoch === st.playing.epoch && st.playing.seq >= pc.effectiveSeq) {
      const ms = (playedAtUnix(st.playing.frame) - pc.ackUnix) * 1000;
      S.paramLatenciesMs.push(Math.max(0, ms));
      if (S.paramLatenciesMs.length > 100) S.paramLatenciesMs.shift();
      S.pendingChange = null;
    }
  }
  if (prevState !== st.state) renderStatus();
}

// ---------------------------------------------------------------------------------------------
// Audio graph

async function setupAudio() {
  const Ctx = window.AudioContext || window.webkitAudioContext;
  const ctx = new Ctx({ latencyHint: 'balanced' });
  S.ctx = ctx;
  S.volumeGain = ctx.createGain();
  S.sleepGain = ctx.createGain();
  S.volumeGain.gain.value = volumeToGain(S.settings.volume);
  S.volumeGain.connect(S.sleepGain).connect(ctx.destination);
  ctx.onstatechange = onContextState;
  if (ctx.state !== 'running') showStartAffordance();
  await ctx.audioWorklet.addModule('/client/audio_worklet_processor.js');
  const node = new AudioWorkletNode(ctx, 'auralis-stream', {
    numberOfInputs: 0, numberOfOutputs: 1, outputChannelCount: [2],
  });
  node.port.onmessage = (event) => {
    if (event.data && event.data.type === 'stats') onStats(event.data);
  };
  node.onprocessorerror = () => showMessage('The audio engine stopped unexpectedly. Reload the page to restart it.');
  node.connect(S.volumeGain);
  S.node = node;
  S.workletReady = true;
  if (ctx.state === 'running') flushPending();
}

function onContextState() {
  if (S.ctx.state === 'running') {
    hideStartAffordance();
    flushPending();
    if (!S.ws && !S.userPaused && !S.sleepEnded) connect();
  }
  renderStatus();
}

function volumeToGain(v) {
  return (Math.max(0, Math.min(100, v)) / 100) ** 2; // roughly perceptual
}

async function startAudio() {
  if (!S.ctx) return;
  try {
    await S.ctx.resume();
  } catch {
    /* still blocked: the affordance stays */
  }
}

function showStartAffordance() {
  $('start').hidden = false;
  document.addEventListener('pointerdown', startAudio, true);
  document.addEventListener('keydown', startAudio, true);
  clearTimeout(S.blockedTimer);
  S.blockedTimer = setTimeout(() => {
    // Nobody is listening: release the server's stream until someone clicks.
    if (S.ctx.state !== 'running' && S.ws) {
      closeSocket(1000, 'waiting for user');
      clearTimeout(S.reconnectTimer);
      renderStatus();
    }
  }, BLOCKED_IDLE_CLOSE_MS);
  renderStatus();
}

function hideStartAffordance() {
  $('start').hidden = true;
  document.removeEventListener('pointerdown', startAudio, true);
  document.removeEventListener('keydown', startAudio, true);
  clearTimeout(S.blockedTimer);
}

// Pause / play (stops the stream entirely, so a paused tab costs the server nothing).
async function togglePlay() {
  if (S.userPaused || S.sleepEnded) {
    S.userPaused = false;
    S.sleepEnded = false;
    cancelSleepTimer();
    renderSleep();
    await startAudio();
    connect();
  } else {
    S.userPaused = true;
    await fadeAndStop(0.3);
  }
  renderStatus();
}

async function fadeAndStop(fadeS) {
  const ctx = S.ctx;
  if (ctx && ctx.state === 'running') {
    const g = S.volumeGain.gain;
    g.cancelScheduledValues(ctx.currentTime);
    g.setTargetAtTime(0, ctx.currentTime, fadeS / 4);
    await new Promise((r) => setTimeout(r, fadeS * 1000));
  }
  clearTimeout(S.reconnectTimer);
  closeSocket(1000, S.userPaused ? 'paused' : 'sleep timer');
  if (S.node) S.node.port.postMessage({ type: 'clear' });
  S.pending = [];
  if (ctx) {
    try {
      await ctx.suspend();
    } catch {
      /* closed */
    }
    S.volumeGain.gain.cancelScheduledValues(ctx.currentTime);
    S.volumeGain.gain.value = volumeToGain(S.settings.volume);
    S.sleepGain.gain.cancelScheduledValues(ctx.currentTime);
    S.sleepGain.gain.value = 1;
  }
}

// ---------------------------------------------------------------------------------------------
// Sleep timer: the fade is scheduled on the audio clock, so it is exact even in a background tab.

function setSleepTimer(minutes) {
  cancelSleepTimer();
  if (!(minutes > 0)) {
    renderSleep();
    return;
  }
  const totalS = minutes * 60;
  const fadeS = Math.min(SLEEP_FADE_S, totalS / 2);
  S.sleepEndsAt = performance.now() + totalS * 1000;
  const ctx = S.ctx;
  if (ctx) {
    const g = S.sleepGain.gain;
    const t0 = ctx.currentTime + totalS - fadeS;
    g.setValueAtTime(1, t0);
    g.setValueCurveAtTime(fadeOutCurve(128), t0, fadeS);
  }
  S.sleepTimer = setTimeout(onSleepEnd, totalS * 1000);
  renderSleep();
}

function cancelSleepTimer() {
  clearTimeout(S.sleepTimer);
  S.sleepTimer = null;
  S.sleepEndsAt = 0;
  if (S.ctx && S.sleepGain) {
    const g = S.sleepGain.gain;
    g.cancelScheduledValues(0);
    g.setValueAtTime(1, S.ctx.currentTime);
  }
}

async function onSleepEnd() {
  S.sleepTimer = null;
  S.sleepEndsAt = 0;
  S.sleepEnded = true;
  $('sleep-timer').value = '0';
  await fadeAndStop(0.05);
  renderSleep();
  renderStatus();
}

function renderSleep() {
  const el = $('sleep-remaining');
  if (S.sleepEnded) el.textContent = 'The sleep timer ended the music. Press Play to listen again.';
  else if (S.sleepEndsAt) {
    const left = Math.max(0, Math.round((S.sleepEndsAt - performance.now()) / 1000));
    const mm = Math.floor(left / 60);
    const ss = String(left % 60).padStart(2, '0');
    el.textContent = `Fading out in ${mm}:${ss}`;
  } else el.textContent = '';
}

// ---------------------------------------------------------------------------------------------
// Rendering

function renderControls() {
  const p = S.settings.params;
  if (document.activeElement !== $('key') || !debouncer.hasPending('key')) $('key').value = String(p.key);
  $('mode').value = p.mode;
  if (!debouncer.hasPending('intensity')) $('intensity').value = String(p.intensity);
  if (!debouncer.hasPending('bpm')) $('bpm').value = String(p.bpm);
  $('intensity-out').textContent = Number($('intensity').value).toFixed(2);
  $('bpm-out').textContent = `${Math.round(Number($('bpm').value))} BPM`;
  $('intensity').setAttribute('aria-valuetext', `${Number($('intensity').value).toFixed(2)}`);
  $('bpm').setAttribute('aria-valuetext', `${Math.round(Number($('bpm').value))} beats per minute`);
  $('volume').value = String(S.settings.volume);
  $('volume-out').textContent = `${S.settings.volume}%`;
  $('volume').setAttribute('aria-valuetext', `${S.settings.volume} percent`);
  renderPresets();
}

function renderPresets() {
  const active = S.presetPending || matchingPreset(S.settings.params);
  for (const b of document.querySelectorAll('.preset')) {
    b.setAttribute('aria-pressed', String(b.dataset.preset === active));
  }
}

function statusView() {
  if (S.sleepEnded) return ['paused', 'Stopped by the sleep timer'];
  if (S.userPaused) return ['paused', 'Paused'];
  if (!S.wsOpen) {
    if (S.reconnectTimer && S.everConnected) {
      const s = Math.max(0, (S.reconnectAt - performance.now()) / 1000);
      return ['disconnected', `Disconnected · reconnecting${s >= 0.5 ? ` in ${s.toFixed(0)} s` : '…'}`];
    }
    if (S.everConnected) return ['disconnected', S.ws ? 'Disconnected · reconnecting…' : 'Disconnected'];
    if (S.reconnectTimer) return ['disconnected', 'Cannot reach the server · retrying…'];
    return ['buffering', S.ws ? 'Connecting…' : 'Not connected'];
  }
  if (!S.ctx || S.ctx.state !== 'running') return ['connected', 'Connected · press Start to listen'];
  const st = S.stats;
  if (S.serverState === 'buffering') return ['buffering', 'Buffering (server catching up)…'];
  if (!st || st.state !== 'playing') return ['buffering', 'Buffering…'];
  return ['connected', 'Connected'];
}

function renderStatus() {
  const [state, text] = statusView();
  const el = $('status');
  if (el.dataset.state !== state) el.dataset.state = state;
  const t = $('status-text');
  if (t.textContent !== text) t.textContent = text;
  const paused = S.userPaused || S.sleepEnded;
  const btn = $('play-toggle');
  btn.textContent = paused ? 'Play' : 'Pause';
  btn.setAttribute('aria-pressed', String(!paused));
}

function paramsAt(epoch, seq) {
  let best = null;
  for (const e of S.timeline) if (e.epoch === epoch && e.seq <= seq) best = e;
  return best ? best.params : null;
}

function renderNowPlaying() {
  const st = S.stats;
  const playing = st && st.playing && st.state === 'playing' ? st.playing : null;
  const info = playing ? S.chunkInfo.get(`${playing.epoch}:${playing.seq}`) : null;
  // The parameters of the chunk now audible: from the chunk itself if the server says, else from
  // the params acks' effective_seq, else the last confirmed ones.
  const p = (info && info.params) || (playing && paramsAt(playing.epoch, playing.seq)) || S.acked;
  setText('np-key', p ? keyName(p.key) : '—');
  setText('np-mode', p ? capitalize(p.mode) : '—');
  setText('np-chord', info && typeof info.chord === 'string' && info.chord ? info.chord : '—');
  setText('np-section', info && Number.isFinite(info.section) ? String(info.section) : '—');
}

function renderDetails() {
  const st = S.stats;
  setText('st-buffer', st ? `${Math.round(st.bufferedMs)} ms` : '—');
  setText('st-target', st ? `${Math.round(st.targetMs)} ms` : '—');
  setText('st-latency', S.e2eMs !== null ? `${Math.round(S.e2eMs)} ms` : '—');
  setText('st-rtt', S.rttMs !== null ? `${S.rttMs.toFixed(1)} ms` : '—');
  setText('st-underruns', st ? String(st.underruns) : '0');
  setText('st-rate', S.ctx ? `${S.ctx.sampleRate} Hz` : '—');
}

function setText(id, text) {
  const el = $(id);
  if (el.textContent !== text) el.textContent = text;
}

function showMessage(text, { hideAfterMs = 0 } = {}) {
  const el = $('message');
  el.textContent = text;
  el.hidden = false;
  clearTimeout(S.messageTimer);
  if (hideAfterMs) S.messageTimer = setTimeout(() => { el.hidden = true; }, hideAfterMs);
}

// ---------------------------------------------------------------------------------------------
// Wiring

function bindControls() {
  $('key').addEventListener('change', (e) => changeParam('key', Number(e.target.value), { immediate: true }));
  $('mode').addEventListener('change', (e) => changeParam('mode', e.target.value, { immediate: true }));
  $('intensity').addEventListener('input', (e) => changeParam('intensity', Number(e.target.value)));
  $('bpm').addEventListener('input', (e) => changeParam('bpm', Number(e.target.value)));
  $('volume').addEventListener('input', (e) => {
    S.settings.volume = Math.round(Number(e.target.value));
    saveSettings();
    renderControls();
    if (S.ctx) S.volumeGain.gain.setTargetAtTime(volumeToGain(S.settings.volume), S.ctx.currentTime, 0.03);
  });
  for (const b of document.querySelectorAll('.preset')) {
    b.addEventListener('click', () => selectPreset(b.dataset.preset));
  }
  $('sleep-timer').addEventListener('change', (e) => setSleepTimer(Number(e.target.value)));
  $('play-toggle').addEventListener('click', togglePlay);
  $('start-button').addEventListener('click', startAudio);
}

function unsupportedReason() {
  if (!('WebSocket' in window)) return 'This browser has no WebSocket support.';
  const Ctx = window.AudioContext || window.webkitAudioContext;
  if (!Ctx) return 'This browser has no Web Audio support.';
  if (typeof window.AudioWorkletNode !== 'function' || !('audioWorklet' in Ctx.prototype)) {
    if (window.isSecureContext === false) {
      return 'Audio playback needs a secure (https) connection; this page was opened over plain http.';
    }
    return 'This browser has no AudioWorklet support.';
  }
  return null;
}

function snapshot() {
  const st = S.stats;
  return {
    status: $('status').dataset.state,
    statusText: $('status-text').textContent,
    contextState: S.ctx ? S.ctx.state : null,
    sampleRate: S.ctx ? S.ctx.sampleRate : null,
    wsOpen: S.wsOpen,
    epoch: S.epoch,
    stats: st ? { ...st } : null,
    acked: S.acked,
    params: { ...S.settings.params },
    volume: S.settings.volume,
    firstAudioMs: S.firstAudioMs,
    e2eMs: S.e2eMs,
    rttMs: S.rttMs,
    paramLatenciesMs: [...S.paramLatenciesMs],
    sent: S.sent.map((m) => ({ ...m })),
    lastError: S.lastError,
  };
}

function main() {
  const reason = unsupportedReason();
  if (reason) {
    $('unsupported-reason').textContent = reason;
    $('unsupported').hidden = false;
    $('main').hidden = true;
    $('play-toggle').hidden = true;
    $('status').dataset.state = 'disconnected';
    $('status-text').textContent = 'Unsupported browser';
    $('app').dataset.ready = 'unsupported';
    return;
  }
  bindControls();
  renderControls();
  // Audio and connection start together: the first chunks wait (decoded) for the worklet.
  connect();
  setupAudio().catch((err) => {
    showMessage(`Audio could not start: ${err.message}`);
  });
  setInterval(() => {
    renderStatus();
    renderNowPlaying();
    renderDetails();
    if (S.sleepEndsAt) renderSleep();
  }, UI_INTERVAL_MS);
  window.addEventListener('pagehide', () => closeSocket(1000, 'page closed'));
  window.auralis = Object.freeze({ snapshot });
  $('app').dataset.ready = 'true';
}

main();
