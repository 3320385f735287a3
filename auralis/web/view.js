// The listening page's DOM: controls built from the server's musical facts, and everything the
// page shows (status, play button, now playing, moods, sleep timer, details, messages).
import { SLEEP_CHOICES_MIN, formatRemaining } from './sleep_timer.js';

export const $ = (id) => document.getElementById(id);

export function setText(id, text) {
  const el = $(id);
  if (el && el.textContent !== text) el.textContent = text;
}

function option(value, label) {
  const o = document.createElement('option');
  o.value = String(value);
  o.textContent = label;
  return o;
}

const paletteDescriptions = new Map();

/** Fill the key, mode and palette selects, the slider ranges and the mood buttons from `facts`. */
export function buildControls(facts, onPreset) {
  for (const p of facts.palettes) paletteDescriptions.set(p.name, p.description);
  $('palette').replaceChildren(...facts.palettes.map((p) => {
    const o = option(p.name, p.label);
    o.title = p.description;
    return o;
  }));
  $('key').replaceChildren(...facts.keys.map((k) => option(k.value, k.name.replace('#', '♯'))));
  $('mode').replaceChildren(...facts.modes.map((m) => option(m.name, m.character ? `${m.label} (${m.character})` : m.label)));
  for (const name of ['bpm', 'intensity']) {
    const r = facts.ranges[name];
    const el = $(name);
    el.min = String(r.min);
    el.max = String(r.max);
    el.step = String(r.step);
  }
  const buttons = facts.presets.map((p) => {
    const b = document.createElement('button');
    b.type = 'button';
    b.className = 'btn preset';
    b.dataset.preset = p.name;
    b.setAttribute('aria-pressed', 'false');
    b.title = p.description;
    b.textContent = p.label;
    b.addEventListener('click', () => onPreset(p.name));
    return b;
  });
  $('presets').replaceChildren(...buttons);
}

export function buildSleepChoices() {
  const opts = [option(0, 'Off')];
  for (const m of SLEEP_CHOICES_MIN) opts.push(option(m, m < 60 || m % 60 ? `${m} minutes` : `${m / 60} hour${m > 60 ? 's' : ''}`));
  opts.push(option('custom', 'Custom…'));
  $('sleep-timer').replaceChildren(...opts);
}

/** Show `params` and `volume` in the controls; `pending(name)` is true while a value is being sent. */
export function renderControls(params, volume, pending) {
  if (document.activeElement !== $('key') || !pending('key')) $('key').value = String(params.key);
  $('mode').value = params.mode;
  $('palette').value = params.palette;
  setText('palette-description', paletteDescriptions.get(params.palette) || '');
  if (!pending('intensity')) $('intensity').value = String(params.intensity);
  if (!pending('bpm')) $('bpm').value = String(params.bpm);
  const intensity = Number($('intensity').value).toFixed(2);
  const bpm = Math.round(Number($('bpm').value));
  setText('intensity-out', intensity);
  setText('bpm-out', `${bpm} BPM`);
  $('intensity').setAttribute('aria-valuetext', intensity);
  $('bpm').setAttribute('aria-valuetext', `${bpm} beats per minute`);
  $('volume').value = String(volume);
  setText('volume-out', `${volume}%`);
  $('volume').setAttribute('aria-valuetext', `${volume} percent`);
}

/** Highlight the active mood; "Custom" when the parameters match none. */
export function renderMoods(active) {
  for (const b of document.querySelectorAll('.preset')) b.setAttribute('aria-pressed', String(b.dataset.preset === active));
  $('mood-custom').hidden = !!active;
}

export function renderStatus([state, text]) {
  const el = $('status');
  if (el.dataset.state !== state) el.dataset.state = state;
  setText('status-text', text);
}

/** The big button says what a click will do: Play when nothing plays (autoplay blocked too). */
export function renderPlayButton(playing, hint) {
  const btn = $('play-toggle');
  const label = playing ? 'Pause' : 'Play';
  setText('play-label', label);
  if (btn.getAttribute('aria-label') !== label) btn.setAttribute('aria-label', label);
  btn.setAttribute('aria-pressed', String(playing));
  btn.dataset.playing = String(playing);
  setText('play-hint', hint);
}

/** "12 min" style listening time. */
export function formatElapsed(s) {
  if (!(s >= 0)) return '—';
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  if (h) return `${h} h ${m} min`;
  if (m) return `${m} min`;
  return `${Math.floor(s)} s`;
}

