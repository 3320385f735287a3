// Auralis listening page: wires the modules together. The musical facts come from the server
// (music.js); the connection (connection.js), decoding (decoder.js), the audio graph (player.js),
// the sleep timer (sleep_timer.js, sleep_control.js), blocked autoplay (autoplay.js), what is
// audible (now_playing.js), measurements (telemetry.js), the status line (status.js) and the DOM
// (view.js) each live in their own module. Decoding happens here on the main thread, never on the audio thread.
import { GestureGate } from './autoplay.js';
import { Connection, MAX_REFUSALS } from './connection.js';
import { createDecoder } from './decoder.js';
import { frameSeq } from './frames.js';
import { MediaKeys, bindSpace } from './media_keys.js';
import { KeepShare } from './keep_share.js';
import { FactsError, fetchMusicFacts } from './music.js';
import { NowPlaying } from './now_playing.js';
import { ParamDebouncer } from './param_changes.js';
import { RateMeter, utf8Length } from './rate_meter.js';
import { closeVerdict, errorIsFatal, errorText, parseServerMessage, streamQuery } from './protocol.js';
import { SETTINGS_KEY, parseSettings, readStored, serializeSettings, writeStored } from './settings.js';
import { paramsFromQuery } from './share_link.js';
import { SleepControl } from './sleep_control.js';
import { STATIONS_REFRESH_MS, Stations, stationTitle } from './stations.js';
import { audioReady, firstFacts, formats as formatsReady, player, unsupportedReason } from './startup.js';
import { cleanMinutes } from './sleep_timer.js';
import { pageTitle, statusView } from './status.js';
import { ListenerMeasures, telemetryMessage } from './telemetry.js';
import {
  $, buildControls, buildSleepChoices, hideMessage, renderControls, renderDetails, renderMoods, renderNowPlaying,
  renderPlayButton, renderSleep, renderStatus, showMessage,
} from './view.js';

const TELEMETRY_INTERVAL_MS = 1000;
const UI_INTERVAL_MS = 250;
const BLOCKED_IDLE_CLOSE_MS = 60000; // autoplay blocked and nobody clicked: stop holding a stream
const MESSAGE_HIDE_MS = 8000;
const FACTS_RETRY_MS = [500, 1000, 2000, 5000];

const unixNow = () => Date.now() / 1000;
const pageQuery = new URLSearchParams(window.location.search);
const token = pageQuery.get('token');

const S = {
  facts: null,
  settings: null,
  acked: null, // parameters the server last confirmed
  epoch: 0, // one per connection; chunks and reports carry it
  serverState: null,
  firstChunkOfEpoch: true,
  formats: ['json'], // what this browser decodes, best first (decoder.js); the first is asked for
  decoder: null,
  stats: null, // last processor report
  underrunBase: 0,
  userPaused: false,
  sleepEnded: false,
  fatal: null, // why the page stopped trying (a refused token)
  offline: typeof navigator.onLine === 'boolean' ? !navigator.onLine : false,
  lastError: null,
  presetPending: null,
  statusParamsChecked: false,
  connectAttempts: 0,
  choosingCustom: false, // "Custom…" chosen, its minutes not yet entered
  seed: null, // the seed playing (text): a valid ?seed=, else the one the server chose
  querySeed: null, // a valid ?seed= of the page's URL (every connection asks for it)
  clientId: null, // this stream's id on the server (its timeline, for downloads)
};

const marked = new Set();
/** A start-up milestone (performance.mark `auralis:NAME`, once per page): bench_browser.py reads
 * them to break the time to first audio down. */
function milestone(name) {
  if (marked.has(name)) return;
  marked.add(name);
  performance.mark(`auralis:${name}`);
}

const nowPlaying = new NowPlaying();
const received = new RateMeter({ windowMs: 5000 });
const measures = new ListenerMeasures();
let conn = null;
let media = null;
let stations = null; // the Stations section (stations.js): a station plays in an <audio> element

