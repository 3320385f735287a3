// Auralis /debug: polls /api/status and /api/metrics once a second and draws their history on
// canvases by hand (no chart library, no CDN). A refused request (429 in production) pauses polling
// for its Retry-After; other failures back off from 2 s to 30 s. The page says which.
import { niceCeil, parseRetryAfter } from './audio_core.js';

const POLL_MS = 1000;
const HISTORY = 300; // points: five minutes at one a second
const COLORS = { c1: '#7fb2ff', c2: '#ffb86b', c3: '#7ee2a8', c4: '#f58fd0' };
const GRID = '#2c3452';
const LABEL = '#aab2cb';

const $ = (id) => document.getElementById(id);
const token = new URLSearchParams(window.location.search).get('token');
const history = []; // [{t, status, metrics}]
let failures = 0;
let timer = null;

const CHARTS = [
  { id: 'chart-synthesis', series: [['c1', (m) => m.synthesis_latency_ms?.p50], ['c2', (m) => m.synthesis_latency_ms?.p95]] },
  { id: 'chart-network', series: [['c1', (m) => m.network_latency_ms?.p50], ['c2', (m) => m.network_latency_ms?.p95]] },
  { id: 'chart-e2e', series: [['c1', (m) => m.end_to_end_latency_ms?.p50], ['c2', (m) => m.end_to_end_latency_ms?.p95]] },
  { id: 'chart-buffer', series: [['c3', (m, s) => s.buffer_depth]] },
  { id: 'chart-connections', series: [['c3', (m, s) => s.active_connections]] },
  { id: 'chart-memory', series: [['c4', (m) => m.memory_usage_mb]] },
];

class RequestFailed extends Error {
  constructor(message, retryS, rateLimited) {
    super(message);
    this.retryS = retryS;
    this.rateLimited = rateLimited;
  }
}

async function getJson(path) {
  const headers = { Accept: 'application/json' };
  if (token) headers.Authorization = `Bearer ${token}`;
  let res;
  try {
    res = await fetch(path, { headers, cache: 'no-store' });
  } catch (err) {
    throw new RequestFailed(`${path}: network error (${err.message})`, null, false);
  }
  if (res.ok) return res.json();
  let body = null;
  try {
    body = await res.json();
  } catch {
    body = null;
  }
  if (res.status === 429) {
    const header = res.headers.get('Retry-After');
    const retryS = parseRetryAfter(header, body && body.retry_after, 30);
    const shown = header ? `Retry-After: ${header}` : `retry_after: ${retryS}`;
    throw new RequestFailed(`${path}: rate limited (HTTP 429, ${shown})`, retryS, true);
  }
  const detail = body && (body.detail || body.error) ? `: ${body.detail || body.error}` : '';
  throw new RequestFailed(`${path}: HTTP ${res.status}${detail}`, null, false);
}

function setPollStatus(state, text) {
  const el = $('poll-status');
  el.dataset.state = state;
  $('poll-text').textContent = text;
}

async function poll() {
  timer = null;
  let nextMs = POLL_MS;
  try {
    const [status, metrics] = await Promise.all([getJson('/api/status'), getJson('/api/metrics')]);
    failures = 0;
    history.push({ t: Date.now(), status, metrics });
    if (history.length > HISTORY) history.shift();
    $('status-json').textContent = JSON.stringify(status, null, 2);
    $('metrics-json').textContent = JSON.stringify(metrics, null, 2);
    renderTiles(status, metrics);
    setPollStatus('connected', `Live · updated ${new Date().toLocaleTimeString()}`);
  } catch (err) {
    failures += 1;
    const waitS = err.retryS || Math.min(30, 2 ** Math.min(failures, 5));
    nextMs = waitS * 1000;
    const what = err.rateLimited ? 'Backing off' : 'Request failed';
    setPollStatus(err.rateLimited ? 'buffering' : 'disconnected', `${what}: ${err.message}. Next try in ${waitS} s.`);
  }
  drawAll();
  timer = setTimeout(poll, nextMs);
}

function fmtUptime(s) {
  if (!(s >= 0)) return '—';
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const sec = Math.floor(s % 60);
  return h ? `${h} h ${m} min` : m ? `${m} min ${sec} s` : `${sec} s`;
}