const PITCH = { C: 0, D: 2, E: 4, F: 5, G: 7, A: 9, B: 11 };

/** The pitch class of a chord name's root ("F# min7" -> 6), or null. */
export function chordRoot(chord) {
  const m = typeof chord === 'string' ? /^([A-G])([#b♯♭]?)/.exec(chord.trim()) : null;
  if (!m) return null;
  let pc = PITCH[m[1]];
  if (m[2] === '#' || m[2] === '♯') pc += 1;
  if (m[2] === 'b' || m[2] === '♭') pc += 11;
  return pc % 12;
}

/**
 * Now playing: mood and its one-line description, key and mode, chord, listening time, and a
 * quiet visual: a colour field that follows the chord's root and a strip of recent chords with a
 * gap where a new section began.
 */
export function renderNowPlaying(np) {
  setText('np-mood', np.moodLabel);
  setText('np-description', np.description);
  setText('np-key', np.key);
  setText('np-mode', np.mode);
  setText('np-character', np.character);
  setText('np-chord', np.chord || '—');
  setText('np-elapsed', formatElapsed(np.elapsedS));
  const root = chordRoot(np.chord);
  const visual = $('np-visual');
  const hue = root === null ? '' : String((root * 210) % 360); // neighbouring roots far apart on the wheel
  if (visual.dataset.hue !== hue) {
    visual.dataset.hue = hue;
    if (hue) visual.style.setProperty('--chord-hue', hue); // CSSOM: allowed by the CSP
  }
  const list = $('np-timeline');
  const key = np.timeline.map((c) => `${c.section}:${c.chord}`).join('|');
  if (list.dataset.key !== key) {
    list.dataset.key = key;
    list.replaceChildren(...np.timeline.map((c, i) => {
      const li = document.createElement('li');
      li.textContent = c.chord;
      if (i > 0 && c.section !== np.timeline[i - 1].section) li.className = 'new-section';
      if (i === np.timeline.length - 1) li.setAttribute('aria-current', 'true');
      return li;
    }));
  }
}

export function renderDetails(d) {
  setText('st-buffer', d.bufferedMs !== null ? `${Math.round(d.bufferedMs)} ms` : '—');
  setText('st-target', d.targetMs !== null ? `${Math.round(d.targetMs)} ms` : '—');
  setText('st-latency', d.e2eMs !== null ? `${Math.round(d.e2eMs)} ms` : '—');
  setText('st-rtt', d.rttMs !== null ? `${d.rttMs.toFixed(1)} ms` : '—');
  setText('st-underruns', String(d.underruns));
  setText('st-rate', d.sampleRate ? `${d.sampleRate} Hz` : '—');
  setText('st-format', d.format || '—');
  setText('st-kbps', d.kbps !== null && d.kbps !== undefined ? `${Math.round(d.kbps)} kbps` : '—');
}

/** The sleep timer's line: the countdown, held (paused: not counting) or ended. */
export function renderSleep(timer, choosingCustom = false) {
  let text = '';
  if (timer.state === 'ended') text = 'The sleep timer ended the music. Press Play to listen again.';
  else if (timer.state === 'running') text = `Fading out in ${formatRemaining(timer.remaining())}`;
  else if (timer.state === 'held') text = `${formatRemaining(timer.remaining())} left · counts down while music plays`;
  setText('sleep-remaining', text);
  const sel = $('sleep-timer');
  if (document.activeElement !== sel && document.activeElement !== $('sleep-custom')) {
    const on = timer.state === 'running' || timer.state === 'held';
    const preset = SLEEP_CHOICES_MIN.includes(timer.minutes);
    const value = !on ? '0' : preset ? String(timer.minutes) : 'custom';
    if (sel.value !== value && !(choosingCustom && value === '0')) sel.value = value;
    if (on && !preset) $('sleep-custom').value = String(timer.minutes);
  }
  $('sleep-custom-row').hidden = sel.value !== 'custom';
}

/** Messages: `kind` 'connection' ones are cleared once audio flows again. */
const message = { timer: null, kind: null };

export function showMessage(text, { hideAfterMs = 0, kind = 'other' } = {}) {
  const el = $('message');
  el.textContent = text;
  el.hidden = false;
  message.kind = kind;
  clearTimeout(message.timer);
  if (hideAfterMs) message.timer = setTimeout(() => hideMessage(), hideAfterMs);
}

export function hideMessage(kind = null) {
  if (kind && message.kind !== kind) return;
  clearTimeout(message.timer);
  $('message').hidden = true;
  message.kind = null;
}