// The audio graph started before this script loaded (startup.js); its events come here.
Object.assign(player, {
  onStats,
  onStateChange: onContextState,
  onFailure: (text) => showMessage(text),
});
const sleepControl = new SleepControl({
  player,
  storage: window.localStorage,
  listening,
  onEnd: endBySleep,
  render: (timer) => renderSleep(timer, S.choosingCustom),
});
const sleep = sleepControl.timer;
const gestures = new GestureGate(document, {
  onGesture: () => play(),
  onIdle: () => {
    // Nobody is listening: release the server's stream until someone presses Play.
    if (!player.running && conn.ws) conn.close(1000, 'waiting for user');
    tick();
  },
  idleMs: BLOCKED_IDLE_CLOSE_MS,
});

const debouncer = new ParamDebouncer((changes) => {
  conn.send({ type: 'update_params', params: changes, timestamp: unixNow() });
}, { delayMs: 200 });

// ---------------------------------------------------------------------------------------------
// Settings and parameters

function saveSettings() {
  writeStored(window.localStorage, SETTINGS_KEY, serializeSettings(S.settings, S.facts));
}

function changeParam(name, value, { immediate = false } = {}) {
  const v = S.facts.clean(name, value);
  if (v === undefined) return;
  S.settings.params = { ...S.settings.params, [name]: v };
  saveSettings();
  showControls();
  if (conn.isOpen) debouncer.update({ [name]: v }, { immediate });
}

function selectPreset(name) {
  if (!S.facts.preset(name)) return;
  debouncer.flush();
  if (conn.isOpen && conn.send({ type: 'select_preset', preset: name, timestamp: unixNow() })) {
    S.presetPending = name; // the server's `params` ack updates the controls
    showControls();
    return;
  }
  S.settings.params = S.facts.applyPreset(S.settings.params, name); // the next connection starts with it
  saveSettings();
  showControls();
}

function activeMood() {
  return S.presetPending || S.facts.matchingPreset(S.settings.params);
}

function showControls() {
  renderControls(S.settings.params, S.settings.volume, (k) => debouncer.hasPending(k));
  renderMoods(activeMood());
}

// ---------------------------------------------------------------------------------------------
// Connection

function wsUrl() {
  const proto = window.location.protocol === 'https:' ? 'wss:' : 'ws:';
  const format = S.decoder.format;
  const extra = { seed: S.querySeed, token, format: format === 'json' ? null : format };
  return `${proto}//${window.location.host}/ws/stream?${streamQuery(S.settings.params, extra)}`;
}

function connect() {
  if (S.fatal || !S.facts) return;
  S.epoch += 1;
  S.connectAttempts += 1;
  S.firstChunkOfEpoch = true;
  S.serverState = null;
  S.statusParamsChecked = false;
  S.decoder.reset(); // a new connection is a new stream (seq from 0; a new Opus decoder)
  received.reset();
  measures.newConnection();
  milestone('ws-create');
  conn.open();
  S.decoder.prepare(); // configured while the connection opens, not when the first frame arrives
}

function onOpen() {
  milestone('ws-open');
  S.underrunBase = S.stats ? S.stats.underruns : 0;
}

/** Returns whether to reconnect. */
function onClose(event) {
  S.serverState = null;
  S.presetPending = null;
  debouncer.cancel();
  if (S.userPaused || S.sleepEnded || S.fatal) return false;
  if (event.code === 1008 && /format/i.test(event.reason || '') && !conn.audioFlowed && S.formats.length > 1) {
    // The server refused this format (an older server, or one without its Opus library): ask for
    // the next one this page decodes, at once.
    useFormat(S.formats[1]);
    conn.refusals = Math.max(0, conn.refusals - 1);
    conn.scheduleReconnect(0);
    return false;
  }
  const verdict = closeVerdict(event.code, event.reason || '');
  if (verdict.resetParams) {
    S.settings.params = { ...S.facts.defaults };
    saveSettings();
    showControls();
  }
  if (!verdict.retry) {
    stopTrying(verdict.text || `The server closed the connection (${event.code}).`);
    return false;
  }
  if (conn.refusals >= MAX_REFUSALS) {
    stopTrying(`the server refused ${conn.refusals} connections in a row${event.reason ? ` (${event.reason})` : ''}. Reload the page to try again.`);
    return false;
  }
  if (verdict.text) showMessage(verdict.text, { kind: 'connection', hideAfterMs: event.code === 1001 ? MESSAGE_HIDE_MS : 0 });
  if (S.offline) return false; // the 'online' event reconnects
  return true;
}