function renderTiles(s, m) {
  const yesNo = (v) => (v === true ? 'yes' : v === false ? 'no' : '—');
  $('t-uptime').textContent = fmtUptime(s.uptime_sec);
  $('t-connections').textContent = String(s.active_connections ?? '—');
  $('t-device').textContent = String(s.device ?? '—');
  $('t-soundfont').textContent = yesNo(s.soundfont_loaded);
  $('t-synthesis').textContent = yesNo(s.synthesis_active);
  $('t-underruns').textContent = String(m.buffer_underruns ?? '—');
  $('t-overflows').textContent = String(m.buffer_overflows ?? '—');
  $('t-disconnects').textContent = String(m.disconnects ?? '—');
}

function drawAll() {
  for (const chart of CHARTS) drawChart($(chart.id), chart.series);
}

function drawChart(canvas, series) {
  const dpr = window.devicePixelRatio || 1;
  const w = Math.max(1, Math.round(canvas.clientWidth * dpr));
  const h = Math.max(1, Math.round(canvas.clientHeight * dpr));
  if (canvas.width !== w || canvas.height !== h) {
    canvas.width = w;
    canvas.height = h;
  }
  const g = canvas.getContext('2d');
  g.setTransform(dpr, 0, 0, dpr, 0, 0);
  const cw = w / dpr;
  const ch = h / dpr;
  g.clearRect(0, 0, cw, ch);
  const left = 44;
  const right = 8;
  const top = 8;
  const bottom = 20;
  const pw = cw - left - right;
  const ph = ch - top - bottom;

  const values = series.map(([, f]) => history.map((e) => {
    const v = f(e.metrics || {}, e.status || {});
    return typeof v === 'number' && Number.isFinite(v) ? v : null;
  }));
  let top_ = 0;
  for (const vs of values) for (const v of vs) if (v !== null && v > top_) top_ = v;
  const tick = niceCeil((top_ * 1.1) / 4);
  const max = tick * 4;
  // The time axis spans the history so far (at least a minute, at most HISTORY seconds).
  const now = Date.now();
  const spanMs = Math.min(HISTORY, Math.max(60, history.length ? (now - history[0].t) / 1000 : 60)) * 1000;
  const xOf = (t) => left + pw - ((now - t) / spanMs) * pw;

  g.font = '11px system-ui, sans-serif';
  g.fillStyle = LABEL;
  g.strokeStyle = GRID;
  g.lineWidth = 1;
  g.textAlign = 'right';
  g.textBaseline = 'middle';
  for (let k = 0; k <= 4; k++) {
    const y = top + ph - (k / 4) * ph;
    g.beginPath();
    g.moveTo(left, Math.round(y) + 0.5);
    g.lineTo(left + pw, Math.round(y) + 0.5);
    g.stroke();
    const v = k * tick;
    g.fillText(Number.isInteger(v) ? v.toFixed(0) : v.toFixed(tick < 0.1 ? 2 : 1), left - 6, y);
  }
  g.textAlign = 'left';
  g.textBaseline = 'alphabetic';
  g.fillText(`-${Math.round(spanMs / 1000)} s`, left, ch - 4);
  g.textAlign = 'right';
  g.fillText('now', left + pw, ch - 4);

  let points = 0;
  if (!history.length) {
    g.textAlign = 'center';
    g.fillText('waiting for data…', left + pw / 2, top + ph / 2);
  }
  series.forEach(([color], si) => {
    const vs = values[si];
    g.strokeStyle = COLORS[color];
    g.lineWidth = 2;
    g.beginPath();
    let pen = false;
    vs.forEach((v, i) => {
      if (v === null) {
        pen = false;
        return;
      }
      const x = xOf(history[i].t);
      const y = top + ph - (v / max) * ph;
      if (pen) g.lineTo(x, y);
      else g.moveTo(x, y);
      pen = true;
      points += 1;
    });
    g.stroke();
    // The latest value as a dot, so a single sample is visible too.
    const lastIdx = vs.length - 1;
    if (lastIdx >= 0 && vs[lastIdx] !== null) {
      g.fillStyle = COLORS[color];
      g.beginPath();
      g.arc(xOf(history[lastIdx].t), top + ph - (vs[lastIdx] / max) * ph, 3, 0, Math.PI * 2);
      g.fill();
    }
  });
  canvas.dataset.points = String(points);
}

window.addEventListener('resize', drawAll);
drawAll();
poll();