/** Retrying cannot help (a missing or refused token): stop, and say why. */
function stopTrying(why) {
  S.fatal = why;
  conn.close(1000, 'giving up');
  showMessage(why, { kind: 'fatal' });
  tick();
}

// ---------------------------------------------------------------------------------------------
// Server messages

function onServerMessage(data, epoch) {
  milestone(typeof data === 'string' ? 'first-text' : 'first-frame');
  received.add(typeof data === 'string' ? utf8Length(data) : data.byteLength, performance.now());
  if (typeof data !== 'string') {
    onBinaryAudio(data, epoch);
    return;
  }
  const m = parseServerMessage(data);
  if (!m) return;
  switch (m.type) {
    case 'audio':
      onAudio(m, epoch);
      break;
    case 'now':
      onNow(m, epoch);
      break;
    case 'status':
      onStatus(m);
      break;
    case 'params':
      onParamsAck(m, epoch);
      break;
    case 'pong':
      conn.onPong(m);
      break;
    case 'error':
      onError(m);
      break;
    default:
      break;
  }
}

/** A JSON `audio` message (format `json`): the music's fields come with the audio. */
function onAudio(m, epoch) {
  if (!Number.isInteger(m.seq) || typeof m.data !== 'string' || S.decoder.format !== 'json') return;
  const params = m.params && typeof m.params === 'object' ? S.facts.sanitize(m.params) : null;
  nowPlaying.recordChunk(epoch, m.seq, { chord: m.chord, section: m.section, timestamp: m.timestamp, params });
  measures.frameArrived(m.seq, performance.now());
  decodeAudio(m, epoch);
}

/** A binary AUR2 frame (formats `pcm` and `opus`). */
function onBinaryAudio(data, epoch) {
  if (S.decoder.format === 'json') return;
  measures.frameArrived(frameSeq(data), performance.now());
  decodeAudio(data, epoch);
}

function decodeAudio(input, epoch) {
  try {
    S.decoder.decode(input, epoch);
  } catch (err) {
    showMessage(`Skipped a damaged audio chunk (${err.message}).`, { hideAfterMs: MESSAGE_HIDE_MS });
  }
}

/** A decoded chunk (decoder.js calls this in seq order) goes to the worklet. */
function onChunk(chunk) {
  if (chunk.epoch !== S.epoch) return; // decoded after its connection ended
  milestone(chunk.seq === 0 ? 'chunk0-decoded' : 'chunk1-decoded');
  measures.chunkDecoded(chunk.seq, performance.now());
  if (!conn.audioFlowed) {
    conn.markAudio();
    hideMessage('connection'); // audio flows again: an earlier connection problem is over
  }
  // Its timestamp (end-to-end latency); a JSON `audio` message recorded its music fields already.
  if (S.decoder.format !== 'json') nowPlaying.recordChunk(chunk.epoch, chunk.seq, { timestamp: chunk.timestamp });
  player.push({
    type: 'chunk', seq: chunk.seq, epoch: chunk.epoch, left: chunk.left, right: chunk.right,
    sampleRate: chunk.sampleRate, discontinuity: S.firstChunkOfEpoch || chunk.discontinuity,
  });
  S.firstChunkOfEpoch = false;
}

/** The Opus decoder failed (it reopens on the next frame); after a few, fall back to `pcm`. */
function onDecoderError(err) {
  if (S.decoder.errors >= 3 && S.formats.length > 1) {
    showMessage(`The ${S.decoder.format} decoder failed (${err.message}); switching to ${S.formats[1]}.`, { hideAfterMs: MESSAGE_HIDE_MS });
    useFormat(S.formats[1]);
    if (conn.ws) connect();
    return;
  }
  showMessage(`Skipped damaged audio (${err.message}).`, { hideAfterMs: MESSAGE_HIDE_MS });
}

/** Ask for `format` from the next connection on (and forget the better ones before it). */
function useFormat(format) {
  const i = S.formats.indexOf(format);
  if (i > 0) S.formats = S.formats.slice(i);
  if (S.decoder) S.decoder.close();
  S.decoder = createDecoder(format, { onChunk, onError: onDecoderError });
}

/** `now` (binary formats): the chord, section and parameters from chunk `seq` on. */
function onNow(m, epoch) {
  if (!Number.isInteger(m.seq) || m.seq < 0) return;
  const params = m.params && typeof m.params === 'object' ? S.facts.sanitize({ ...S.settings.params, ...m.params }) : null;
  nowPlaying.recordNow(epoch, m.seq, {
    chord: typeof m.chord === 'string' ? m.chord : undefined,
    section: Number.isInteger(m.section) ? m.section : undefined,
    timestamp: m.timestamp,
    params,
  });
}

function onStatus(m) {
  S.serverState = m.state;
  if (typeof m.client_id === 'string') S.clientId = m.client_id;
  if (m.seed !== undefined && m.seed !== null) S.seed = S.querySeed || String(m.seed);
  if (m.params && typeof m.params === 'object') {
    const p = S.facts.sanitize({ ...S.settings.params, ...m.params });
    nowPlaying.recordParams(S.epoch, 0, p);
    if (!S.statusParamsChecked) {
      S.statusParamsChecked = true;
      const want = S.settings.params;
      const diff = {};
      for (const k of Object.keys(want)) if (want[k] !== p[k]) diff[k] = want[k];
      if (Object.keys(diff).length) debouncer.update(diff, { immediate: true });
      else setAcked(p);
    }
  }
  if (m.state === 'error' && m.message) showMessage(m.message, { kind: 'connection' });
  tick();
}

function onParamsAck(m, epoch) {
  const p = S.facts.sanitize({ ...S.settings.params, ...(m.params || {}) });
  S.presetPending = null;
  if (Number.isInteger(m.effective_seq)) {
    nowPlaying.recordParams(epoch, m.effective_seq, p);
    measures.changeAcked(epoch, m.effective_seq, unixNow());
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
  showControls();
}

function onError(m) {
  S.lastError = m;
  if (m.code === 'INVALID_MESSAGE' && S.acked) {
    debouncer.cancel(); // nothing was applied: show the values that really play
    S.settings.params = { ...S.acked };
    saveSettings();
    showControls();
  }
  if (errorIsFatal(m)) {
    const why = token
      ? `the server refused this page's token (${m.message}).`
      : 'this server needs a listening token, and this page has none. Open the link you were given, which carries ?token=….';
    stopTrying(why);
    return;
  }
  showMessage(errorText(m), { hideAfterMs: m.recoverable === false ? 0 : MESSAGE_HIDE_MS });
}

// ---------------------------------------------------------------------------------------------
// Audio

function sendTelemetry() {
  if (!player.running) return;
  const msg = telemetryMessage(S.stats, {
    epoch: S.epoch, playedAtUnix: (f) => player.playedAtUnix(f), underrunBase: S.underrunBase,
    rttMs: conn.rttMs, nowS: unixNow(),
  });
  if (msg) conn.send(msg);
}

function onStats(st) {
  const prevState = S.stats ? S.stats.state : null;
  S.stats = st;
  if (!player.ctx) return;
  measures.onStats(st, {
    epoch: S.epoch, info: nowPlaying.info(st.playing), playedAtUnix: (f) => player.playedAtUnix(f),
    clockOffsetS: conn.clockOffsetS, timeOriginMs: performance.timeOrigin, nowMs: performance.now(),
  });
  if (st.playing && st.playing.epoch === S.epoch) nowPlaying.notePlaying(st.playing);
  if (prevState !== st.state) tick();
}

function onContextState(state) {
  if (state === 'running') {
    gestures.stop();
    if (!conn.ws && !S.userPaused && !S.sleepEnded) connect();
  }
  sleepControl.sync();
  tick();
}

/** Whether music is meant to be heard now (the sleep timer counts only then). */
function listening() {
  return player.running && !S.userPaused && !S.sleepEnded && !S.fatal && !S.offline;
}

function audioBlocked() {
  return !!player.ctx && !player.running && !S.userPaused && !S.sleepEnded;
}

async function play() {
  if (S.fatal) return;
  if (stations) stations.stop(); // My stream and a station never play together
  S.userPaused = false;
  S.sleepEnded = false;
  sleepControl.acknowledge();
  await player.resume();
  if (!conn.ws && !conn.reconnecting) connect();
  sleepControl.sync();
  tick();
}

async function pause() {
  if (S.userPaused) return;
  S.userPaused = true;
  sleepControl.sync();
  tick();
  conn.close(1000, 'paused'); // a paused tab costs the server nothing
  await player.fadeAndSuspend(0.3, S.settings.volume);
  tick();
}

function togglePlay() {
  if (isPlaying()) pause();
  else play();
}

/** What the play button promises: Pause only while music is meant to be heard. */
function isPlaying() {
  return player.running && !S.userPaused && !S.sleepEnded && !S.fatal;
}

// ---------------------------------------------------------------------------------------------
// Sleep timer: counts while music plays; the fade is scheduled on the audio clock.

function setSleep(minutes) {
  S.choosingCustom = false;
  sleepControl.set(minutes);
}

/** The sleep timer's end: the music stops (it faded on the audio clock already). */
async function endBySleep() {
  S.sleepEnded = true;
  conn.close(1000, 'sleep timer');
  await player.fadeAndSuspend(0.05, S.settings.volume);
  tick();
}

// ---------------------------------------------------------------------------------------------
// Rendering

function moodLabel(params) {
  const name = params ? S.facts.matchingPreset(params) : null;
  return name ? S.facts.preset(name).label : 'Custom';
}

function tick() {
  if (!S.facts) return;
  const st = S.stats;
  renderStatus(statusView({
    fatal: S.fatal,
    offline: S.offline,
    sleepEnded: S.sleepEnded,
    userPaused: S.userPaused,
    audioBlocked: audioBlocked(),
    wsOpen: conn.isOpen,
    reconnecting: conn.reconnecting,
    reconnectInS: conn.reconnectInS(),
    everConnected: conn.everConnected,
    serverState: S.serverState,
    playerState: st ? st.state : null,
  }));
  const playing = isPlaying();
  let hint = '';
  if (S.fatal) hint = 'Playback stopped.';
  else if (audioBlocked()) hint = 'Your browser waits for a click before it plays sound.';
  else if (S.sleepEnded) hint = 'The sleep timer ended the music.';
  renderPlayButton(playing, hint);
  $('play-toggle').disabled = !!S.fatal;

  const now = st && st.playing && st.state === 'playing' ? st.playing : null;
  const info = nowPlaying.info(now);
  const p = nowPlaying.params(now, S.acked || S.settings.params);
  const mood = moodLabel(p);
  const presetName = S.facts.matchingPreset(p);
  const mode = S.facts.mode(p.mode);
  renderNowPlaying({
    moodLabel: mood,
    description: presetName ? S.facts.preset(presetName).description : 'Your own blend of key, mode, tempo and density.',
    key: S.facts.keyName(p.key),
    mode: mode ? mode.label : '—',
    character: mode ? mode.character : '',
    chord: info && typeof info.chord === 'string' ? info.chord : '',
    elapsedS: st && player.ctx ? st.framesOutput / player.ctx.sampleRate : 0,
    timeline: nowPlaying.chords,
  });
  const stateWord = S.fatal ? 'Stopped' : playing ? 'Playing' : audioBlocked() ? 'Ready' : 'Paused';
  const title = pageTitle(stateWord, mood);
  if (document.title !== title) document.title = title;
  const station = stations && stations.current ? stations.station(stations.current) : null;
  if (media && station) media.update(stationTitle(station), stations.playing, 'Auralis station');
  else if (media) media.update(mood, playing, mode ? `${mode.label} (${mode.character})` : '');
  renderDetails({
    bufferedMs: st ? st.bufferedMs : null,
    targetMs: st ? st.targetMs : null,
    e2eMs: measures.e2eMs,
    rttMs: conn.rttMs,
    underruns: st ? st.underruns : 0,
    sampleRate: player.ctx ? player.ctx.sampleRate : null,
    format: S.decoder.format,
    kbps: received.kbps(performance.now()),
  });
  if (sleep.state === 'running' || sleep.state === 'held') renderSleep(sleep, S.choosingCustom);
  if (sleep.due()) sleepControl.check();
}

// ---------------------------------------------------------------------------------------------
// Wiring

function bindControls() {
  $('key').addEventListener('change', (e) => changeParam('key', Number(e.target.value), { immediate: true }));
  $('mode').addEventListener('change', (e) => changeParam('mode', e.target.value, { immediate: true }));
  $('palette').addEventListener('change', (e) => changeParam('palette', e.target.value, { immediate: true }));
  $('intensity').addEventListener('input', (e) => changeParam('intensity', Number(e.target.value)));
  $('bpm').addEventListener('input', (e) => changeParam('bpm', Number(e.target.value)));
  $('volume').addEventListener('input', (e) => {
    S.settings.volume = Math.round(Number(e.target.value));
    saveSettings();
    showControls();
    player.setVolume(S.settings.volume);
  });
  $('sleep-timer').addEventListener('change', (e) => {
    const v = e.target.value;
    if (v === 'custom') {
      S.choosingCustom = true;
      $('sleep-custom-row').hidden = false;
      $('sleep-custom').focus();
      return;
    }
    setSleep(Number(v));
  });
  $('sleep-custom-form').addEventListener('submit', (e) => {
    e.preventDefault();
    const minutes = cleanMinutes($('sleep-custom').value);
    const ok = minutes !== null;
    $('sleep-custom').setAttribute('aria-invalid', String(!ok));
    if (ok) setSleep(minutes);
  });
  $('play-toggle').addEventListener('click', togglePlay);
  bindSpace(document, togglePlay);
}

/** Offline says offline; back online, reconnect at once instead of waiting out the backoff. */
function bindNetwork() {
  window.addEventListener('offline', () => {
    S.offline = true;
    sleepControl.sync();
    tick();
  });
  window.addEventListener('online', () => {
    S.offline = false;
    if (!conn.ws && !S.userPaused && !S.sleepEnded && !S.fatal) {
      conn.backoff.reset();
      connect(); // the network is back
    }
    sleepControl.sync();
    tick();
  });
}

function snapshot() {
  const st = S.stats;
  return {
    status: $('status').dataset.state,
    statusText: $('status-text').textContent,
    contextState: player.state,
    sampleRate: player.ctx ? player.ctx.sampleRate : null,
    outputLatencyMs: player.ctx ? ((player.ctx.baseLatency || 0) + (player.ctx.outputLatency || 0)) * 1000 : null,
    wsOpen: conn ? conn.isOpen : false,
    epoch: S.epoch,
    connectAttempts: S.connectAttempts,
    stats: st ? { ...st } : null,
    acked: S.acked,
    params: S.settings ? { ...S.settings.params } : null,
    seed: S.seed,
    clientId: S.clientId,
    volume: S.settings ? S.settings.volume : null,
    format: S.decoder ? S.decoder.format : null,
    formats: [...S.formats],
    decoder: S.decoder ? S.decoder.stats() : null,
    kbps: received.kbps(performance.now()),
    bytesReceived: received.total,
    firstAudioMs: measures.firstAudioMs,
    e2eMs: measures.e2eMs,
    rttMs: conn ? conn.rttMs : null,
    paramLatenciesMs: [...measures.paramLatenciesMs],
    maxFrameGapMs: measures.maxFrameGapMs,
    maxDecodeMs: measures.maxDecodeMs,
    underrunLog: measures.underrunLog.map((u) => ({ ...u })),
    sent: conn ? conn.sent.map((m) => ({ ...m })) : [],
    lastError: S.lastError,
    fatal: S.fatal,
    sleep: { state: sleep.state, minutes: sleep.minutes, remainingMs: sleep.remaining() },
    sleepLevel: player.sleepLevel,
    facts: S.facts ? { modes: S.facts.modes.map((m) => m.name), presets: S.facts.presets.map((p) => p.name) } : null,
    station: stations ? { current: stations.current, via: stations.via, hlsMode: stations.hlsMode, avoidNativeHls: stations.avoidNativeHls, error: stations.error } : null,
  };
}

async function loadFacts() {
  for (let attempt = 0; ; attempt++) {
    try {
      if (attempt === 0) { // started with the page (startup.js)
        const first = await firstFacts;
        if (first.error) throw first.error;
        return first.value;
      }
      return await fetchMusicFacts(window.fetch.bind(window), token);
    } catch (err) {
      if (!(err instanceof FactsError) || err.fatal) throw err;
      renderStatus(S.offline ? ['offline', 'Offline · waiting for the network'] : ['disconnected', 'Cannot reach the server · retrying…']);
      await new Promise((r) => { setTimeout(r, FACTS_RETRY_MS[Math.min(attempt, FACTS_RETRY_MS.length - 1)]); });
    }
  }
}

async function main() {
  milestone('main');
  window.auralis = Object.freeze({ snapshot });
  const reason = unsupportedReason();
  if (reason) {
    $('unsupported-reason').textContent = reason;
    $('unsupported').hidden = false;
    $('main').hidden = true;
    $('hero').hidden = true;
    renderStatus(['disconnected', 'Unsupported browser']);
    $('app').dataset.ready = 'unsupported';
    return;
  }
  conn = new Connection({
    url: wsUrl,
    onOpen,
    onMessage: (data) => onServerMessage(data, S.epoch),
    onClose,
    onChange: () => tick(),
    reopen: connect,
  });
  bindNetwork();
  useFormat('json');
  onContextState(player.state); // what it was when the audio graph started, before this script
  const formats = formatsReady.then((f) => {
    // `?format=pcm` (or json) asks for a lesser format than the best this browser decodes.
    const asked = f.indexOf(pageQuery.get('format'));
    S.formats = asked > 0 ? f.slice(asked) : f;
    useFormat(S.formats[0]);
  });
  // Audio started with the page (startup.js): the first chunks wait (decoded) for the worklet.
  const audio = audioReady.then(({ error }) => {
    if (error) {
      showMessage(`Audio could not start: ${error.message}`);
      return;
    }
    milestone('worklet-ready');
    if (!player.running) gestures.wait();
    tick();
  });
  try {
    S.facts = await loadFacts();
    milestone('facts');
  } catch (err) {
    S.fatal = err.message;
    renderStatus(['disconnected', `Stopped: ${err.message}`]);
    renderPlayButton(false, 'Playback stopped.');
    $('play-toggle').disabled = true;
    showMessage(err.message, { kind: 'fatal' });
    $('app').dataset.ready = 'true';
    return;
  }
  S.settings = parseSettings(readStored(window.localStorage, SETTINGS_KEY), S.facts);
  // A Share link (?key=…&mode=…&seed=…) starts its music: its valid values win over the stored ones.
  const linked = paramsFromQuery(pageQuery, S.facts);
  S.querySeed = linked.seed;
  S.seed = linked.seed;
  S.settings.params = { ...S.settings.params, ...linked.params };
  if (Object.keys(linked.params).length) saveSettings();
  const refused = [...linked.rejected, ...(linked.badSeed ? ['seed'] : [])];
  if (refused.length) showMessage(`This link's ${refused.join(', ')} ${refused.length > 1 ? 'are' : 'is'} not valid here; using the usual instead.`, { hideAfterMs: MESSAGE_HIDE_MS });
  new KeepShare({
    doc: document,
    win: window,
    facts: S.facts,
    token,
    current: () => ({ clientId: S.clientId, seed: S.seed, params: S.acked || S.settings.params }),
  }).bind();
  await formats; // AudioDecoder.isConfigSupported ran with the page (startup.js)
  if (!S.offline && !conn.ws) connect(); // the stream first, then the controls and stations
  buildControls(S.facts, selectPreset);
  buildSleepChoices();
  sleepControl.restore();
  bindControls();
  player.setVolume(S.settings.volume);
  showControls();
  // Media keys and the lock screen steer whichever plays: a chosen station, else My stream.
  const onStation = () => stations && stations.current !== null;
  media = new MediaKeys(navigator, {
    play: () => (onStation() ? stations.resume() : play()),
    pause: () => (onStation() ? stations.pause() : pause()),
  });
  stations = new Stations({
    list: $('stations-list'),
    audio: $('station-audio'),
    fetchJson: async (url) => {
      const res = await window.fetch(url, { headers: token ? { Authorization: `Bearer ${token}` } : {}, cache: 'no-store' });
      if (!res.ok) throw new Error(`${url}: HTTP ${res.status}`);
      return res.json();
    },
    onStart: async () => { if (!S.userPaused) await pause(); },
    onChange: () => tick(),
  });
  stations.refresh();
  setInterval(() => stations.refresh(), STATIONS_REFRESH_MS);
  await audio;
  player.setVolume(S.settings.volume);
  sleepControl.sync();
  setInterval(tick, UI_INTERVAL_MS);
  setInterval(sendTelemetry, TELEMETRY_INTERVAL_MS);
  window.addEventListener('pagehide', () => conn.close(1000, 'page closed'));
  tick();
  $('app').dataset.ready = 'true';
}

main();
